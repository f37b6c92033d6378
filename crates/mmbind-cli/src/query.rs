use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::inputs::InputArgs;
use crate::report::Reporter;
use crate::results::{self, SearchArgs};
use crate::{GlobalArgs, Outcome};
use mmbind::embed::Embedder;
use mmbind::search::{search, unit};

/// Search an index with any modality.
///
/// Each input is embedded with the index's model and compared with every indexed file by
/// cosine similarity; each input gets its own result list (inputs that cannot be used are
/// named on stderr, the rest are answered).
///
/// Examples:
///   mmbind query --index photos.idx --text "a dog on a beach" --top-k 5
///   mmbind query --index lab.idx --audio engine.wav --modality vision --format json
///   mmbind query --index lab.idx --imu walk.csv --format paths | xargs open
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct QueryArgs {
    /// The index directory (from `mmbind index`).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// The model directory (default: the one the index was built with).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub search: SearchArgs,
}

pub fn run(args: &QueryArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        !args.inputs.is_empty(),
        "nothing to search with: give a query (--text, --vision, --audio, --depth, --thermal, --imu)"
    );
    let filter = args.search.filter()?;
    let (index, model, compute) = results::open(&args.index, args.model.as_deref(), global)?;
    let mut report = Reporter::default();
    let (items, walk_errors) = args.inputs.items();
    walk_errors.iter().for_each(|e| report.fail(e));
    let embedder = Embedder::new(&model, &compute.device);
    let embeddings = embedder.embed_all(&items, &mut |_| {});
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (item, embedding) in items.iter().zip(embeddings) {
        let q = match embedding {
            Ok(e) => unit(&e).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: the embedding is zero or not finite",
                    item.source.label()
                )
            })?,
            Err(e) => {
                report.fail(e);
                continue;
            }
        };
        let (hits, method) = search(&index, &q, args.search.top_k, &filter, args.search.method())?;
        let label = item.source.label();
        results::print(
            &mut out,
            args.search.format,
            &format!("{label} ({})", item.modality),
            serde_json::json!({"input": label, "modality": item.modality}),
            &hits,
            method,
        )?;
    }
    out.flush()?;
    if report.failed > 0 {
        report.summary(
            "searched with",
            items.len() + walk_errors.len(),
            global.quiet,
        );
    }
    Ok(report.outcome())
}
