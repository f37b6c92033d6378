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
mod images;
mod imu;
mod objects;
mod text;
mod util;

use std::collections::BTreeSet;
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use serde::{Deserialize, Serialize};

pub use concepts::{
    Concept, HeatPattern, Motion, Relief, Shape, Signature, Sound, Surface, concept_index,
};
pub use images::DepthImage;
pub use objects::ObjectInstance;

use util::{Stream, rng_for};

// The dataset format is the shared one: the rows and splits `mmbind train` reads.
use mmbind_schema::{Modality, PerModality};
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WorldError + '_ {
    move |source| WorldError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The plan of one scene: its split and concepts (the first is its label).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneSpec {
    pub split: Split,
    pub concepts: Vec<usize>,
}

/// One scene with all its views in memory.
#[derive(Clone, Debug)]
pub struct Scene {
    /// `s0001`, `s0002`, ... (1-based, at least four digits).
    pub id: String,
    pub index: usize,
    pub split: Split,
    /// The objects; `objects[0]` holds the label concept.
    pub objects: Vec<ObjectInstance>,
    pub text: String,
    pub vision: image::RgbImage,
    /// Millimetres, 0 = no reading.
    pub depth: DepthImage,
    pub thermal: image::GrayImage,
    /// 16 kHz mono samples.
    pub audio: Vec<i16>,
    /// Rows `[t, ax, ay, az, gx, gy, gz]`.
    pub imu: Vec<[f32; 7]>,
    /// Which object each pixel of the three images shows, row-major: 0 = background,
    /// `k + 1` = `objects[k]` (the nearest object covering at least half the pixel).
    pub object_map: Vec<u8>,
}

impl Scene {
    /// Name of the scene's label concept.
    pub fn label(&self) -> &'static str {
        self.objects[0].concept().name
    }

    /// Names of all the scene's concepts, label first.
    pub fn concept_names(&self) -> Vec<&'static str> {
        self.objects.iter().map(|o| o.concept().name).collect()
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

/// Scene counts `(train, val, test)`.
pub fn split_counts(cfg: &WorldConfig) -> (usize, usize, usize) {
    let n = cfg.scenes;
    let test = ((n as f64 * cfg.test_fraction).round() as usize).min(n);
    let val = ((n as f64 * cfg.val_fraction).round() as usize).min(n - test);
    (n - test - val, val, test)
}

/// The plan of every scene: splits (train first, then val, then test) and concepts.
pub fn plan(cfg: &WorldConfig) -> Result<Vec<SceneSpec>, WorldError> {
    validate(cfg)?;
    let (train, val, test) = split_counts(cfg);
    let mut specs = Vec::with_capacity(cfg.scenes);
    for (split, count) in [
        (Split::Train, train),
        (Split::Val, val),
        (Split::Test, test),
    ] {
        specs.extend(plan_split(cfg, split, count));
    }
    Ok(specs)
}

/// The concept pairs (lower index first) that only the test split holds: a regular set, so
/// no concept loses more of its partners than another. The concepts are put in a seeded ring;
/// the first pairs are neighbours on the ring (up to 12: every concept in 2), then opposite
/// concepts (up to 18: every concept in 3).
pub fn holdout_pairs(cfg: &WorldConfig) -> Vec<(usize, usize)> {
    let c = concepts().len();
    let mut ring: Vec<usize> = (0..c).collect();
    rng_for(cfg.seed, 0, Stream::Holdout).shuffle(&mut ring);
    let neighbours = (0..c).map(|i| (ring[i], ring[(i + 1) % c]));
    let opposite = (0..c / 2).map(|i| (ring[i], ring[i + c / 2]));
    let mut pairs: Vec<(usize, usize)> = neighbours
        .chain(opposite)
        .take(cfg.holdout_pairs)
        .map(|(a, b)| (a.min(b), a.max(b)))
        .collect();
    pairs.sort();
    pairs
}

