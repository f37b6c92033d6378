//! Model configuration: what `model.json` holds. Sizes are configuration, not code; presets
//! (`presets.rs`) only fill these structs.

mod imagebind_kwargs;
mod presets;

pub use imagebind_kwargs::ImageBindKwargs;

use mmbind_modalities::{Modality, Preprocess, prepare};
use mmbind_schema::PerModality;
use serde::{Deserialize, Serialize};

/// LayerNorm epsilon inside every trunk and head (ImageBind: `partial(nn.LayerNorm, eps=1e-6)`).
pub const TRUNK_LN_EPS: f64 = 1e-6;
/// LayerNorm epsilon of the patch stems (ImageBind uses `nn.LayerNorm`'s default there).
pub const STEM_LN_EPS: f64 = 1e-5;
/// The text postprocessor clips its learned scale at this value (ImageBind's `logit_scale_max`).
pub const TEXT_MAX_LOGIT_SCALE: f64 = 100.0;

/// The shared transformer trunk of one encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrunkConfig {
    /// Token width.
    pub d_model: usize,
    /// Number of pre-norm blocks.
    pub n_blocks: usize,
    /// Attention heads; `d_model` must be a multiple.
    pub n_heads: usize,
    /// Learned extra key/value appended to every attention (ImageBind: all but vision and text).
    pub add_bias_kv: bool,
    /// A LayerNorm before the first block (ImageBind: vision only).
    pub pre_norm: bool,
    /// Stochastic depth rate at the last block (ImageBind's training recipe; the rate rises
    /// linearly from 0 at the first block). Training applies it (`crate::nn::Drops`);
    /// inference ignores it.
    pub drop_path: f64,
}

/// How raw input becomes tokens, per modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StemConfig {
    /// PadIm2Video (repeat the image `frames` times) then a Conv3d patchifier, no bias.
    Video {
        channels: usize,
        frames: usize,
        image_size: usize,
        patch: [usize; 3],
    },
    /// Token embedding + learned positions, causal attention, pooled at the EOT token.
    Text {
        vocab_size: usize,
        context_length: usize,
    },
    /// A Conv2d patchifier (no bias) + LayerNorm: audio spectrograms, depth and thermal maps.
    Patch {
        channels: usize,
        input_size: [usize; 2],
        kernel: usize,
        stride: usize,
    },
    /// Non-overlapping windows of `kernel` samples of every channel, Linear (no bias) + LayerNorm.
    Imu {
        channels: usize,
        length: usize,
        kernel: usize,
    },
}

impl StemConfig {
    /// Tokens the stem emits, without the CLS token.
    pub fn patch_tokens(&self) -> usize {
        match *self {
            StemConfig::Video {
                frames,
                image_size,
                patch,
                ..
            } => (frames / patch[0]) * (image_size / patch[1]) * (image_size / patch[2]),
            StemConfig::Text { context_length, .. } => context_length,
            StemConfig::Patch {
                input_size,
                kernel,
                stride,
                ..
            } => {
                let n = |size: usize| (size - kernel) / stride + 1;
                n(input_size[0]) * n(input_size[1])
            }
            StemConfig::Imu { length, kernel, .. } => length / kernel,
        }
    }

    /// The shape of one input item the stem takes (without batch, and without the clip axis
    /// that audio adds).
    pub fn item_shape(&self) -> Vec<usize> {
        match *self {
            StemConfig::Video {
                channels,
                image_size,
                ..
            } => vec![channels, image_size, image_size],
            StemConfig::Text { context_length, .. } => vec![context_length],
            StemConfig::Patch {
                channels,
                input_size,
                ..
            } => vec![channels, input_size[0], input_size[1]],
            StemConfig::Imu {
                channels, length, ..
            } => vec![channels, length],
        }
    }

    /// Whether a learned CLS token is prepended (every stem but text's).
    pub fn has_cls(&self) -> bool {
        !matches!(self, StemConfig::Text { .. })
    }

    /// Sequence length the trunk sees.
    pub fn num_tokens(&self) -> usize {
        self.patch_tokens() + usize::from(self.has_cls())
    }
}

