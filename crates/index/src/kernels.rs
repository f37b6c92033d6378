//! Inner-product kernels and a bounded top-k.
//!
//! On x86-64 with AVX-512 (checked at run time) the scan takes four rows at a time in 16-lane
//! registers; with AVX2+FMA in 8-lane ones, so the binary still runs on older CPUs; elsewhere
//! a 16-wide chunked loop that the compiler vectorises with whatever the target has.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Inner product of two equally long slices.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2() {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            return unsafe { x86::dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

/// Scores of `rows` (row-major, `dim` floats each) against `query`, written to `out`.
pub fn dots(query: &[f32], rows: &[f32], dim: usize, out: &mut [f32]) {
    debug_assert_eq!(rows.len(), out.len() * dim);
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            // SAFETY: the CPU supports AVX-512F (checked above).
            unsafe { x86::dots_avx512(query, rows, dim, out) };
            return;
        }
        if has_avx2() {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            unsafe { x86::dots_avx2(query, rows, dim, out) };
            return;
        }
    }
    for (o, r) in out.iter_mut().zip(rows.chunks_exact(dim)) {
        *o = dot_portable(query, r);
    }
}

#[inline]
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && has_avx2()
}

/// Which kernel the scan (`dots`) uses on this machine (for benchmark reports).
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            return "avx512f";
        }
        if has_avx2() {
            return "avx2+fma";
        }
    }
    "portable"
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut acc2 = _mm256_setzero_ps();
        let mut acc3 = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY: every load reads 8 floats at an index + 8 <= n.
        unsafe {
            while i + 32 <= n {
                acc0 =
                    _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
                acc1 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i + 8)),
                    _mm256_loadu_ps(pb.add(i + 8)),
                    acc1,
                );
                acc2 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i + 16)),
                    _mm256_loadu_ps(pb.add(i + 16)),
                    acc2,
                );
                acc3 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i + 24)),
                    _mm256_loadu_ps(pb.add(i + 24)),
                    acc3,
                );
                i += 32;
            }
            while i + 8 <= n {
                acc0 =
                    _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
                i += 8;
            }
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
        let mut r = hsum(s);
        while i < n {
            r += a[i] * b[i];
            i += 1;
        }
        r
    }

    /// Four rows at a time (each query load feeds four FMAs), the rest one at a time with the
    /// same order of operations: a row's score does not depend on which rows share its call
    /// (the compressed scan re-scores single rows and must get the scan's exact values).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dots_avx2(q: &[f32], rows: &[f32], dim: usize, out: &mut [f32]) {
        let n = out.len();
        let mut r = 0;
        while r + 4 <= n {
            // SAFETY: same target features; rows r..r+4 exist.
            unsafe { group_avx2::<4>(q, rows, dim, r, out) };
            r += 4;
        }
        while r < n {
            // SAFETY: as above, row r exists.
            unsafe { group_avx2::<1>(q, rows, dim, r, out) };
            r += 1;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn group_avx2<const G: usize>(
        q: &[f32],
        rows: &[f32],
        dim: usize,
        r: usize,
        out: &mut [f32],
    ) {
        let main = dim / 8 * 8;
        let qp = q.as_ptr();
        let base = rows[r * dim..(r + G) * dim].as_ptr();
        let mut acc = [_mm256_setzero_ps(); G];
        let mut i = 0;
        // SAFETY: the G rows from `base` exist (sliced above) and i + 8 <= main <= dim.
        unsafe {
            while i < main {
                let qv = _mm256_loadu_ps(qp.add(i));
                for (t, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(qv, _mm256_loadu_ps(base.add(t * dim + i)), *a);
                }
                i += 8;
            }
        }
        for (t, a) in acc.iter().enumerate() {
            let mut s = hsum(*a);
            for j in main..dim {
                s += q[j] * rows[(r + t) * dim + j];
            }
            out[r + t] = s;
        }
    }

    /// [`dots_avx2`] in 16-lane registers.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn dots_avx512(q: &[f32], rows: &[f32], dim: usize, out: &mut [f32]) {
        let n = out.len();
        let mut r = 0;
        while r + 4 <= n {
            // SAFETY: same target features; rows r..r+4 exist.
            unsafe { group_avx512::<4>(q, rows, dim, r, out) };
            r += 4;
        }
        while r < n {
            // SAFETY: as above, row r exists.
            unsafe { group_avx512::<1>(q, rows, dim, r, out) };
            r += 1;
        }
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn group_avx512<const G: usize>(
        q: &[f32],
        rows: &[f32],
        dim: usize,
        r: usize,
        out: &mut [f32],
    ) {
        let main = dim / 16 * 16;
        let qp = q.as_ptr();
        let base = rows[r * dim..(r + G) * dim].as_ptr();
        let mut acc = [_mm512_setzero_ps(); G];
        let mut i = 0;
        // SAFETY: the G rows from `base` exist (sliced above) and i + 16 <= main <= dim.
        unsafe {
            while i < main {
                let qv = _mm512_loadu_ps(qp.add(i));
                for (t, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(qv, _mm512_loadu_ps(base.add(t * dim + i)), *a);
                }
                i += 16;
            }
        }
        for (t, a) in acc.iter().enumerate() {
            let mut s = _mm512_reduce_add_ps(*a);
            for j in main..dim {
                s += q[j] * rows[(r + t) * dim + j];
            }
            out[r + t] = s;
        }
    }
}

