//! Attention for training: the forward pass keeps each (item, head)'s probabilities, and the
//! backward pass turns the context's gradient into the packed q|k|v rows' (and the learned
//! key and value's) gradients. Shapes as in [`super::attention::attention`]; one task per
//! (item, head), one after another (a training lane runs on one thread).

use super::attention::{BiasKv, scores_of};
use super::kernels::{View, matmul, matmul_at};
use super::rows::softmax_numerators;

/// The probabilities of every (item, head): `[batch·heads, tokens, keys]`.
pub struct AttentionTape {
    pub probs: Vec<f32>,
}

/// Gradients of the learned key and value (`add_bias_kv`), `[d]` each.
pub struct BiasKvGrads {
    pub k: Vec<f32>,
    pub v: Vec<f32>,
}

struct Geometry {
    tokens: usize,
    d: usize,
    keys: usize,
    head_dim: usize,
    scale: f32,
}

impl Geometry {
    fn new(tokens: usize, d: usize, heads: usize, bias_kv: bool) -> Self {
        assert_eq!(d % heads, 0);
        let head_dim = d / heads;
        Self {
            tokens,
            d,
            keys: tokens + usize::from(bias_kv),
            head_dim,
            scale: (head_dim as f32).powf(-0.5),
        }
    }

    /// q (0), k (1) or v (2) of item `b`, head `h`, as a view into `[batch·tokens, 3·d]`.
    fn part<'a>(&self, qkv: &'a [f32], b: usize, h: usize, which: usize) -> View<'a> {
        View {
            data: qkv,
            offset: b * self.tokens * 3 * self.d + which * self.d + h * self.head_dim,
            rows: self.tokens,
            cols: self.head_dim,
            row_stride: 3 * self.d,
        }
    }
}

/// `context = softmax(q·kᵀ/√d_head + mask)·v`, keeping the probabilities.
#[allow(clippy::too_many_arguments)]
pub fn attention_train(
    qkv: &[f32],
    batch: usize,
    tokens: usize,
    d: usize,
    heads: usize,
    bias_kv: Option<&BiasKv>,
    mask: Option<&[f32]>,
    context: &mut [f32],
) -> AttentionTape {
    let g = Geometry::new(tokens, d, heads, bias_kv.is_some());
    assert_eq!(qkv.len(), batch * tokens * 3 * d);
    assert_eq!(context.len(), batch * tokens * d);
    let (keys, hd) = (g.keys, g.head_dim);
    let mut probs = vec![0.0f32; batch * heads * tokens * keys];
    for (task, p) in probs.chunks_exact_mut(tokens * keys).enumerate() {
        let (b, h) = (task / heads, task % heads);
        let [q, k, v] = [0, 1, 2].map(|which| g.part(qkv, b, h, which));
        let col = h * hd;
        scores_of(q, k, col, tokens, keys, bias_kv, mask, g.scale, p);
        for row in p.chunks_exact_mut(keys) {
            let inv = softmax_numerators(row);
            row.iter_mut().for_each(|v| *v *= inv);
        }
        let probs_view = View {
            data: p,
            offset: 0,
            rows: tokens,
            cols: tokens,
            row_stride: keys,
        };
        let first = b * tokens * d + col;
        matmul(probs_view, v, false, context, first, d, false, 1.0, false);
        if let Some(extra) = bias_kv {
            for i in 0..tokens {
                let pb = p[i * keys + tokens];
                context[first + i * d..][..hd]
                    .iter_mut()
                    .zip(&extra.v[col..col + hd])
                    .for_each(|(c, bv)| *c += pb * bv);
            }
        }
    }
    AttentionTape { probs }
}

