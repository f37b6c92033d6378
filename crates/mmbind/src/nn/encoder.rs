use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData};
use mmbind_modalities::Modality;

use super::head::HeadKeys;
use super::stems::{ImuStem, PatchStem, TextStem, Tokens, VideoStem};
use super::{Drops, Head, Postprocess, Trunk, TrunkStage};
use crate::config::{EncoderConfig, StemConfig};
use crate::weights::{WeightLoader, WeightSink};
use crate::{Error, Result};

/// The modality-specific front of an encoder.
#[derive(Module, Debug)]
pub enum Stem {
    Video(VideoStem),
    Text(TextStem),
    Patch(PatchStem),
    Imu(ImuStem),
}

/// A batch for one encoder, batch-first.
#[derive(Debug, Clone)]
pub enum EncoderInput {
    /// Token ids `[batch, context]` (text).
    Ids(Tensor<2, Int>),
    /// `[batch, channels, length]` (IMU).
    Series(Tensor<3>),
    /// `[batch, channels, height, width]` (vision, depth, thermal, one audio clip).
    Image(Tensor<4>),
    /// `[batch, clips, channels, height, width]`: every clip is embedded and the clip
    /// embeddings are averaged *after* normalisation and scaling, without renormalising, as
    /// ImageBind does for audio's three clips.
    Clips(Tensor<5>),
}

/// Every stage's output of one forward pass, batch-first (for parity checks).
#[derive(Debug, Default)]
pub struct EncoderTrace {
    pub tokens: Option<Tensor<3>>,
    pub pre_norm: Option<Tensor<3>>,
    pub blocks: Vec<Tensor<3>>,
    pub head: Option<Tensor<2>>,
    /// Per clip, after postprocessing, for clip inputs.
    pub clips: Option<Tensor<2>>,
    pub embedding: Option<Tensor<2>>,
}

/// One modality's encoder: stem → trunk → head → postprocess.
#[derive(Module, Debug)]
pub struct Encoder {
    pub stem: Stem,
    pub trunk: Trunk,
    pub head: Head,
    pub post: Postprocess,
}

/// The checkpoint's name for the conv + norm pair of a patch stem.
fn patch_stem_key(m: Modality) -> &'static str {
    if m == Modality::Depth {
        "depth_stem"
    } else {
        "rgbt_stem"
    }
}

fn head_keys(m: Modality) -> HeadKeys {
    match m {
        Modality::Text => HeadKeys {
            norm: "proj.0",
            proj: "proj.1",
        },
        Modality::Imu => HeadKeys {
            norm: "0",
            proj: "3",
        },
        _ => HeadKeys {
            norm: "0",
            proj: "2",
        },
    }
}

impl Encoder {
    /// Loads modality `m` from ImageBind's four key families:
    /// `modality_{preprocessors,trunks,heads,postprocessors}.<m>`.
    pub fn load(
        root: &WeightLoader,
        m: Modality,
        cfg: &EncoderConfig,
        out_dim: usize,
    ) -> Result<Self> {
        let d = cfg.trunk.d_model;
        let tokens = cfg.stem.num_tokens();
        let w = root.pp("modality_preprocessors").pp(m);
        let stem = match cfg.stem {
            StemConfig::Video {
                channels,
                frames,
                patch,
                ..
            } => Stem::Video(VideoStem::load(&w, d, channels, frames, patch, tokens)?),
            StemConfig::Text {
                vocab_size,
                context_length,
            } => Stem::Text(TextStem::load(&w, d, vocab_size, context_length)?),
            StemConfig::Patch {
                channels,
                kernel,
                stride,
                ..
            } => Stem::Patch(PatchStem::load(
                &w,
                patch_stem_key(m),
                d,
                channels,
                kernel,
                stride,
                tokens,
            )?),
            StemConfig::Imu {
                channels, kernel, ..
            } => Stem::Imu(ImuStem::load(&w, d, channels, kernel, tokens)?),
        };
        Ok(Self {
            stem,
            trunk: Trunk::load(&root.pp("modality_trunks").pp(m), &cfg.trunk)?,
            head: Head::load(&root.pp("modality_heads").pp(m), head_keys(m), d, out_dim)?,
            post: Postprocess::load(&root.pp("modality_postprocessors").pp(m).pp(1), cfg.scale)?,
        })
    }

