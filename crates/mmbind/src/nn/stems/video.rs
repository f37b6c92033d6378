use burn::module::{Module, Param};
use burn::tensor::Tensor;

use super::{Tokens, patchify, prepend_cls};
use crate::Result;
use crate::nn::Pool;
use crate::weights::{WeightLoader, WeightSink};

/// Vision: `PadIm2Video` repeats a still image `frames` times, then a Conv3d (no bias) cuts
/// `[t, p, p]` tubelets; tokens in (T)HW row-major order, CLS in front, learned positions.
#[derive(Module, Debug)]
pub struct VideoStem {
    pub cls_token: Param<Tensor<3>>,
    /// `[d_model, channels, t, p, p]`.
    pub proj: Param<Tensor<5>>,
    pub pos_embed: Param<Tensor<3>>,
    pub frames: usize,
}

impl VideoStem {
    pub fn load(
        w: &WeightLoader,
        d: usize,
        channels: usize,
        frames: usize,
        patch: [usize; 3],
        tokens: usize,
    ) -> Result<Self> {
        Ok(Self {
            cls_token: w.param("cls_token", [1, 1, d])?,
            // `rgbt_stem.proj` is `Sequential(PadIm2Video, Conv3d)`, hence the `1`.
            proj: w.param(
                "rgbt_stem.proj.1.weight",
                [d, channels, patch[0], patch[1], patch[2]],
            )?,
            pos_embed: w.param("pos_embedding_helper.pos_embed", [1, tokens, d])?,
            frames,
        })
    }

    pub fn save(&self, w: &WeightSink) {
        w.put("cls_token", &self.cls_token.val());
        w.put("rgbt_stem.proj.1.weight", &self.proj.val());
        w.put("pos_embedding_helper.pos_embed", &self.pos_embed.val());
    }

    /// # Shapes
    /// - x: `[batch, channels, height, width]` (a still image)
    /// - output: `[batch, 1 + patches, d_model]`
    pub fn forward(&self, x: Tensor<4>) -> Tokens {
        let [batch, ..] = x.dims();
        let weight = self.proj.val();
        let [d, channels, kt, kh, kw] = weight.dims();
        // The `frames` copies of a still image are identical, so every tubelet of the Conv3d
        // sees the same `kt` frames: one Conv2d over the image with each channel repeated `kt`
        // times (channel-major, as the Conv3d kernel is laid out) gives the same sums over
        // (channel, time, row, column), and all `frames / kt` time steps are equal. burn's
        // Conv3d on ndarray is ~4x slower than this, forward and backward.
        let steps = self.frames / kt;
        let [_, _, height, width] = x.dims();
        let x = x
            .reshape([batch, channels, 1, height, width])
            .repeat_dim(2, kt)
            .reshape([batch, channels * kt, height, width]);
        let kernel = weight.reshape([d, channels * kt, kh, kw]);
        let patches = patchify(x, kernel, [kh, kw]);
        let [_, _, h, w] = patches.dims();
        let tokens = patches
            .reshape([batch, d, h * w])
            .swap_dims(1, 2)
            .repeat_dim(1, steps);
        let x = prepend_cls(tokens, self.cls_token.val()) + self.pos_embed.val();
        Tokens {
            x,
            pool: Pool::Cls,
            mask: None,
        }
    }
}