/// Balanced concepts for one split: one-object scenes cycle through the concepts, two-object
/// scenes through the unordered pairs (each cycle reshuffled, each pair's order random), and
/// the scenes are then shuffled.
fn plan_split(cfg: &WorldConfig, split: Split, count: usize) -> Vec<SceneSpec> {
    let mut rng = rng_for(cfg.seed, split as u64, Stream::Plan);
    let c = concepts().len();
    let fraction = match split {
        Split::Train => cfg.train_two_object_fraction,
        Split::Val | Split::Test => cfg.two_object_fraction,
    };
    let twos = ((count as f64 * fraction).round() as usize).min(count);
    let mut out = Vec::with_capacity(count);
    let mut cycle: Vec<usize> = Vec::new();
    for _ in 0..count - twos {
        if cycle.is_empty() {
            cycle = (0..c).collect();
            rng.shuffle(&mut cycle);
        }
        out.push(SceneSpec {
            split,
            concepts: vec![cycle.pop().unwrap()],
        });
    }
    let held_out = match split {
        Split::Test => Vec::new(),
        Split::Train | Split::Val => holdout_pairs(cfg),
    };
    let all_pairs: Vec<(usize, usize)> = (0..c)
        .flat_map(|a| (a + 1..c).map(move |b| (a, b)))
        .filter(|p| !held_out.contains(p))
        .collect();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for _ in 0..twos {
        if pairs.is_empty() {
            pairs = all_pairs.clone();
            rng.shuffle(&mut pairs);
        }
        let (a, b) = pairs.pop().unwrap();
        let concepts = if rng.chance(0.5) {
            vec![a, b]
        } else {
            vec![b, a]
        };
        out.push(SceneSpec { split, concepts });
    }
    rng.shuffle(&mut out);
    out
}

/// The id of scene `index` in a world of `scenes` scenes.
pub fn scene_id(index: usize, scenes: usize) -> String {
    let width = scenes.to_string().len().max(4);
    format!("s{:0width$}", index + 1)
}

/// Renders scene `index` of the world `cfg` in memory.
///
/// # Panics
/// If the configuration is invalid or `index >= cfg.scenes`.
pub fn render_scene(cfg: &WorldConfig, index: usize) -> Scene {
    let specs = plan(cfg).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        index < cfg.scenes,
        "scene index {index} out of range (the world has {} scenes)",
        cfg.scenes
    );
    render_spec(cfg, index, &specs[index])
}

fn render_spec(cfg: &WorldConfig, index: usize, spec: &SceneSpec) -> Scene {
    let item = index as u64;
    let mut rng = rng_for(cfg.seed, item, Stream::Objects);
    let mut objects: Vec<ObjectInstance> = Vec::new();
    for &c in &spec.concepts {
        let o = objects::sample_object(&mut rng, c, &objects);
        objects.push(o);
    }
    let (vision, background) =
        images::render_vision(&objects, &mut rng_for(cfg.seed, item, Stream::Vision));
    let text = text::caption(
        &objects,
        &background,
        &mut rng_for(cfg.seed, item, Stream::Text),
    );
    let audio = audio::render_audio(&objects, &mut rng_for(cfg.seed, item, Stream::Audio));
    let depth = images::render_depth(&objects, &mut rng_for(cfg.seed, item, Stream::Depth));
    let thermal = images::render_thermal(&objects, &mut rng_for(cfg.seed, item, Stream::Thermal));
    let imu = imu::render_imu(&objects, &mut rng_for(cfg.seed, item, Stream::Imu));
    let object_map = images::object_map(&objects);
    Scene {
        id: scene_id(index, cfg.scenes),
        index,
        split: spec.split,
        objects,
        text,
        vision,
        depth,
        thermal,
        audio,
        imu,
        object_map,
    }
}

/// Relative file paths of a scene's five file views.
struct ScenePaths {
    vision: String,
    audio: String,
    depth: String,
    thermal: String,
    imu: String,
}

impl ScenePaths {
    fn new(id: &str) -> ScenePaths {
        ScenePaths {
            vision: format!("vision/{id}.png"),
            audio: format!("audio/{id}.wav"),
            depth: format!("depth/{id}.png"),
            thermal: format!("thermal/{id}.png"),
            imu: format!("imu/{id}.csv"),
        }
    }
}

