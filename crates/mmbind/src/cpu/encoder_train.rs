//! One encoder's training step on the CPU path: a forward pass that keeps every activation
//! its backward needs, and the backward pass from the embeddings' gradient to every
//! parameter's. Burn's autodiff on burn-ndarray did the same 1.3–2.4× slower than PyTorch
//! (`docs/speed.md`); the gradients are checked against it (`crate::train::cpu_step`).

use super::attention_train::{AttentionTape, BiasKvGrads, attention_backward, attention_train};
use super::encoder::{CpuBlock, CpuEncoder, NORM_EPS, add};
use super::grad::{DenseGrads, NormGrads, NormTape, gelu_backward, gelu_train, normalize_backward};
use super::rows::normalize_rows;
use super::stems::{CpuPool, HostInput};
use super::stems_train::{StemGrads, StemTape};
use crate::Result;
use crate::nn::{Branch, Drops};

struct BlockTape {
    norm_1: NormTape,
    h1: Vec<f32>,
    qkv: Vec<f32>,
    attention: AttentionTape,
    context: Vec<f32>,
    norm_2: NormTape,
    h2: Vec<f32>,
    /// fc1's output, GELU's input.
    hidden: Vec<f32>,
    /// GELU's output, fc2's input.
    act: Vec<f32>,
    /// Per token position, the factor on the attention and MLP branches (stochastic depth).
    factors: [Option<Vec<f32>>; 2],
}

/// What one training forward pass keeps for its backward pass.
pub struct Tape {
    stem: StemTape,
    batch: usize,
    tokens: usize,
    pool: CpuPool,
    pre_norm: Option<NormTape>,
    blocks: Vec<BlockTape>,
    head_norm: NormTape,
    /// The pooled tokens after the head's norm and dropout: the projection's input.
    pooled: Vec<f32>,
    /// The head dropout's factors on the normalised pooled tokens.
    head_dropout: Option<Vec<f32>>,
    /// The projection's output, before normalisation.
    z: Vec<f32>,
    /// The embeddings (`s · z/‖z‖`).
    y: Vec<f32>,
}

pub struct BlockGrads {
    pub norm_1: NormGrads,
    pub in_proj: DenseGrads,
    pub out_proj: DenseGrads,
    pub bias_kv: Option<BiasKvGrads>,
    pub norm_2: NormGrads,
    pub fc1: DenseGrads,
    pub fc2: DenseGrads,
}

/// Every parameter's gradient, in the CPU path's layouts (`crate::train::cpu_step` hands
/// them to burn's optimizer in the module's).
pub struct EncoderGrads {
    pub stem: StemGrads,
    pub pre_norm: Option<NormGrads>,
    pub blocks: Vec<BlockGrads>,
    pub head_norm: NormGrads,
    pub head_proj: DenseGrads,
    /// `∂L/∂(log s)` for an encoder with a scale (`∂y/∂ log s = y`), before any clamp.
    pub log_scale: Option<f32>,
}