/// `∂L/∂qkv` (written) from `∂L/∂context`, and the learned key and value's gradients
/// (accumulated) when the attention has them.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    qkv: &[f32],
    tape: &AttentionTape,
    d_context: &[f32],
    batch: usize,
    tokens: usize,
    d: usize,
    heads: usize,
    mut bias_kv: Option<(&BiasKv, &mut BiasKvGrads)>,
    d_qkv: &mut [f32],
) {
    let g = Geometry::new(tokens, d, heads, bias_kv.is_some());
    assert_eq!(qkv.len(), batch * tokens * 3 * d);
    assert_eq!(d_qkv.len(), qkv.len());
    let (keys, hd) = (g.keys, g.head_dim);
    let mut ds = vec![0.0f32; tokens * keys];
    for (task, p) in tape.probs.chunks_exact(tokens * keys).enumerate() {
        let (b, h) = (task / heads, task % heads);
        let col = h * hd;
        let [q, k, v] = [0, 1, 2].map(|which| g.part(qkv, b, h, which));
        let dc = View {
            data: d_context,
            offset: b * tokens * d + col,
            rows: tokens,
            cols: hd,
            row_stride: d,
        };
        let p_tokens = token_columns(p, tokens, keys);
        // dP = dC·Vᵀ (the learned value's column by hand).
        matmul(dc, v, true, &mut ds, 0, keys, false, 1.0, false);
        let row0 = b * tokens * 3 * d;
        // dV = Pᵀ·dC, into the v columns of this item and head.
        matmul_at(
            p_tokens,
            dc,
            &mut d_qkv[row0 + 2 * d + col..],
            3 * d,
            false,
            false,
        );
        let extra = bias_kv.as_mut().map(|(e, gr)| (&**e, &mut **gr));
        softmax_backward(&mut ds, p, dc, (tokens, keys, col, g.scale), extra);
        let ds_tokens = token_columns(&ds, tokens, keys);
        // dQ = dS·K (+ the learned key's column), dK = dSᵀ·Q.
        matmul(
            ds_tokens,
            k,
            false,
            d_qkv,
            row0 + col,
            3 * d,
            false,
            1.0,
            false,
        );
        matmul_at(
            ds_tokens,
            q,
            &mut d_qkv[row0 + d + col..],
            3 * d,
            false,
            false,
        );
        if let Some((extra, grads)) = bias_kv.as_mut() {
            let d_q = &mut d_qkv[row0 + col..];
            bias_key_backward(
                &ds,
                &qkv[q.offset..],
                (tokens, keys, 3 * d, col, hd),
                extra,
                grads,
                d_q,
            );
        }
    }
}

/// The columns of the sequence's own keys in a `[tokens, keys]` score matrix (without the
/// learned key's column).
fn token_columns(scores: &[f32], tokens: usize, keys: usize) -> View<'_> {
    View {
        data: scores,
        offset: 0,
        rows: tokens,
        cols: tokens,
        row_stride: keys,
    }
}

/// Per query row: `dP` of the learned value's column and that value's gradient, then
/// softmax's backward, in place: dS = P ⊙ (dP − Σⱼ Pⱼ·dPⱼ), with the 1/√d_head of the
/// scores. `dc` is this item and head's `∂L/∂context`.
fn softmax_backward(
    ds: &mut [f32],
    p: &[f32],
    dc: View,
    (tokens, keys, col, scale): (usize, usize, usize, f32),
    mut bias_kv: Option<(&BiasKv, &mut BiasKvGrads)>,
) {
    let hd = dc.cols;
    for i in 0..tokens {
        let dc_row = &dc.data[dc.offset + i * dc.row_stride..][..hd];
        let p_row = &p[i * keys..(i + 1) * keys];
        if let Some((extra, grads)) = bias_kv.as_mut() {
            ds[i * keys + tokens] = dc_row
                .iter()
                .zip(&extra.v[col..col + hd])
                .map(|(a, b)| a * b)
                .sum();
            let pb = p_row[tokens];
            grads.v[col..col + hd]
                .iter_mut()
                .zip(dc_row)
                .for_each(|(gv, c)| *gv += pb * c);
        }
        let ds_row = &mut ds[i * keys..(i + 1) * keys];
        let dot: f32 = ds_row.iter().zip(p_row).map(|(a, b)| a * b).sum();
        ds_row
            .iter_mut()
            .zip(p_row)
            .for_each(|(s, &pv)| *s = pv * (*s - dot) * scale);
    }
}

