use std::path::PathBuf;

use clap::Args;

use crate::report::progress_bar;
use crate::{GlobalArgs, Outcome};
use mmbind::dataset::{Dataset, Split};
use mmbind::eval::evaluate;
use mmbind::weights::ModelDir;

/// Evaluate a model on a dataset's held-out split.
///
/// Retrieval between every pair of modalities — trained pairs (X↔vision) and emergent ones
/// (audio→text, depth→text, ... never paired in training) — as same-scene Recall@1/5/10
/// and concept-level precision@1, also for one- and two-object queries, and for two-object
/// scenes of concept pairs training held together (seen) or never did (held-out); zero-shot
/// classification against the dataset's concept names; embedding arithmetic (image of A +
/// audio of B → a scene of exactly A and B, 5 random instances per ordered pair, beside
/// image(A) + image(B), image(A) alone, audio(B) alone and chance, with 95% intervals); and
/// each modality's geometry (a pair's centroid against the normalised sum of its concepts',
/// the cosine between concepts, the offset two-object scenes share). Tune on --split val;
/// report --split test once.
///
/// Example:
///   mmbind eval --data data/world --model models/tiny
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct EvalArgs {
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Let pairs.jsonl name files outside the dataset directory (as `train --allow-outside`).
    #[arg(long)]
    pub allow_outside: bool,
    /// Which split to evaluate.
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    pub split: SplitArg,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SplitArg {
    Val,
    Test,
}

pub fn run(args: &EvalArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let compute = global.compute()?;
    let (model, _) = ModelDir::new(&args.model).load(&compute.device)?;
    let dataset = Dataset::open_with(&args.data, args.allow_outside)?;
    let split = match args.split {
        SplitArg::Val => Split::Val,
        SplitArg::Test => Split::Test,
    };
    let bar = progress_bar(dataset.split(split).len() * 6, "embedding", global.quiet);
    let report = evaluate(&dataset, split, &model, &compute.device, &mut |d, _| {
        bar.set_position(d as u64)
    })?;
    bar.finish_and_clear();
    anyhow::ensure!(report.scenes > 0, "the dataset has no {:?} rows", split);
    for reason in &report.skipped {
        eprintln!("skipped: {reason}");
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
    }
    if report.skipped.is_empty() {
        return Ok(Outcome::Ok);
    }
    eprintln!(
        "{} input(s) could not be embedded and count in no metric",
        report.skipped.len()
    );
    Ok(Outcome::Partial)
}
