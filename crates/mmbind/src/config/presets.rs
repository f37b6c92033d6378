//! Named presets. Each one only fills a [`ModelConfig`]; nothing else depends on its name.

use mmbind_modalities::Preprocess;
use mmbind_modalities::audio::AudioPreprocess;
use mmbind_modalities::depth::DepthPreprocess;
use mmbind_modalities::imu::ImuPreprocess;
use mmbind_modalities::text::TextPreprocess;
use mmbind_modalities::thermal::ThermalPreprocess;
use mmbind_modalities::vision::VisionPreprocess;
use mmbind_schema::{Modality, PerModality};

use super::{
    EncoderConfig, ImageBindKwargs, ModelConfig, ScaleConfig, StemConfig, TEXT_MAX_LOGIT_SCALE,
    TrunkConfig,
};

impl ModelConfig {
    /// `imagebind_huge()`: the official checkpoint's geometry (about 1.2 B parameters).
    pub fn imagebind_huge() -> Self {
        ImageBindKwargs::huge().to_config()
    }

    /// The tiny random model of the parity fixtures (`tests/fixtures/tiny_imagebind.pth`).
    pub fn imagebind_tiny_fixture() -> Self {
        ImageBindKwargs::tiny_fixture().to_config()
    }

    /// ImageBind's architecture at laptop scale: 2 blocks per encoder, 64 wide (vision 128),
    /// 4 heads (vision, text, depth and IMU 8), on small inputs (64×64 images and maps, one 2 s clip of 64 mel bins, 400 IMU samples,
    /// 32 text tokens). Trains on a 2-core CPU in minutes.
    pub fn tiny() -> Self {
        ModelConfig {
            out_dim: 64,
            encoders: PerModality::from_fn(|m| Some(tiny::encoder(m))),
            preprocess: tiny::preprocess(),
        }
    }

    /// Looks a preset up by the name used on the command line.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny()),
            "imagebind-huge" => Some(Self::imagebind_huge()),
            "imagebind-tiny-fixture" => Some(Self::imagebind_tiny_fixture()),
            _ => None,
        }
    }

    /// Names accepted by [`ModelConfig::preset`].
    pub const PRESETS: &'static [&'static str] =
        &["tiny", "imagebind-huge", "imagebind-tiny-fixture"];
}

/// The `tiny` preset's parts: one encoder per modality and the preprocessing that feeds them.
mod tiny {
    use super::*;

    const IMAGE: usize = 64;
    const MEL_BINS: usize = 64;
    const FRAMES: usize = 204;
    const IMU_LENGTH: usize = 400;
    const CONTEXT: usize = 32;

    // Text gets 8 heads of 8 dims, vision 8 of 16, the others 4 of 16: in the demo, 8 heads
    // let the vision encoder tell the two objects of a scene apart (text→vision P@1 0.80 →
    // 0.84, two-object audio→vision 0.39 → 0.51) for 23% more time per vision+text step.
    // Depth and IMU got 8 heads (of 8 dims) for the same reason: with more epochs, on the
    // validation split at seed 0, depth → vision 0.81 → 0.87 (two-object queries 0.56 →
    // 0.68) and IMU → vision 0.86 → 0.88, for 13-16% more time per step; thermal
    // gained nothing from them (0.873 and 0.872) and keeps 4.
    // Vision is twice as wide as the rest because composition is limited by it: at width
    // 128 against 64 (validation split, seeds 0-2, docs/compose.md) a two-object image's
    // embedding comes to 0.93 of its concepts' sum against 0.90, and image(A) + image(B)
    // finds the scene with both 0.71 of the time against 0.64, for about 30 s more
    // training in the demo.
    pub(super) fn encoder(m: Modality) -> EncoderConfig {
        match m {
            Modality::Vision => assemble(
                StemConfig::Video {
                    channels: 3,
                    frames: 2,
                    image_size: IMAGE,
                    patch: [2, 8, 8],
                },
                trunk(128, 8, false, true),
                ScaleConfig::None,
            ),
            Modality::Text => assemble(
                StemConfig::Text {
                    vocab_size: 49408,
                    context_length: CONTEXT,
                },
                trunk(64, 8, false, false),
                ScaleConfig::Logit {
                    max: Some(TEXT_MAX_LOGIT_SCALE),
                    init: (1.0f64 / 0.07).ln(),
                },
            ),
            Modality::Audio => assemble(
                StemConfig::Patch {
                    channels: 1,
                    input_size: [MEL_BINS, FRAMES],
                    kernel: 16,
                    stride: 16,
                },
                trunk(64, 4, true, false),
                fixed(20.0),
            ),
            // Depth binds at logit scale 10, not ImageBind's 5: a depth map carries its scene's
            // layout (where, how near, how large), so a sharper softmax can tell a map of A and
            // B from one of A alone. Validation, seed 0: depth → vision 0.87 → 0.90, two-object
            // queries 0.68 → 0.78; at 20, 0.87. Thermal at 20 and IMU at 10 gained nothing
            // (IMU lost 0.17). See docs/compose.md.
            Modality::Depth => assemble(map(IMAGE), trunk(64, 8, true, false), fixed(10.0)),
            Modality::Thermal => assemble(map(IMAGE), trunk(64, 4, true, false), fixed(10.0)),
            Modality::Imu => assemble(
                StemConfig::Imu {
                    channels: 6,
                    length: IMU_LENGTH,
                    kernel: 20,
                },
                trunk(64, 8, true, false),
                fixed(5.0),
            ),
        }
    }

