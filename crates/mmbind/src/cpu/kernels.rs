//! The handful of numeric kernels a transformer's forward pass needs, on row-major `f32`
//! slices: matrix products (the `gemm` crate: packed, cache-blocked, AVX2/AVX-512, split over
//! rayon's threads), dense layers and LayerNorm; the row kernels they share (GELU, softmax,
//! `exp`, `erf`) are in `rows.rs`.
//!
//! Each kernel computes what burn's op computes, in the same order where the order changes
//! the rounding (bias after the product, mean before the variance), so that this path and
//! burn's stay within the parity tests' 2e-6 of PyTorch.

use std::cell::Cell;

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::rows::norm_row;

/// Below this many multiply-adds a product runs on the calling thread: splitting it costs
/// more than it saves (the tiny presets' 64-wide layers are ~10⁵).
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// Rows per rayon task in the row-wise kernels: enough to amortise the task (~1 µs).
const ROWS_PER_TASK: usize = 64;

thread_local! {
    static SERIAL: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every kernel on the calling thread: for callers that split the work above
/// the kernels (whole sequences per thread), where a fork-join per layer is pure overhead.
pub fn serially<R>(f: impl FnOnce() -> R) -> R {
    let before = SERIAL.replace(true);
    let out = f();
    SERIAL.set(before);
    out
}

/// Whether kernels may split their work over rayon's threads here.
pub fn parallel() -> bool {
    !SERIAL.get() && rayon::current_num_threads() > 1
}

fn parallelism(work: usize) -> Parallelism {
    if parallel() && work >= PARALLEL_MIN_WORK {
        let threads = rayon::current_num_threads();
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    }
}

/// A strided row-major matrix in a slice: element `(i, j)` is `data[offset + i·row_stride + j]`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
}

impl<'a> View<'a> {
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            offset: 0,
            rows,
            cols,
            row_stride: cols,
        }
    }

    /// Panics unless every element lies inside the slice (the unsafe products rely on it).
    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = self.offset + (self.rows - 1) * self.row_stride + self.cols;
            assert!(last <= self.data.len(), "matrix view out of bounds");
        }
    }
}

/// `out[i, j] = out[i, j]·keep + scale·Σₖ a[i, k]·b[k, j]` (or with `b` transposed), `out`
/// strided like a [`View`]. `keep` is 0 (overwrite) or 1 (accumulate).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: View,
    b: View,
    b_transposed: bool,
    out: &mut [f32],
    out_offset: usize,
    out_row_stride: usize,
    keep: bool,
    scale: f32,
    threads: bool,
) {
    let (m, n) = (a.rows, if b_transposed { b.rows } else { b.cols });
    if m > 0 && n > 0 {
        assert!(
            out_offset + (m - 1) * out_row_stride + n <= out.len(),
            "matrix view out of bounds"
        );
    }
    // SAFETY: `out` holds every element written (checked above) and, borrowed mutably,
    // aliases neither input.
    unsafe {
        matmul_to_ptr(
            a,
            b,
            b_transposed,
            out.as_mut_ptr().add(out_offset),
            out_row_stride,
            keep,
            scale,
            threads,
        )
    }
}

/// [`matmul`] into a raw destination, for tasks that write disjoint blocks of one buffer.
///
/// # Safety
/// `out` must be valid for writes (and reads if `keep`) of every `out + i·out_row_stride + j`
/// with `i < a.rows`, `j <` the product's columns, and no other thread may touch those
/// elements meanwhile; they must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_to_ptr(
    a: View,
    b: View,
    b_transposed: bool,
    out: *mut f32,
    out_row_stride: usize,
    keep: bool,
    scale: f32,
    threads: bool,
) {
    a.check();
    b.check();
    let (k, n) = if b_transposed {
        (b.cols, b.rows)
    } else {
        (b.rows, b.cols)
    };
    assert_eq!(a.cols, k, "inner dimensions differ");
    let m = a.rows;
    let (b_cs, b_rs) = if b_transposed {
        (b.row_stride as isize, 1)
    } else {
        (1, b.row_stride as isize)
    };
    // SAFETY: the inputs' bounds were checked above, the output's are the caller's promise.
    unsafe {
        product(
            [m, n, k],
            (out, out_row_stride),
            keep,
            (a.data.as_ptr().add(a.offset), 1, a.row_stride as isize),
            (b.data.as_ptr().add(b.offset), b_cs, b_rs),
            scale,
            threads,
        )
    }
}

