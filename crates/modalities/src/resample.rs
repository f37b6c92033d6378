//! Band-limited resampling, numerically equal to `torchaudio.functional.resample` with its
//! defaults (`sinc_interp_hann`, `lowpass_filter_width = 6`, `rolloff = 0.99`).
//!
//! torchaudio reduces both rates by their gcd to `orig` and `new`, builds one windowed-sinc
//! kernel row per output phase (`new` rows of `2·width + orig` taps, computed in float32), zero
//! pads the signal by `width` on the left and `width + orig` on the right, and runs a strided
//! `conv1d` (stride `orig`). Output sample `k·new + j` is row `j` dotted with the padded input
//! starting at `k·orig`. The result is cut to `ceil(new·len / orig)` samples.
//!
//! Every row is zero (to ~1e-23) outside the window `|t| < lowpass_filter_width`, so we keep
//! only that support: about `2·6·orig/min(orig,new)` taps instead of `2·width + orig`. For
//! 44.1 kHz → 16 kHz this is 34 taps instead of 475; the dropped taps are where torchaudio
//! clamps `t` to the window edge, where `cos²` of the (float32) half-pi is ≈ 2e-15 and the sinc
//! ≈ 5e-9, so the sums differ by far less than float32 rounding.
//!
//! Kernels are cached per reduced `(orig, new)` pair, because a batch of files usually shares
//! one or two sample rates and building a kernel costs `sin`/`cos` per tap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// torchaudio's default `lowpass_filter_width`: the number of sinc zero crossings kept on each
/// side of the centre.
const LOWPASS_FILTER_WIDTH: f64 = 6.0;
/// torchaudio's default `rolloff`: the cutoff as a fraction of the lower Nyquist frequency.
const ROLLOFF: f64 = 0.99;
/// Kernels with more taps than this (all phases together) are not precomputed: they only occur
/// for coprime, unusual rate pairs, and are then built per call for the phases actually used.
const MAX_TABLE_TAPS: usize = 1 << 22;
/// Rate pairs whose kernels are kept between calls.
const MAX_CACHED_KERNELS: usize = 32;

/// Resamples one channel from `orig_freq` to `new_freq` Hz exactly as
/// `torchaudio.functional.resample(x, orig_freq, new_freq)` does with default arguments.
///
/// Returns `x` unchanged when the rates are equal (as torchaudio does), and
/// `ceil(new_freq · len / orig_freq)` samples otherwise. A zero rate yields an empty output
/// (torchaudio raises); callers validate rates before getting here.
pub fn resample(x: &[f32], orig_freq: u32, new_freq: u32) -> Vec<f32> {
    if orig_freq == new_freq {
        return x.to_vec();
    }
    match Resampler::cached(orig_freq, new_freq) {
        Some(r) => r.process(x),
        None => Vec::new(),
    }
}

/// Kernels by reduced `(orig, new)` rate pair.
type KernelCache = HashMap<(u32, u32), Arc<Resampler>>;

/// A precomputed torchaudio resampling kernel for one pair of sample rates.
///
/// Build it once (or use [`Resampler::cached`]) and call [`Resampler::process`] per channel.
#[derive(Debug)]
pub struct Resampler {
    /// Input rate divided by gcd(orig, new): the conv stride.
    orig: usize,
    /// Output rate divided by gcd(orig, new): the number of phases (kernel rows).
    new: usize,
    /// Left zero padding of the input (torchaudio's `width`).
    width: usize,
    /// Cutoff in reduced units: `min(orig, new) · rolloff`.
    base_freq: f64,
    /// All phases, when the table is small enough to keep (the usual case).
    table: Option<Vec<Phase>>,
}

/// The non-zero part of one kernel row: `taps[i]` multiplies padded input `k·orig + first + i`.
#[derive(Debug, Clone)]
struct Phase {
    first: usize,
    taps: Vec<f32>,
}