impl CpuEncoder {
    /// `[batch, out_dim]` embeddings of one clip per item, and the tape; what `drops` says
    /// is dropped (each clip a sample of its own, as in burn's path).
    pub fn forward_train(
        &self,
        input: &HostInput<'_>,
        drops: Option<&Drops>,
    ) -> Result<(Vec<f32>, Tape)> {
        let (t, batch, stem) = self.stem.forward_train(input)?;
        let (mut x, tokens) = (t.x, t.tokens);
        let pre_norm = self.pre_norm.as_ref().map(|n| n.forward_train(&mut x));
        let blocks = self
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let factors = [Branch::Attention, Branch::Mlp]
                    .map(|br| drops.and_then(|d| d.branch(i, br, tokens)));
                b.forward_train(&mut x, batch, tokens, t.mask.as_deref(), factors)
            })
            .collect();
        let d = self.d;
        let mut pooled = t.pool.pool(&x, batch, tokens, d);
        let head_norm = self.head_norm.forward_train(&mut pooled);
        let head_dropout = drops.and_then(|dr| dr.head(batch, d));
        if let Some(f) = &head_dropout {
            pooled.iter_mut().zip(f).for_each(|(p, f)| *p *= f);
        }
        let z = self.head_proj.forward(&pooled, batch);
        let mut y = z.clone();
        normalize_rows(&mut y, self.head_proj.d_out, NORM_EPS, self.scale);
        Ok((
            y.clone(),
            Tape {
                stem,
                batch,
                tokens,
                pool: t.pool,
                pre_norm,
                blocks,
                head_norm,
                pooled,
                head_dropout,
                z,
                y,
            },
        ))
    }

    /// Every parameter's gradient given the embeddings' (`[batch, out_dim]`).
    pub fn backward(&self, tape: &Tape, d_y: &[f32]) -> EncoderGrads {
        let (batch, tokens, d) = (tape.batch, tape.tokens, self.d);
        let out_dim = self.head_proj.d_out;
        assert_eq!(d_y.len(), batch * out_dim);
        let log_scale = self
            .scale
            .map(|_| d_y.iter().zip(&tape.y).map(|(g, y)| g * y).sum());
        let dz = normalize_backward(&tape.z, d_y, out_dim, NORM_EPS, self.scale);
        let mut head_proj = DenseGrads::zeros(&self.head_proj);
        let mut d_pooled = vec![0.0f32; batch * d];
        self.head_proj.backward(
            &tape.pooled,
            &dz,
            batch,
            Some(&mut d_pooled),
            &mut head_proj,
        );
        if let Some(f) = &tape.head_dropout {
            d_pooled.iter_mut().zip(f).for_each(|(g, f)| *g *= f);
        }
        let mut head_norm = NormGrads::zeros(d);
        let mut d_pooled_in = vec![0.0f32; batch * d];
        self.head_norm
            .backward(&tape.head_norm, &d_pooled, &mut d_pooled_in, &mut head_norm);
        let mut dx = tape.pool.unpool(&d_pooled_in, batch, tokens, d);
        let mut blocks: Vec<BlockGrads> = self
            .blocks
            .iter()
            .zip(&tape.blocks)
            .rev()
            .map(|(b, t)| b.backward(t, &mut dx, batch, tokens))
            .collect();
        blocks.reverse();
        let pre_norm = match (&self.pre_norm, &tape.pre_norm) {
            (Some(n), Some(t)) => {
                let mut g = NormGrads::zeros(d);
                let mut d_in = vec![0.0f32; dx.len()];
                n.backward(t, &dx, &mut d_in, &mut g);
                dx = d_in;
                Some(g)
            }
            _ => None,
        };
        EncoderGrads {
            stem: self.stem.backward(&tape.stem, &dx, batch),
            pre_norm,
            blocks,
            head_norm,
            head_proj,
            log_scale,
        }
    }
}

impl CpuBlock {
    /// `x += attn(norm_1(x)); x += mlp(norm_2(x))`, keeping the tape.
    fn forward_train(
        &self,
        x: &mut [f32],
        batch: usize,
        tokens: usize,
        mask: Option<&[f32]>,
        factors: [Option<Vec<f32>>; 2],
    ) -> BlockTape {
        let rows = batch * tokens;
        let d = self.in_proj.d_in;
        let mut h1 = x.to_vec();
        let norm_1 = self.norm_1.forward_train(&mut h1);
        let qkv = self.in_proj.forward(&h1, rows);
        let mut context = vec![0.0f32; rows * d];
        let attention = attention_train(
            &qkv,
            batch,
            tokens,
            d,
            self.heads,
            self.bias_kv.as_ref(),
            mask,
            &mut context,
        );
        add_scaled(
            x,
            &self.out_proj.forward(&context, rows),
            factors[0].as_deref(),
            d,
        );
        let mut h2 = x.to_vec();
        let norm_2 = self.norm_2.forward_train(&mut h2);
        let mut act = self.fc1.forward(&h2, rows);
        let hidden = gelu_train(&mut act, self.fc1.d_out);
        add_scaled(x, &self.fc2.forward(&act, rows), factors[1].as_deref(), d);
        BlockTape {
            norm_1,
            h1,
            qkv,
            attention,
            context,
            norm_2,
            h2,
            hidden,
            act,
            factors,
        }
    }

