use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use mmbind_modalities::Modality;

use crate::choice::choice;
use crate::report::progress_bar;
use crate::{GlobalArgs, Outcome};
use mmbind::Choice;
use mmbind::config::ModelConfig;
use mmbind::train::{
    Augment, EpochMetrics, Negatives, Observer, Phase, Sets, Targets, TrainOptions, Training,
};

/// Train the binding on a paired dataset.
///
/// First vision and text are trained together (symmetric InfoNCE with a learned temperature,
/// and by default graded targets so that embeddings add up: see --targets); then each other
/// modality is bound to the frozen vision encoder (symmetric
/// InfoNCE at ImageBind's fixed temperatures), with the vision embeddings computed once and
/// cached; as they are all known, the X→vision half of the loss weighs each step against
/// every training pair (--negatives). AdamW, warm-up + cosine schedule, gradient clipping,
/// seeded. A checkpoint is written after every epoch (Ctrl-C keeps the last one; --resume
/// continues exactly), and one JSON line of metrics per epoch goes to MODEL/metrics.jsonl.
///
/// Without --epochs, --batch-size and --lr, the preset's recipe applies (tiny: tuned on the
/// default 12000-scene world; see --epochs).
///
/// Example:
///   mmbind world --out data/world && mmbind train --data data/world --model models/tiny
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TrainArgs {
    /// Dataset directory (with pairs.jsonl).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Let pairs.jsonl name files outside the dataset directory (absolute paths, '..',
    /// symlinks out of it); without it such rows are refused.
    #[arg(long)]
    pub allow_outside: bool,
    /// Model directory to write (checkpoints, caches and metrics go inside).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Model size: tiny (default), or another preset name.
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// Modalities to bind to vision, comma-separated (default: text,audio,depth,thermal,imu).
    #[arg(long, value_delimiter = ',')]
    pub modalities: Vec<Modality>,
    /// Epochs per phase: N for every phase, or per modality, e.g. "4,text=12" (text's phase
    /// is the joint vision+text one). A bare number replaces the preset's whole plan;
    /// MOD=N alone changes that phase only. Default: the preset's recipe (tiny:
    /// "3,text=7,thermal=18,depth=20,imu=10"; others: 10).
    #[arg(long, value_parser = parse_epochs, value_name = "N|MOD=N,...")]
    pub epochs: Option<PhasePlan<usize>>,
    /// Pairs per step: one for every phase, or per modality as for --epochs, e.g.
    /// "32,depth=16" (at least 2: each pair's negatives are the others in its batch).
    /// Default: the preset's recipe (tiny: "32,depth=16,imu=16"; others: 64).
    #[arg(long, value_parser = parse_batch_size, value_name = "B|MOD=B,...")]
    pub batch_size: Option<PhasePlan<usize>>,
    /// Peak learning rate: one for every phase, or per modality as for --epochs, e.g.
    /// "2e-3,depth=4e-3". Default: the preset's recipe (2e-3).
    #[arg(long, value_parser = parse_lr, value_name = "LR|MOD=LR,...")]
    pub lr: Option<PhasePlan<f64>>,
    /// Seed of the initial weights, the shuffles and the random draws (drop masks, turns).
    #[arg(long, default_value_t = TrainOptions::default().seed)]
    pub seed: u64,
    /// Continue the run in --model from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Start from this model directory (e.g. an imported ImageBind); its vision encoder stays frozen.
    #[arg(long, value_name = "DIR")]
    pub init: Option<PathBuf>,
    /// Threads to train on. Up to N frozen phases (audio, depth, ... bound to the trained
    /// vision encoder) run at once, sharing the N threads; from 2 up, the joint phase runs
    /// vision and text side by side. One tiny-preset phase keeps about one core busy. Matrix
    /// products stay on the thread that asks for them (set MATMUL_NUM_THREADS to split them).
    /// Default: the number of cores with the ndarray backend, 1 with wgpu. The weights are
    /// the same for any value.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Negatives of the X→vision half of the loss in the frozen phases: `all` takes them from
    /// the frozen vision embeddings of every training pair (cached, so this costs one
    /// [batch × pairs] product a step), `batch` from the other pairs of the batch only, as
    /// ImageBind does. The loss printed is then larger with `all`: that half is a choice
    /// among every pair (ln of their number at the start), not among the batch.
    #[arg(long, value_parser = choice::<Negatives>(), default_value = TrainOptions::default().negatives.name())]
    pub negatives: Negatives,
    /// Targets of the vision+text phase. `graded`: an image and a caption match in proportion
    /// to the content they share (κ = shared / √(size·size) over their content sets, targets
    /// softmax(scale·κ)), so a scene of A and B lands at A + B and embeddings add up. `clip`:
    /// each image matches its own caption only (CLIP and ImageBind; on a small world it gives
    /// every set of objects its own direction). Only this phase differs: every other modality
    /// binds to the frozen vision encoder with ImageBind's loss.
    #[arg(long, value_parser = choice::<Targets>(), default_value = TrainOptions::default().targets.name())]
    pub targets: Targets,
    /// Where graded targets take each training pair's content from: `auto` (the rows'
    /// "concepts" when every pair has them, else the caption's words), `concepts`, or `words`
    /// (the caption without stop words and frames such as "a photo of").
    #[arg(long, value_parser = choice::<Sets>(), default_value = TrainOptions::default().graded_sets.name(), value_name = "FROM")]
    pub graded_sets: Sets,
    /// The scale of graded targets: higher is closer to one-hot (20 gave arithmetic 0.10 on
    /// the demo's world, 3 gave 0.64). The default, 2, composes best on pairs of objects
    /// never seen together in training (docs/compose.md).
    #[arg(long, default_value_t = TrainOptions::default().graded_scale, value_name = "S", value_parser = parse_scale)]
    pub graded_scale: f64,
    /// Random orientations of the depth and thermal maps in their phases, drawn anew every
    /// step: `turns` (any of the 8 mirror images and quarter turns: for maps with no "up",
    /// such as the synthetic world's, whose objects lie at any angle), `flip` (mirrored left
    /// to right or not: for upright scenes, where upside down means something else), `none`.
    /// On the demo's world `turns` raised depth and thermal → vision P@1 by 0.01-0.04 at
    /// each of three seeds (test split; `flip` alone did nothing there).
    #[arg(long, value_parser = choice::<Augment>(), default_value = TrainOptions::default().augment.name())]
    pub augment: Augment,
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 100.0 => Ok(x),
        _ => Err(format!("'{s}' is not a scale (a number in (0, 100])")),
    }
}