/// The rows of one scene (five for train, one for val/test).
fn rows_of(scene: &Scene) -> Vec<PairsRow> {
    let p = ScenePaths::new(&scene.id);
    let mut base = PairsRow::new(scene.id.clone());
    base.scene = Some(scene.id.clone());
    base.views.vision = Some(p.vision.clone());
    base.split = Some(scene.split);
    let names = || {
        scene
            .concept_names()
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    match scene.split {
        Split::Train => {
            // The concepts, without a label: what a graded training loss may compare (see
            // `mmbind train --targets`); the classes a label would name are for evaluation.
            base.concepts = Some(names());
            let with = |m: Modality, view: &str| {
                let mut row = base.clone();
                row.id = format!("{}-{m}", scene.id);
                row.views[m] = Some(view.to_string());
                row
            };
            vec![
                with(Modality::Text, &scene.text),
                with(Modality::Audio, &p.audio),
                with(Modality::Depth, &p.depth),
                with(Modality::Thermal, &p.thermal),
                with(Modality::Imu, &p.imu),
            ]
        }
        Split::Val | Split::Test => vec![PairsRow {
            views: PerModality {
                text: Some(scene.text.clone()),
                audio: Some(p.audio.clone()),
                depth: Some(p.depth.clone()),
                thermal: Some(p.thermal.clone()),
                imu: Some(p.imu.clone()),
                ..base.views.clone()
            },
            label: Some(scene.label().to_string()),
            concepts: Some(names()),
            ..base
        }],
    }
}

/// PNG bytes of an image buffer (deterministic encoder settings).
fn png<P, C>(img: &image::ImageBuffer<P, C>, path: &Path) -> Result<Vec<u8>, WorldError>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    let mut bytes = Vec::new();
    img.write_with_encoder(PngEncoder::new_with_quality(
        &mut bytes,
        CompressionType::Fast,
        FilterType::Adaptive,
    ))
    .map_err(|e| WorldError::Encode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(bytes)
}

/// WAV bytes (16 kHz mono 16-bit PCM).
pub fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::with_capacity(44 + 2 * samples.len()));
    {
        let mut w =
            hound::WavWriter::new(&mut cursor, spec).expect("writing to memory cannot fail");
        let mut w16 = w.get_i16_writer(samples.len() as u32);
        for &s in samples {
            w16.write_sample(s);
        }
        w16.flush().expect("writing to memory cannot fail");
        w.finalize().expect("writing to memory cannot fail");
    }
    cursor.into_inner()
}

/// CSV text of IMU rows.
pub fn imu_csv(rows: &[[f32; 7]]) -> String {
    let mut s = String::with_capacity(16 + rows.len() * 60);
    s.push_str("t,ax,ay,az,gx,gy,gz\n");
    for r in rows {
        s.push_str(&format!(
            "{:.2},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}\n",
            r[0], r[1], r[2], r[3], r[4], r[5], r[6]
        ));
    }
    s
}

const SUBDIRS: [&str; 5] = ["vision", "audio", "depth", "thermal", "imu"];
const PAIRS: &str = "pairs.jsonl";
const WORLD: &str = "world.json";

/// Whether `dir/world.json` was written by this generator.
fn is_previous_world(dir: &Path) -> Result<(), String> {
    let path = dir.join(WORLD);
    let text =
        fs::read_to_string(&path).map_err(|_| "it has no readable world.json".to_string())?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| "its world.json is not JSON".to_string())?;
    if value.get("generator").and_then(|g| g.as_str()) == Some(GENERATOR_NAME) {
        Ok(())
    } else {
        Err(format!(
            "its world.json was not written by {GENERATOR_NAME}"
        ))
    }
}

/// Makes `out` ready: creates it, or checks that it is empty or a previous world (whose
/// `pairs.jsonl` is removed first, so no dataset points at files being rewritten).
fn prepare(out: &Path) -> Result<(), WorldError> {
    if out.exists() {
        if !out.is_dir() {
            return Err(WorldError::NotAWorld {
                path: out.to_path_buf(),
                reason: "it is not a directory".into(),
            });
        }
        let non_empty = fs::read_dir(out).map_err(io_err(out))?.next().is_some();
        if non_empty {
            is_previous_world(out).map_err(|reason| WorldError::NotAWorld {
                path: out.to_path_buf(),
                reason,
            })?;
            let pairs = out.join(PAIRS);
            if pairs.exists() {
                fs::remove_file(&pairs).map_err(io_err(&pairs))?;
            }
        }
    } else {
        fs::create_dir_all(out).map_err(io_err(out))?;
    }
    for sub in SUBDIRS {
        let dir = out.join(sub);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    }
    Ok(())
}