/// `gemm` with the conventions of this file: row-major output `(pointer, row stride)`,
/// operands as `(pointer, column stride, row stride)`, `out = out·keep + scale·a·b`.
///
/// # Safety
/// Every element of the operands and of the output (`m × n`) must be valid as described,
/// the output must not overlap the operands, and no other thread may write them meanwhile.
unsafe fn product(
    [m, n, k]: [usize; 3],
    (out, out_row_stride): (*mut f32, usize),
    keep: bool,
    (a, a_cs, a_rs): (*const f32, isize, isize),
    (b, b_cs, b_rs): (*const f32, isize, isize),
    scale: f32,
    threads: bool,
) {
    let par = if threads {
        parallelism(m * n * k)
    } else {
        Parallelism::None
    };
    // SAFETY: the caller's promise.
    unsafe {
        gemm(
            m,
            n,
            k,
            out,
            1,
            out_row_stride as isize,
            keep,
            a,
            a_cs,
            a_rs,
            b,
            b_cs,
            b_rs,
            if keep { 1.0 } else { 0.0 },
            scale,
            false,
            false,
            false,
            par,
        );
    }
}

/// `out[i, j] = out[i, j]·keep + Σₖ a[k, i]·b[k, j]`: the product with `a` transposed, `a`
/// given as its `[k, m]` view (a weight's gradient `xᵀ·dy` without copying `x`).
pub fn matmul_at(
    a: View,
    b: View,
    out: &mut [f32],
    out_row_stride: usize,
    keep: bool,
    threads: bool,
) {
    a.check();
    b.check();
    assert_eq!(a.rows, b.rows, "inner dimensions differ");
    let (k, m, n) = (a.rows, a.cols, b.cols);
    if m > 0 && n > 0 {
        assert!(
            (m - 1) * out_row_stride + n <= out.len(),
            "matrix view out of bounds"
        );
    }
    // SAFETY: every element read lies inside `a` and `b` (checked), every element written
    // inside `out` (checked), which, borrowed mutably, aliases neither.
    unsafe {
        product(
            [m, n, k],
            (out.as_mut_ptr(), out_row_stride),
            keep,
            // Aᵀ's element (i, p) is a[p, i]: column stride = a's row stride.
            (a.data.as_ptr().add(a.offset), a.row_stride as isize, 1),
            (b.data.as_ptr().add(b.offset), 1, b.row_stride as isize),
            1.0,
            threads,
        )
    }
}

/// A linear layer `x·W + b` with `W` stored `[d_in, d_out]` (burn's layout).
pub struct Dense {
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    pub d_in: usize,
    pub d_out: usize,
}

impl Dense {
    /// `[rows, d_in]` → `[rows, d_out]`.
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut out = vec![0.0; rows * self.d_out];
        self.forward_into(x, rows, &mut out);
        out
    }

    pub fn forward_into(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        assert_eq!(x.len(), rows * self.d_in);
        assert_eq!(out.len(), rows * self.d_out);
        matmul(
            View::dense(x, rows, self.d_in),
            View::dense(&self.weight, self.d_in, self.d_out),
            false,
            out,
            0,
            self.d_out,
            false,
            1.0,
            true,
        );
        // After the product, as burn adds it.
        if let Some(bias) = &self.bias {
            for_rows(out, self.d_out, |row| {
                row.iter_mut().zip(bias).for_each(|(y, b)| *y += b)
            });
        }
    }
}

/// Runs `f` on every `width`-long row of `x`, rows split over rayon's threads in blocks.
pub fn for_rows(x: &mut [f32], width: usize, f: impl Fn(&mut [f32]) + Sync) {
    if width == 0 {
        return;
    }
    if !parallel() {
        return x.chunks_exact_mut(width).for_each(f);
    }
    x.par_chunks_mut(width * ROWS_PER_TASK)
        .for_each(|block| block.chunks_exact_mut(width).for_each(&f));
}

