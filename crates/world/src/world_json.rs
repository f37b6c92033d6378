//! The content of `world.json`: the configuration, split counts, concepts and file geometry.

use std::collections::BTreeSet;

use mmbind_schema::Split;
use serde_json::{Value, json};

use crate::plan::{SceneSpec, holdout_pairs, split_counts};
use crate::{
    Concept, GENERATOR_NAME, GENERATOR_VERSION, IMAGE_SIZE, IMU_RATE_HZ, IMU_ROWS, SAMPLE_RATE,
    WorldConfig, concepts,
};

/// An `f32` constant as the short decimal it was written as (1.2, not 1.2000000476837158).
fn tidy(x: f32) -> f64 {
    (x as f64 * 1000.0).round() / 1000.0
}

/// The content of `world.json`.
pub(crate) fn world_json(cfg: &WorldConfig, specs: &[SceneSpec]) -> Value {
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
    let concepts: Vec<Value> = concepts().iter().map(concept_json).collect();
    let names = crate::concepts();
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
        "geometry": geometry(),
    })
}

/// A concept's entry: its names, signature and the constants of its instances.
fn concept_json(c: &Concept) -> Value {
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
}

/// Where each view's files are and what they hold.
fn geometry() -> Value {
    json!({
        "vision": {"path": "vision/ID.png", "width": IMAGE_SIZE, "height": IMAGE_SIZE, "format": "PNG, 8-bit RGB"},
        "depth": {"path": "depth/ID.png", "width": IMAGE_SIZE, "height": IMAGE_SIZE, "format": "PNG, 16-bit grayscale", "unit": "mm", "no_reading": 0, "background_mm": [3000, 5000], "objects_mm": [1000, 1600]},
        "thermal": {"path": "thermal/ID.png", "width": IMAGE_SIZE, "height": IMAGE_SIZE, "format": "PNG, 8-bit grayscale", "unit": "relative temperature level 0-255", "background": [40, 70]},
        "audio": {"path": "audio/ID.wav", "sample_rate": SAMPLE_RATE, "channels": 1, "bits_per_sample": 16, "seconds": [2.0, 2.5]},
        "imu": {"path": "imu/ID.csv", "rate_hz": IMU_RATE_HZ, "rows": IMU_ROWS, "seconds": IMU_ROWS as f64 / IMU_RATE_HZ as f64, "columns": ["t", "ax", "ay", "az", "gx", "gy", "gz"], "units": {"t": "s", "acceleration": "m/s^2 (gravity on az)", "rotation": "rad/s"}},
        "text": {"inline": true},
        "registered": "vision, depth and thermal share one pinhole viewpoint (focal length 100 px)",
    })
}
