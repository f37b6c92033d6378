//! The training recipe each model preset starts from: what `mmbind train --preset P` does
//! when --epochs, --batch-size and --lr are not given. Flags replace parts of it.

use mmbind_modalities::Modality;

use super::TrainOptions;

/// The recipe of `preset` (the generic defaults for a preset without its own).
///
/// tiny: measured on the demo's world (6,000 scenes, `docs/compose.md`). Most of the time
/// goes to vision+text, since every other modality binds to its vision space; depth and
/// thermal learn slowest and get the most epochs; depth and IMU learn more from twice the
/// steps at half the batch. The frozen phases run two at a time and end together.
pub fn recipe(preset: &str) -> TrainOptions {
    let base = TrainOptions::default();
    match preset {
        "tiny" => TrainOptions {
            epochs: 3,
            phase_epochs: vec![
                (Modality::Text, 7),
                (Modality::Thermal, 7),
                (Modality::Depth, 10),
                (Modality::Imu, 5),
            ],
            batch_size: 32,
            phase_batch_size: vec![(Modality::Depth, 16), (Modality::Imu, 16)],
            lr: 2e-3,
            ..base
        },
        _ => base,
    }
}