    fn trunk(d_model: usize, n_heads: usize, add_bias_kv: bool, pre_norm: bool) -> TrunkConfig {
        TrunkConfig {
            d_model,
            n_blocks: 2,
            n_heads,
            add_bias_kv,
            pre_norm,
            drop_path: 0.0,
        }
    }

    fn fixed(scale: f64) -> ScaleConfig {
        ScaleConfig::Logit {
            max: None,
            init: scale.ln(),
        }
    }

    fn assemble(stem: StemConfig, trunk: TrunkConfig, scale: ScaleConfig) -> EncoderConfig {
        EncoderConfig {
            stem,
            trunk,
            head_dropout: 0.0,
            scale,
        }
    }

    fn map(size: usize) -> StemConfig {
        StemConfig::Patch {
            channels: 1,
            input_size: [size, size],
            kernel: 8,
            stride: 8,
        }
    }

    pub(super) fn preprocess() -> Preprocess {
        Preprocess {
            vision: VisionPreprocess {
                image_size: IMAGE,
                ..VisionPreprocess::default()
            },
            text: TextPreprocess {
                context_length: CONTEXT,
            },
            audio: AudioPreprocess {
                mel_bins: MEL_BINS,
                target_frames: FRAMES,
                clips_per_input: 1,
                ..AudioPreprocess::default()
            },
            // Centred inputs. ImageBind's depth and thermal stems are a bias-free conv and
            // then LayerNorm, so every flat patch becomes the same token whatever its
            // level; only the sign of the level survives. Uncentred (all positive) maps
            // left a fresh encoder's embeddings of different scenes at cosine 0.9992 and
            // training stuck at ln(batch). Centred, object patches (near, or hotter than
            // ~115/255) and background patches get opposite tokens.
            depth: DepthPreprocess {
                image_size: IMAGE,
                mean: 16.0,
                std: 8.0,
                ..DepthPreprocess::default()
            },
            thermal: ThermalPreprocess {
                image_size: IMAGE,
                mean: 0.45,
                std: 0.25,
            },
            imu: ImuPreprocess { length: IMU_LENGTH },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmbind_modalities::Modality;

    #[test]
    fn huge_token_counts_match_the_reference() {
        let c = ModelConfig::imagebind_huge();
        let tokens = |m| c.encoder(m).unwrap().stem.num_tokens();
        assert_eq!(tokens(Modality::Vision), 257);
        assert_eq!(tokens(Modality::Text), 77);
        assert_eq!(tokens(Modality::Audio), 229);
        assert_eq!(tokens(Modality::Depth), 197);
        assert_eq!(tokens(Modality::Thermal), 197);
        assert_eq!(tokens(Modality::Imu), 251);
        c.validate().unwrap();
    }

    #[test]
    fn presets_round_trip_through_json() {
        for name in ModelConfig::PRESETS {
            let c = ModelConfig::preset(name).unwrap();
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<ModelConfig>(&json).unwrap(), c);
        }
        assert!(ModelConfig::preset("gigantic").is_none());
    }

    #[test]
    fn a_zero_normalisation_std_is_refused() {
        let mut c = ModelConfig::tiny();
        c.validate().unwrap();
        c.preprocess.thermal.std = 0.0;
        let err = c.validate().unwrap_err();
        assert!(
            err.contains("thermal") && err.contains("positive std"),
            "{err}"
        );
    }

    #[test]
    fn a_stem_that_cannot_take_what_the_preprocessing_makes_is_refused() {
        let mut c = ModelConfig::tiny();
        c.preprocess.audio.target_frames = 100;
        let err = c.validate().unwrap_err();
        assert_eq!(
            err,
            "audio: preprocessing makes [1, 64, 100] but the stem takes [1, 64, 204]"
        );
        // A stem of another kind: text ids cannot feed a window stem.
        let mut c = ModelConfig::tiny();
        c.encoders.text.as_mut().unwrap().stem = c.encoders.imu.clone().unwrap().stem;
        let err = c.validate().unwrap_err();
        assert_eq!(
            err,
            "text: preprocessing makes [32] but the stem takes [6, 400]"
        );
        // Channels count too: a depth map has one.
        let mut c = ModelConfig::tiny();
        if let StemConfig::Patch { channels, .. } = &mut c.encoders.depth.as_mut().unwrap().stem {
            *channels = 3;
        }
        let err = c.validate().unwrap_err();
        assert_eq!(
            err,
            "depth: preprocessing makes [1, 64, 64] but the stem takes [3, 64, 64]"
        );
    }

    #[test]
    fn a_drop_rate_of_one_or_more_is_refused() {
        let mut c = ModelConfig::tiny();
        c.encoders.imu.as_mut().unwrap().trunk.drop_path = 1.0;
        let err = c.validate().unwrap_err();
        assert_eq!(err, "imu: drop_path 1 must be in [0, 1)");
        let mut c = ModelConfig::tiny();
        c.encoders.depth.as_mut().unwrap().head_dropout = -0.1;
        let err = c.validate().unwrap_err();
        assert_eq!(err, "depth: head_dropout -0.1 must be in [0, 1)");
    }
}