/// One frozen phase per core on the CPU; a GPU is one device the phases would queue on.
fn default_jobs(backend: &str) -> usize {
    if backend == "ndarray" {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    }
}

struct CliObserver {
    quiet: bool,
    /// One bar per running phase (the frozen phases run side by side).
    bars: MultiProgress,
    running: HashMap<String, ProgressBar>,
    stop: Arc<AtomicBool>,
}

impl Observer for CliObserver {
    fn message(&mut self, text: &str) {
        if !self.quiet {
            let _ = self.bars.println(text);
            if self.bars.is_hidden() {
                eprintln!("{text}");
            }
        }
    }
    fn phase_started(&mut self, phase: &Phase, steps: usize) {
        let bar = self
            .bars
            .add(progress_bar(steps.max(32), &phase.name(), self.quiet));
        bar.set_length(steps as u64);
        self.running.insert(phase.name(), bar);
    }
    fn step(&mut self, phase: &Phase, step: usize, loss: f64, samples_per_s: f64) {
        if let Some(b) = self.running.get(&phase.name()) {
            let resumed = b.position() == 0 && step > 1;
            b.set_position(step as u64);
            if resumed {
                // Its rate and ETA count from here, not from step 0.
                b.reset_eta();
            }
            b.set_message(format!(
                "{} · loss {loss:.3} · {samples_per_s:.0} samples/s",
                phase.name()
            ));
        }
    }
    fn epoch_finished(&mut self, m: &EpochMetrics) {
        self.message(&format!(
            "{:<16} epoch {:>3}  loss {:.4}  {:>6.0} samples/s  (load {:.1} ms, forward {:.1} ms, backward {:.1} ms per step)",
            m.phase, m.epoch, m.loss, m.samples_per_s, m.load_ms, m.forward_ms, m.backward_ms
        ));
    }
    fn phase_finished(&mut self, phase: &Phase) {
        if let Some(b) = self.running.remove(&phase.name()) {
            b.finish_and_clear();
            self.bars.remove(&b);
        }
    }
    fn interrupted(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// `--epochs` / `--batch-size` / `--lr`: a value for every phase and per-modality overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct PhasePlan<T> {
    pub default: Option<T>,
    pub per_modality: Vec<(Modality, T)>,
}

/// The recipe's value and overrides with a flag's on top: a bare value replaces the recipe's
/// whole plan; overrides alone change their phases only.
fn over<T: Copy>(
    flag: &Option<PhasePlan<T>>,
    default: T,
    per_modality: &[(Modality, T)],
) -> (T, Vec<(Modality, T)>) {
    match flag {
        None => (default, per_modality.to_vec()),
        Some(PhasePlan {
            default: Some(d),
            per_modality: p,
        }) => (*d, p.clone()),
        Some(PhasePlan {
            default: None,
            per_modality: p,
        }) => (default, [per_modality, p].concat()),
    }
}

fn parse_plan<T: Copy>(
    s: &str,
    value: impl Fn(&str) -> Result<T, String>,
) -> Result<PhasePlan<T>, String> {
    let mut plan = PhasePlan {
        default: None,
        per_modality: Vec::new(),
    };
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        match part.split_once('=') {
            Some((m, v)) => {
                let m = m.trim().parse::<Modality>().map_err(|e| e.to_string())?;
                if m == Modality::Vision {
                    return Err("vision trains in text's phase: use text=...".into());
                }
                plan.per_modality.push((m, value(v.trim())?));
            }
            None => plan.default = Some(value(part.trim())?),
        }
    }
    Ok(plan)
}

