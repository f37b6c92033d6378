use burn::module::{Module, Param};
use burn::tensor::module::embedding;
use burn::tensor::{Int, Tensor, TensorData};

use super::Tokens;
use crate::Result;
use crate::nn::Pool;
use crate::weights::{HostTensor, WeightLoader, WeightSink};

/// Text: token embedding + learned positions (no CLS); causal attention in every block; the
/// head reads the EOT token, which is where `argmax(ids)` points (EOT has the largest id).
#[derive(Module, Debug)]
pub struct TextStem {
    /// `[vocab, d_model]`.
    pub token_embedding: Param<Tensor<2>>,
    pub pos_embed: Param<Tensor<3>>,
}

impl TextStem {
    pub fn load(w: &WeightLoader, d: usize, vocab: usize, context: usize) -> Result<Self> {
        // The causal mask is a buffer in the checkpoint; it is checked for shape and rebuilt
        // here rather than trusted, since it is not learned.
        w.host("mask", &[context, context])?;
        Ok(Self {
            token_embedding: w.param("token_embedding.weight", [vocab, d])?,
            pos_embed: w.param("pos_embed", [1, context, d])?,
        })
    }

    pub fn save(&self, w: &WeightSink) {
        w.put("token_embedding.weight", &self.token_embedding.val());
        w.put("pos_embed", &self.pos_embed.val());
        let [_, context, _] = self.pos_embed.dims();
        w.put_host(
            "mask",
            HostTensor::new(vec![context, context], causal_mask_values(context)),
        );
    }

    /// # Shapes
    /// - ids: `[batch, context]`
    /// - output: `[batch, context, d_model]`
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tokens {
        let [_, context] = ids.dims();
        let device = ids.device();
        let eot = ids.clone().argmax(1).flatten::<1>(0, 1);
        let x = embedding(self.token_embedding.val(), ids) + self.pos_embed.val();
        let mask = Tensor::from_data(
            TensorData::new(causal_mask_values(context), [context, context]),
            &device,
        );
        Tokens {
            x,
            pool: Pool::Index(eot),
            mask: Some(mask),
        }
    }
}

/// 0 on and below the diagonal, −∞ above: a token attends to itself and what precedes it.
fn causal_mask_values(n: usize) -> Vec<f32> {
    (0..n)
        .flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect()
}
