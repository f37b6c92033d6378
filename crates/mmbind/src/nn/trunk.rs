use burn::module::Module;
use burn::tensor::{Tensor, TensorData};

use super::{Block, Branch, Drops, LayerNorm};
use crate::Result;
use crate::config::{TRUNK_LN_EPS, TrunkConfig};
use crate::weights::{WeightLoader, WeightSink};

/// ImageBind's `SimpleTransformer`: an optional LayerNorm, then pre-norm blocks; no final
/// norm (the head has it).
#[derive(Module, Debug)]
pub struct Trunk {
    pub pre_norm: Option<LayerNorm>,
    pub blocks: Vec<Block>,
}

impl Trunk {
    pub fn load(w: &WeightLoader, cfg: &TrunkConfig) -> Result<Self> {
        let pre_norm = if cfg.pre_norm {
            Some(LayerNorm::load(
                &w.pp("pre_transformer_layer.0"),
                cfg.d_model,
                TRUNK_LN_EPS,
            )?)
        } else {
            None
        };
        let blocks = (0..cfg.n_blocks)
            .map(|i| Block::load(&w.pp("blocks").pp(i), cfg))
            .collect::<Result<_>>()?;
        Ok(Self { pre_norm, blocks })
    }

    pub fn save(&self, w: &WeightSink) {
        if let Some(norm) = &self.pre_norm {
            norm.save(&w.pp("pre_transformer_layer.0"));
        }
        for (i, block) in self.blocks.iter().enumerate() {
            block.save(&w.pp("blocks").pp(i));
        }
    }

    /// Runs the trunk, handing every block's output to `observe` (for parity checks and
    /// debugging; pass `|_, _| {}` otherwise), with stochastic depth when `drops` is given
    /// (block `i`'s branches scaled per token position; training only).
    ///
    /// # Shapes
    /// - x: `[batch, tokens, d_model]` → same
    pub fn forward_observed(
        &self,
        x: Tensor<3>,
        mask: Option<Tensor<2>>,
        drops: Option<&Drops>,
        mut observe: impl FnMut(TrunkStage, &Tensor<3>),
    ) -> Tensor<3> {
        let [_, tokens, _] = x.dims();
        let device = x.device();
        let mut x = match &self.pre_norm {
            Some(norm) => {
                let x = norm.forward(x);
                observe(TrunkStage::PreNorm, &x);
                x
            }
            None => x,
        };
        for (i, block) in self.blocks.iter().enumerate() {
            let factors = [Branch::Attention, Branch::Mlp].map(|b| {
                drops.and_then(|d| d.branch(i, b, tokens)).map(|f| {
                    Tensor::<1>::from_data(TensorData::new(f, [tokens]), &device)
                        .reshape([1, tokens, 1])
                })
            });
            x = block.forward_dropped(x, mask.clone(), factors);
            observe(TrunkStage::Block(i), &x);
        }
        x
    }

    pub fn forward(&self, x: Tensor<3>, mask: Option<Tensor<2>>) -> Tensor<3> {
        self.forward_observed(x, mask, None, |_, _| {})
    }
}

/// Where in the trunk an observed tensor comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrunkStage {
    PreNorm,
    Block(usize),
}