/// Writes `bytes` to `dir/name` atomically (fsynced, renamed, the directory fsynced).
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), WorldError> {
    let path = dir.join(name);
    mmbind_schema::write_atomic(&path, bytes).map_err(io_err(&path))
}

/// Removes files of a previous, larger world that this one did not rewrite (only names this
/// generator writes: `sNNNN.png|wav|csv` in the view folders).
fn remove_stale(out: &Path, written: &BTreeSet<String>) -> Result<(), WorldError> {
    for (sub, ext) in [
        ("vision", "png"),
        ("audio", "wav"),
        ("depth", "png"),
        ("thermal", "png"),
        ("imu", "csv"),
    ] {
        let dir = out.join(sub);
        let mut stale = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name
                .strip_prefix('s')
                .and_then(|r| r.strip_suffix(&format!(".{ext}")))
                .is_some_and(|digits| {
                    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                });
            if ours && !written.contains(&format!("{sub}/{name}")) {
                stale.push(entry.path());
            }
        }
        stale.sort();
        for path in stale {
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// An `f32` constant as the short decimal it was written as (1.2, not 1.2000000476837158).
fn tidy(x: f32) -> f64 {
    (x as f64 * 1000.0).round() / 1000.0
}

/// The content of `world.json`.
fn world_json(cfg: &WorldConfig, specs: &[SceneSpec]) -> serde_json::Value {
    use serde_json::json;
    let (train, val, test) = split_counts(cfg);
    let count = |split: Split, k: usize| {
        specs
            .iter()
            .filter(|s| s.split == split && s.concepts.len() == k)
            .count()
    };
    let test_pairs: BTreeSet<(usize, usize)> = specs
        .iter()
        .filter(|s| s.split == Split::Test && s.concepts.len() == 2)
        .map(|s| {
            (
                s.concepts[0].min(s.concepts[1]),
                s.concepts[0].max(s.concepts[1]),
            )
        })
        .collect();
    let concepts: Vec<serde_json::Value> = concepts()
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "synonyms": c.synonyms,
                "vision": c.signature.vision,
                "text": c.signature.text,
                "audio": c.signature.audio,
                "depth": c.signature.depth,
                "thermal": c.signature.thermal,
                "imu": c.signature.imu,
                "hues_deg": c.hues.map(tidy),
                "pitch_hz": tidy(c.pitch_hz),
                "pulse_hz": tidy(c.pulse_hz),
                "heat_level": tidy(c.heat),
            })
        })
        .collect();
    let names = self::concepts();
    let held_out: Vec<[&str; 2]> = holdout_pairs(cfg)
        .iter()
        .map(|&(a, b)| [names[a].name, names[b].name])
        .collect();
    json!({
        "generator": GENERATOR_NAME,
        "version": GENERATOR_VERSION,
        "seed": cfg.seed,
        "config": cfg,
        "scenes": {
            "total": cfg.scenes,
            "train": train,
            "val": val,
            "test": test,
            "train_rows": train * 5,
            "one_object": {"train": count(Split::Train, 1), "val": count(Split::Val, 1), "test": count(Split::Test, 1)},
            "two_object": {"train": count(Split::Train, 2), "val": count(Split::Val, 2), "test": count(Split::Test, 2)},
            "test_concept_pairs": test_pairs.len(),
            "holdout_pairs": held_out,
        },
        "regime": "train rows pair vision with exactly one other modality (ids SCENE-MODALITY) and carry the scene's concepts; val/test rows hold all six views with label (first concept) and concepts",
        "concepts": concepts,
        "geometry": {
            "vision": {"path": "vision/ID.png", "width": IMAGE_SIZE, "height": IMAGE_SIZE, "format": "PNG, 8-bit RGB"},
            "depth": {"path": "depth/ID.png", "width": IMAGE_SIZE, "height": IMAGE_SIZE, "format": "PNG, 16-bit grayscale", "unit": "mm", "no_reading": 0, "background_mm": [3000, 5000], "objects_mm": [1000, 1600]},
            "thermal": {"path": "thermal/ID.png", "width": IMAGE_SIZE, "height": IMAGE_SIZE, "format": "PNG, 8-bit grayscale", "unit": "relative temperature level 0-255", "background": [40, 70]},
            "audio": {"path": "audio/ID.wav", "sample_rate": SAMPLE_RATE, "channels": 1, "bits_per_sample": 16, "seconds": [2.0, 2.5]},
            "imu": {"path": "imu/ID.csv", "rate_hz": IMU_RATE_HZ, "rows": IMU_ROWS, "seconds": IMU_ROWS as f64 / IMU_RATE_HZ as f64, "columns": ["t", "ax", "ay", "az", "gx", "gy", "gz"], "units": {"t": "s", "acceleration": "m/s^2 (gravity on az)", "rotation": "rad/s"}},
            "text": {"inline": true},
            "registered": "vision, depth and thermal share one pinhole viewpoint (focal length 100 px)",
        },
    })
}