    pub fn save(&self, root: &WeightSink, m: Modality) {
        let w = root.pp("modality_preprocessors").pp(m);
        match &self.stem {
            Stem::Video(s) => s.save(&w),
            Stem::Text(s) => s.save(&w),
            Stem::Patch(s) => s.save(&w, patch_stem_key(m)),
            Stem::Imu(s) => s.save(&w),
        }
        self.trunk.save(&root.pp("modality_trunks").pp(m));
        self.head
            .save(&root.pp("modality_heads").pp(m), head_keys(m));
        self.post
            .save(&root.pp("modality_postprocessors").pp(m).pp(1));
    }

    /// The embedding of a batch.
    ///
    /// # Shapes
    /// - output: `[batch, d_out]`
    pub fn forward(&self, input: EncoderInput) -> Result<Tensor<2>> {
        self.run(input, None, None)
    }

    /// The embedding of a batch in a training step that drops what `drops` says (stochastic
    /// depth, head dropout); the same as [`Encoder::forward`] without it.
    pub fn forward_train(&self, input: EncoderInput, drops: Option<&Drops>) -> Result<Tensor<2>> {
        self.run(input, None, drops)
    }

    /// The embedding with every intermediate kept.
    pub fn forward_trace(&self, input: EncoderInput) -> Result<EncoderTrace> {
        let mut trace = EncoderTrace::default();
        let embedding = self.run(input, Some(&mut trace), None)?;
        trace.embedding = Some(embedding);
        Ok(trace)
    }

    /// The embedding, every intermediate kept in `trace` when given, dropping what `drops`
    /// says (clips are samples of their own to the trunk, as in ImageBind).
    fn run(
        &self,
        input: EncoderInput,
        mut trace: Option<&mut EncoderTrace>,
        drops: Option<&Drops>,
    ) -> Result<Tensor<2>> {
        if let EncoderInput::Clips(x) = input {
            let [batch, clips, c, h, w] = x.dims();
            let per_clip = self.run(
                EncoderInput::Image(x.reshape([batch * clips, c, h, w])),
                trace.as_deref_mut(),
                drops,
            )?;
            let [_, d] = per_clip.dims();
            if let Some(t) = trace {
                t.clips = Some(per_clip.clone());
            }
            return Ok(per_clip
                .reshape([batch, clips, d])
                .mean_dim(1)
                .reshape([batch, d]));
        }
        let Tokens { x, pool, mask } = self.tokens(input)?;
        if let Some(t) = trace.as_deref_mut() {
            t.tokens = Some(x.clone());
        }
        let [batch, _, d_model] = x.dims();
        let device = x.device();
        let x = self.trunk.forward_observed(x, mask, drops, |stage, x| {
            if let Some(t) = trace.as_deref_mut() {
                match stage {
                    TrunkStage::PreNorm => t.pre_norm = Some(x.clone()),
                    TrunkStage::Block(_) => t.blocks.push(x.clone()),
                }
            }
        });
        let dropout = drops
            .and_then(|d| d.head(batch, d_model))
            .map(|f| Tensor::<2>::from_data(TensorData::new(f, [batch, d_model]), &device));
        let head = self.head.forward_dropped(x, &pool, dropout);
        if let Some(t) = trace {
            t.head = Some(head.clone());
        }
        Ok(self.post.forward(head))
    }

    fn tokens(&self, input: EncoderInput) -> Result<Tokens> {
        let mismatch = |want: &str| Error::Input {
            name: "input".into(),
            reason: format!("this encoder takes {want}"),
        };
        Ok(match (&self.stem, input) {
            (Stem::Video(s), EncoderInput::Image(x)) => s.forward(x),
            (Stem::Patch(s), EncoderInput::Image(x)) => s.forward(x),
            (Stem::Text(s), EncoderInput::Ids(ids)) => s.forward(ids),
            (Stem::Imu(s), EncoderInput::Series(x)) => s.forward(x),
            (Stem::Video(_) | Stem::Patch(_), _) => {
                return Err(mismatch("[batch, channels, height, width] floats"));
            }
            (Stem::Text(_), _) => return Err(mismatch("[batch, context] integer token ids")),
            (Stem::Imu(_), _) => return Err(mismatch("[batch, channels, length] floats")),
        })
    }
}
