//! Where the clips lie: pytorchvideo's `ConstantClipsPerVideoSampler`, with Python's exact
//! `Fraction` arithmetic.

use super::AudioPreprocess;

/// Sample ranges `[start, end)` of the clips for `num_samples` samples at `cfg.sample_rate`.
///
/// pytorchvideo's `ConstantClipsPerVideoSampler`: with `d = num_samples / sr` (a float),
/// clip `i` starts at `i · max(d - clip, 0) / max(clips - 1, 1)` and lasts `clip` seconds,
/// computed with exact `Fraction`s of the floats; ImageBind slices `int(start·sr):int(end·sr)`.
/// The ranges are *not* clamped: a 1.2 s input gives `(0, 32000)` three times, and Python's
/// slicing then stops at the end of the signal ([`preprocess`](super::preprocess) clamps the
/// same way).
pub fn clip_ranges(num_samples: usize, cfg: &AudioPreprocess) -> Vec<(usize, usize)> {
    let sr = cfg.sample_rate;
    if sr == 0 {
        return vec![(0, 0); cfg.clips_per_input];
    }
    let duration = num_samples as f64 / sr as f64;
    let max_start = (duration - cfg.clip_duration_s).max(0.0);
    let divisor = cfg.clips_per_input.saturating_sub(1).max(1);
    (0..cfg.clips_per_input)
        .map(|i| {
            exact_clip_range(max_start, cfg.clip_duration_s, i, divisor, sr)
                .unwrap_or_else(|| float_clip_range(max_start, cfg.clip_duration_s, i, divisor, sr))
        })
        .collect()
}

/// Clip `i` with exact rational arithmetic, as Python's `Fraction` does. `None` if a number
/// outgrows 128 bits (absurd durations or sample rates), where the float fallback is used.
fn exact_clip_range(
    max_start: f64,
    clip: f64,
    i: usize,
    divisor: usize,
    sr: u32,
) -> Option<(usize, usize)> {
    let start = Ratio::from_f64(max_start)?
        .mul_int(i as u128)?
        .div_int(divisor as u128)?;
    let end = start.add(&Ratio::from_f64(clip)?)?;
    let to_sample = |r: Ratio| {
        r.mul_int(sr as u128)
            .map(|r| r.floor())
            .map(|v| v.min(usize::MAX as u128) as usize)
    };
    Some((to_sample(start)?, to_sample(end)?))
}

/// Float approximation of [`exact_clip_range`], only for inputs too large for 128 bits.
fn float_clip_range(
    max_start: f64,
    clip: f64,
    i: usize,
    divisor: usize,
    sr: u32,
) -> (usize, usize) {
    let start = max_start * i as f64 / divisor as f64;
    (
        (start * sr as f64) as usize,
        ((start + clip) * sr as f64) as usize,
    )
}

/// A non-negative fraction with checked 128-bit arithmetic, kept in lowest terms.
#[derive(Debug, Clone, Copy)]
struct Ratio {
    num: u128,
    den: u128,
}

impl Ratio {
    /// The exact value of a finite, non-negative float (`fractions.Fraction(x)`).
    fn from_f64(x: f64) -> Option<Ratio> {
        if !(x.is_finite() && x >= 0.0) {
            return None;
        }
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        let (mut mant, mut exp) = if biased == 0 {
            (frac, -1074)
        } else {
            (frac | 1 << 52, biased - 1075)
        };
        if mant == 0 {
            return Some(Ratio { num: 0, den: 1 });
        }
        let tz = mant.trailing_zeros();
        mant >>= tz;
        exp += tz as i32;
        if exp >= 0 {
            let num = (mant as u128)
                .checked_shl(exp as u32)
                .filter(|v| v >> exp == mant as u128)?;
            Some(Ratio { num, den: 1 })
        } else {
            let den = 1u128.checked_shl((-exp) as u32).filter(|_| -exp < 127)?;
            Some(Ratio {
                num: mant as u128,
                den,
            })
        }
    }

    fn reduced(num: u128, den: u128) -> Ratio {
        let g = gcd_u128(num, den).max(1);
        Ratio {
            num: num / g,
            den: den / g,
        }
    }

    fn mul_int(self, k: u128) -> Option<Ratio> {
        let g = gcd_u128(k, self.den).max(1);
        Some(Ratio::reduced(self.num.checked_mul(k / g)?, self.den / g))
    }

    fn div_int(self, k: u128) -> Option<Ratio> {
        if k == 0 {
            return None;
        }
        let g = gcd_u128(k, self.num).max(1);
        Some(Ratio::reduced(self.num / g, self.den.checked_mul(k / g)?))
    }

    fn add(&self, o: &Ratio) -> Option<Ratio> {
        let g = gcd_u128(self.den, o.den).max(1);
        let den = (self.den / g).checked_mul(o.den)?;
        let num = self
            .num
            .checked_mul(o.den / g)?
            .checked_add(o.num.checked_mul(self.den / g)?)?;
        Some(Ratio::reduced(num, den))
    }

    fn floor(&self) -> u128 {
        self.num / self.den
    }
}

fn gcd_u128(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_the_exact_float() {
        let r = Ratio::from_f64(3.3 - 2.0).expect("finite");
        // Fraction(3.3 - 2) == 1463669878895411/1125899906842624
        assert_eq!(
            (r.num, r.den),
            (1_463_669_878_895_411, 1_125_899_906_842_624)
        );
        let half = Ratio::from_f64(0.5).expect("finite");
        assert_eq!((half.num, half.den), (1, 2));
        assert_eq!(Ratio::from_f64(0.0).map(|r| r.num), Some(0));
        assert!(Ratio::from_f64(f64::NAN).is_none());
    }

    #[test]
    fn single_clip_starts_at_zero() {
        let cfg = AudioPreprocess {
            clips_per_input: 1,
            ..Default::default()
        };
        assert_eq!(clip_ranges(80_000, &cfg), vec![(0, 32_000)]);
    }
}