/// Renders scene `index`, writes its five files, and returns its rows.
fn write_scene(
    out: &Path,
    cfg: &WorldConfig,
    index: usize,
    spec: &SceneSpec,
) -> Result<Vec<PairsRow>, WorldError> {
    let scene = render_spec(cfg, index, spec);
    let p = ScenePaths::new(&scene.id);
    let files: [(&String, Vec<u8>); 5] = [
        (&p.vision, png(&scene.vision, &out.join(&p.vision))?),
        (&p.audio, wav_bytes(&scene.audio)),
        (&p.depth, png(&scene.depth, &out.join(&p.depth))?),
        (&p.thermal, png(&scene.thermal, &out.join(&p.thermal))?),
        (&p.imu, imu_csv(&scene.imu).into_bytes()),
    ];
    for (rel, bytes) in files {
        let path = out.join(rel);
        fs::write(&path, bytes).map_err(io_err(&path))?;
    }
    Ok(rows_of(&scene))
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
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;

    let specs = plan(cfg)?;
    prepare(out)?;
    let world = serde_json::to_vec_pretty(&world_json(cfg, &specs)).expect("JSON of plain values");
    write_atomic(out, WORLD, &world)?;
    let total = specs.len();
    progress(0, total);

    let workers = threads.clamp(1, 8).min(total);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut rows: Vec<Option<Vec<PairsRow>>> = vec![None; total];
    let mut first_error: Option<WorldError> = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, failed, specs) = (&next, &failed, &specs);
            s.spawn(move || {
                while !failed.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        break;
                    }
                    let result = write_scene(out, cfg, index, &specs[index]);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if tx.send((index, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (index, result) in rx {
            match result {
                Ok(r) => {
                    rows[index] = Some(r);
                    done += 1;
                    progress(done, total);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }

    let mut summary = WorldSummary {
        scenes: total,
        train_rows: 0,
        val_scenes: 0,
        test_scenes: 0,
        concepts: concepts().iter().map(|c| c.name.to_string()).collect(),
        files: 2 + 5 * total,
    };
    let mut pairs = String::new();
    let mut written = BTreeSet::new();
    for (index, scene_rows) in rows.into_iter().enumerate() {
        let scene_rows = scene_rows.expect("every scene was rendered");
        let p = ScenePaths::new(&scene_id(index, total));
        written.extend([p.vision, p.audio, p.depth, p.thermal, p.imu]);
        match specs[index].split {
            Split::Train => summary.train_rows += scene_rows.len(),
            Split::Val => summary.val_scenes += 1,
            Split::Test => summary.test_scenes += 1,
        }
        for row in scene_rows {
            pairs.push_str(&serde_json::to_string(&row).expect("JSON of plain values"));
            pairs.push('\n');
        }
    }
    remove_stale(out, &written)?;
    write_atomic(out, PAIRS, pairs.as_bytes())?;
    Ok(summary)
}
