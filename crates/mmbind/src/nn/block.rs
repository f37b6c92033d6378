use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Tensor;

use super::linear::{load_linear, save_linear};
use super::{LayerNorm, MultiheadAttention};
use crate::Result;
use crate::config::{TRUNK_LN_EPS, TrunkConfig};
use crate::weights::{WeightLoader, WeightSink};

/// fc1 (d → 4d) → exact GELU → fc2 (4d → d). ImageBind uses the erf GELU, not QuickGELU.
#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

impl Mlp {
    pub fn load(w: &WeightLoader, d: usize) -> Result<Self> {
        Ok(Self {
            fc1: load_linear(&w.pp("fc1"), "", d, 4 * d, true)?,
            fc2: load_linear(&w.pp("fc2"), "", 4 * d, d, true)?,
        })
    }

    pub fn save(&self, w: &WeightSink) {
        save_linear(&self.fc1, &w.pp("fc1"), "");
        save_linear(&self.fc2, &w.pp("fc2"), "");
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.fc2.forward(gelu(self.fc1.forward(x)))
    }
}

/// Exact GELU, `x · Φ(x)`, written out so that autodiff differentiates the erf itself: burn's
/// fused `gelu` computes its gradient from the tanh approximation (off by up to ~1e-3), and
/// that gradient's `tanh`/`powi` calls cost more on ndarray than erf's `exp`. The forward
/// pass is the same sequence of operations as burn's.
fn gelu(x: Tensor<3>) -> Tensor<3> {
    let phi = x
        .clone()
        .div_scalar(std::f64::consts::SQRT_2)
        .erf()
        .add_scalar(1.0);
    x.mul(phi).div_scalar(2.0)
}

/// A pre-norm transformer block: `x += attn(norm_1(x)); x += mlp(norm_2(x))`.
#[derive(Module, Debug)]
pub struct Block {
    pub norm_1: LayerNorm,
    pub attn: MultiheadAttention,
    pub norm_2: LayerNorm,
    pub mlp: Mlp,
}

impl Block {
    pub fn load(w: &WeightLoader, cfg: &TrunkConfig) -> Result<Self> {
        let d = cfg.d_model;
        Ok(Self {
            norm_1: LayerNorm::load(&w.pp("norm_1"), d, TRUNK_LN_EPS)?,
            attn: MultiheadAttention::load(&w.pp("attn"), d, cfg.n_heads, cfg.add_bias_kv)?,
            norm_2: LayerNorm::load(&w.pp("norm_2"), d, TRUNK_LN_EPS)?,
            mlp: Mlp::load(&w.pp("mlp"), d)?,
        })
    }

    pub fn save(&self, w: &WeightSink) {
        self.norm_1.save(&w.pp("norm_1"));
        self.attn.save(&w.pp("attn"));
        self.norm_2.save(&w.pp("norm_2"));
        self.mlp.save(&w.pp("mlp"));
    }

    /// # Shapes
    /// - x: `[batch, tokens, d_model]` → same
    pub fn forward(&self, x: Tensor<3>, mask: Option<Tensor<2>>) -> Tensor<3> {
        self.forward_dropped(x, mask, [None, None])
    }

    /// [`Block::forward`] with each residual branch (attention, MLP) scaled per token
    /// position by `factors` (`[1, tokens, 1]`; stochastic depth, see [`super::Drops`]).
    pub fn forward_dropped(
        &self,
        x: Tensor<3>,
        mask: Option<Tensor<2>>,
        factors: [Option<Tensor<3>>; 2],
    ) -> Tensor<3> {
        let [attn, mlp] = factors;
        let scaled = |y: Tensor<3>, f: Option<Tensor<3>>| match f {
            Some(f) => y * f,
            None => y,
        };
        let x = x.clone() + scaled(self.attn.forward(self.norm_1.forward(x), mask), attn);
        x.clone() + scaled(self.mlp.forward(self.norm_2.forward(x)), mlp)
    }
}
