use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::inputs::InputArgs;
use crate::report::{Reporter, progress_bar};
use crate::{GlobalArgs, Outcome};
use mmbind::classify::{DEFAULT_TEMPLATES, label_embeddings, rank};
use mmbind::embed::Embedder;
use mmbind::weights::ModelDir;

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum Format {
    /// One block per input: ranked labels with probabilities.
    #[default]
    Table,
    /// One JSON line per input: {"input", "modality", "labels": [{"label", "logit", "probability"}]}.
    Json,
}

/// Zero-shot classification of any input against text labels.
///
/// Each label becomes prompts (the templates, `{}` replaced by the label), the prompts are
/// embedded with the text encoder and averaged; the input's embedding is compared with each
/// label's and the scores turned into probabilities (softmax).
///
/// Example:
///   mmbind classify --model M --audio bark.wav --labels dog,cat,bird
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ClassifyArgs {
    /// The model directory.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Comma-separated class names.
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    pub labels: Vec<String>,
    /// Prompt template with `{}` for the label; repeat for several (default: "a photo of a {}.", "a {}.", "the {}.").
    #[arg(long, value_name = "TEMPLATE")]
    pub template: Vec<String>,
    /// How many labels to show per input (default: all).
    #[arg(long, value_name = "K")]
    pub top_k: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(args: &ClassifyArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let labels: Vec<String> = args
        .labels
        .iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    anyhow::ensure!(!labels.is_empty(), "--labels needs at least one class name");
    anyhow::ensure!(
        !args.inputs.is_empty(),
        "nothing to classify: give an input (--vision, --audio, --text, ...)"
    );
    let templates: Vec<String> = if args.template.is_empty() {
        DEFAULT_TEMPLATES.iter().map(|t| t.to_string()).collect()
    } else {
        args.template.clone()
    };
    if let Some(bad) = templates.iter().find(|t| !t.contains("{}")) {
        anyhow::bail!("--template '{bad}' has no {{}} where the label goes");
    }
    let compute = global.compute()?;
    let (model, _) = ModelDir::new(&args.model).load(&compute.device)?;
    let embedder = Embedder::new(&model, &compute.device);
    let label_embs = label_embeddings(&embedder, &labels, &templates)?;

    let mut report = Reporter::default();
    let (items, walk_errors) = args.inputs.items();
    walk_errors.iter().for_each(|e| report.fail(e));
    let bar = progress_bar(items.len(), "classifying", global.quiet);
    let results = embedder.embed_all(&items, &mut |done| bar.set_position(done as u64));
    bar.finish_and_clear();

    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let k = args.top_k.unwrap_or(labels.len()).max(1);
    for (item, result) in items.iter().zip(results) {
        let embedding = match result {
            Ok(e) => e,
            Err(e) => {
                report.fail(e);
                continue;
            }
        };
        let ranked: Vec<_> = rank(&embedding, &labels, &label_embs)
            .into_iter()
            .take(k)
            .collect();
        match args.format {
            Format::Json => {
                let line = serde_json::json!({"input": item.source.label(), "modality": item.modality, "labels": ranked});
                writeln!(out, "{line}")?;
            }
            Format::Table => {
                writeln!(out, "{} ({})", item.source.label(), item.modality)?;
                for s in ranked {
                    writeln!(out, "  {:>6.2}%  {}", s.probability * 100.0, s.label)?;
                }
            }
        }
    }
    out.flush()?;
    report.summary("classified", items.len() + walk_errors.len(), global.quiet);
    Ok(report.outcome())
}
