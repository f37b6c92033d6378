//! `mmbind export`: an index's files and vectors as Parquet, for LanceDB, DuckDB, Spark.

use std::path::PathBuf;

use clap::Args;
use mmbind::search::Index;
use mmbind_modalities::Modality;

use crate::parquet::{PartWriter, Row};
use crate::report::progress_bar;
use crate::{GlobalArgs, Outcome};

/// Write an index's files and vectors to a Parquet file.
///
/// One row per indexed file: path, modality, size, mtime, BLAKE3 content hash, the model's
/// content hash and the stored (L2-normalised) embedding; the schema is `embed --out
/// x.parquet`'s (the README's "Parquet embeddings"). The file is written atomically; the
/// index is only read.
/// `mmbind index --from-parquet` reads it back, `mmbind-scale import` loads it into LanceDB.
///
/// Examples:
///   mmbind export --index photos.idx --out photos.parquet
///   mmbind export --index lab.idx --modality audio --out audio.parquet
///   duckdb -c "SELECT modality, count(*) FROM 'photos.parquet' GROUP BY 1"
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ExportArgs {
    /// The index directory (from `mmbind index`).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// The Parquet file to write.
    #[arg(long, value_name = "FILE.parquet")]
    pub out: PathBuf,
    /// Only files of these modalities (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "MODALITY")]
    pub modality: Vec<Modality>,
}

pub fn run(args: &ExportArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        args.out.extension().is_some_and(|e| e == "parquet"),
        "--out {}: use a .parquet file name",
        args.out.display()
    );
    let index = Index::open(&args.index)?;
    let model_hash = index.model_id().to_string();
    let mut part = PartWriter::create(&args.out, index.dim(), &model_hash)?;
    let bar = progress_bar(index.len(), "exporting", global.quiet);
    index.for_each_record(|r| -> anyhow::Result<()> {
        bar.inc(1);
        let keep =
            args.modality.is_empty() || (args.modality.iter()).any(|m| m.name() == r.modality);
        if keep {
            part.push(Row {
                path: Some(r.path),
                text: None,
                modality: r.modality,
                size: r.size,
                mtime_ns: Some(r.mtime_ns),
                content_hash: r.hash.0,
                model_hash: model_hash.clone(),
                embedding: r.vector,
            })?;
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    let rows = part.finish()?;
    if !global.quiet {
        eprintln!("wrote {} ({rows} files)", args.out.display());
    }
    Ok(Outcome::Ok)
}
