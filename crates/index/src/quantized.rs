//! A compressed exact scan: every row also kept as int8 codes with one scale (`max |v| / 127`),
//! a quarter of the float32 bytes. A query scores every row from the codes, keeps as
//! candidates the rows whose score *could* reach the top k given each row's rounding error,
//! and re-ranks only those with the float32 vectors. The answer is the float32 scan's, by
//! construction (see [`search_one`]); what changes is that the scan streams 1 byte per
//! dimension instead of 4.
//!
//! The codes are built in memory from the matrix on first use (one float32 read), so the
//! saving is for processes that answer many queries (`batch`, a server), not a one-shot query.

use rayon::prelude::*;

use crate::exact::RowFilter;
use crate::kernels::{Scored, TopK, dots};
use crate::matrix::Matrix;

/// The int8 rows of a matrix.
pub struct Quantized {
    codes: Vec<i8>,
    /// Per row: `max |v| / 127` (the value of one code step); 0 for a zero row.
    scales: Vec<f32>,
    dim: usize,
}

impl Quantized {
    pub fn new(vectors: &[f32], dim: usize) -> Self {
        let rows = vectors.len().checked_div(dim).unwrap_or(0);
        let mut codes = vec![0i8; rows * dim];
        let mut scales = vec![0f32; rows];
        codes
            .par_chunks_mut(dim.max(1))
            .zip(scales.par_iter_mut())
            .zip(vectors.par_chunks(dim.max(1)))
            .for_each(|((c, s), v)| {
                let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
                if max > 0.0 && max.is_finite() {
                    *s = max / 127.0;
                    for (ci, vi) in c.iter_mut().zip(v) {
                        *ci = (vi / *s).round().clamp(-127.0, 127.0) as i8;
                    }
                }
            });
        Self { codes, scales, dim }
    }

    /// Bytes the scan reads per query (codes and scales).
    #[cfg(test)]
    fn scan_bytes(&self) -> usize {
        self.codes.len() + 4 * self.scales.len()
    }

    /// Approximate scores (`scale · Σ q_i · code_i`) of rows `first..first + out.len()`.
    fn approx_rows(&self, q: &[f32], first: usize, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
            unsafe fn avx512(z: &Quantized, q: &[f32], first: usize, out: &mut [f32]) {
                z.approx_rows_generic(q, first, out)
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(z: &Quantized, q: &[f32], first: usize, out: &mut [f32]) {
                z.approx_rows_generic(q, first, out)
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                // SAFETY: the CPU has these features.
                return unsafe { avx512(self, q, first, out) };
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU has both features.
                return unsafe { avx2(self, q, first, out) };
            }
        }
        self.approx_rows_generic(q, first, out)
    }

    #[inline(always)]
    fn approx_rows_generic(&self, q: &[f32], first: usize, out: &mut [f32]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.approx(q, first + i);
        }
    }

    /// `Σ q_i · code_i` (times the row's scale: the approximate score); written to vectorise
    /// (sixteen lanes, the codes widened to floats).
    #[inline(always)]
    fn approx(&self, q: &[f32], row: usize) -> f32 {
        let c = &self.codes[row * self.dim..(row + 1) * self.dim];
        let mut acc = [0f32; 16];
        let (qc, cc) = (q.chunks_exact(16), c.chunks_exact(16));
        let (qr, cr) = (qc.remainder(), cc.remainder());
        for (x, y) in qc.zip(cc) {
            for i in 0..16 {
                acc[i] += x[i] * y[i] as f32;
            }
        }
        let mut s: f32 = acc.iter().sum();
        for (x, y) in qr.iter().zip(cr) {
            s += x * *y as f32;
        }
        s * self.scales[row]
    }
}

/// Top-`k` rows for one query, the same rows and scores as the float32 scan.
///
/// Each code is within half a step of its value, so a row's approximate score `â` is within
/// `e = scale · ‖q‖₁ / 2` of its score (plus float rounding, covered by a relative margin).
/// The k-th largest lower bound `â − e` is at most the true k-th best score, so every row of
/// the true top k has an upper bound `â + e` at or above it: those rows are the candidates,
/// re-scored exactly.
pub(crate) fn search_one(
    m: &Matrix,
    qz: &Quantized,
    q: &[f32],
    k: usize,
    f: &RowFilter,
) -> Vec<Scored> {
    let n = m.len();
    if n == 0 || k == 0 {
        return Vec::new();
    }
    let q1: f32 = q.iter().map(|v| v.abs()).sum();
    // f32 accumulation over `dim` terms: a relative margin far above its rounding error.
    let margin = |a: f32, s: f32| 0.5 * s * q1 * 1.001 + 1e-5 * (a.abs() + s * q1);
    const BLOCK: usize = 1024;
    let mut approx = vec![0f32; n];
    approx
        .par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(b, out)| qz.approx_rows(q, b * BLOCK, out));
    let bounds: Vec<(f32, f32)> = approx
        .iter()
        .zip(&qz.scales)
        .map(|(&a, &s)| {
            let e = margin(a, s);
            (a - e, a + e)
        })
        .collect();
    // The k-th largest lower bound among the rows the filter allows.
    let mut lows = TopK::new(k, None);
    for (r, &(lo, _)) in bounds.iter().enumerate() {
        if f.row_ok(r as u32) {
            lows.push(Scored {
                score: lo,
                row: r as u32,
            });
        }
    }
    let threshold = if lows.len() < k {
        f32::NEG_INFINITY
    } else {
        lows.into_sorted()
            .last()
            .map_or(f32::NEG_INFINITY, |s| s.score)
    };
    let floor = threshold.max(f.min_score.unwrap_or(f32::NEG_INFINITY));
    let mut top = TopK::new(k, f.min_score);
    for (r, &(_, hi)) in bounds.iter().enumerate() {
        if hi >= floor && f.row_ok(r as u32) {
            // The scan's own kernel: the same value, to the bit, as the float32 scan gives.
            let mut score = [0f32];
            dots(q, m.row(r), m.dim(), &mut score);
            top.push(Scored {
                score: score[0],
                row: r as u32,
            });
        }
    }
    top.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_within_half_a_step_of_the_values() {
        let v: Vec<f32> = (0..300)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 61.0)
            .collect();
        let qz = Quantized::new(&v, 100);
        for row in 0..3 {
            let s = qz.scales[row];
            for i in 0..100 {
                let back = qz.codes[row * 100 + i] as f32 * s;
                assert!((back - v[row * 100 + i]).abs() <= s / 2.0 + 1e-7);
            }
        }
        assert_eq!(qz.scan_bytes(), 300 + 12);
        let zero = Quantized::new(&[0.0; 8], 4);
        assert_eq!(zero.scales, vec![0.0, 0.0]);
    }
}