impl Resampler {
    /// Builds the kernel for `orig_freq → new_freq`. Returns `None` if a rate is zero.
    pub fn new(orig_freq: u32, new_freq: u32) -> Option<Self> {
        if orig_freq == 0 || new_freq == 0 {
            return None;
        }
        let g = gcd(orig_freq, new_freq);
        let (orig, new) = ((orig_freq / g) as usize, (new_freq / g) as usize);
        let base_freq = orig.min(new) as f64 * ROLLOFF;
        let width = (LOWPASS_FILTER_WIDTH * orig as f64 / base_freq).ceil() as usize;
        let mut r = Resampler {
            orig,
            new,
            width,
            base_freq,
            table: None,
        };
        if new.saturating_mul(r.max_phase_len()) <= MAX_TABLE_TAPS {
            r.table = Some((0..new).map(|j| r.phase(j)).collect());
        }
        Some(r)
    }

    /// The shared kernel for this rate pair, built on first use. `None` if a rate is zero.
    pub fn cached(orig_freq: u32, new_freq: u32) -> Option<Arc<Resampler>> {
        static CACHE: OnceLock<Mutex<KernelCache>> = OnceLock::new();
        if orig_freq == 0 || new_freq == 0 {
            return None;
        }
        let g = gcd(orig_freq, new_freq);
        let key = (orig_freq / g, new_freq / g);
        let cache = CACHE.get_or_init(Default::default);
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = map.get(&key) {
            return Some(r.clone());
        }
        let r = Arc::new(Resampler::new(orig_freq, new_freq)?);
        if r.table.is_some() {
            // Batches use a handful of rates; a stream of odd ones must not grow memory forever.
            if map.len() >= MAX_CACHED_KERNELS {
                map.clear();
            }
            map.insert(key, r.clone());
        }
        Some(r)
    }

    /// Number of output samples torchaudio returns for `len` input samples:
    /// `ceil(new · len / orig)`, computed like Python's float division then `ceil`.
    pub fn output_len(&self, len: usize) -> usize {
        let num = self.new as u128 * len as u128;
        if num < (1u128 << 53) {
            (num as f64 / self.orig as f64).ceil() as usize
        } else {
            num.div_ceil(self.orig as u128) as usize
        }
    }

    /// Resamples one channel.
    pub fn process(&self, x: &[f32]) -> Vec<f32> {
        self.process_range(x, 0..self.output_len(x.len()))
    }

    /// Output samples `range` of [`Resampler::process`], computing only those: each output
    /// depends on a short stretch of input, so a caller that needs a few clips of a long
    /// recording pays for the clips, not the recording. The range is cut to the output length.
    pub fn process_range(&self, x: &[f32], range: std::ops::Range<usize>) -> Vec<f32> {
        let end = range.end.min(self.output_len(x.len()));
        let start = range.start.min(end);
        let mut out = vec![0.0f32; end - start];
        match &self.table {
            Some(table) => {
                for (n, y) in (start..end).zip(out.iter_mut()) {
                    *y = self.apply(&table[n % self.new], n / self.new, x);
                }
            }
            None => {
                // Large coprime kernels: build each phase the range uses once, then visit its
                // outputs. At most `end - start` phases are built.
                for first in start..end.min(start + self.new) {
                    let phase = self.phase(first % self.new);
                    for n in (first..end).step_by(self.new) {
                        out[n - start] = self.apply(&phase, n / self.new, x);
                    }
                }
            }
        }
        out
    }

    /// One output sample: phase taps dotted with the zero-padded input at block `k`.
    fn apply(&self, phase: &Phase, k: usize, x: &[f32]) -> f32 {
        // Position of the first tap in the unpadded input; may be negative (left padding).
        let start = (k * self.orig + phase.first) as isize - self.width as isize;
        let taps = &phase.taps;
        if start >= 0 && start as usize + taps.len() <= x.len() {
            return dot(taps, &x[start as usize..start as usize + taps.len()]);
        }
        // Edge of the signal: clip the tap range to the samples that exist.
        let lo = (-start).max(0) as usize;
        let hi = ((x.len() as isize - start).max(0) as usize).min(taps.len());
        if lo >= hi {
            return 0.0;
        }
        let xs = (start + lo as isize) as usize;
        dot(&taps[lo..hi], &x[xs..xs + (hi - lo)])
    }

    /// Upper bound on the number of non-zero taps of any phase.
    fn max_phase_len(&self) -> usize {
        (2.0 * LOWPASS_FILTER_WIDTH * self.orig as f64 / self.base_freq).ceil() as usize + 3
    }