/// How the final embedding is scaled after L2 normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScaleConfig {
    /// Unit-norm output (vision).
    None,
    /// `exp(log_logit_scale)` from the weights, clipped at `max` when given. Whether it is
    /// trained is a training decision; the value always lives in the weights. `init` is the
    /// log scale a freshly initialised model starts from.
    Logit { max: Option<f64>, init: f64 },
}

/// One modality's encoder: stem → trunk → head → postprocessor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    pub stem: StemConfig,
    pub trunk: TrunkConfig,
    /// Dropout before the head's projection (ImageBind: IMU only, 0.5). Applied by training,
    /// ignored by inference, like `drop_path`.
    #[serde(default)]
    pub head_dropout: f64,
    pub scale: ScaleConfig,
}

/// The whole model: one encoder per modality it has, all projecting to `out_dim`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Shared embedding dimension.
    pub out_dim: usize,
    /// Each modality's encoder, keyed by the modality's name in `model.json`; a modality
    /// without one is left out.
    #[serde(flatten)]
    pub encoders: PerModality<Option<EncoderConfig>>,
    /// How files become encoder inputs (must agree with the stems' geometry).
    #[serde(default)]
    pub preprocess: Preprocess,
}

impl ModelConfig {
    pub fn encoder(&self, m: Modality) -> Option<&EncoderConfig> {
        self.encoders[m].as_ref()
    }

    /// The modalities this model can embed, in ImageBind's order.
    pub fn modalities(&self) -> Vec<Modality> {
        Modality::ALL
            .into_iter()
            .filter(|m| self.encoder(*m).is_some())
            .collect()
    }

    /// Checks the invariants the layers rely on, so a bad `model.json` fails on load with a
    /// message instead of a shape panic in the middle of a forward pass.
    pub fn validate(&self) -> Result<(), String> {
        if self.out_dim == 0 {
            return Err("out_dim must be positive".into());
        }
        for m in self.modalities() {
            let Some(enc) = self.encoder(m) else { continue };
            let t = &enc.trunk;
            if t.d_model == 0 || t.n_heads == 0 || t.d_model % t.n_heads != 0 {
                return Err(format!(
                    "{m}: d_model {} must be a positive multiple of n_heads {}",
                    t.d_model, t.n_heads
                ));
            }
            let geometry_ok = match enc.stem {
                StemConfig::Video {
                    frames,
                    image_size,
                    patch,
                    ..
                } => {
                    patch.iter().all(|&p| p > 0)
                        && frames % patch[0] == 0
                        && image_size % patch[1] == 0
                        && image_size % patch[2] == 0
                }
                StemConfig::Text {
                    vocab_size,
                    context_length,
                } => vocab_size > 0 && context_length > 0,
                StemConfig::Patch {
                    input_size,
                    kernel,
                    stride,
                    ..
                } => kernel > 0 && stride > 0 && input_size.iter().all(|&s| s >= kernel),
                StemConfig::Imu { length, kernel, .. } => {
                    kernel > 0 && length % kernel == 0 && length > 0
                }
            };
            if !geometry_ok {
                return Err(format!("{m}: inconsistent stem geometry {:?}", enc.stem));
            }
            for (name, p) in [
                ("drop_path", t.drop_path),
                ("head_dropout", enc.head_dropout),
            ] {
                if !(0.0..1.0).contains(&p) {
                    return Err(format!("{m}: {name} {p} must be in [0, 1)"));
                }
            }
            self.check_preprocess(m, &enc.stem)?;
        }
        Ok(())
    }

    /// The preprocessing must produce exactly what the stem takes, and divide by a usable std.
    fn check_preprocess(&self, m: Modality, stem: &StemConfig) -> Result<(), String> {
        let made = prepare::item_shape(&self.preprocess, m);
        let taken = stem.item_shape();
        if made != taken {
            return Err(format!(
                "{m}: preprocessing makes {made:?} but the stem takes {taken:?}"
            ));
        }
        if let Some((mean, std)) = prepare::normalisation(&self.preprocess, m)
            && !(mean.is_finite() && std.is_finite() && std > 0.0)
        {
            return Err(format!(
                "{m}: normalisation needs a finite mean and a positive std, got {mean} / {std}"
            ));
        }
        Ok(())
    }
}
