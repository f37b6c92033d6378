//! The keyword arguments of ImageBind's `ImageBindModel(...)` constructor, so that
//! `mmbind import --config KWARGS.json` takes exactly what a PyTorch user would pass.

use mmbind_modalities::Preprocess;
use mmbind_modalities::audio::AudioPreprocess;
use mmbind_schema::{Modality, PerModality};
use serde::{Deserialize, Serialize};

use super::{
    EncoderConfig, ModelConfig, ScaleConfig, StemConfig, TEXT_MAX_LOGIT_SCALE, TrunkConfig,
};

/// `ImageBindModel.__init__` keywords with the constructor's own defaults. Unknown keys are
/// rejected so a typo cannot silently fall back to a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageBindKwargs {
    pub video_frames: usize,
    pub kernel_size: [usize; 3],
    pub audio_kernel_size: usize,
    pub audio_stride: usize,
    pub out_embed_dim: usize,
    pub vision_embed_dim: usize,
    pub vision_num_blocks: usize,
    pub vision_num_heads: usize,
    pub audio_embed_dim: usize,
    pub audio_num_blocks: usize,
    pub audio_num_heads: usize,
    pub audio_num_mel_bins: usize,
    pub audio_target_len: usize,
    pub audio_drop_path: f64,
    pub text_embed_dim: usize,
    pub text_num_blocks: usize,
    pub text_num_heads: usize,
    pub depth_embed_dim: usize,
    pub depth_kernel_size: usize,
    pub depth_num_blocks: usize,
    pub depth_num_heads: usize,
    pub depth_drop_path: f64,
    pub thermal_embed_dim: usize,
    pub thermal_kernel_size: usize,
    pub thermal_num_blocks: usize,
    pub thermal_num_heads: usize,
    pub thermal_drop_path: f64,
    pub imu_embed_dim: usize,
    pub imu_kernel_size: usize,
    pub imu_num_blocks: usize,
    pub imu_num_heads: usize,
    pub imu_drop_path: f64,
}

impl Default for ImageBindKwargs {
    /// The constructor's defaults (not `imagebind_huge`, which overrides vision and text).
    fn default() -> Self {
        Self {
            video_frames: 2,
            kernel_size: [2, 14, 14],
            audio_kernel_size: 16,
            audio_stride: 10,
            out_embed_dim: 768,
            vision_embed_dim: 1024,
            vision_num_blocks: 24,
            vision_num_heads: 16,
            audio_embed_dim: 768,
            audio_num_blocks: 12,
            audio_num_heads: 12,
            audio_num_mel_bins: 128,
            audio_target_len: 204,
            audio_drop_path: 0.1,
            text_embed_dim: 768,
            text_num_blocks: 12,
            text_num_heads: 12,
            depth_embed_dim: 384,
            depth_kernel_size: 16,
            depth_num_blocks: 12,
            depth_num_heads: 8,
            depth_drop_path: 0.0,
            thermal_embed_dim: 768,
            thermal_kernel_size: 16,
            thermal_num_blocks: 12,
            thermal_num_heads: 12,
            thermal_drop_path: 0.0,
            imu_embed_dim: 512,
            imu_kernel_size: 8,
            imu_num_blocks: 6,
            imu_num_heads: 8,
            imu_drop_path: 0.7,
        }
    }
}

/// Image side, text context, vocabulary and IMU length are fixed inside ImageBind's code,
/// not constructor arguments.
const IMAGE_SIZE: usize = 224;
const CONTEXT_LENGTH: usize = 77;
const VOCAB_SIZE: usize = 49408;
const IMU_LENGTH: usize = 2000;
const IMU_CHANNELS: usize = 6;

impl ImageBindKwargs {
    /// `imagebind_huge()`.
    pub fn huge() -> Self {
        Self {
            vision_embed_dim: 1280,
            vision_num_blocks: 32,
            vision_num_heads: 16,
            text_embed_dim: 1024,
            text_num_blocks: 24,
            text_num_heads: 16,
            out_embed_dim: 1024,
            audio_drop_path: 0.1,
            imu_drop_path: 0.7,
            ..Self::default()
        }
    }

    /// The configuration of the tiny parity fixture.
    pub fn tiny_fixture() -> Self {
        Self {
            vision_embed_dim: 64,
            vision_num_blocks: 2,
            vision_num_heads: 4,
            text_embed_dim: 64,
            text_num_blocks: 2,
            text_num_heads: 4,
            out_embed_dim: 32,
            audio_embed_dim: 48,
            audio_num_blocks: 2,
            audio_num_heads: 4,
            depth_embed_dim: 32,
            depth_num_blocks: 2,
            depth_num_heads: 4,
            thermal_embed_dim: 48,
            thermal_num_blocks: 2,
            thermal_num_heads: 4,
            imu_embed_dim: 32,
            imu_num_blocks: 2,
            imu_num_heads: 4,
            ..Self::default()
        }
    }

    /// The mmbind configuration this constructor call builds.
    pub fn to_config(&self) -> ModelConfig {
        ModelConfig {
            out_dim: self.out_embed_dim,
            encoders: PerModality::from_fn(|m| self.encoder(m)),
            preprocess: Preprocess {
                audio: AudioPreprocess {
                    mel_bins: self.audio_num_mel_bins,
                    target_frames: self.audio_target_len,
                    ..AudioPreprocess::default()
                },
                ..Preprocess::default()
            },
        }
    }

