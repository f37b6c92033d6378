use std::path::PathBuf;

use clap::Args;
use mmbind_world::{WorldConfig, generate};

use crate::report::progress_bar;
use crate::{GlobalArgs, Outcome};

/// Write a synthetic paired dataset of all six modalities.
///
/// A seeded procedural scene model: each scene holds one or two of 12 concepts (bell, drum,
/// fan, kettle, ...), each with a consistent signature in every modality — shape and colour
/// in the image, words in the caption, pitch and rhythm in the audio, relief in the depth
/// map, temperature in the thermal map, motion in the IMU — and instance variation
/// (position, size, colour, loudness, vigour, noise). Training rows pair vision with exactly
/// one other modality (ImageBind's regime); validation and test scenes hold all six views
/// and labels. The same seed writes byte-identical files.
///
/// Example:
///   mmbind world --out data/world                 # 12000 scenes, 12 pairs only in test
///   mmbind world --out data/small --scenes 1500 --holdout-pairs 0 --seed 3
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct WorldArgs {
    /// Directory to write (must be empty, missing, or a previous world).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of scenes (the default is the demo's world, which `train --preset tiny`'s
    /// recipe is tuned for; a smaller world needs more epochs).
    #[arg(long, default_value_t = 12000)]
    pub scenes: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Share of two-object scenes in the validation and test splits.
    #[arg(long, value_name = "F", value_parser = parse_fraction, default_value_t = WorldConfig::default().two_object_fraction)]
    pub two_objects: f64,
    /// Share of two-object scenes in the training split.
    #[arg(long, value_name = "F", value_parser = parse_fraction, default_value_t = WorldConfig::default().train_two_object_fraction)]
    pub train_two_objects: f64,
    /// Concept pairs that only the test split holds (0–18; 12, the default, puts every
    /// concept in two of them): `eval` then reports two-object scenes and arithmetic on pairs never seen
    /// together in training apart from the seen ones. The pairs are listed in world.json.
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub holdout_pairs: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("'{s}' is not a fraction between 0 and 1")),
    }
}

pub fn run(args: &WorldArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let cfg = WorldConfig {
        scenes: args.scenes,
        seed: args.seed,
        two_object_fraction: args.two_objects,
        train_two_object_fraction: args.train_two_objects,
        holdout_pairs: args.holdout_pairs,
        ..WorldConfig::default()
    };
    let bar = progress_bar(args.scenes, "writing scenes", global.quiet);
    let start = std::time::Instant::now();
    let summary = generate(&args.out, &cfg, &mut |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "out": args.out, "scenes": summary.scenes, "train_rows": summary.train_rows,
                "val_scenes": summary.val_scenes, "test_scenes": summary.test_scenes,
                "concepts": summary.concepts, "files": summary.files,
                "seconds": start.elapsed().as_secs_f64(),
            })
        );
    } else if !global.quiet {
        println!(
            "wrote {} scenes ({} training rows, {} validation and {} test scenes, {} concepts) to {} in {:.1}s",
            summary.scenes,
            summary.train_rows,
            summary.val_scenes,
            summary.test_scenes,
            summary.concepts.len(),
            args.out.display(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(Outcome::Ok)
}
