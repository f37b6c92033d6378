use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::answer::Answerer;
use crate::inputs::InputArgs;
use crate::output;
use crate::protocol::{Search, Term};
use crate::report::Reporter;
use crate::results::{self, SearchArgs};
use crate::{GlobalArgs, Outcome};

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
        "nothing to search with: give a query ({})",
        crate::inputs::modality_flags()
    );
    let options = args.search.options()?;
    let (index, model, compute) = results::open(&args.index, args.model.as_deref(), global)?;
    let mut report = Reporter::default();
    let (items, walk_errors) = args.inputs.items();
    walk_errors.iter().for_each(|e| report.fail(e));
    let answerer = Answerer::new(&model, &compute.device, Some(&index));
    // Every input in batches; then each is its own search.
    let embeddings = answerer.embed(&items, &mut |_| {});
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (item, embedding) in items.iter().zip(embeddings) {
        let embedding = match embedding {
            Ok(e) => e,
            Err(e) => {
                report.fail(e);
                continue;
            }
        };
        let search = Search {
            terms: vec![Term {
                weight: 1.0,
                modality: item.modality,
                source: item.source.clone(),
            }],
            options: options.clone(),
        };
        let label = item.source.label();
        let (hits, method) = answerer
            .search_embedded(&search, &[(1.0, embedding)])
            .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        output::print_search(
            &mut out,
            args.search.format,
            &format!("{label} ({})", item.modality),
            output::input_json(item),
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
