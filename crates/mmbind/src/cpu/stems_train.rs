//! The stems for training: what the forward pass of [`super::stems`] keeps for the backward
//! (its tape), and the backward from the tokens' gradient to the stem's parameters (the
//! inputs themselves need no gradient).

use super::grad::{DenseGrads, NormGrads, NormTape};
use super::kernels::{Dense, Norm};
use super::stems::{CpuStem, CpuTokens, HostInput, PatchEmbed};
use crate::Result;

pub enum StemTape {
    Patch {
        /// im2col rows `[batch·patches, channels·kh·kw]`.
        cols: Vec<f32>,
        norm: Option<NormTape>,
        patches: usize,
    },
    Text {
        ids: Vec<usize>,
    },
    Imu {
        /// The projection's input `[batch·windows, channels·kernel]`.
        features: Vec<f32>,
        norm: NormTape,
    },
}

/// Gradients of a stem's parameters, in the CPU path's layouts.
pub enum StemGrads {
    Patch {
        /// `[channels·kh·kw, d]`, as `PatchEmbed::kernel_t`.
        kernel_t: Vec<f32>,
        norm: Option<NormGrads>,
        cls: Vec<f32>,
        pos: Vec<f32>,
    },
    Text {
        /// `[vocab, d]`.
        table: Vec<f32>,
        pos: Vec<f32>,
    },
    Imu {
        proj: DenseGrads,
        norm: NormGrads,
        cls: Vec<f32>,
        pos: Vec<f32>,
    },
}

impl CpuStem {
    pub fn forward_train(&self, input: &HostInput<'_>) -> Result<(CpuTokens, usize, StemTape)> {
        let (tokens, batch, tape) = self.run(input, true)?;
        Ok((
            tokens,
            batch,
            tape.expect("a training forward keeps its tape"),
        ))
    }

    /// The parameters' gradients from the tokens' (`dx`: `[batch, tokens, d]`).
    pub fn backward(&self, tape: &StemTape, dx: &[f32], batch: usize) -> StemGrads {
        match (self, tape) {
            (
                CpuStem::Patch {
                    embed,
                    steps,
                    norm,
                    pos,
                    ..
                },
                StemTape::Patch {
                    cols,
                    norm: norm_tape,
                    patches,
                },
            ) => {
                let norm = norm.as_ref().zip(norm_tape.as_ref());
                patch_backward(embed, *steps, norm, pos.len(), (cols, *patches), dx, batch)
            }
            (CpuStem::Text { table, pos, d }, StemTape::Text { ids }) => {
                text_backward(table.len(), pos.len(), *d, ids, dx)
            }
            (
                CpuStem::Imu {
                    proj, norm, pos, ..
                },
                StemTape::Imu {
                    features,
                    norm: norm_tape,
                },
            ) => imu_backward(proj, (norm, norm_tape), pos.len(), features, dx, batch),
            _ => unreachable!("a tape from another stem"),
        }
    }
}