    /// From the block output's gradient to its input's, in place; the parameters' gradients
    /// returned.
    fn backward(&self, t: &BlockTape, dx: &mut [f32], batch: usize, tokens: usize) -> BlockGrads {
        let rows = batch * tokens;
        let d = self.in_proj.d_in;
        // The MLP branch: dx already holds the residual's share.
        let d_out = scaled(dx, t.factors[1].as_deref(), d);
        let mut fc2 = DenseGrads::zeros(&self.fc2);
        let mut d_act = vec![0.0f32; rows * self.fc1.d_out];
        self.fc2.backward(
            &t.act,
            d_out.as_deref().unwrap_or(dx),
            rows,
            Some(&mut d_act),
            &mut fc2,
        );
        gelu_backward(&t.hidden, &mut d_act);
        let mut fc1 = DenseGrads::zeros(&self.fc1);
        let mut d_h = vec![0.0f32; rows * d];
        self.fc1
            .backward(&t.h2, &d_act, rows, Some(&mut d_h), &mut fc1);
        let mut norm_2 = NormGrads::zeros(d);
        self.norm_2.backward(&t.norm_2, &d_h, dx, &mut norm_2);
        // The attention branch.
        let mut out_proj = DenseGrads::zeros(&self.out_proj);
        let mut d_context = vec![0.0f32; rows * d];
        let d_out = scaled(dx, t.factors[0].as_deref(), d);
        self.out_proj.backward(
            &t.context,
            d_out.as_deref().unwrap_or(dx),
            rows,
            Some(&mut d_context),
            &mut out_proj,
        );
        let mut bias_kv = self.bias_kv.as_ref().map(|_| BiasKvGrads {
            k: vec![0.0; d],
            v: vec![0.0; d],
        });
        let mut d_qkv = vec![0.0f32; rows * 3 * d];
        attention_backward(
            &t.qkv,
            &t.attention,
            &d_context,
            batch,
            tokens,
            d,
            self.heads,
            self.bias_kv.as_ref().zip(bias_kv.as_mut()),
            &mut d_qkv,
        );
        let mut in_proj = DenseGrads::zeros(&self.in_proj);
        self.in_proj
            .backward(&t.h1, &d_qkv, rows, Some(&mut d_h), &mut in_proj);
        let mut norm_1 = NormGrads::zeros(d);
        self.norm_1.backward(&t.norm_1, &d_h, dx, &mut norm_1);
        BlockGrads {
            norm_1,
            in_proj,
            out_proj,
            bias_kv,
            norm_2,
            fc1,
            fc2,
        }
    }
}

/// `x += y`, the rows of `y` at token position `t` scaled by `factors[t]` when given (rows
/// are `[batch, tokens]`, `d` values each).
fn add_scaled(x: &mut [f32], y: &[f32], factors: Option<&[f32]>, d: usize) {
    let Some(f) = factors else { return add(x, y) };
    for (k, (xs, ys)) in x.chunks_exact_mut(d).zip(y.chunks_exact(d)).enumerate() {
        let f = f[k % f.len()];
        if f != 0.0 {
            xs.iter_mut().zip(ys).for_each(|(a, b)| *a += f * b);
        }
    }
}

/// `g` with the rows at token position `t` scaled by `factors[t]`: a dropped branch's
/// gradient. `None` when there are no factors (the branch's gradient is `g` itself).
fn scaled(g: &[f32], factors: Option<&[f32]>, d: usize) -> Option<Vec<f32>> {
    let f = factors?;
    Some(
        g.chunks_exact(d)
            .enumerate()
            .flat_map(|(k, row)| {
                let f = f[k % f.len()];
                row.iter().map(move |v| f * v)
            })
            .collect(),
    )
}
