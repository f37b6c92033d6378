//! Training only the rows of the text token table that the training captions use.
//!
//! The text stem keeps CLIP's 49,408-token table (3.2 M parameters in the tiny preset), but a
//! training set uses a few hundred of its rows. Trained whole, every step pays for a zeroed
//! 12.6 MB gradient, its clipping norm and AdamW's dozen passes over all rows: about a sixth
//! of a vision+text step on the demo. A row whose gradient has always been zero keeps AdamW
//! moments of zero, so AdamW only decays it, `w ← w · (1 − lr·λ)`. So a phase that trains the
//! text encoder trains a compact table of the used rows (ids remapped in order, so the EOT
//! token keeps the largest id) and records each step's decay factor for the other rows; they
//! are applied, as the same f32 products in the same order, when the epoch's weights are
//! written. The weights equal those of the whole table bit for bit while gradient clipping
//! leaves the table's gradient alone; a clipped step sums the same squares in another order.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::Features;
use crate::nn::{Encoder, EncoderInput, Stem};

/// The used rows of a text encoder's token table, and the decay owed to the others.
pub(super) struct TokenRows {
    /// The vocabulary ids the phase's captions use, ascending: row `k` of the compact table
    /// is token `used[k]`.
    used: Vec<usize>,
    /// Compact row of every vocabulary id (unused ids are never looked up).
    row_of: Vec<i64>,
    /// The whole table as of the last [`TokenRows::expand`]; its used rows are stale.
    table: Vec<f32>,
    width: usize,
    /// Decay factors of the steps since the last [`TokenRows::expand`], in order.
    pending: Vec<f32>,
}

impl TokenRows {
    /// Swaps `text`'s token table for the rows that `captions` (token ids, as the feature
    /// cache stores them) use. `None` when `text` is not a text encoder.
    pub fn compact<'a>(
        text: &mut Encoder,
        captions: impl IntoIterator<Item = &'a [f32]>,
    ) -> Option<Self> {
        let Stem::Text(stem) = &mut text.stem else {
            return None;
        };
        let [vocab, width] = stem.token_embedding.dims();
        let mut seen = vec![false; vocab];
        for caption in captions {
            for &id in caption {
                seen[id as usize] = true;
            }
        }
        let used: Vec<usize> = (0..vocab).filter(|&i| seen[i]).collect();
        let mut row_of = vec![-1i64; vocab];
        for (k, &id) in used.iter().enumerate() {
            row_of[id] = k as i64;
        }
        let table = stem
            .token_embedding
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .expect("float token table");
        let device = stem.token_embedding.val().device();
        let index = Tensor::<1, Int>::from_data(
            TensorData::new(used.iter().map(|&i| i as i64).collect(), [used.len()]),
            &device,
        );
        stem.token_embedding =
            (stem.token_embedding.clone()).map(|t| t.select(0, index).detach().require_grad());
        Some(Self {
            used,
            row_of,
            table,
            width,
            pending: Vec::new(),
        })
    }

    /// Rows `rows` of the text features as a batch of compact ids.
    pub fn batch(&self, features: &Features, rows: &[usize], device: &Device) -> EncoderInput {
        let captions: Vec<&[f32]> = rows.iter().map(|&r| features.row(r)).collect();
        self.ids(&captions, device)
    }

    /// `captions` (of one length) as a batch of compact ids.
    fn ids(&self, captions: &[&[f32]], device: &Device) -> EncoderInput {
        let ids: Vec<i64> = captions
            .iter()
            .flat_map(|c| c.iter().map(|&id| self.row_of[id as usize]))
            .collect();
        let shape = [captions.len(), captions[0].len()];
        EncoderInput::Ids(Tensor::from_data(TensorData::new(ids, shape), device))
    }

    /// Records an AdamW step at learning rate `lr` with decoupled weight decay
    /// `weight_decay`, computed as burn's AdamW computes it.
    pub fn stepped(&mut self, lr: f64, weight_decay: f32) {
        let rate = lr * f64::from(weight_decay);
        if rate != 0.0 {
            self.pending.push((1.0 - rate) as f32);
        }
    }

    /// Puts the whole table back into `text` (a copy of the trained encoder), with the
    /// unused rows decayed to date.
    pub fn expand(&mut self, text: &mut Encoder) {
        let Stem::Text(stem) = &mut text.stem else {
            unreachable!("compacted from a text encoder");
        };
        // A block at a time, so that every factor's pass stays in cache.
        for block in self.table.chunks_mut(4096) {
            for &f in &self.pending {
                for w in block.iter_mut() {
                    *w *= f;
                }
            }
        }
        self.pending.clear();
        let rows = stem
            .token_embedding
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .expect("float token table");
        for (k, &id) in self.used.iter().enumerate() {
            self.table[id * self.width..(id + 1) * self.width]
                .copy_from_slice(&rows[k * self.width..(k + 1) * self.width]);
        }
        let vocab = self.row_of.len();
        let table = TensorData::new(self.table.clone(), [vocab, self.width]);
        let device = stem.token_embedding.val().device();
        stem.token_embedding =
            (stem.token_embedding.clone()).map(|_| Tensor::from_data(table, &device));
    }
}

