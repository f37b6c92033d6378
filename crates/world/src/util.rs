//! Small shared helpers: seeded random streams, colour conversion, smooth 2-D textures.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

/// SplitMix64 finaliser: a good 64-bit mixer.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Combines two values into one seed.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    splitmix64(a ^ splitmix64(b).rotate_left(17))
}

/// Independent random streams of one scene, so that a change to how one view is drawn never
/// perturbs the others.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    Objects = 1,
    Vision = 2,
    Text = 3,
    Audio = 4,
    Depth = 5,
    Thermal = 6,
    Imu = 7,
    Plan = 8,
    Holdout = 9,
}

/// A seeded generator for (world seed, item, stream).
pub(crate) fn rng_for(seed: u64, item: u64, stream: Stream) -> Rng {
    Rng(StdRng::seed_from_u64(mix(mix(seed, item), stream as u64)))
}

/// A thin convenience wrapper over [`StdRng`].
pub(crate) struct Rng(pub(crate) StdRng);

impl Rng {
    /// Uniform in `[a, b)` (or `a` when the range is empty).
    pub(crate) fn uni(&mut self, a: f32, b: f32) -> f32 {
        if b > a { self.0.random_range(a..b) } else { a }
    }

    /// Uniform integer in `[a, b]`.
    pub(crate) fn int(&mut self, a: usize, b: usize) -> usize {
        self.0.random_range(a..=b)
    }

    /// Standard normal.
    pub(crate) fn gauss(&mut self) -> f32 {
        self.0.sample::<f32, _>(StandardNormal)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.0.random_bool(p.clamp(0.0, 1.0))
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.0.random_range(0..items.len())]
    }

    /// Fisher–Yates shuffle (explicit, so the order only depends on this code and the stream).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.0.random_range(0..=i);
            items.swap(i, j);
        }
    }
}

/// HSV (hue in degrees, s and v in [0, 1]) to linear-ish RGB in [0, 1].
pub(crate) fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h = h.rem_euclid(360.0) / 60.0;
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

/// A smooth random 2-D field: a sum of a few plane waves of low spatial frequency.
pub(crate) struct Waves(Vec<[f32; 4]>);

impl Waves {
    /// `count` waves of wavelength between `min_len` and `max_len` pixels, total amplitude ~`amp`.
    pub(crate) fn new(rng: &mut Rng, count: usize, min_len: f32, max_len: f32, amp: f32) -> Waves {
        let each = amp / (count as f32).sqrt().max(1.0);
        Waves(
            (0..count)
                .map(|_| {
                    let angle = rng.uni(0.0, std::f32::consts::TAU);
                    let k = std::f32::consts::TAU / rng.uni(min_len, max_len);
                    [
                        k * angle.cos(),
                        k * angle.sin(),
                        rng.uni(0.0, std::f32::consts::TAU),
                        each * rng.uni(0.5, 1.5),
                    ]
                })
                .collect(),
        )
    }

    pub(crate) fn at(&self, x: f32, y: f32) -> f32 {
        self.0
            .iter()
            .map(|w| w[3] * (w[0] * x + w[1] * y + w[2]).sin())
            .sum()
    }
}

/// Smoothstep between `a` and `b`.
pub(crate) fn smoothstep(a: f32, b: f32, x: f32) -> f32 {
    let t = ((x - a) / (b - a)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}
