use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;

use super::linear::{load_linear, save_linear};
use crate::Result;
use crate::weights::{WeightLoader, WeightSink};

/// `torch.nn.MultiheadAttention(d, heads, bias=True, add_bias_kv=…)` as ImageBind uses it:
/// one packed input projection in q, k, v order, and optionally a learned key and value
/// appended to every sequence (so there are `L + 1` keys), which gives each query somewhere
/// to put attention that is not a token.
#[derive(Module, Debug)]
pub struct MultiheadAttention {
    pub in_proj: Linear,
    pub out_proj: Linear,
    pub bias_k: Option<Param<Tensor<3>>>,
    pub bias_v: Option<Param<Tensor<3>>>,
    pub n_heads: usize,
}

impl MultiheadAttention {
    pub fn load(w: &WeightLoader, d: usize, n_heads: usize, add_bias_kv: bool) -> Result<Self> {
        let (bias_k, bias_v) = if add_bias_kv {
            (
                Some(w.param("bias_k", [1, 1, d])?),
                Some(w.param("bias_v", [1, 1, d])?),
            )
        } else {
            (None, None)
        };
        Ok(Self {
            in_proj: load_linear(w, "in_proj_", d, 3 * d, true)?,
            out_proj: load_linear(&w.pp("out_proj"), "", d, d, true)?,
            bias_k,
            bias_v,
            n_heads,
        })
    }

    pub fn save(&self, w: &WeightSink) {
        save_linear(&self.in_proj, w, "in_proj_");
        save_linear(&self.out_proj, &w.pp("out_proj"), "");
        if let (Some(k), Some(v)) = (&self.bias_k, &self.bias_v) {
            w.put("bias_k", &k.val());
            w.put("bias_v", &v.val());
        }
    }

    /// Self-attention with an optional additive mask over (query, key) positions.
    ///
    /// # Shapes
    /// - x: `[batch, tokens, d_model]`
    /// - mask: `[tokens, tokens]` (0 or −∞), only without `bias_kv`
    /// - output: `[batch, tokens, d_model]`
    pub fn forward(&self, x: Tensor<3>, mask: Option<Tensor<2>>) -> Tensor<3> {
        let [batch, tokens, d_model] = x.dims();
        let heads = self.n_heads;
        let head_dim = d_model / heads;

        let mut qkv = self.in_proj.forward(x).chunk(3, 2);
        let (mut v, mut k, q) = (qkv.pop().unwrap(), qkv.pop().unwrap(), qkv.pop().unwrap());
        if let (Some(bias_k), Some(bias_v)) = (&self.bias_k, &self.bias_v) {
            k = Tensor::cat(vec![k, bias_k.val().expand([batch, 1, d_model])], 1);
            v = Tensor::cat(vec![v, bias_v.val().expand([batch, 1, d_model])], 1);
        }
        let keys = k.dims()[1];
        let split =
            |t: Tensor<3>, len: usize| t.reshape([batch, len, heads, head_dim]).swap_dims(1, 2);

        let q = split(q, tokens).mul_scalar((head_dim as f64).powf(-0.5));
        let mut scores = q.matmul(split(k, keys).swap_dims(2, 3));
        if let Some(mask) = mask {
            scores = scores + mask.reshape([1, 1, tokens, keys]);
        }
        let context = softmax(scores, 3).matmul(split(v, keys));
        self.out_proj
            .forward(context.swap_dims(1, 2).reshape([batch, tokens, d_model]))
    }
}
