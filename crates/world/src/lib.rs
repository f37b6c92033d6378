//! The synthetic six-modality world: a seeded procedural scene model written as a paired
//! dataset (vision, text, audio, depth, thermal, IMU) in mmbind's `pairs.jsonl` format.
//!
//! A scene holds one or two objects drawn from [`concepts()`]. Each concept has a signature in
//! every modality (see [`Concept`] and `world.json`), every object has instance-level variables
//! shared by its views (position, distance, size, colour, vigour, pitch; see
//! [`ObjectInstance`]), and every view has its own nuisance (textured backgrounds, distractor
//! strokes, room noise, sensor noise, depth holes, device tilt).
//!
//! Splits follow ImageBind's regime: every TRAIN scene yields five rows, each pairing `vision`
//! with exactly one other modality (`s0001-text`, `s0001-audio`, ...); every VAL and TEST scene
//! yields one row with all six views, its `label` (the first concept) and its `concepts`.
//! Within each split, one-object scenes cycle through all concepts and two-object scenes cycle
//! through all unordered concept pairs (each cycle freshly shuffled), so a test split with at
//! least 66 two-object scenes holds every pair. Two-object scenes are 60% of the training
//! split and 40% of the held-out ones by default. With `holdout_pairs`, some concept pairs
//! appear only in the test split (see [`holdout_pairs`]). Training rows carry their scene's
//! `concepts` (no `label`).
//!
//! Files, all registered to the same 80×80 viewpoint:
//! - `vision/ID.png`: 8-bit RGB;
//! - `depth/ID.png`: 16-bit grayscale, millimetres, 0 = no reading;
//! - `thermal/ID.png`: 8-bit grayscale, 0–255 relative temperature;
//! - `audio/ID.wav`: 16 kHz mono 16-bit PCM, 2.0–2.5 s;
//! - `imu/ID.csv`: header `t,ax,ay,az,gx,gy,gz`, 400 rows at 100 Hz (4 s), m/s² and rad/s.
//!
//! The same configuration always gives byte-identical files: every scene draws from random
//! streams seeded by (seed, scene index, view), the split plan from (seed, split), and all
//! output is written in index order.

mod audio;
mod concepts;
mod encode;
mod images;
mod imu;
mod objects;
mod plan;
mod rows;
mod scene;
mod text;
mod util;
mod world_json;
mod write;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use concepts::{
    Concept, HeatPattern, Motion, Relief, Shape, Signature, Sound, Surface, concept_index,
};
pub use encode::{imu_csv, wav_bytes};
pub use images::DepthImage;
pub use objects::ObjectInstance;
pub use plan::{SceneSpec, holdout_pairs, plan, split_counts};
pub use scene::{Scene, render_scene, scene_id};

// The dataset format is the shared one: the rows and splits `mmbind train` reads.
pub use mmbind_schema::{PairsRow, Split};

/// Version of the generator; bumped whenever the same configuration would give other bytes.
pub const GENERATOR_VERSION: u32 = 4;
/// Name written to `world.json` (and looked for before writing into a non-empty directory).
pub const GENERATOR_NAME: &str = "mmbind-world";
/// Side of the vision, depth and thermal images, in pixels.
pub const IMAGE_SIZE: u32 = 80;
/// Focal length of the (shared) pinhole camera, in pixels (field of view ≈ 44°).
pub const FOCAL_PX: f32 = 100.0;
/// Audio sample rate in Hz.
pub const SAMPLE_RATE: u32 = 16_000;
/// IMU sample rate in Hz.
pub const IMU_RATE_HZ: u32 = 100;
/// IMU samples per recording (4 s).
pub const IMU_ROWS: usize = 400;
/// The view names, in the order they appear in a row.
pub const MODALITIES: [&str; 6] = ["vision", "text", "audio", "depth", "thermal", "imu"];

/// The concepts of the world, in a fixed order (indices are stable within a generator version).
pub fn concepts() -> &'static [Concept] {
    &concepts::CONCEPTS
}

