//! One encoder on the CPU path — stem → trunk → head → postprocess — with its weights copied
//! out of the burn module it mirrors (`crate::nn::Encoder`): one model definition, two ways
//! to run it.

use burn::nn::Linear;
use burn::tensor::Tensor;

use super::attention::{BiasKv, attention};
use rayon::prelude::*;

use super::kernels::{Dense, Norm, parallel, serially};
use super::rows::{gelu_in_place, normalize_rows};
use super::stems::{CpuStem, CpuTokens, HostInput, PatchEmbed};
use crate::Result;
use crate::nn::{self, Encoder, Stem};
use crate::weights::host_values;

/// `F.normalize`'s epsilon.
pub(super) const NORM_EPS: f32 = 1e-12;

pub(super) struct CpuBlock {
    pub(super) norm_1: Norm,
    pub(super) in_proj: Dense,
    pub(super) out_proj: Dense,
    pub(super) bias_kv: Option<BiasKv>,
    pub(super) heads: usize,
    pub(super) norm_2: Norm,
    pub(super) fc1: Dense,
    pub(super) fc2: Dense,
}

pub struct CpuEncoder {
    pub(super) stem: CpuStem,
    pub(super) pre_norm: Option<Norm>,
    pub(super) blocks: Vec<CpuBlock>,
    pub(super) head_norm: Norm,
    pub(super) head_proj: Dense,
    pub(super) scale: Option<f32>,
    pub(super) d: usize,
}

/// Every intermediate of one forward pass, host-side (see `crate::nn::EncoderTrace`).
#[derive(Default)]
pub struct HostTrace {
    pub tokens: Vec<f32>,
    pub pre_norm: Option<Vec<f32>>,
    pub blocks: Vec<Vec<f32>>,
    pub head: Vec<f32>,
    /// `[batch, tokens, d]` of the trunk's stages.
    pub shape: [usize; 3],
}

fn dense(l: &Linear) -> Dense {
    let [d_in, d_out] = l.weight.dims();
    Dense {
        weight: host_values(l.weight.val()),
        bias: l.bias.as_ref().map(|b| host_values(b.val())),
        d_in,
        d_out,
    }
}

fn norm(n: &nn::LayerNorm) -> Norm {
    Norm {
        weight: host_values(n.weight.val()),
        bias: host_values(n.bias.val()),
        eps: n.eps as f32,
    }
}

/// A `[d, channels, kh, kw]` convolution kernel as `[channels·kh·kw, d]`.
fn transpose_kernel(w: Vec<f32>, d: usize) -> Vec<f32> {
    let k = w.len() / d;
    let mut t = vec![0.0; w.len()];
    for o in 0..d {
        for i in 0..k {
            t[i * d + o] = w[o * k + i];
        }
    }
    t
}

fn stem(s: &Stem) -> CpuStem {
    match s {
        Stem::Video(v) => {
            let [d, channels, kt, kh, kw] = v.proj.dims();
            // Every frame of an image is the same picture, so the kernel's frames act as their
            // sum: half the stem's products (the rounding moves by ~1e-7).
            let summed = v.proj.val().sum_dim(2).reshape([d, channels, kh, kw]);
            CpuStem::Patch {
                embed: PatchEmbed {
                    kernel_t: transpose_kernel(host_values(summed), d),
                    channels,
                    kh,
                    kw,
                    stride: kh,
                    d,
                },
                steps: v.frames / kt,
                norm: None,
                cls: host_values(v.cls_token.val()),
                pos: host_values(v.pos_embed.val()),
            }
        }
        Stem::Patch(p) => {
            let [d, channels, kh, kw] = p.proj.dims();
            CpuStem::Patch {
                embed: PatchEmbed {
                    kernel_t: transpose_kernel(host_values(p.proj.val()), d),
                    channels,
                    kh,
                    kw,
                    stride: p.stride,
                    d,
                },
                steps: 1,
                norm: Some(norm(&p.norm)),
                cls: host_values(p.cls_token.val()),
                pos: host_values(p.pos_embed.val()),
            }
        }
        Stem::Text(t) => {
            let [_, d] = t.token_embedding.dims();
            CpuStem::Text {
                table: host_values(t.token_embedding.val()),
                pos: host_values(t.pos_embed.val()),
                d,
            }
        }
        Stem::Imu(i) => CpuStem::Imu {
            proj: dense(&i.proj),
            kernel: i.kernel,
            norm: norm(&i.norm),
            cls: host_values(i.cls_token.val()),
            pos: host_values(i.pos_embed.val()),
        },
    }
}

