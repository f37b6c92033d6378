//! Multi-head self-attention on the packed q|k|v rows an input projection produced.

use rayon::prelude::*;

use super::kernels::{View, matmul, matmul_to_ptr, parallel};
use super::rows::softmax_numerators;

/// ImageBind's optional learned key and value appended to every sequence (`add_bias_kv`).
pub struct BiasKv {
    pub k: Vec<f32>,
    pub v: Vec<f32>,
}

/// A raw pointer that rayon's tasks may share: each task writes a disjoint set of elements.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: only used for writes to disjoint (batch, head) column blocks, see `attention`.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// `softmax(q·kᵀ/√d_head + mask)·v` per batch row and head, as `(exp(s − max)·v) / Σ`: the
/// division on the `head_dim`-wide result rather than the `keys`-wide probabilities.
///
/// # Shapes
/// - qkv: `[batch·tokens, 3·d]`, each row q | k | v, heads side by side in each
/// - mask: `[tokens, tokens]` additive (0 or −∞)
/// - context (out): `[batch·tokens, d]`, heads side by side (what the output projection takes)
#[allow(clippy::too_many_arguments)]
pub fn attention(
    qkv: &[f32],
    batch: usize,
    tokens: usize,
    d: usize,
    heads: usize,
    bias_kv: Option<&BiasKv>,
    mask: Option<&[f32]>,
    context: &mut [f32],
) {
    assert_eq!(qkv.len(), batch * tokens * 3 * d);
    assert_eq!(d % heads, 0);
    if let Some(mask) = mask {
        assert_eq!(mask.len(), tokens * tokens);
    }
    let head_dim = d / heads;
    let keys = tokens + usize::from(bias_kv.is_some());
    let scale = (head_dim as f32).powf(-0.5);
    assert_eq!(context.len(), batch * tokens * d);
    let out = Shared(context.as_mut_ptr());
    let out_len = context.len();

    let one = |buffer: &mut Vec<f32>, task: usize| {
        // Captures `Shared` whole (it is Sync); naming `out.0` would capture the raw pointer.
        #[allow(clippy::redundant_locals)]
        let out = out;
        let (scores, sums) = buffer.split_at_mut(tokens * keys);
        let (b, h) = (task / heads, task % heads);
        let row0 = b * tokens * 3 * d;
        let col = h * head_dim;
        let view = |offset: usize| View {
            data: qkv,
            offset: row0 + offset + col,
            rows: tokens,
            cols: head_dim,
            row_stride: 3 * d,
        };
        let (q, k, v) = (view(0), view(d), view(2 * d));
        scores_of(q, k, col, tokens, keys, bias_kv, mask, scale, scores);
        for (i, row) in scores.chunks_exact_mut(keys).enumerate() {
            sums[i] = softmax_numerators(row);
        }
        let probs = View {
            data: scores,
            offset: 0,
            rows: tokens,
            cols: tokens,
            row_stride: keys,
        };
        let first = b * tokens * d + col;
        debug_assert!(first + (tokens - 1) * d + head_dim <= out_len);
        // SAFETY: task (b, h) writes only rows b·tokens.. and columns h·head_dim.. of
        // `context`, a block inside it that no other task touches, and reads `qkv` and
        // its own `scores`, neither of which overlaps it.
        unsafe {
            let dst = out.0.add(first);
            matmul_to_ptr(probs, v, false, dst, d, false, 1.0, false);
            for (i, &inv) in sums.iter().enumerate() {
                let row = std::slice::from_raw_parts_mut(dst.add(i * d), head_dim);
                if let Some(extra) = bias_kv {
                    let p = scores[i * keys + tokens];
                    row.iter_mut()
                        .zip(&extra.v[col..col + head_dim])
                        .for_each(|(c, bv)| *c += p * bv);
                }
                row.iter_mut().for_each(|c| *c *= inv);
            }
        }
    };
    if parallel() {
        (0..batch * heads)
            .into_par_iter()
            .for_each_init(|| vec![0.0f32; tokens * keys + tokens], one);
    } else {
        let mut buffer = vec![0.0f32; tokens * keys + tokens];
        (0..batch * heads).for_each(|task| one(&mut buffer, task));
    }
}

/// One (item, head)'s scores `[tokens, keys]`: `scale · q·kᵀ`, the learned key's column
/// when there is one, and the mask added.
#[allow(clippy::too_many_arguments)]
pub(super) fn scores_of(
    q: View,
    k: View,
    col: usize,
    tokens: usize,
    keys: usize,
    bias_kv: Option<&BiasKv>,
    mask: Option<&[f32]>,
    scale: f32,
    scores: &mut [f32],
) {
    let head_dim = q.cols;
    matmul(q, k, true, scores, 0, keys, false, scale, false);
    for (i, row) in scores.chunks_exact_mut(keys).enumerate().take(tokens) {
        if let Some(extra) = bias_kv {
            let q_row = &q.data[q.offset + i * q.row_stride..][..head_dim];
            let dot: f32 = q_row
                .iter()
                .zip(&extra.k[col..col + head_dim])
                .map(|(a, b)| a * b)
                .sum();
            row[tokens] = dot * scale;
        }
        if let Some(mask) = mask {
            row[..tokens]
                .iter_mut()
                .zip(&mask[i * tokens..(i + 1) * tokens])
                .for_each(|(s, m)| *s += m);
        }
    }
}