/// What to generate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorldConfig {
    /// Number of scenes (train + val + test).
    pub scenes: usize,
    /// Seed of everything.
    pub seed: u64,
    /// Fraction of scenes in the test split (rounded; the last scenes).
    pub test_fraction: f64,
    /// Fraction of scenes in the validation split (rounded; just before the test scenes).
    pub val_fraction: f64,
    /// Fraction of two-object scenes within the validation and test splits (rounded per split).
    pub two_object_fraction: f64,
    /// Fraction of two-object scenes within the training split. Higher than the held-out one
    /// by default: telling two objects apart is what a small vision encoder learns last, and
    /// training on more of them lifted two-object retrieval without hurting one-object scenes
    /// (measured in the demo: audio→vision P@1 on two-object queries 0.39 → 0.58 going from
    /// 0.4 to 0.6, one-object 0.95 → 0.98).
    #[serde(default = "default_train_two_object_fraction")]
    pub train_two_object_fraction: f64,
    /// Concept pairs that appear only in the test split, never in training or validation:
    /// whether two-object scenes of pairs never seen together still land where their concepts
    /// add up is the test of a binding that composes. See [`holdout_pairs`].
    #[serde(default)]
    pub holdout_pairs: usize,
}

fn default_train_two_object_fraction() -> f64 {
    0.6
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            scenes: 1500,
            seed: 0,
            test_fraction: 0.15,
            val_fraction: 0.05,
            two_object_fraction: 0.4,
            train_two_object_fraction: default_train_two_object_fraction(),
            holdout_pairs: 0,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorldSummary {
    pub scenes: usize,
    /// Rows of the train split (five per train scene).
    pub train_rows: usize,
    pub val_scenes: usize,
    pub test_scenes: usize,
    /// Concept names, in [`concepts()`] order.
    pub concepts: Vec<String>,
    /// Files written: five per scene, plus `world.json` and `pairs.jsonl`.
    pub files: usize,
}

/// Why a world could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("invalid world configuration: {0}")]
    Config(String),
    #[error(
        "refusing to write the synthetic world into {path}: the directory is not empty and is not a \
         previous mmbind world ({reason}); choose a new or empty directory"
    )]
    NotAWorld { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: could not encode: {message}")]
    Encode { path: PathBuf, message: String },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WorldError + '_ {
    move |source| WorldError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks a configuration.
pub fn validate(cfg: &WorldConfig) -> Result<(), WorldError> {
    let fraction = |name: &str, v: f64| {
        if v.is_finite() && (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(WorldError::Config(format!(
                "{name} must be between 0 and 1, got {v}"
            )))
        }
    };
    fraction("test_fraction", cfg.test_fraction)?;
    fraction("val_fraction", cfg.val_fraction)?;
    fraction("two_object_fraction", cfg.two_object_fraction)?;
    fraction("train_two_object_fraction", cfg.train_two_object_fraction)?;
    if cfg.test_fraction + cfg.val_fraction > 1.0 {
        return Err(WorldError::Config(format!(
            "test_fraction + val_fraction must be at most 1, got {}",
            cfg.test_fraction + cfg.val_fraction
        )));
    }
    if cfg.scenes == 0 {
        return Err(WorldError::Config("scenes must be at least 1".into()));
    }
    let c = concepts().len();
    if cfg.holdout_pairs > c + c / 2 {
        return Err(WorldError::Config(format!(
            "holdout_pairs must be at most {} (every concept in at most 3 held-out pairs, so \
             each keeps pairs to learn from), got {}",
            c + c / 2,
            cfg.holdout_pairs
        )));
    }
    Ok(())
}

/// Writes the world described by `cfg` into `out` and reports what it wrote.
///
/// `out` must be absent, empty, or a previous world (it has a `world.json` from this
/// generator); anything else is refused. The order of writes keeps the dataset consistent
/// after a crash: a previous `pairs.jsonl` is removed first, `world.json` is written, then every
/// scene's files, then stale files of a previous larger world are removed, and `pairs.jsonl`
/// comes last (through a temporary file and a rename). `progress(done, total)` is called before
/// the first scene and after each one (from the calling thread).
///
/// Scenes are rendered on up to 8 threads (`std::thread::available_parallelism`); every scene
/// has its own random streams and the rows are written in scene order, so the output does not
/// depend on the number of threads.
pub fn generate(
    out: &Path,
    cfg: &WorldConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<WorldSummary, WorldError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    generate_with_threads(out, cfg, threads, progress)
}

/// [`generate`] on a given number of threads (at least one; the output is the same for any).
pub fn generate_with_threads(
    out: &Path,
    cfg: &WorldConfig,
    threads: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<WorldSummary, WorldError> {
    let specs = plan(cfg)?;
    write::prepare(out)?;
    let world = serde_json::to_vec_pretty(&world_json::world_json(cfg, &specs))
        .expect("JSON of plain values");
    write::write_atomic(out, write::WORLD, &world)?;
    progress(0, specs.len());
    let rows = write::write_scenes(out, cfg, &specs, threads, progress)?;
    write::finish(out, &specs, rows)
}
