//! Training steps on the CPU path (`crate::cpu`) for the ndarray device: the encoder runs
//! forward and backward on plain `f32` rows, and its gradients are handed to burn's AdamW
//! as the module's own (`GradientsParams`), so optimizer state, checkpoints and `--resume`
//! are the same as with burn's autodiff. Only the loss, a few `[batch, dim]` products, stays
//! on burn's autodiff.

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use crate::cpu::{
    BlockGrads, CpuEncoder, DenseGrads, EncoderGrads, NormGrads, StemGrads, host_input,
    mean_over_clips,
};
use crate::nn::{Drops, Encoder, LayerNorm, Stem};
use crate::tensor_io::RawInput;
use crate::weights::host_values;
use crate::{Error, Result};

/// An encoder's forward pass on the CPU path, ready for its backward.
pub(super) struct CpuPass {
    encoder: CpuEncoder,
    tape: crate::cpu::Tape,
    clips: usize,
}

impl CpuPass {
    /// The embeddings (`[batch, out_dim]`, the mean over clips for clip inputs) of `input`
    /// through `enc`'s current weights, dropping what `drops` says.
    pub fn forward(
        enc: &Encoder,
        m: mmbind_modalities::Modality,
        input: &RawInput,
        drops: Option<&Drops>,
    ) -> Result<(Vec<f32>, Self)> {
        let encoder = CpuEncoder::new(enc);
        let (host, clips) = host_input(m, input)?;
        let (y, tape) = encoder.forward_train(&host, drops)?;
        let out_dim = encoder.out_dim();
        let y = if clips > 1 {
            mean_over_clips(&y, host.batch() / clips, clips, out_dim)
        } else {
            y
        };
        Ok((
            y,
            Self {
                encoder,
                tape,
                clips,
            },
        ))
    }

    /// `enc`'s parameters' gradients given the embeddings' (`[batch, out_dim]`).
    pub fn backward(self, enc: &Encoder, d_y: &[f32]) -> Result<GradientsParams> {
        let out_dim = self.encoder.out_dim();
        // The mean over clips hands each clip an equal share.
        let d_y: Vec<f32> = if self.clips > 1 {
            d_y.chunks_exact(out_dim)
                .flat_map(|row| {
                    std::iter::repeat_n(row, self.clips)
                        .flatten()
                        .map(|v| v / self.clips as f32)
                        .collect::<Vec<_>>()
                })
                .collect()
        } else {
            d_y.to_vec()
        };
        let grads = self.encoder.backward(&self.tape, &d_y);
        register(enc, grads)
    }
}

/// `[rows, dim]` embeddings from the CPU path as a leaf of burn's autodiff on `ad`, for the
/// loss and its gradient at them.
pub(super) fn embedding_leaf(y: Vec<f32>, rows: usize, ad: &Device) -> Tensor<2> {
    let dim = y.len() / rows.max(1);
    Tensor::<2>::from_data(TensorData::new(y, [rows, dim]), ad).require_grad()
}

/// The gradients as burn's, parameter by parameter, in the module's layouts.
fn register(enc: &Encoder, g: EncoderGrads) -> Result<GradientsParams> {
    let mut out = GradientsParams::new();
    let mut put = Put(&mut out);
    register_stem(&mut put, &enc.stem, g.stem)?;
    if let (Some(n), Some(gn)) = (&enc.trunk.pre_norm, g.pre_norm) {
        put.norm(n, gn)?;
    }
    for (b, gb) in enc.trunk.blocks.iter().zip(g.blocks) {
        let BlockGrads {
            norm_1,
            in_proj,
            out_proj,
            bias_kv,
            norm_2,
            fc1,
            fc2,
        } = gb;
        put.norm(&b.norm_1, norm_1)?;
        put.dense(&b.attn.in_proj, in_proj)?;
        put.dense(&b.attn.out_proj, out_proj)?;
        if let (Some(k), Some(v), Some(gkv)) = (&b.attn.bias_k, &b.attn.bias_v, bias_kv) {
            put.param(k, gkv.k)?;
            put.param(v, gkv.v)?;
        }
        put.norm(&b.norm_2, norm_2)?;
        put.dense(&b.mlp.fc1, fc1)?;
        put.dense(&b.mlp.fc2, fc2)?;
    }
    put.norm(&enc.head.norm, g.head_norm)?;
    put.dense(&enc.head.proj, g.head_proj)?;
    // Only a learnable scale (text's) takes part in the graph; past its clamp its gradient
    // is zero, as burn's `clamp_max` gives.
    if let (Some(p), true, Some(d)) = (&enc.post.log_logit_scale, enc.post.learnable, g.log_scale) {
        let log_scale = host_values(p.val())[0];
        let clamped = enc
            .post
            .max
            .is_some_and(|max| f64::from(log_scale.exp()) > max);
        put.param(p, vec![if clamped { 0.0 } else { d }])?;
    }
    Ok(out)
}

