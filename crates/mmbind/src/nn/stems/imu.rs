use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::Tensor;

use super::{Tokens, prepend_cls};
use crate::Result;
use crate::config::STEM_LN_EPS;
use crate::nn::linear::{load_linear, save_linear};
use crate::nn::{LayerNorm, Pool};
use crate::weights::{WeightLoader, WeightSink};

/// IMU: non-overlapping windows of `kernel` samples of all channels (`unfold(-1, k, k)`),
/// flattened channel-major (feature = channel·k + t), Linear without bias + LayerNorm, CLS in
/// front, learned positions.
#[derive(Module, Debug)]
pub struct ImuStem {
    pub cls_token: Param<Tensor<3>>,
    pub proj: Linear,
    pub norm: LayerNorm,
    pub pos_embed: Param<Tensor<3>>,
    pub kernel: usize,
}

impl ImuStem {
    pub fn load(
        w: &WeightLoader,
        d: usize,
        channels: usize,
        kernel: usize,
        tokens: usize,
    ) -> Result<Self> {
        Ok(Self {
            cls_token: w.param("cls_token", [1, 1, d])?,
            proj: load_linear(&w.pp("imu_stem.proj"), "", channels * kernel, d, false)?,
            norm: LayerNorm::load(&w.pp("imu_stem.norm_layer"), d, STEM_LN_EPS)?,
            pos_embed: w.param("pos_embed", [1, tokens, d])?,
            kernel,
        })
    }

    pub fn save(&self, w: &WeightSink) {
        w.put("cls_token", &self.cls_token.val());
        save_linear(&self.proj, &w.pp("imu_stem.proj"), "");
        self.norm.save(&w.pp("imu_stem.norm_layer"));
        w.put("pos_embed", &self.pos_embed.val());
    }

    /// # Shapes
    /// - x: `[batch, channels, length]`
    /// - output: `[batch, 1 + length / kernel, d_model]`
    pub fn forward(&self, x: Tensor<3>) -> Tokens {
        let [batch, channels, length] = x.dims();
        let k = self.kernel;
        let windows = length / k;
        let features = x
            .reshape([batch, channels, windows, k])
            .swap_dims(1, 2)
            .reshape([batch, windows, channels * k]);
        let tokens = self.norm.forward(self.proj.forward(features));
        let x = prepend_cls(tokens, self.cls_token.val()) + self.pos_embed.val();
        Tokens {
            x,
            pool: Pool::Cls,
            mask: None,
        }
    }
}
