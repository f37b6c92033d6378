//! Random mirror images and quarter turns of depth and thermal maps in their frozen phases.
//!
//! Those phases see each training map once per epoch against a fixed vision embedding, and
//! on the demo's world they overfit: more epochs lowered the training loss, not the held-out
//! figures (`docs/compose.md`). A map turned or mirrored shows the same objects, so its
//! target is still right, and the encoder has to learn the objects rather than the maps.

use mmbind_modalities::Modality;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::tensor_io::RawInput;

/// How a frozen phase varies its depth and thermal maps from step to step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Augment {
    None,
    Flip,
    Turns,
}

impl crate::Choice for Augment {
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (Self::None, "none", "The maps as stored"),
        (
            Self::Flip,
            "flip",
            "Each map mirrored left to right or not, at random: right wherever a scene and its \
             mirror image mean the same",
        ),
        (
            Self::Turns,
            "turns",
            "Each map in one of its 8 orientations (mirrored or not, turned by 0, 90, 180 or \
             270 degrees), at random: for maps with no \"up\", such as the synthetic world's, \
             whose objects lie at any angle, or captures from above",
        ),
    ];
}

impl Augment {
    /// Runs saved before this option existed trained on the maps as stored.
    pub(crate) fn none() -> Self {
        Augment::None
    }

    /// The batch `x` of modality `m`, each map transformed by a draw from `seed` (one seed
    /// per step, so a resumed run draws the same). Only depth and thermal change: the other
    /// modalities' inputs are not pictures.
    pub fn apply(self, x: RawInput, m: Modality, seed: u64) -> RawInput {
        let choices = match self {
            Augment::None => return x,
            Augment::Flip => 2,
            Augment::Turns => 8,
        };
        if !matches!(m, Modality::Depth | Modality::Thermal) {
            return x;
        }
        let RawInput::Float { shape, mut data } = x else {
            return x;
        };
        // [batch, channels, height, width]; a quarter turn needs a square map.
        let [.., h, w] = shape[..] else {
            return RawInput::Float { shape, data };
        };
        let choices = if h == w { choices } else { choices.min(4) };
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut src = vec![0f32; h * w];
        let per_item = data.len() / shape[0].max(1);
        for item in data.chunks_mut(per_item.max(1)) {
            let k = rng.random_range(0..choices);
            for plane in item.chunks_mut(h * w) {
                orient(plane, &mut src, h, w, k);
            }
        }
        RawInput::Float { shape, data }
    }
}

/// Orientation `k` of the `h × w` plane, in place: bit 0 mirrors left to right, bit 1 top
/// to bottom (with bit 0, a half turn), bit 2 swaps rows and columns (square planes only).
fn orient(plane: &mut [f32], src: &mut [f32], h: usize, w: usize, k: u8) {
    if k == 0 {
        return;
    }
    src.copy_from_slice(plane);
    for y in 0..h {
        for x in 0..w {
            let (mut sy, mut sx) = (y, x);
            if k & 4 != 0 {
                (sy, sx) = (sx, sy);
            }
            if k & 1 != 0 {
                sx = w - 1 - sx;
            }
            if k & 2 != 0 {
                sy = h - 1 - sy;
            }
            plane[y * w + x] = src[sy * w + sx];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize, h: usize, w: usize) -> RawInput {
        RawInput::Float {
            shape: vec![n, 1, h, w],
            data: (0..n * h * w).map(|i| i as f32).collect(),
        }
    }

    fn data(x: &RawInput) -> &[f32] {
        match x {
            RawInput::Float { data, .. } => data,
            RawInput::Int { .. } => panic!("float input expected"),
        }
    }

    #[test]
    fn the_eight_orientations_are_distinct_and_keep_every_value() {
        let (h, w) = (3, 3);
        let original: Vec<f32> = (0..9).map(|i| i as f32).collect();
        let mut seen = Vec::new();
        for k in 0..8 {
            let mut plane = original.clone();
            orient(&mut plane, &mut [0.0; 9], h, w, k);
            let mut sorted = plane.clone();
            sorted.sort_by(f32::total_cmp);
            assert_eq!(sorted, original, "orientation {k} lost a value");
            assert!(!seen.contains(&plane), "orientation {k} repeats another");
            seen.push(plane);
        }
        // A mirror image: 0 1 2 / 3 4 5 / 6 7 8 → 2 1 0 / 5 4 3 / 8 7 6.
        assert_eq!(seen[1], [2., 1., 0., 5., 4., 3., 8., 7., 6.]);
        // Rows and columns swapped: the transpose.
        assert_eq!(seen[4], [0., 3., 6., 1., 4., 7., 2., 5., 8.]);
    }

    #[test]
    fn only_depth_and_thermal_maps_change_and_the_same_seed_draws_the_same() {
        let x = batch(16, 4, 4);
        for m in [Modality::Audio, Modality::Imu, Modality::Vision] {
            assert_eq!(data(&Augment::Turns.apply(x.clone(), m, 7)), data(&x));
        }
        assert_eq!(
            data(&Augment::None.apply(x.clone(), Modality::Depth, 7)),
            data(&x)
        );
        let a = Augment::Turns.apply(x.clone(), Modality::Depth, 7);
        let b = Augment::Turns.apply(x.clone(), Modality::Depth, 7);
        let c = Augment::Turns.apply(x.clone(), Modality::Depth, 8);
        assert_eq!(data(&a), data(&b));
        assert_ne!(data(&a), data(&c));
        assert_ne!(data(&a), data(&x), "16 maps, none turned");
        // Each map stays within its own 16 values.
        for (i, item) in data(&a).chunks(16).enumerate() {
            let lo = (i * 16) as f32;
            assert!(item.iter().all(|&v| v >= lo && v < lo + 16.0));
        }
    }

    #[test]
    fn flip_only_mirrors_left_to_right() {
        let x = batch(32, 2, 3);
        let y = Augment::Flip.apply(x.clone(), Modality::Thermal, 1);
        let mut flipped = 0;
        for (a, b) in data(&x).chunks(6).zip(data(&y).chunks(6)) {
            let mirror: Vec<f32> = a.chunks(3).flat_map(|r| r.iter().rev().copied()).collect();
            assert!(b == a || b == mirror.as_slice(), "{b:?} from {a:?}");
            flipped += usize::from(b != a);
        }
        assert!((4..=28).contains(&flipped), "{flipped} of 32 mirrored");
    }

    #[test]
    fn maps_that_are_not_square_are_never_transposed() {
        let x = batch(64, 2, 3);
        let y = Augment::Turns.apply(x.clone(), Modality::Depth, 3);
        assert_eq!(
            match &y {
                RawInput::Float { shape, .. } => shape.clone(),
                RawInput::Int { .. } => unreachable!(),
            },
            vec![64, 1, 2, 3]
        );
        for (a, b) in data(&x).chunks(6).zip(data(&y).chunks(6)) {
            let mut sa = a.to_vec();
            let mut sb = b.to_vec();
            sa.sort_by(f32::total_cmp);
            sb.sort_by(f32::total_cmp);
            assert_eq!(sa, sb);
        }
    }
}