fn parse_epochs(s: &str) -> Result<PhasePlan<usize>, String> {
    parse_plan(s, |v| match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{v}' is not a number of epochs (1 or more)")),
    })
}

fn parse_batch_size(s: &str) -> Result<PhasePlan<usize>, String> {
    parse_plan(s, |v| match v.parse::<usize>() {
        Ok(n) if n >= 2 => Ok(n),
        _ => Err(format!(
            "'{v}' is not a batch size (2 or more: contrastive pairs need negatives)"
        )),
    })
}

fn parse_lr(s: &str) -> Result<PhasePlan<f64>, String> {
    parse_plan(s, |v| match v.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!("'{v}' is not a learning rate (a positive number)")),
    })
}

/// The preset's recipe with the flags given laid over it.
fn options(args: &TrainArgs) -> TrainOptions {
    let recipe = mmbind::train::recipe(&args.preset);
    let (epochs, phase_epochs) = over(&args.epochs, recipe.epochs, &recipe.phase_epochs);
    let (batch_size, phase_batch_size) = over(
        &args.batch_size,
        recipe.batch_size,
        &recipe.phase_batch_size,
    );
    let (lr, phase_lr) = over(&args.lr, recipe.lr, &recipe.phase_lr);
    let mut opts = TrainOptions {
        epochs,
        phase_epochs,
        batch_size,
        phase_batch_size,
        lr,
        phase_lr,
        seed: args.seed,
        init: args.init.clone(),
        negatives: args.negatives,
        targets: args.targets,
        graded_sets: args.graded_sets,
        graded_scale: args.graded_scale,
        augment: args.augment,
        ..recipe
    };
    if !args.modalities.is_empty() {
        opts.modalities = args.modalities.clone();
    }
    opts
}

