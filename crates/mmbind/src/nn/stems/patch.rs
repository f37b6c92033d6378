use burn::module::{Module, Param};
use burn::tensor::Tensor;

use super::{Tokens, patchify, prepend_cls};
use crate::Result;
use crate::config::STEM_LN_EPS;
use crate::nn::{LayerNorm, Pool};
use crate::weights::{WeightLoader, WeightSink};

/// Audio spectrograms, depth and thermal maps: a Conv2d patchifier (no bias; audio's
/// patches overlap, kernel 16 stride 10) + LayerNorm (PyTorch's default eps), CLS in front,
/// learned positions.
#[derive(Module, Debug)]
pub struct PatchStem {
    pub cls_token: Param<Tensor<3>>,
    /// `[d_model, channels, kernel, kernel]`.
    pub proj: Param<Tensor<4>>,
    pub norm: LayerNorm,
    pub pos_embed: Param<Tensor<3>>,
    pub stride: usize,
}

impl PatchStem {
    /// `stem` is the checkpoint's name for the conv + norm pair: `rgbt_stem` for audio and
    /// thermal, `depth_stem` for depth.
    pub fn load(
        w: &WeightLoader,
        stem: &str,
        d: usize,
        channels: usize,
        kernel: usize,
        stride: usize,
        tokens: usize,
    ) -> Result<Self> {
        Ok(Self {
            cls_token: w.param("cls_token", [1, 1, d])?,
            proj: w.param(
                &format!("{stem}.proj.weight"),
                [d, channels, kernel, kernel],
            )?,
            norm: LayerNorm::load(&w.pp(stem).pp("norm_layer"), d, STEM_LN_EPS)?,
            pos_embed: w.param("pos_embedding_helper.pos_embed", [1, tokens, d])?,
            stride,
        })
    }

    pub fn save(&self, w: &WeightSink, stem: &str) {
        w.put("cls_token", &self.cls_token.val());
        w.put(&format!("{stem}.proj.weight"), &self.proj.val());
        self.norm.save(&w.pp(stem).pp("norm_layer"));
        w.put("pos_embedding_helper.pos_embed", &self.pos_embed.val());
    }

    /// # Shapes
    /// - x: `[batch, channels, height, width]`
    /// - output: `[batch, 1 + patches, d_model]`
    pub fn forward(&self, x: Tensor<4>) -> Tokens {
        let [batch, ..] = x.dims();
        let weight = self.proj.val();
        let [d, ..] = weight.dims();
        let s = self.stride;
        let patches = patchify(x, weight, [s, s]);
        let [_, _, h, w] = patches.dims();
        let tokens = self
            .norm
            .forward(patches.reshape([batch, d, h * w]).swap_dims(1, 2));
        let x = prepend_cls(tokens, self.cls_token.val()) + self.pos_embed.val();
        Tokens {
            x,
            pool: Pool::Cls,
            mask: None,
        }
    }
}