/// LayerNorm over rows of width `weight.len()`, in place.
pub struct Norm {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub eps: f32,
}

impl Norm {
    pub fn forward_in_place(&self, x: &mut [f32]) {
        let d = self.weight.len();
        for_rows(x, d, |row| self.row(row));
    }

    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut out = x.to_vec();
        self.forward_in_place(&mut out);
        out
    }

    fn row(&self, row: &mut [f32]) {
        norm_row(self, row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::rows::{erf, exp, gelu_in_place, softmax_numerators};

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn products_match_the_definition_plain_transposed_and_strided() {
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (65, 33, 17), (300, 200, 150)] {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            let want = naive(&a, &b, m, k, n);
            let mut got = vec![0.0; m * n];
            matmul(
                View::dense(&a, m, k),
                View::dense(&b, k, n),
                false,
                &mut got,
                0,
                n,
                false,
                1.0,
                true,
            );
            let err = want
                .iter()
                .zip(&got)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(err < 1e-4, "{m}x{k}x{n}: {err}");
            // b transposed and stored with a wider stride: bᵀ in the middle of a wider buffer.
            let stride = k + 3;
            let mut bt = vec![9.0; n * stride + 2];
            for p in 0..k {
                for j in 0..n {
                    bt[2 + j * stride + p] = b[p * n + j];
                }
            }
            let view = View {
                data: &bt,
                offset: 2,
                rows: n,
                cols: k,
                row_stride: stride,
            };
            let mut acc = vec![1.0; m * n];
            matmul(
                View::dense(&a, m, k),
                view,
                true,
                &mut acc,
                0,
                n,
                true,
                0.5,
                false,
            );
            for (w, g) in want.iter().zip(&acc) {
                assert!((1.0 + 0.5 * w - g).abs() < 1e-4);
            }
        }
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn a_view_past_the_end_of_its_slice_is_refused() {
        let a = vec![0.0; 10];
        let mut out = vec![0.0; 4];
        let view = View {
            data: &a,
            offset: 0,
            rows: 2,
            cols: 2,
            row_stride: 9,
        };
        matmul(
            view,
            View::dense(&a, 2, 2),
            false,
            &mut out,
            0,
            2,
            false,
            1.0,
            false,
        );
    }

    #[test]
    fn norm_softmax_and_gelu_agree_with_their_definitions() {
        let norm = Norm {
            weight: vec![2.0, 1.0, 1.0, 1.0],
            bias: vec![0.5, 0.0, 0.0, 0.0],
            eps: 0.0,
        };
        let y = norm.forward(&[1.0, 2.0, 3.0, 4.0]);
        // mean 2.5, variance 1.25
        let s = 1.25f32.sqrt();
        assert!((y[0] - (2.0 * -1.5 / s + 0.5)).abs() < 1e-6);
        assert!((y[3] - 1.5 / s).abs() < 1e-6);

        let mut row = [0.0, f32::NEG_INFINITY, (2.0f32).ln()];
        let inv = softmax_numerators(&mut row);
        row.iter_mut().for_each(|v| *v *= inv);
        assert!((row[0] - 1.0 / 3.0).abs() < 1e-7 && row[1] == 0.0);
        assert!((row[2] - 2.0 / 3.0).abs() < 1e-7);

        for x in [
            -87.0f32, -10.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 10.0, 80.0, 88.0,
        ] {
            let (got, want) = (exp(x), x.exp());
            assert!(
                (got - want).abs() <= 2.0 * f32::EPSILON * want,
                "exp({x}) = {got}, want {want}"
            );
        }
        // Subnormal results flush to zero, as masked (−∞) scores must.
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        for i in -400..=400 {
            let x = i as f32 / 100.0;
            let (got, want) = (erf(x), libm::erff(x));
            assert!((got - want).abs() < 3e-7, "erf({x}) = {got}, want {want}");
        }
        let mut g = [0.0, 1.0, -3.0];
        gelu_in_place(&mut g, 3);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 0.841_344_7).abs() < 1e-6, "{}", g[1]);
        assert!((g[2] + 0.004_049_7).abs() < 1e-6, "{}", g[2]);
    }
}