pub fn run(args: &TrainArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let config = ModelConfig::preset(&args.preset).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown preset '{}' (known: {})",
            args.preset,
            ModelConfig::PRESETS.join(", ")
        )
    })?;
    let opts = options(args);
    let compute = global.compute()?;
    let stop = Arc::new(AtomicBool::new(false));
    let bars = MultiProgress::new();
    if global.quiet || !std::io::stderr().is_terminal() {
        bars.set_draw_target(ProgressDrawTarget::hidden());
    }
    let notice = bars.clone();
    // The first Ctrl-C asks for a clean stop after the current step; the checkpoint of the
    // last finished epoch is already on disk.
    crate::process::stop_on_interrupt(&stop, move || {
        let text = "interrupted: stopping after this step (press Ctrl-C again to quit at once)";
        if notice.is_hidden() {
            eprintln!("\n{text}");
        } else {
            let _ = notice.println(text);
        }
    });
    let mut obs = CliObserver {
        quiet: global.quiet,
        bars,
        running: HashMap::new(),
        stop,
    };
    let jobs = args
        .jobs
        .map_or_else(|| default_jobs(compute.backend), usize::from);
    let start = std::time::Instant::now();
    let training = if args.resume {
        Training::resume(&args.data, &args.model)
    } else {
        Training::new(&args.data, &args.model, config, opts)
    };
    let summary = training
        .jobs(jobs)
        .allow_outside(args.allow_outside)
        .run(&compute.device, &mut obs)?;
    for (_, b) in obs.running.drain() {
        b.finish_and_clear();
    }
    if summary.interrupted {
        eprintln!(
            "stopped; the last finished epoch is saved. Continue with: mmbind train --data {} --model {} --resume",
            args.data.display(),
            args.model.display()
        );
        return Ok(Outcome::Interrupted);
    }
    if !global.quiet {
        eprintln!(
            "trained {} steps in {:.1}s → {} (content hash {})",
            summary.steps,
            start.elapsed().as_secs_f64(),
            args.model.display(),
            &summary.content_hash[..16]
        );
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_take_a_default_and_per_modality_counts() {
        assert_eq!(
            parse_epochs("7").unwrap(),
            PhasePlan {
                default: Some(7),
                per_modality: vec![]
            }
        );
        let plan = parse_epochs("3,text=11,depth=5").unwrap();
        assert_eq!(plan.default, Some(3));
        assert_eq!(
            plan.per_modality,
            vec![(Modality::Text, 11), (Modality::Depth, 5)]
        );
        assert_eq!(parse_epochs("audio=2").unwrap().default, None);
        for bad in ["0", "text=0", "x", "smell=3", "text=two"] {
            assert!(parse_epochs(bad).is_err(), "{bad}");
        }
        assert!(parse_epochs("vision=4").unwrap_err().contains("text="));
        let lr = parse_lr("2e-3,depth=4e-3").unwrap();
        assert_eq!(lr.default, Some(2e-3));
        assert_eq!(lr.per_modality, vec![(Modality::Depth, 4e-3)]);
        for bad in ["0", "-1e-3", "depth=nan", "fast"] {
            assert!(parse_lr(bad).is_err(), "{bad}");
        }
        let b = parse_batch_size("32,depth=16,thermal=16").unwrap();
        assert_eq!(b.default, Some(32));
        assert_eq!(
            b.per_modality,
            vec![(Modality::Depth, 16), (Modality::Thermal, 16)]
        );
        for bad in ["1", "depth=1", "0", "big"] {
            let e = parse_batch_size(bad).unwrap_err();
            assert!(e.contains("negatives"), "{bad}: {e}");
        }
    }

    /// The tiny recipe that `--help` quotes for `flag`, parsed with the flag's own parser.
    fn quoted_in_help<T>(
        flag: &str,
        parse: fn(&str) -> Result<PhasePlan<T>, String>,
    ) -> PhasePlan<T> {
        let help = <TrainArgs as clap::Args>::augment_args(clap::Command::new("train"))
            .get_arguments()
            .find(|a| a.get_long() == Some(flag))
            .and_then(|a| a.get_help().map(|h| h.to_string()))
            .unwrap();
        let quoted = help
            .split("(tiny: \"")
            .nth(1)
            .and_then(|r| r.split('"').next());
        parse(quoted.unwrap_or_else(|| panic!("--{flag}: no tiny recipe in {help:?}"))).unwrap()
    }

    #[test]
    fn help_quotes_the_tiny_recipe_as_it_is() {
        let recipe = mmbind::train::recipe("tiny");
        let epochs = quoted_in_help("epochs", parse_epochs);
        assert_eq!(
            (epochs.default, epochs.per_modality),
            (Some(recipe.epochs), recipe.phase_epochs)
        );
        let batch = quoted_in_help("batch-size", parse_batch_size);
        assert_eq!(
            (batch.default, batch.per_modality),
            (Some(recipe.batch_size), recipe.phase_batch_size)
        );
    }

    #[test]
    fn flags_replace_the_presets_recipe_or_change_single_phases() {
        let recipe = mmbind::train::recipe("tiny");
        let (d, p) = (recipe.epochs, &recipe.phase_epochs);
        assert_eq!(over(&None, d, p), (3, p.clone()));
        // A bare number: every phase gets it.
        let (n, per) = over(&Some(parse_epochs("5").unwrap()), d, p);
        let opts = TrainOptions {
            epochs: n,
            phase_epochs: per,
            ..recipe.clone()
        };
        assert!(
            Modality::ALL
                .iter()
                .all(|&m| m == Modality::Vision || opts.epochs_for(m) == 5)
        );
        // Overrides alone: that phase changes, the recipe's others stay.
        let (n, per) = over(&Some(parse_epochs("depth=2").unwrap()), d, p);
        let opts = TrainOptions {
            epochs: n,
            phase_epochs: per,
            ..recipe.clone()
        };
        assert_eq!(opts.epochs_for(Modality::Depth), 2);
        assert_eq!(opts.epochs_for(Modality::Text), 7);
        assert_eq!(opts.epochs_for(Modality::Audio), 3);
        // A preset without a recipe of its own trains with the generic defaults.
        assert_eq!(
            mmbind::train::recipe("imagebind-huge"),
            TrainOptions::default()
        );
    }

    #[test]
    fn phases_use_their_own_epoch_counts() {
        let opts = TrainOptions {
            epochs: 3,
            phase_epochs: vec![(Modality::Text, 11), (Modality::Depth, 5)],
            ..TrainOptions::default()
        };
        assert_eq!(opts.epochs_for(Modality::Text), 11);
        assert_eq!(opts.epochs_for(Modality::Depth), 5);
        assert_eq!(opts.epochs_for(Modality::Audio), 3);
        let opts = TrainOptions {
            lr: 2e-3,
            phase_lr: vec![(Modality::Thermal, 4e-3)],
            ..TrainOptions::default()
        };
        assert_eq!(opts.lr_for(Modality::Thermal), 4e-3);
        assert_eq!(opts.lr_for(Modality::Text), 2e-3);
        let opts = TrainOptions {
            batch_size: 32,
            phase_batch_size: vec![(Modality::Depth, 16)],
            ..TrainOptions::default()
        };
        assert_eq!(opts.batch_size_for(Modality::Depth), 16);
        assert_eq!(opts.batch_size_for(Modality::Text), 32);
    }
}