/// The learned key's column of dS: its share of dQ (into `d_q`, rows `stride` apart) and
/// the key's gradient. `q` starts at this item and head's first query row.
fn bias_key_backward(
    ds: &[f32],
    q: &[f32],
    (tokens, keys, stride, col, hd): (usize, usize, usize, usize, usize),
    extra: &BiasKv,
    grads: &mut BiasKvGrads,
    d_q: &mut [f32],
) {
    for i in 0..tokens {
        let s = ds[i * keys + tokens];
        let q_row = &q[i * stride..][..hd];
        d_q[i * stride..][..hd]
            .iter_mut()
            .zip(&extra.k[col..col + hd])
            .for_each(|(dq, bk)| *dq += s * bk);
        grads.k[col..col + hd]
            .iter_mut()
            .zip(q_row)
            .for_each(|(gk, qv)| *gk += s * qv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::attention::attention;
    use crate::cpu::grad::tests::values;

    /// `Σ dC ⊙ attention(qkv, bias)` for the numeric derivative, in f32 (the loss is a sum
    /// of small terms, and the steps below are large enough for f32).
    fn loss(
        qkv: &[f32],
        bias: Option<&BiasKv>,
        mask: Option<&[f32]>,
        dc: &[f32],
        g: (usize, usize, usize, usize),
    ) -> f64 {
        let (batch, tokens, d, heads) = g;
        let mut c = vec![0.0; batch * tokens * d];
        attention(qkv, batch, tokens, d, heads, bias, mask, &mut c);
        c.iter().zip(dc).map(|(a, b)| f64::from(a * b)).sum()
    }

    #[test]
    fn training_attention_matches_inference_and_its_gradients_match_numeric_derivatives() {
        let (batch, tokens, d, heads) = (2, 5, 8, 2);
        for (with_bias, with_mask) in [(false, false), (true, false), (false, true)] {
            let qkv = values(batch * tokens * 3 * d, 1);
            let bias = with_bias.then(|| BiasKv {
                k: values(d, 2),
                v: values(d, 3),
            });
            let mask: Option<Vec<f32>> = with_mask.then(|| {
                (0..tokens * tokens)
                    .map(|i| {
                        if i % tokens > i / tokens {
                            f32::NEG_INFINITY
                        } else {
                            0.0
                        }
                    })
                    .collect()
            });
            let dc = values(batch * tokens * d, 4);
            let mut c_train = vec![0.0; batch * tokens * d];
            let tape = attention_train(
                &qkv,
                batch,
                tokens,
                d,
                heads,
                bias.as_ref(),
                mask.as_deref(),
                &mut c_train,
            );
            let mut c = vec![0.0; batch * tokens * d];
            attention(
                &qkv,
                batch,
                tokens,
                d,
                heads,
                bias.as_ref(),
                mask.as_deref(),
                &mut c,
            );
            for (a, b) in c.iter().zip(&c_train) {
                assert!((a - b).abs() < 1e-6, "{a} against {b}");
            }
            let mut d_qkv = vec![0.0; qkv.len()];
            let mut grads = BiasKvGrads {
                k: vec![0.0; d],
                v: vec![0.0; d],
            };
            attention_backward(
                &qkv,
                &tape,
                &dc,
                batch,
                tokens,
                d,
                heads,
                bias.as_ref().map(|b| (b, &mut grads)),
                &mut d_qkv,
            );
            let g = (batch, tokens, d, heads);
            let h = 1e-3f32;
            let check = |got: f32, plus: f64, minus: f64, what: &str| {
                let want = (plus - minus) / (2.0 * f64::from(h));
                assert!(
                    (f64::from(got) - want).abs() < 2e-3 * want.abs().max(0.1),
                    "{what}: {got} against {want} (bias {with_bias}, mask {with_mask})"
                );
            };
            for i in 0..qkv.len() {
                let (mut a, mut b) = (qkv.clone(), qkv.clone());
                a[i] += h;
                b[i] -= h;
                let (lp, lm) = (
                    loss(&a, bias.as_ref(), mask.as_deref(), &dc, g),
                    loss(&b, bias.as_ref(), mask.as_deref(), &dc, g),
                );
                check(d_qkv[i], lp, lm, &format!("qkv[{i}]"));
            }
            if let Some(bias) = &bias {
                for j in 0..d {
                    for (which, got) in [(0, grads.k[j]), (1, grads.v[j])] {
                        let shift = |delta: f32| {
                            let mut parts = [bias.k.clone(), bias.v.clone()];
                            parts[which][j] += delta;
                            let [k, v] = parts;
                            loss(&qkv, Some(&BiasKv { k, v }), None, &dc, g)
                        };
                        check(got, shift(h), shift(-h), &format!("bias {which} [{j}]"));
                    }
                }
            }
        }
    }
}