/// The stem's part of [`register`].
fn register_stem(put: &mut Put, stem: &Stem, g: StemGrads) -> Result<()> {
    match (stem, g) {
        (
            Stem::Patch(p),
            StemGrads::Patch {
                kernel_t,
                norm,
                cls,
                pos,
            },
        ) => {
            let [d, channels, _, _] = p.proj.dims();
            put.param(&p.proj, untranspose(&kernel_t, d, channels, 1))?;
            if let Some(n) = norm {
                put.norm(&p.norm, n)?;
            }
            put.param(&p.cls_token, cls)?;
            put.param(&p.pos_embed, pos)?;
        }
        (
            Stem::Video(v),
            StemGrads::Patch {
                kernel_t, cls, pos, ..
            },
        ) => {
            // The CPU path sums the kernel over its frames; each frame's part gets the
            // summed kernel's gradient.
            let [d, channels, kt, _, _] = v.proj.dims();
            put.param(&v.proj, untranspose(&kernel_t, d, channels, kt))?;
            put.param(&v.cls_token, cls)?;
            put.param(&v.pos_embed, pos)?;
        }
        (Stem::Text(t), StemGrads::Text { table, pos }) => {
            put.param(&t.token_embedding, table)?;
            put.param(&t.pos_embed, pos)?;
        }
        (
            Stem::Imu(i),
            StemGrads::Imu {
                proj,
                norm,
                cls,
                pos,
            },
        ) => {
            put.dense(&i.proj, proj)?;
            put.norm(&i.norm, norm)?;
            put.param(&i.cls_token, cls)?;
            put.param(&i.pos_embed, pos)?;
        }
        _ => {
            return Err(Error::Backend(
                "the CPU path's stem differs from the module's".into(),
            ));
        }
    }
    Ok(())
}

/// A `[channels·kh·kw, d]` gradient of the transposed (and frame-summed) kernel as the
/// module's `[d, channels, frames, kh, kw]` (no frames axis when `frames` is 1), each frame
/// the same.
fn untranspose(kernel_t: &[f32], d: usize, channels: usize, frames: usize) -> Vec<f32> {
    let k = kernel_t.len() / d;
    let plane = k / channels;
    let mut out = Vec::with_capacity(d * k * frames);
    for o in 0..d {
        for ch in 0..channels {
            for _ in 0..frames {
                out.extend((0..plane).map(|p| kernel_t[(ch * plane + p) * d + o]));
            }
        }
    }
    out
}

struct Put<'a>(&'a mut GradientsParams);