/// The patch stem's gradients: through the norm, summed over repeated steps, then the
/// projection's kernel from the im2col rows (`cols`, `patches` per item).
fn patch_backward(
    embed: &PatchEmbed,
    steps: usize,
    norm: Option<(&Norm, &NormTape)>,
    pos_len: usize,
    (cols, patches): (&[f32], usize),
    dx: &[f32],
    batch: usize,
) -> StemGrads {
    let d = embed.d;
    let tokens = patches * steps + 1;
    let (cls, pos_g) = cls_and_pos_grads(dx, batch, tokens, d, pos_len);
    // The patch tokens' gradient, then through the norm.
    let mut d_patches: Vec<f32> = dx
        .chunks_exact(tokens * d)
        .flat_map(|seq| seq[d..].iter().copied())
        .collect();
    let norm_grads = norm.map(|(nm, t)| {
        let mut g = NormGrads::zeros(d);
        let mut dx_norm = vec![0.0f32; d_patches.len()];
        nm.backward(t, &d_patches, &mut dx_norm, &mut g);
        d_patches = dx_norm;
        g
    });
    // Repeated steps share the projection: their gradients add.
    let d_proj: Vec<f32> = if steps > 1 {
        let mut out = vec![0.0f32; batch * patches * d];
        for (b, seq) in d_patches.chunks_exact(patches * steps * d).enumerate() {
            let dst = &mut out[b * patches * d..][..patches * d];
            for step in seq.chunks_exact(patches * d) {
                dst.iter_mut().zip(step).for_each(|(a, v)| *a += v);
            }
        }
        out
    } else {
        d_patches
    };
    let k = embed.channels * embed.kh * embed.kw;
    let mut kernel_t = vec![0.0f32; k * d];
    super::kernels::matmul_at(
        super::kernels::View::dense(cols, batch * patches, k),
        super::kernels::View::dense(&d_proj, batch * patches, d),
        &mut kernel_t,
        d,
        false,
        true,
    );
    StemGrads::Patch {
        kernel_t,
        norm: norm_grads,
        cls,
        pos: pos_g,
    }
}

/// The text stem's gradients: each token's row of the table and its position's.
fn text_backward(
    table_len: usize,
    pos_len: usize,
    d: usize,
    ids: &[usize],
    dx: &[f32],
) -> StemGrads {
    let mut table_g = vec![0.0f32; table_len];
    let mut pos_g = vec![0.0f32; pos_len];
    let context = pos_len / d;
    for (t, (&id, row)) in ids.iter().zip(dx.chunks_exact(d)).enumerate() {
        table_g[id * d..][..d]
            .iter_mut()
            .zip(row)
            .for_each(|(g, v)| *g += v);
        pos_g[(t % context) * d..][..d]
            .iter_mut()
            .zip(row)
            .for_each(|(g, v)| *g += v);
    }
    StemGrads::Text {
        table: table_g,
        pos: pos_g,
    }
}

/// The IMU stem's gradients: through the norm, then the projection's.
fn imu_backward(
    proj: &Dense,
    (norm, norm_tape): (&Norm, &NormTape),
    pos_len: usize,
    features: &[f32],
    dx: &[f32],
    batch: usize,
) -> StemGrads {
    let d = proj.d_out;
    let tokens = pos_len / d;
    let windows = tokens - 1;
    let (cls, pos_g) = cls_and_pos_grads(dx, batch, tokens, d, pos_len);
    let d_tokens: Vec<f32> = dx
        .chunks_exact(tokens * d)
        .flat_map(|seq| seq[d..].iter().copied())
        .collect();
    let mut norm_g = NormGrads::zeros(d);
    let mut d_proj = vec![0.0f32; d_tokens.len()];
    norm.backward(norm_tape, &d_tokens, &mut d_proj, &mut norm_g);
    let mut proj_g = DenseGrads::zeros(proj);
    proj.backward(features, &d_proj, batch * windows, None, &mut proj_g);
    StemGrads::Imu {
        proj: proj_g,
        norm: norm_g,
        cls,
        pos: pos_g,
    }
}

/// The CLS token's and the positional embedding's gradients: sums over the batch of the
/// first token's and of every token's.
fn cls_and_pos_grads(
    dx: &[f32],
    batch: usize,
    tokens: usize,
    d: usize,
    pos_len: usize,
) -> (Vec<f32>, Vec<f32>) {
    debug_assert_eq!(pos_len, tokens * d);
    debug_assert_eq!(dx.len(), batch * tokens * d);
    let mut cls = vec![0.0f32; d];
    let mut pos = vec![0.0f32; pos_len];
    for seq in dx.chunks_exact(tokens * d) {
        pos.iter_mut().zip(seq).for_each(|(g, v)| *g += v);
        cls.iter_mut().zip(&seq[..d]).for_each(|(g, v)| *g += v);
    }
    (cls, pos)
}
