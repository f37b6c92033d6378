use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Int, Tensor};

use super::LayerNorm;
use super::linear::{load_linear, save_linear};
use crate::Result;
use crate::config::TRUNK_LN_EPS;
use crate::weights::{WeightLoader, WeightSink};

/// Which token represents the sequence.
#[derive(Debug, Clone)]
pub enum Pool {
    /// The CLS token at position 0.
    Cls,
    /// One position per batch row (text: the EOT token, found as `argmax(ids)`).
    Index(Tensor<1, Int>),
}

/// Where a head's two layers sit in ImageBind's `nn.Sequential` heads: vision, audio, depth
/// and thermal use `0` (norm) and `2` (projection, after `SelectElement`); IMU has a dropout
/// in between, so `3`; text wraps both in `proj`.
#[derive(Debug, Clone, Copy)]
pub struct HeadKeys {
    pub norm: &'static str,
    pub proj: &'static str,
}

/// LayerNorm → pick the pooled token → (dropout) → Linear without bias to the shared space.
#[derive(Module, Debug)]
pub struct Head {
    pub norm: LayerNorm,
    pub proj: Linear,
}

impl Head {
    pub fn load(w: &WeightLoader, keys: HeadKeys, d_model: usize, d_out: usize) -> Result<Self> {
        Ok(Self {
            norm: LayerNorm::load(&w.pp(keys.norm), d_model, TRUNK_LN_EPS)?,
            proj: load_linear(&w.pp(keys.proj), "", d_model, d_out, false)?,
        })
    }

    pub fn save(&self, w: &WeightSink, keys: HeadKeys) {
        self.norm.save(&w.pp(keys.norm));
        save_linear(&self.proj, &w.pp(keys.proj), "");
    }

    /// # Shapes
    /// - x: `[batch, tokens, d_model]`
    /// - output: `[batch, d_out]`
    pub fn forward(&self, x: Tensor<3>, pool: &Pool) -> Tensor<2> {
        self.forward_dropped(x, pool, None)
    }

    /// [`Head::forward`] with the pooled, normalised features scaled by `dropout`
    /// (`[batch, d_model]`; see [`super::Drops`]) before the projection.
    pub fn forward_dropped(
        &self,
        x: Tensor<3>,
        pool: &Pool,
        dropout: Option<Tensor<2>>,
    ) -> Tensor<2> {
        let [batch, _tokens, d_model] = x.dims();
        let pooled = match pool {
            Pool::Cls => x.narrow(1, 0, 1),
            Pool::Index(index) => x.gather(
                1,
                index
                    .clone()
                    .reshape([batch, 1, 1])
                    .expand([batch, 1, d_model]),
            ),
        };
        // LayerNorm is per token, so normalising only the pooled one is ImageBind's result.
        let normed = self.norm.forward(pooled.reshape([batch, d_model]));
        self.proj.forward(match dropout {
            Some(f) => normed * f,
            None => normed,
        })
    }
}
