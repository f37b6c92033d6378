//! The row kernels: exact GELU (and its backward), softmax's numerators and LayerNorm's
//! row, each compiled for AVX-512, AVX2 + FMA and the baseline and picked at run time; the
//! branch-free `exp` and `erf` they vectorise with; L2 normalisation of rows.

use super::kernels::{Norm, for_rows};

/// Exact (erf) GELU in place: `x·(1 + erf(x/√2))/2`, burn's order of operations.
pub fn gelu_in_place(x: &mut [f32], width: usize) {
    for_rows(x, width, gelu_row);
}

#[inline(always)]
fn gelu_row_generic(row: &mut [f32]) {
    for v in row {
        *v = *v * (erf(*v * std::f32::consts::FRAC_1_SQRT_2) + 1.0) / 2.0;
    }
}

#[inline(always)]
fn softmax_numerators_generic(row: &mut [f32]) -> f32 {
    // A plain comparison, not `f32::max`, whose NaN rules do not vectorise.
    let max = lanes(row, f32::NEG_INFINITY, |a, b| if a > b { a } else { b });
    // exp and the sum in one pass, the sum in lanes (see `lanes`).
    let mut acc = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            c[i] = exp(c[i] - max);
            acc[i] += c[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for v in chunks.into_remainder() {
        *v = exp(*v - max);
        sum += *v;
    }
    1.0 / sum
}

/// Interleaved accumulators of the row reductions: one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;

/// A reduction over interleaved lanes, then across them: written so that it vectorises (a
/// single running value is a serial dependency the compiler may not reorder).
#[inline(always)]
pub(super) fn lanes(row: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = f(acc[i], c[i]);
        }
    }
    let mut out = acc.into_iter().fold(init, &f);
    for &v in tail {
        out = f(out, v);
    }
    out
}

/// Defines `$name(row)`, which runs the `#[inline(always)]` row kernel `$body` compiled for
/// AVX-512 or AVX2 + FMA when the CPU has them (the kernels are written to vectorise), else
/// as compiled for the baseline (SSE2). The body is called directly in each copy: through a
/// closure or `fn` parameter LLVM does not inline it across the feature boundary, and the
/// baseline code runs.
macro_rules! dispatch_row_kernel {
    ($(#[$doc:meta])* $vis:vis $name:ident($($arg:ident: $ty:ty),*) => $body:path, -> $ret:ty) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU has these features.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has both features.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

impl Norm {
    /// LayerNorm of one row in place: the mean, then the variance about it (burn's order),
    /// each summed in lanes.
    #[inline(always)]
    pub(super) fn row_generic(&self, row: &mut [f32]) {
        let n = row.len() as f32;
        let mean = lanes(row, 0.0, |a, b| a + b) / n;
        let mut var = [0.0f32; LANES];
        let chunks = row.chunks_exact(LANES);
        let tail: f32 = chunks
            .remainder()
            .iter()
            .map(|v| (v - mean) * (v - mean))
            .sum();
        for c in chunks {
            for i in 0..LANES {
                var[i] += (c[i] - mean) * (c[i] - mean);
            }
        }
        let var = (var.iter().sum::<f32>() + tail) / n;
        let denom = (var + self.eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
            *v = (*v - mean) / denom * w + b;
        }
    }
}

dispatch_row_kernel!(
    /// LayerNorm of one row in place.
    pub(super) norm_row(norm: &Norm, row: &mut [f32]) => Norm::row_generic, -> ()
);

dispatch_row_kernel!(
    /// Exact (erf) GELU of one row in place.
    pub gelu_row(row: &mut [f32]) => gelu_row_generic, -> ()
);
dispatch_row_kernel!(
    /// GELU's backward on one row: `dg ⊙= GELU'(h)`, `h` the GELU's input.
    pub gelu_backward_row(h: &[f32], dg: &mut [f32]) => gelu_backward_generic, -> ()
);

#[inline(always)]
fn gelu_backward_generic(h: &[f32], dg: &mut [f32]) {
    // GELU'(x) = Φ(x) + x·φ(x)
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    for (g, &x) in dg.iter_mut().zip(h) {
        let cdf = (erf(x * std::f32::consts::FRAC_1_SQRT_2) + 1.0) / 2.0;
        let pdf = exp(-0.5 * x * x) * INV_SQRT_2PI;
        *g *= cdf + x * pdf;
    }
}

dispatch_row_kernel!(
    /// Softmax's numerators in place, `exp(x − max)`, returning `1 / Σ` for the caller to
    /// apply to a smaller result (attention scales its `head_dim`-wide output rows, not the
    /// `keys`-wide probabilities).
    pub softmax_numerators(row: &mut [f32]) => softmax_numerators_generic, -> f32
);

/// `e^x` in f32 without a branch per element (so loops over it vectorise): Cody–Waite
/// reduction to `r ∈ [−ln2/2, ln2/2]`, a degree-7 Taylor polynomial (error < 1 ulp on that
/// interval), and `2ⁿ` built in the exponent bits. Below −87.3 (e^x under f32's normal range,
/// and −∞ from masks) it returns 0.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n·LN2_HI is exact for |n| < 2⁹.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and removing 1.5·2²³ rounds to the nearest integer in the float unit itself
    // (no call to `round`, which SSE2 lacks).
    const SHIFT: f32 = 12_582_912.0;
    let xc = x.clamp(-87.336_54, 88.722_83);
    let n = (xc * LOG2E + SHIFT) - SHIFT;
    let r = xc - n * LN2_HI - n * LN2_LO;
    // Horner with fused multiply-adds: one instruction a step where the CPU has FMA (every
    // dispatch target of the row kernels does).
    let mut p: f32 = 1.0 / 5040.0;
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    // n ∈ [−126, 128]: 2ⁿ as a float has exponent bits n + 127 (n = 128 overflows to ∞,
    // which is e^88.72… rounded, as expf gives). Adding SHIFT leaves the integer n + 127 in
    // the low mantissa bits, which the shift moves into the exponent: no float-to-int
    // conversion, whose saturating semantics do not vectorise.
    let two_n = f32::from_bits((n + 127.0 + SHIFT).to_bits() << 23);
    if x < -87.336_54 { 0.0 } else { p * two_n }
}

/// The error function to 3e-7 absolute (1.5e-7 of method, the rest f32 rounding): Abramowitz & Stegun 7.1.26 (the approximation
/// PyTorch's vectorised CPU erf uses), with [`exp`].
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152,
        1.061_405_4,
    ];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = ((((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0]) * t;
    (1.0 - poly * exp(-a * a)).copysign(x)
}

/// L2-normalises every row (`x / max(‖x‖, eps)`, `F.normalize`) and multiplies by `scale`.
pub fn normalize_rows(x: &mut [f32], width: usize, eps: f32, scale: Option<f32>) {
    for row in x.chunks_exact_mut(width) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(eps);
        for v in row.iter_mut() {
            *v /= norm;
            if let Some(s) = scale {
                *v *= s;
            }
        }
    }
}
