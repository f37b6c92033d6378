//! `mmbind index --from-parquet`: vectors embedded elsewhere (a cluster's parts, another
//! machine's export) into a local index, through the same plan and commit as embedding.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use mmbind::search::model_info;
use mmbind::vector::unit;
use mmbind::weights::ModelDir;
use mmbind_index::{ContentHash, FileStat, Index, PlanOptions};

use super::IndexArgs;
use crate::parquet::{Row, read_rows};
use crate::{GlobalArgs, Outcome};

pub fn run(
    args: &IndexArgs,
    global: &GlobalArgs,
    wait: Option<Duration>,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let model_path = args.model.as_deref().expect("clap requires --model");
    let manifest = ModelDir::new(model_path).manifest()?;
    // Every file is checked whole before the index is touched: a bad one writes nothing.
    for file in &args.from_parquet {
        load(file, &manifest.content_hash, manifest.config.out_dim)?;
    }
    let mut index = Index::create_or_open(&args.index, &model_info(model_path, &manifest))?;
    let (mut added, mut skipped) = (0, 0);
    for file in &args.from_parquet {
        let rows = load(file, &manifest.content_hash, manifest.config.out_dim)?;
        let (stats, vectors, left_out) = sort(rows);
        for why in &left_out {
            eprintln!("skipped {}: {why}", file.display());
        }
        skipped += left_out.len();
        let hashes: HashMap<&str, ContentHash> = stats
            .iter()
            .map(|s| (s.path.as_str(), vectors[&s.path].0))
            .collect();
        let hasher = |s: &FileStat| -> io::Result<ContentHash> {
            hashes
                .get(s.path.as_str())
                .copied()
                .ok_or_else(|| io::Error::other("not in the file"))
        };
        // No scope: nothing the Parquet file does not list is removed.
        let options = PlanOptions {
            scope: Some(&[]),
            hasher: Some(&hasher),
            keep: &[],
        };
        let mut writer = index.writer(wait)?;
        let plan = writer.plan_with(&stats, &options)?;
        for chunk in plan.embed.chunks(args.batch_size) {
            let batch: Vec<_> = chunk
                .iter()
                .map(|p| (p, vectors[&p.stat.path].1.as_slice()))
                .collect();
            writer.commit_batch(&batch)?;
        }
        let done = writer.finish(&plan)?;
        added += done.embedded + done.reused + done.touched;
        super::print_warnings(&index);
    }
    let files = index.len();
    match args.format {
        super::SummaryFormat::Json => println!(
            "{}",
            serde_json::json!({"index": args.index.display().to_string(), "files": files, "added": added, "skipped": skipped})
        ),
        super::SummaryFormat::Text if !global.quiet || skipped > 0 => eprintln!(
            "{}: {files} files ({added} added or updated from {} Parquet file(s), {skipped} rows skipped) in {:.1}s",
            args.index.display(),
            args.from_parquet.len(),
            started.elapsed().as_secs_f64()
        ),
        super::SummaryFormat::Text => {}
    }
    Ok(if skipped > 0 {
        Outcome::Partial
    } else {
        Outcome::Ok
    })
}

/// Every row of `file`, refused whole when any row is of another model or dimension: an
/// index mixing two models' vectors answers nothing meaningful.
fn load(file: &std::path::Path, model_hash: &str, dim: usize) -> anyhow::Result<Vec<Row>> {
    let reader = read_rows(file)?;
    anyhow::ensure!(
        reader.dim == dim,
        "{}: embeddings of {} values; the model's have {dim}",
        file.display(),
        reader.dim
    );
    // One file's rows are held at once; the footer's row count bounds them (Parquet's run-length
    // encodings can claim many rows in few bytes), before any is read.
    let row_bytes = dim * 4 + ROW_OVERHEAD;
    anyhow::ensure!(
        reader.total <= MAX_FILE_BYTES / row_bytes,
        "{}: {} rows would take over {} GiB in memory; split it into files of at most {} rows",
        file.display(),
        reader.total,
        MAX_FILE_BYTES >> 30,
        MAX_FILE_BYTES / row_bytes
    );
    let mut rows = Vec::with_capacity(reader.total.min(1 << 20));
    for batch in reader {
        for row in batch? {
            anyhow::ensure!(
                row.model_hash == model_hash,
                "{}: rows of model {} (this model is {model_hash}); nothing was indexed from it",
                file.display(),
                row.model_hash
            );
            rows.push(row);
        }
    }
    Ok(rows)
}

type Vectors = HashMap<String, (ContentHash, Vec<f32>)>;

/// Memory one Parquet file's rows may take (4 GiB: a million 1024-d rows).
const MAX_FILE_BYTES: usize = 4 << 30;
/// A row's memory beside its vector: path, modality, hash, map and plan entries.
const ROW_OVERHEAD: usize = 400;

/// The rows an index can hold (a path, a known modality, a usable vector), as file stats
/// and each path's hash and unit vector; why each other row was left out. A path listed
/// twice keeps its last row.
fn sort(rows: Vec<Row>) -> (Vec<FileStat>, Vectors, Vec<String>) {
    let mut stats: Vec<FileStat> = Vec::with_capacity(rows.len());
    let mut vectors = Vectors::with_capacity(rows.len());
    let mut left_out = Vec::new();
    for row in rows {
        let Some(path) = row.path else {
            left_out.push(format!(
                "inline text {:?} has no file to index",
                row.text.unwrap_or_default()
            ));
            continue;
        };
        if row.modality.parse::<mmbind_modalities::Modality>().is_err() {
            left_out.push(format!("{path}: unknown modality '{}'", row.modality));
            continue;
        }
        let Some(v) = as_stored(row.embedding) else {
            left_out.push(format!("{path}: the embedding is zero or not finite"));
            continue;
        };
        let stat = FileStat {
            path: path.clone(),
            modality: row.modality,
            size: row.size,
            mtime_ns: row.mtime_ns.unwrap_or(0),
        };
        if vectors
            .insert(path, (ContentHash(row.content_hash), v))
            .is_some()
        {
            stats.retain(|s| s.path != stat.path);
        }
        stats.push(stat);
    }
    (stats, vectors, left_out)
}

/// The vector as the index stores it: unit length. One already of unit length (every
/// vector mmbind writes) is kept bit for bit, so an export indexed again is the same index.
fn as_stored(v: Vec<f32>) -> Option<Vec<f32>> {
    let n = mmbind::vector::norm(&v);
    if n.is_finite() && (n - 1.0).abs() <= 1e-5 {
        Some(v)
    } else {
        unit(&v)
    }
}
