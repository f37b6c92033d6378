//! Exact inner-product search over a `Matrix`.
//!
//! * One query: rows are split into chunks scanned in parallel (rayon); each chunk computes
//!   scores for blocks of 256 rows with the SIMD kernel and feeds a bounded top-k; the
//!   per-chunk top-ks are merged. Memory-bandwidth bound for large indexes.
//! * Many queries: each thread takes a contiguous range of rows and, block by block, computes
//!   the score block `Q · Dᵀ` with a cache-blocked SGEMM (the `gemm` crate: AVX-512 or
//!   AVX2/FMA kernels chosen at run time), then updates every query's top-k. Rows are streamed from memory once
//!   per query block instead of once per query.

use rayon::prelude::*;

use crate::kernels::{Scored, TopK, dots};
use crate::matrix::Matrix;

/// Row filter resolved against a matrix's modality codes.
pub(crate) struct RowFilter<'a> {
    /// `allowed[code]`; `None` = all modalities.
    pub allowed: Option<[bool; 256]>,
    pub min_score: Option<f32>,
    pub codes: &'a [u8],
}

impl RowFilter<'_> {
    #[inline]
    pub fn row_ok(&self, row: u32) -> bool {
        match &self.allowed {
            Some(a) => a[self.codes[row as usize] as usize],
            None => true,
        }
    }
    pub(crate) fn any_allowed(&self) -> bool {
        match &self.allowed {
            Some(a) => a.iter().any(|x| *x),
            None => true,
        }
    }
}

const BLOCK: usize = 256;
const MIN_CHUNK_ROWS: usize = 2048;

fn scan_range(m: &Matrix, q: &[f32], k: usize, f: &RowFilter, start: usize, end: usize) -> TopK {
    let dim = m.dim();
    let v = m.vectors();
    let mut top = TopK::new(k, f.min_score);
    let mut buf = [0f32; BLOCK];
    let allowed_fn = |row: u32| f.row_ok(row);
    let allowed: Option<&dyn Fn(u32) -> bool> = if f.allowed.is_some() {
        Some(&allowed_fn)
    } else {
        None
    };
    let mut r = start;
    while r < end {
        let n = (end - r).min(BLOCK);
        dots(q, &v[r * dim..(r + n) * dim], dim, &mut buf[..n]);
        top.push_block(r as u32, &buf[..n], allowed);
        r += n;
    }
    top
}

/// Top-`k` rows for one query (best first).
pub(crate) fn search_one(m: &Matrix, q: &[f32], k: usize, f: &RowFilter) -> Vec<Scored> {
    let n = m.len();
    if n == 0 || k == 0 || !f.any_allowed() {
        return Vec::new();
    }
    let threads = rayon::current_num_threads().max(1);
    // A few chunks per thread for balance, but not so small that merging dominates.
    let chunks = (threads * 4).min(n.div_ceil(MIN_CHUNK_ROWS)).max(1);
    if chunks == 1 {
        return scan_range(m, q, k, f, 0, n).into_sorted();
    }
    let per = n.div_ceil(chunks);
    let top = (0..chunks)
        .into_par_iter()
        .map(|c| scan_range(m, q, k, f, c * per, ((c + 1) * per).min(n)))
        .reduce(
            || TopK::new(k, f.min_score),
            |mut a, b| {
                a.merge(b);
                a
            },
        );
    top.into_sorted()
}

/// Rows per SGEMM block and queries per block (score block = QB × DB floats per thread).
const DB_BLOCK: usize = 1024;
const Q_BLOCK: usize = 1024;

/// Top-`k` rows for each of `nq` queries (`qs` row-major, `nq × dim`).
pub(crate) fn search_many(
    m: &Matrix,
    qs: &[f32],
    nq: usize,
    k: usize,
    f: &RowFilter,
) -> Vec<Vec<Scored>> {
    let n = m.len();
    let dim = m.dim();
    if nq == 0 {
        return Vec::new();
    }
    if n == 0 || k == 0 || !f.any_allowed() {
        return vec![Vec::new(); nq];
    }
    if nq < 4 {
        return (0..nq)
            .map(|i| search_one(m, &qs[i * dim..(i + 1) * dim], k, f))
            .collect();
    }
    let threads = rayon::current_num_threads().max(1);
    let parts = threads.min(n.div_ceil(DB_BLOCK)).max(1);
    let per = n.div_ceil(parts);
    let batch = Batch {
        v: m.vectors(),
        dim,
        qs,
        nq,
        k,
        f,
    };
    let partials: Vec<Vec<TopK>> = (0..parts)
        .into_par_iter()
        .map(|p| batch.scan_part(p * per, ((p + 1) * per).min(n)))
        .collect();

    let mut iter = partials.into_iter();
    let mut acc = iter.next().unwrap_or_default();
    for part in iter {
        for (a, b) in acc.iter_mut().zip(part) {
            a.merge(b);
        }
    }
    acc.into_iter().map(|t| t.into_sorted()).collect()
}

/// `nq` queries (`qs`, row-major) against the rows `v` of a matrix.
struct Batch<'a> {
    v: &'a [f32],
    dim: usize,
    qs: &'a [f32],
    nq: usize,
    k: usize,
    f: &'a RowFilter<'a>,
}

impl Batch<'_> {
    /// Every query's top-`k` among rows `start..end`: score blocks of `DB_BLOCK` rows
    /// against `Q_BLOCK` queries at a time.
    fn scan_part(&self, start: usize, end: usize) -> Vec<TopK> {
        let (dim, nq) = (self.dim, self.nq);
        let allowed_fn = |row: u32| self.f.row_ok(row);
        let allowed: Option<&dyn Fn(u32) -> bool> = if self.f.allowed.is_some() {
            Some(&allowed_fn)
        } else {
            None
        };
        let mut tops: Vec<TopK> = (0..nq)
            .map(|_| TopK::new(self.k, self.f.min_score))
            .collect();
        let qb_max = nq.min(Q_BLOCK);
        let mut scores = vec![0f32; qb_max * DB_BLOCK];
        let mut r = start;
        while r < end {
            let nb = (end - r).min(DB_BLOCK);
            let block = &self.v[r * dim..(r + nb) * dim];
            let mut q0 = 0;
            while q0 < nq {
                let qb = (nq - q0).min(Q_BLOCK);
                score_block(&mut scores, &self.qs[q0 * dim..], qb, block, nb, dim);
                for i in 0..qb {
                    tops[q0 + i].push_block(r as u32, &scores[i * nb..(i + 1) * nb], allowed);
                }
                q0 += qb;
            }
            r += nb;
        }
        tops
    }
}

/// `scores[qb × nb] = Q (qb × dim) · blockᵀ (dim × nb)`, row-major, where `Q` is the first
/// `qb` rows of `qs`.
fn score_block(scores: &mut [f32], qs: &[f32], qb: usize, block: &[f32], nb: usize, dim: usize) {
    debug_assert!(scores.len() >= qb * nb && qs.len() >= qb * dim && block.len() >= nb * dim);
    // SAFETY: all pointers/strides describe in-bounds row-major arrays: `scores` holds
    // qb × nb, `qs` at least qb rows of `dim`, `block` nb rows of `dim` (see `scan_part`).
    unsafe {
        gemm::gemm(
            qb,
            nb,
            dim,
            scores.as_mut_ptr(),
            1,
            nb as isize,
            false,
            qs.as_ptr(),
            1,
            dim as isize,
            block.as_ptr(),
            dim as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
