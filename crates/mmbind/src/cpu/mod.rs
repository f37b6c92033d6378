//! A CPU-specialised inference path: the same encoders, weights copied from the burn model
//! once, run by a few kernels on plain `f32` rows instead of burn-ndarray's general tensor
//! ops. It exists for speed: products through `gemm` (packed, AVX2/AVX-512, both cores),
//! attention per (batch row, head) in parallel without materialising the `[batch, heads,
//! tokens, tokens]` tensor, and no layout copies between layers. `docs/speed.md` has the
//! profile that motivated it and its measurements.
//!
//! Inference on the ndarray device goes through here ([`crate::embed::Embedder`] picks it);
//! training (autodiff) and wgpu stay on burn. The parity tests run both.

mod attention;
mod attention_train;
mod encoder;
mod encoder_train;
mod grad;
pub mod kernels;
mod rows;
mod stems;
mod stems_train;

use std::sync::OnceLock;

use burn::tensor::{Device, Tensor, TensorData};
use mmbind_modalities::Modality;

pub use attention_train::BiasKvGrads;
pub use encoder::{CpuEncoder, HostTrace};
pub use encoder_train::{BlockGrads, EncoderGrads, Tape};
pub use grad::{DenseGrads, NormGrads};
pub use stems::HostInput;
pub use stems_train::StemGrads;

use crate::model::Model;
use crate::nn::EncoderTrace;
use crate::tensor_io::RawInput;
use crate::{Error, Result};

/// The CPU path of a model, each encoder built on first use (a copy of its weights).
pub struct CpuModel<'a> {
    model: &'a Model,
    encoders: [OnceLock<CpuEncoder>; 6],
}

fn slot(m: Modality) -> usize {
    Modality::ALL
        .iter()
        .position(|&x| x == m)
        .expect("a modality")
}

impl<'a> CpuModel<'a> {
    pub fn new(model: &'a Model) -> Self {
        Self {
            model,
            encoders: Default::default(),
        }
    }

    fn encoder(&self, m: Modality) -> Result<&CpuEncoder> {
        let enc = self.model.encoder(m)?;
        Ok(self.encoders[slot(m)].get_or_init(|| CpuEncoder::new(enc)))
    }

    /// The embedding of a batch, `[batch, out_dim]` row-major (as `Model::embed`), from the
    /// batch's values in host memory (the ranks and types `RawInput::to_encoder_input` takes).
    pub fn embed(&self, m: Modality, input: &RawInput) -> Result<Vec<f32>> {
        self.model.check_shape(m, input.shape())?;
        self.run(m, input, None).map(|(e, _)| e)
    }

    /// The embedding with every intermediate, as tensors on `device` (for parity checks).
    pub fn embed_trace(
        &self,
        m: Modality,
        input: &RawInput,
        device: &Device,
    ) -> Result<EncoderTrace> {
        self.model.check_shape(m, input.shape())?;
        let mut host = HostTrace::default();
        let (embedding, clips) = self.run(m, input, Some(&mut host))?;
        let out_dim = self.encoder(m)?.out_dim();
        let [batch, tokens, d] = host.shape;
        let t3 =
            |v: Vec<f32>| Tensor::<3>::from_data(TensorData::new(v, [batch, tokens, d]), device);
        let t2 = |v: Vec<f32>| {
            let rows = v.len() / out_dim;
            Tensor::<2>::from_data(TensorData::new(v, [rows, out_dim]), device)
        };
        Ok(EncoderTrace {
            tokens: Some(t3(host.tokens)),
            pre_norm: host.pre_norm.map(t3),
            blocks: host.blocks.into_iter().map(t3).collect(),
            head: Some(t2(host.head)),
            clips: clips.map(t2),
            embedding: Some(t2(embedding)),
        })
    }

    /// (embedding, per-clip embeddings for clip inputs).
    fn run(
        &self,
        m: Modality,
        input: &RawInput,
        trace: Option<&mut HostTrace>,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
        let enc = self.encoder(m)?;
        let (len, expected) = match input {
            RawInput::Int { shape, data } => (data.len(), shape.iter().product::<usize>()),
            RawInput::Float { shape, data } => (data.len(), shape.iter().product()),
        };
        if len != expected {
            return Err(Error::Input {
                name: format!("{m} input"),
                reason: format!("{len} values for a shape of {expected}"),
            });
        }
        let (host, clips) = host_input(m, input)?;
        if input.shape().len() == 5 {
            let per_clip = enc.forward(&host, trace)?;
            let batch = host.batch() / clips;
            return Ok((
                mean_over_clips(&per_clip, batch, clips, enc.out_dim()),
                Some(per_clip),
            ));
        }
        Ok((enc.forward(&host, trace)?, None))
    }
}

/// A batch's values as a stem's input, and the clips per item (1 unless the input is
/// `[batch, clips, channels, h, w]`, whose clips become items of their own).
pub fn host_input(m: Modality, input: &RawInput) -> Result<(HostInput<'_>, usize)> {
    Ok(match input {
        RawInput::Int { shape, data } => match shape[..] {
            [batch, context] => (
                HostInput::Ids {
                    ids: data,
                    batch,
                    context,
                },
                1,
            ),
            _ => return Err(rank(m, shape)),
        },
        RawInput::Float { shape, data: x } => match shape[..] {
            [batch, channels, length] => (
                HostInput::Series {
                    x,
                    batch,
                    channels,
                    length,
                },
                1,
            ),
            [batch, channels, h, w] => (
                HostInput::Image {
                    x,
                    batch,
                    channels,
                    h,
                    w,
                },
                1,
            ),
            [batch, clips, channels, h, w] => (
                HostInput::Image {
                    x,
                    batch: batch * clips,
                    channels,
                    h,
                    w,
                },
                clips,
            ),
            _ => return Err(rank(m, shape)),
        },
    })
}

/// The mean over each item's clips after postprocessing, without renormalising (ImageBind's
/// audio: three clips per file).
pub fn mean_over_clips(per_clip: &[f32], batch: usize, clips: usize, d: usize) -> Vec<f32> {
    let mut mean = vec![0.0f32; batch * d];
    for (b, row) in mean.chunks_exact_mut(d).enumerate() {
        for clip in per_clip[b * clips * d..][..clips * d].chunks_exact(d) {
            row.iter_mut().zip(clip).for_each(|(a, v)| *a += v);
        }
        row.iter_mut().for_each(|a| *a /= clips as f32);
    }
    mean
}

fn rank(m: Modality, shape: &[usize]) -> Error {
    Error::Input {
        name: format!("{m} input"),
        reason: format!("a batch of shape {shape:?} is no input this encoder takes"),
    }
}

/// Whether inference on `device` takes the CPU path: the ndarray device does (burn's own CPU
/// ops stay in use for training).
pub fn serves(device: &Device) -> bool {
    *device == crate::backend::ndarray_device()
}
