use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::module::layer_norm;

use crate::Result;
use crate::weights::{WeightLoader, WeightSink};

/// LayerNorm over the last dimension with an explicit epsilon (ImageBind uses 1e-6 in the
/// trunks and heads but PyTorch's 1e-5 in the stems: a 1.6e-5 difference in the output).
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub eps: f64,
}

impl LayerNorm {
    /// Loads `weight` and `bias` of width `d` from `w`.
    pub fn load(w: &WeightLoader, d: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: w.param("weight", [d])?,
            bias: w.param("bias", [d])?,
            eps,
        })
    }

    pub fn save(&self, w: &WeightSink) {
        w.put("weight", &self.weight.val());
        w.put("bias", &self.bias.val());
    }

    /// # Shapes
    /// - x: `[..., d]` → `[..., d]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, self.weight.val(), Some(self.bias.val()), self.eps)
    }
}
