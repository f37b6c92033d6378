use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::answer::Answerer;
use crate::inputs::InputArgs;
use crate::output::{self, LabelFormat};
use crate::protocol::Labels;
use crate::report::{Reporter, progress_bar};
use crate::{GlobalArgs, Outcome};
use mmbind::weights::ModelDir;

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
    #[arg(long, value_enum, default_value_t = LabelFormat::Table)]
    pub format: LabelFormat,
}

pub fn run(args: &ClassifyArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let labels =
        Labels::new(&args.labels, args.template.clone(), args.top_k).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        !args.inputs.is_empty(),
        "nothing to classify: give an input (--vision, --audio, --text, ...)"
    );
    let compute = global.compute()?;
    let (model, _) = ModelDir::new(&args.model).load(&compute.device)?;
    let mut answerer = Answerer::new(&model, &compute.device, None);

    let mut report = Reporter::default();
    let (items, walk_errors) = args.inputs.items();
    walk_errors.iter().for_each(|e| report.fail(e));
    let bar = progress_bar(items.len(), "classifying", global.quiet);
    let results = answerer.embed(&items, &mut |done| bar.set_position(done as u64));
    bar.finish_and_clear();

    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (item, result) in items.iter().zip(results) {
        let embedding = match result {
            Ok(e) => e,
            Err(e) => {
                report.fail(e);
                continue;
            }
        };
        let ranked = answerer
            .classify(&labels, &embedding)
            .map_err(anyhow::Error::msg)?;
        output::print_labels(&mut out, args.format, item, &ranked)?;
    }
    out.flush()?;
    report.summary("classified", items.len() + walk_errors.len(), global.quiet);
    Ok(report.outcome())
}