/// A scored row. Ordering: higher score first, then lower row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub score: f32,
    pub row: u32,
}

impl Scored {
    /// `true` when `self` ranks before `other` (higher score, ties by lower row).
    #[inline]
    pub fn better(&self, other: &Scored) -> bool {
        self.score > other.score || (self.score == other.score && self.row < other.row)
    }
}

/// Min-heap wrapper: the heap's top is the *worst* kept entry.
#[derive(Clone, Copy, Debug)]
struct Worst(Scored);
impl PartialEq for Worst {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Worst {
    // "Greater" = worse, so BinaryHeap (a max-heap) keeps the worst on top.
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.score
            .total_cmp(&self.0.score)
            .then(self.0.row.cmp(&o.0.row))
    }
}

/// Bounded top-k by (score desc, row asc). `min_score` entries below it are never kept.
#[derive(Clone, Debug)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
    min_score: f32,
}

impl TopK {
    pub fn new(k: usize, min_score: Option<f32>) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1),
            min_score: min_score.unwrap_or(f32::NEG_INFINITY),
        }
    }

    /// Entries scoring at or below this value (strictly below `min_score`) can be skipped
    /// cheaply: a score must be `> bar()` (or `>= min_score` while not full) to enter.
    #[inline]
    pub fn bar(&self) -> f32 {
        if self.heap.len() < self.k {
            // Anything >= min_score enters; express as "> next below min_score".
            if self.min_score == f32::NEG_INFINITY {
                f32::NEG_INFINITY
            } else {
                prev_f32(self.min_score)
            }
        } else {
            self.heap.peek().map(|w| w.0.score).unwrap_or(f32::INFINITY)
        }
    }

    #[inline]
    pub fn push(&mut self, s: Scored) {
        if self.k == 0 || s.score.is_nan() || s.score < self.min_score {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Worst(s));
        } else if let Some(top) = self.heap.peek()
            && s.better(&top.0)
        {
            self.heap.pop();
            self.heap.push(Worst(s));
        }
    }

    /// Offer a contiguous block of scores for rows `first_row..`.
    #[inline]
    pub fn push_block(
        &mut self,
        first_row: u32,
        scores: &[f32],
        allowed: Option<&dyn Fn(u32) -> bool>,
    ) {
        let mut bar = self.bar();
        for (i, &s) in scores.iter().enumerate() {
            // Rows arrive in ascending order, so a tie with the kept worst never wins.
            if s > bar {
                let row = first_row + i as u32;
                if let Some(f) = allowed
                    && !f(row)
                {
                    continue;
                }
                self.push(Scored { score: s, row });
                bar = self.bar();
            }
        }
    }

    pub fn merge(&mut self, other: TopK) {
        for w in other.heap {
            self.push(w.0);
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Best first.
    pub fn into_sorted(self) -> Vec<Scored> {
        let mut v: Vec<Scored> = self.heap.into_iter().map(|w| w.0).collect();
        v.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
        v
    }
}

fn prev_f32(x: f32) -> f32 {
    if x.is_nan() || x == f32::NEG_INFINITY {
        return x;
    }
    if x == 0.0 {
        return -f32::from_bits(1);
    }
    let b = x.to_bits();
    if x > 0.0 {
        f32::from_bits(b - 1)
    } else {
        f32::from_bits(b + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_kernels_agree() {
        for dim in [1usize, 7, 8, 31, 32, 33, 100, 1024] {
            let a: Vec<f32> = (0..dim)
                .map(|i| ((i * 7 + 3) % 13) as f32 / 13.0 - 0.5)
                .collect();
            let b: Vec<f32> = (0..dim)
                .map(|i| ((i * 5 + 1) % 11) as f32 / 11.0 - 0.5)
                .collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - naive).abs() < 1e-4, "dim {dim}");
            assert!((dot_portable(&a, &b) as f64 - naive).abs() < 1e-4);
            let rows: Vec<f32> = (0..dim * 9)
                .map(|i| ((i * 3 + 2) % 17) as f32 / 17.0 - 0.5)
                .collect();
            let mut out = vec![0f32; 9];
            dots(&a, &rows, dim, &mut out);
            for r in 0..9 {
                let n: f64 = a
                    .iter()
                    .zip(&rows[r * dim..(r + 1) * dim])
                    .map(|(x, y)| *x as f64 * *y as f64)
                    .sum();
                assert!((out[r] as f64 - n).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn topk_keeps_best_with_threshold_and_ties() {
        let mut t = TopK::new(3, Some(0.2));
        t.push_block(0, &[0.1, 0.5, 0.5, 0.9, 0.2, 0.5], None);
        let v = t.into_sorted();
        assert_eq!(v.iter().map(|s| s.row).collect::<Vec<_>>(), vec![3, 1, 2]);
        let mut t = TopK::new(10, Some(0.2));
        t.push_block(0, &[0.1, 0.2, 0.19], None);
        assert_eq!(
            t.into_sorted().iter().map(|s| s.row).collect::<Vec<_>>(),
            vec![1]
        );
    }
}