impl Put<'_> {
    fn param<const D: usize>(&mut self, p: &Param<Tensor<D>>, values: Vec<f32>) -> Result<()> {
        let shape = p.dims();
        if shape.iter().product::<usize>() != values.len() {
            return Err(Error::Backend(format!(
                "a gradient of {} values for a parameter of shape {shape:?}",
                values.len()
            )));
        }
        let device = crate::backend::ndarray_device();
        self.0.register(
            p.id,
            Tensor::<D>::from_data(TensorData::new(values, shape), &device),
        );
        Ok(())
    }

    fn norm(&mut self, n: &LayerNorm, g: NormGrads) -> Result<()> {
        self.param(&n.weight, g.weight)?;
        self.param(&n.bias, g.bias)
    }

    fn dense(&mut self, l: &burn::nn::Linear, g: DenseGrads) -> Result<()> {
        self.param(&l.weight, g.weight)?;
        match (&l.bias, g.bias) {
            (Some(b), Some(gb)) => self.param(b, gb),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;
    use mmbind_modalities::Modality;

    use super::*;
    use crate::config::ModelConfig;
    use crate::model::Model;
    use crate::nn::Branch;
    use crate::train::joint::tests::compare;

    fn input(m: Modality, batch: usize) -> RawInput {
        let noise = |n: usize, seed: u64| -> Vec<f32> {
            (0..n as u64)
                .map(|i| {
                    let h = (i ^ seed)
                        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        .rotate_left(17);
                    (h % 20_000) as f32 / 10_000.0 - 1.0
                })
                .collect()
        };
        let float = |shape: Vec<usize>| RawInput::Float {
            data: noise(shape.iter().product(), 7),
            shape,
        };
        match m {
            Modality::Vision => float(vec![batch, 3, 64, 64]),
            // Two clips per item: the embedding is their mean.
            Modality::Audio => float(vec![batch, 2, 1, 64, 204]),
            Modality::Depth | Modality::Thermal => float(vec![batch, 1, 64, 64]),
            Modality::Imu => float(vec![batch, 6, 400]),
            Modality::Text => {
                let context = 32;
                let mut data = vec![0i64; batch * context];
                for (b, row) in data.chunks_exact_mut(context).enumerate() {
                    // End of text (the largest id) at a different place in each row.
                    let end = [4, 31, 12][b % 3];
                    for (t, id) in row.iter_mut().enumerate().take(end) {
                        *id = ((t * 7919 + b * 104_729) % 49_000 + 1) as i64;
                    }
                    row[end] = 49_407;
                }
                RawInput::Int {
                    shape: vec![batch, context],
                    data,
                }
            }
        }
    }

    /// The CPU path's embeddings and gradients against burn's autodiff for every encoder of
    /// `model`, each dropping what `drops(m)` says on both paths.
    fn check_against_autodiff(model: &Model, drops: impl Fn(Modality) -> Option<Drops>) {
        let ad = crate::backend::ndarray_device().autodiff();
        let batch = 3;
        for m in Modality::ALL {
            let enc = model.encoder(m).unwrap();
            let raw = input(m, batch);
            let dropped = drops(m);
            let e = enc
                .forward_train(raw.to_encoder_input("test", &ad).unwrap(), dropped.as_ref())
                .unwrap();
            let out_dim = e.dims()[1];
            // A loss whose gradient at the embeddings is `w`.
            let w = Tensor::<2>::random([batch, out_dim], Distribution::Normal(0.0, 1.0), &ad);
            let expected =
                GradientsParams::from_grads((e.clone() * w.clone()).sum().backward(), enc);

            let (y, pass) = CpuPass::forward(enc, m, &raw, dropped.as_ref()).unwrap();
            let e_burn = host_values(e);
            let worst = y
                .iter()
                .zip(&e_burn)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "{m}: embeddings differ by {worst}");
            let got = pass.backward(enc, &host_values(w)).unwrap();

            assert_eq!(got.len(), expected.len(), "{m}: parameters with a gradient");
            let (diff, scale, n) = compare(enc, &expected, &got);
            assert_eq!(n, expected.len(), "{m}: every gradient compared");
            assert!(scale > 0.0, "{m}: no gradient");
            assert!(
                diff <= 1e-5 * scale,
                "{m}: gradients off by {diff} (largest {scale})"
            );
        }
    }

    #[test]
    fn every_encoders_gradients_match_burns_autodiff() {
        let ad = crate::backend::ndarray_device().autodiff();
        let model = Model::random(ModelConfig::tiny(), 11, &ad).unwrap();
        check_against_autodiff(&model, |_| None);
    }

    #[test]
    fn stochastic_depth_and_head_dropout_match_burns_autodiff() {
        let ad = crate::backend::ndarray_device().autodiff();
        let mut config = ModelConfig::tiny();
        for m in Modality::ALL {
            let Some(e) = config.encoders[m].as_mut() else {
                continue;
            };
            e.trunk.n_blocks = 3;
            e.trunk.drop_path = 0.6;
            e.head_dropout = 0.4;
        }
        let model = Model::random(config.clone(), 11, &ad).unwrap();
        let drops = |m: Modality| Drops::new(config.encoder(m).unwrap(), 5 + m as u64);
        // The masks of this seed drop something in every encoder, and keep something: a
        // test of the masks' plumbing, not of a plain step.
        for m in Modality::ALL {
            let d = drops(m).unwrap();
            let f: Vec<f32> = (1..3)
                .flat_map(|b| [Branch::Attention, Branch::Mlp].map(|br| d.branch(b, br, 3)))
                .flatten()
                .flatten()
                .collect();
            assert!(f.contains(&0.0) && f.iter().any(|&v| v > 1.0), "{m}: {f:?}");
            let enc = model.encoder(m).unwrap();
            let x = || input(m, 3).to_encoder_input("test", &ad).unwrap();
            let plain = host_values(enc.forward(x()).unwrap());
            let dropped = host_values(enc.forward_train(x(), Some(&d)).unwrap());
            assert!(plain != dropped, "{m}: dropping changed nothing");
        }
        check_against_autodiff(&model, drops);
    }

    #[test]
    fn a_dropped_position_skips_the_branch_for_every_sample() {
        // ImageBind's blocks are sequence-first, so its DropPath drops a token position of
        // the whole batch: that position's rows pass the block unchanged, the others do not.
        let device = crate::backend::ndarray_device();
        let model = Model::random(ModelConfig::tiny(), 3, &device).unwrap();
        let block = &model.encoder(Modality::Imu).unwrap().trunk.blocks[0];
        let (batch, tokens, d) = (2, 5, 64);
        let x = Tensor::<3>::random([batch, tokens, d], Distribution::Normal(0.0, 1.0), &device);
        let f = Tensor::<1>::from_data(
            TensorData::new(vec![1.25f32, 0.0, 1.25, 1.25, 1.25], [tokens]),
            &device,
        )
        .reshape([1, tokens, 1]);
        let y = block.forward_dropped(x.clone(), None, [Some(f.clone()), Some(f)]);
        let (xs, ys) = (host_values(x), host_values(y));
        for b in 0..batch {
            for t in 0..tokens {
                let row = |v: &[f32]| v[(b * tokens + t) * d..][..d].to_vec();
                assert_eq!(row(&xs) == row(&ys), t == 1, "sample {b}, position {t}");
            }
        }
    }
}