impl CpuEncoder {
    /// Copies `enc`'s weights into the CPU path's layout.
    pub fn new(enc: &Encoder) -> Self {
        let blocks = enc
            .trunk
            .blocks
            .iter()
            .map(|b| CpuBlock {
                norm_1: norm(&b.norm_1),
                in_proj: dense(&b.attn.in_proj),
                out_proj: dense(&b.attn.out_proj),
                bias_kv: match (&b.attn.bias_k, &b.attn.bias_v) {
                    (Some(k), Some(v)) => Some(BiasKv {
                        k: host_values(k.val()),
                        v: host_values(v.val()),
                    }),
                    _ => None,
                },
                heads: b.attn.n_heads,
                norm_2: norm(&b.norm_2),
                fc1: dense(&b.mlp.fc1),
                fc2: dense(&b.mlp.fc2),
            })
            .collect();
        let head_proj = dense(&enc.head.proj);
        Self {
            stem: stem(&enc.stem),
            pre_norm: enc.trunk.pre_norm.as_ref().map(norm),
            blocks,
            head_norm: norm(&enc.head.norm),
            d: head_proj.d_in,
            head_proj,
            // exp (and text's clip at 100) in f32, as burn computes it.
            scale: enc.post.scale().map(|s: Tensor<1>| host_values(s)[0]),
        }
    }

    /// `[batch, out_dim]` for one batch of one clip per item.
    ///
    /// With several threads and several items, each thread runs whole items through every
    /// layer with single-threaded kernels, instead of all threads meeting at every layer: the
    /// tiny presets' layers are too small to split (a fork-join costs as much as the layer).
    pub fn forward(
        &self,
        input: &HostInput<'_>,
        trace: Option<&mut HostTrace>,
    ) -> Result<Vec<f32>> {
        let threads = rayon::current_num_threads();
        let batch = input.batch();
        if trace.is_some() || threads < 2 || batch < 2 || !parallel() {
            return self.forward_batch(input, trace);
        }
        let parts = threads.min(batch);
        let per = batch.div_ceil(parts);
        let outs: Vec<Result<Vec<f32>>> = (0..batch)
            .step_by(per)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|start| {
                let part = input.items(start..(start + per).min(batch));
                serially(|| self.forward_batch(&part, None))
            })
            .collect();
        let mut out = Vec::with_capacity(batch * self.out_dim());
        for part in outs {
            out.extend(part?);
        }
        Ok(out)
    }

    fn forward_batch(
        &self,
        input: &HostInput<'_>,
        mut trace: Option<&mut HostTrace>,
    ) -> Result<Vec<f32>> {
        let (
            CpuTokens {
                mut x,
                tokens,
                pool,
                mask,
            },
            batch,
        ) = self.stem.forward(input)?;
        let d = self.d;
        if let Some(t) = trace.as_deref_mut() {
            t.tokens = x.clone();
            t.shape = [batch, tokens, d];
        }
        if let Some(n) = &self.pre_norm {
            n.forward_in_place(&mut x);
            if let Some(t) = trace.as_deref_mut() {
                t.pre_norm = Some(x.clone());
            }
        }
        let rows = batch * tokens;
        let mut scratch = Scratch::new(rows, d);
        for block in &self.blocks {
            block.forward(&mut x, batch, tokens, mask.as_deref(), &mut scratch);
            if let Some(t) = trace.as_deref_mut() {
                t.blocks.push(x.clone());
            }
        }
        debug_assert_eq!(x.len(), rows * d);
        let mut pooled = pool.pool(&x, batch, tokens, d);
        self.head_norm.forward_in_place(&mut pooled);
        let mut out = self.head_proj.forward(&pooled, batch);
        if let Some(t) = trace {
            t.head = out.clone();
        }
        normalize_rows(&mut out, self.head_proj.d_out, NORM_EPS, self.scale);
        Ok(out)
    }

    pub fn out_dim(&self) -> usize {
        self.head_proj.d_out
    }
}

/// The activations of one block, allocated once per forward pass and reused by every
/// block: fresh multi-megabyte buffers per layer cost page faults (the kernel zeroes every
/// page), 12% of the mid-size vision encoder's time before.
struct Scratch {
    h: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    out: Vec<f32>,
    hidden: Vec<f32>,
}

impl Scratch {
    fn new(rows: usize, d: usize) -> Self {
        Self {
            h: vec![0.0; rows * d],
            qkv: vec![0.0; rows * 3 * d],
            context: vec![0.0; rows * d],
            out: vec![0.0; rows * d],
            hidden: vec![0.0; rows * 4 * d],
        }
    }
}

impl CpuBlock {
    /// `x += attn(norm_1(x)); x += mlp(norm_2(x))`, in place on `[batch·tokens, d]`.
    fn forward(
        &self,
        x: &mut [f32],
        batch: usize,
        tokens: usize,
        mask: Option<&[f32]>,
        s: &mut Scratch,
    ) {
        let rows = batch * tokens;
        let d = self.in_proj.d_in;
        s.h.copy_from_slice(x);
        self.norm_1.forward_in_place(&mut s.h);
        self.in_proj.forward_into(&s.h, rows, &mut s.qkv);
        attention(
            &s.qkv,
            batch,
            tokens,
            d,
            self.heads,
            self.bias_kv.as_ref(),
            mask,
            &mut s.context,
        );
        self.out_proj.forward_into(&s.context, rows, &mut s.out);
        add(x, &s.out);
        s.h.copy_from_slice(x);
        self.norm_2.forward_in_place(&mut s.h);
        self.fc1.forward_into(&s.h, rows, &mut s.hidden);
        gelu_in_place(&mut s.hidden, self.fc1.d_out);
        self.fc2.forward_into(&s.hidden, rows, &mut s.out);
        add(x, &s.out);
    }
}

pub(super) fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}