#[cfg(test)]
mod tests {
    use burn::grad_clipping::GradientClippingConfig;
    use burn::optim::{AdamWConfig, GradientsParams};
    use mmbind_modalities::Modality;

    use super::*;
    use crate::config::ModelConfig;
    use crate::model::Model;

    /// `steps` AdamW steps (as training takes them) on `captions[step % len]`, then the text
    /// encoder's weights; compacted or with the whole table.
    fn train(captions: &[Vec<Vec<f32>>], steps: usize, compact: bool) -> Vec<(String, Vec<f32>)> {
        // Every batch of `captions` holds equally long captions.
        let ad = crate::backend::ndarray_device().autodiff();
        let mut model = Model::random(ModelConfig::tiny(), 3, &ad).unwrap();
        let mut text = model.encoders.slot_mut(Modality::Text).take().unwrap();
        let target: Vec<f32> = (0..4 * 64)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        let target = Tensor::<2>::from_data(TensorData::new(target, [4, 64]), &ad);
        let mut optim = AdamWConfig::new()
            .with_weight_decay(0.05)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
            .init();
        let mut rows = if compact {
            TokenRows::compact(&mut text, captions.iter().flatten().map(Vec::as_slice))
        } else {
            None
        };
        for step in 0..steps {
            let batch: Vec<&[f32]> = captions[step % captions.len()]
                .iter()
                .map(Vec::as_slice)
                .collect();
            let x = match &rows {
                Some(r) => r.ids(&batch, &ad),
                None => {
                    let ids = batch.iter().flat_map(|c| c.iter().map(|&i| i as i64));
                    let shape = [batch.len(), batch[0].len()];
                    EncoderInput::Ids(Tensor::from_data(
                        TensorData::new(ids.collect(), shape),
                        &ad,
                    ))
                }
            };
            let loss = (text.forward(x).unwrap() * target.clone()).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &text);
            let lr = 1e-2 * (step + 1) as f64 / steps as f64;
            text = optim.step(lr, text, grads);
            if let Some(r) = &mut rows {
                r.stepped(lr, 0.05);
            }
        }
        if let Some(r) = &mut rows {
            r.expand(&mut text);
        }
        *model.encoders.slot_mut(Modality::Text) = Some(text);
        // Sorted by name (a BTreeMap).
        (model.to_tensors().0.into_iter())
            .filter(|(k, _)| k.contains(".text."))
            .map(|(k, v)| (k, v.data))
            .collect()
    }

    #[test]
    fn training_the_used_rows_gives_the_weights_of_the_whole_table() {
        // Captions of 32 ids: SOT, a few words from a small vocabulary, EOT, zero padding.
        let caption = |seed: usize| -> Vec<f32> {
            let words = 2 + seed % 5;
            let mut c = vec![49406.0];
            c.extend((0..words).map(|w| (300 + (seed * 7 + w * 13) % 40) as f32));
            c.push(49407.0);
            c.resize(32, 0.0);
            c
        };
        let captions: Vec<Vec<Vec<f32>>> = (0..3)
            .map(|b| (0..4).map(|i| caption(b * 4 + i)).collect())
            .collect();
        let whole = train(&captions, 6, false);
        let compact = train(&captions, 6, true);
        assert_eq!(whole.len(), compact.len());
        let table = |w: &[(String, Vec<f32>)]| {
            w.iter()
                .find(|(k, _)| k.ends_with("token_embedding.weight"))
                .expect("token table")
                .1
                .clone()
        };
        let untrained = &train(&captions, 0, false);
        // Used rows moved, unused ones only decayed: the comparison below covers both.
        let (t0, t1) = (table(untrained), table(&whole));
        let moved = |id: usize| t0[id * 64] != t1[id * 64];
        assert!(
            moved(300) && moved(49407) && moved(5),
            "rows did not change"
        );
        for ((ka, a), (kb, b)) in whole.iter().zip(&compact) {
            assert_eq!(ka, kb);
            assert_eq!(a.len(), b.len(), "{ka}: shapes differ");
            assert!(a == b, "{ka}: weights differ");
        }
    }
}