    /// Kernel row `j`, restricted to the taps inside the window.
    ///
    /// torchaudio (float32): `idx = arange(-width, width + orig) / orig`,
    /// `t = (-j / new + idx) · base_freq`, clamped to ±6; `window = cos(t·π/6/2)²`;
    /// `kernel = sinc(π t) · window · base_freq / orig`. Tap `m` sits at `idx = (m - width)/orig`.
    fn phase(&self, j: usize) -> Phase {
        let row_len = 2 * self.width + self.orig;
        // |t| < 6  ⇔  m - width ∈ orig·(j/new ± 6/base). Widen by one tap each side so rounding
        // never drops a tap that torchaudio keeps; the extra taps are (near) zero anyway.
        let centre = self.orig as f64 * j as f64 / self.new as f64 + self.width as f64;
        let half = self.orig as f64 * LOWPASS_FILTER_WIDTH / self.base_freq;
        let first = ((centre - half).floor() - 1.0).max(0.0) as usize;
        let last = (((centre + half).ceil() + 1.0) as usize).min(row_len - 1);
        let taps = (first..=last).map(|m| self.tap(j, m)).collect();
        Phase { first, taps }
    }

    /// One kernel coefficient, with torchaudio's float32 operation order.
    fn tap(&self, j: usize, m: usize) -> f32 {
        let lpw = LOWPASS_FILTER_WIDTH as f32;
        let idx = (m as f32 - self.width as f32) / self.orig as f32;
        let tj = -(j as f32) / self.new as f32;
        let t = ((tj + idx) * self.base_freq as f32).clamp(-lpw, lpw);
        let c = (t * std::f32::consts::PI / lpw / 2.0).cos();
        let window = c * c;
        let tp = t * std::f32::consts::PI;
        let sinc = if tp == 0.0 { 1.0 } else { tp.sin() / tp };
        let scale = (self.base_freq / self.orig as f64) as f32;
        sinc * (window * scale)
    }
}

/// Dot product with several independent accumulators so the compiler can vectorise it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += xa[i] * xb[i];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (xa, xb) in ra.iter().zip(rb) {
        s += xa * xb;
    }
    s
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sparse rows must agree with the full torchaudio rows everywhere: outside the kept
    /// range the full row is only window-edge dust.
    #[test]
    fn sparse_rows_cover_the_full_kernel() {
        for (o, n) in [
            (44100, 16000),
            (8000, 16000),
            (48000, 16000),
            (22050, 16000),
            (3, 7),
        ] {
            let r = Resampler::new(o, n).expect("non-zero rates");
            let row_len = 2 * r.width + r.orig;
            for j in 0..r.new {
                let p = r.phase(j);
                for m in 0..row_len {
                    let full = r.tap(j, m);
                    let kept = m >= p.first && m < p.first + p.taps.len();
                    if !kept {
                        assert!(full.abs() < 1e-12, "{o}->{n} row {j} tap {m}: {full}");
                    }
                }
            }
        }
    }

    #[test]
    fn ranges_equal_slices_of_the_full_output() {
        let x: Vec<f32> = (0..5000).map(|i| ((i * i) as f32 * 1e-4).sin()).collect();
        for (o, n) in [(44100, 16000), (8000, 16000), (96001, 16000)] {
            let r = Resampler::new(o, n).expect("non-zero rates");
            let full = r.process(&x);
            for range in [
                0..10,
                17..800,
                full.len() / 2..full.len(),
                5..5,
                0..usize::MAX,
            ] {
                let end = range.end.min(full.len());
                assert_eq!(
                    r.process_range(&x, range.clone()),
                    full[range.start..end],
                    "{o}->{n}"
                );
            }
        }
    }

    #[test]
    fn output_length_is_torchaudio_ceil() {
        let r = Resampler::new(44100, 16000).expect("non-zero rates");
        assert_eq!(r.output_len(145_530), 52_800);
        assert_eq!(r.output_len(1), 1);
        assert_eq!(r.output_len(0), 0);
        assert_eq!(resample(&[0.5; 10], 16000, 48000).len(), 30);
    }
}