    /// Modality `m`'s encoder as ImageBind's constructor builds it (ImageBind has one for
    /// each of the six).
    fn encoder(&self, m: Modality) -> Option<EncoderConfig> {
        Some(match m {
            Modality::Vision => self.vision_encoder(),
            Modality::Text => self.text_encoder(),
            Modality::Audio => self.audio_encoder(),
            Modality::Depth => self.depth_encoder(),
            Modality::Thermal => self.thermal_encoder(),
            Modality::Imu => self.imu_encoder(),
        })
    }

    fn vision_encoder(&self) -> EncoderConfig {
        EncoderConfig {
            stem: StemConfig::Video {
                channels: 3,
                frames: self.video_frames,
                image_size: IMAGE_SIZE,
                patch: self.kernel_size,
            },
            trunk: trunk(
                self.vision_embed_dim,
                self.vision_num_blocks,
                self.vision_num_heads,
                false,
                true,
                0.0,
            ),
            head_dropout: 0.0,
            scale: ScaleConfig::None,
        }
    }

    fn text_encoder(&self) -> EncoderConfig {
        EncoderConfig {
            stem: StemConfig::Text {
                vocab_size: VOCAB_SIZE,
                context_length: CONTEXT_LENGTH,
            },
            trunk: trunk(
                self.text_embed_dim,
                self.text_num_blocks,
                self.text_num_heads,
                false,
                false,
                0.0,
            ),
            head_dropout: 0.0,
            scale: ScaleConfig::Logit {
                max: Some(TEXT_MAX_LOGIT_SCALE),
                init: (1.0f64 / 0.07).ln(),
            },
        }
    }

    fn audio_encoder(&self) -> EncoderConfig {
        EncoderConfig {
            stem: patch(
                1,
                [self.audio_num_mel_bins, self.audio_target_len],
                self.audio_kernel_size,
                self.audio_stride,
            ),
            trunk: trunk(
                self.audio_embed_dim,
                self.audio_num_blocks,
                self.audio_num_heads,
                true,
                false,
                self.audio_drop_path,
            ),
            head_dropout: 0.0,
            scale: fixed_scale(20.0),
        }
    }

    fn depth_encoder(&self) -> EncoderConfig {
        EncoderConfig {
            stem: patch(
                1,
                [IMAGE_SIZE, IMAGE_SIZE],
                self.depth_kernel_size,
                self.depth_kernel_size,
            ),
            trunk: trunk(
                self.depth_embed_dim,
                self.depth_num_blocks,
                self.depth_num_heads,
                true,
                false,
                self.depth_drop_path,
            ),
            head_dropout: 0.0,
            scale: fixed_scale(5.0),
        }
    }

    fn thermal_encoder(&self) -> EncoderConfig {
        EncoderConfig {
            stem: patch(
                1,
                [IMAGE_SIZE, IMAGE_SIZE],
                self.thermal_kernel_size,
                self.thermal_kernel_size,
            ),
            trunk: trunk(
                self.thermal_embed_dim,
                self.thermal_num_blocks,
                self.thermal_num_heads,
                true,
                false,
                self.thermal_drop_path,
            ),
            head_dropout: 0.0,
            scale: fixed_scale(10.0),
        }
    }

    fn imu_encoder(&self) -> EncoderConfig {
        EncoderConfig {
            stem: StemConfig::Imu {
                channels: IMU_CHANNELS,
                length: IMU_LENGTH,
                kernel: self.imu_kernel_size,
            },
            trunk: trunk(
                self.imu_embed_dim,
                self.imu_num_blocks,
                self.imu_num_heads,
                true,
                false,
                self.imu_drop_path,
            ),
            head_dropout: 0.5,
            scale: fixed_scale(5.0),
        }
    }
}

fn trunk(
    d_model: usize,
    n_blocks: usize,
    n_heads: usize,
    add_bias_kv: bool,
    pre_norm: bool,
    drop_path: f64,
) -> TrunkConfig {
    TrunkConfig {
        d_model,
        n_blocks,
        n_heads,
        add_bias_kv,
        pre_norm,
        drop_path,
    }
}

/// ImageBind's temperatures: learned for text (from 1/0.07), fixed elsewhere.
fn fixed_scale(scale: f64) -> ScaleConfig {
    ScaleConfig::Logit {
        max: None,
        init: scale.ln(),
    }
}

fn patch(channels: usize, input_size: [usize; 2], kernel: usize, stride: usize) -> StemConfig {
    StemConfig::Patch {
        channels,
        input_size,
        kernel,
        stride,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kwargs_json_overrides_defaults_and_rejects_typos() {
        let k: ImageBindKwargs =
            serde_json::from_str(r#"{"vision_embed_dim": 64, "out_embed_dim": 32}"#).unwrap();
        assert_eq!(k.vision_embed_dim, 64);
        assert_eq!(k.audio_embed_dim, 768);
        let err =
            serde_json::from_str::<ImageBindKwargs>(r#"{"vision_embed_dimm": 64}"#).unwrap_err();
        assert!(err.to_string().contains("vision_embed_dimm"), "{err}");
    }
}
