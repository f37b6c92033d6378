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
use crate::tensor_io::RawInput;
use crate::weights::host_values;
use crate::{Error, Result};

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
    /// The vocabulary ids that `captions` (token ids, as the feature cache stores them) use,
    /// ascending.
    pub fn used_ids<'a>(
        vocab: usize,
        captions: impl IntoIterator<Item = &'a [f32]>,
    ) -> Result<Vec<usize>> {
        let mut seen = vec![false; vocab];
        for caption in captions {
            for &id in caption {
                let slot = (id >= 0.0).then(|| seen.get_mut(id as usize)).flatten();
                *slot.ok_or_else(|| {
                    Error::Config(format!(
                        "token id {id} is outside the text encoder's vocabulary of {vocab}"
                    ))
                })? = true;
            }
        }
        Ok((0..vocab).filter(|&i| seen[i]).collect())
    }

    /// The size of `text`'s vocabulary; `None` when `text` is not a text encoder.
    pub fn vocab(text: &Encoder) -> Option<usize> {
        match &text.stem {
            Stem::Text(stem) => Some(stem.token_embedding.dims()[0]),
            _ => None,
        }
    }

    /// Swaps `text`'s token table for its rows `used` (ascending vocabulary ids, from
    /// [`TokenRows::used_ids`]). `text` must be a text encoder.
    pub fn compact(text: &mut Encoder, used: Vec<usize>) -> Self {
        let Stem::Text(stem) = &mut text.stem else {
            unreachable!("only a text encoder has a token table");
        };
        let [vocab, width] = stem.token_embedding.dims();
        let mut row_of = vec![-1i64; vocab];
        for (k, &id) in used.iter().enumerate() {
            row_of[id] = k as i64;
        }
        let table = host_values(stem.token_embedding.val());
        let device = stem.token_embedding.val().device();
        let index = Tensor::<1, Int>::from_data(
            TensorData::new(used.iter().map(|&i| i as i64).collect(), [used.len()]),
            &device,
        );
        stem.token_embedding =
            (stem.token_embedding.clone()).map(|t| t.select(0, index).detach().require_grad());
        Self {
            used,
            row_of,
            table,
            width,
            pending: Vec::new(),
        }
    }

    /// Rows `rows` of the text features as a batch of compact ids.
    pub fn batch(
        &self,
        features: &Features,
        rows: &[usize],
        device: &Device,
    ) -> Result<EncoderInput> {
        self.host_batch(features, rows)
            .into_encoder_input("text", device)
    }

    /// Rows `rows` of the text features as a batch of compact ids in host memory (the CPU
    /// path's input).
    pub fn host_batch(&self, features: &Features, rows: &[usize]) -> RawInput {
        let captions: Vec<&[f32]> = rows.iter().map(|&r| features.row(r)).collect();
        self.ids(&captions)
    }

    /// `captions` (of one length) as a batch of compact ids.
    fn ids(&self, captions: &[&[f32]]) -> RawInput {
        let (data, shape) = self.compact_ids(captions);
        RawInput::Int {
            shape: shape.to_vec(),
            data,
        }
    }

    /// Ascending ids map to ascending rows, so the end-of-text token (the largest id) stays
    /// the largest.
    fn compact_ids(&self, captions: &[&[f32]]) -> (Vec<i64>, [usize; 2]) {
        let ids: Vec<i64> = captions
            .iter()
            .flat_map(|c| c.iter().map(|&id| self.row_of[id as usize]))
            .collect();
        (ids, [captions.len(), captions[0].len()])
    }

    /// Records an AdamW step at learning rate `lr` with decoupled weight decay
    /// `weight_decay`, computed as burn's AdamW computes it (`1 − lr·λ` in f64, applied as
    /// an f32). Exact only for plain decoupled decay: burn's cautious decay would skip the
    /// unused rows' negative weights.
    pub fn record_step(&mut self, lr: f64, weight_decay: f32) {
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
        let rows = host_values(stem.token_embedding.val());
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

    type Weights = Vec<(String, Vec<f32>)>;

    /// The text encoder's weights, sorted by name.
    fn weights(model: &mut Model, text: Encoder) -> Weights {
        *model.encoders.slot_mut(Modality::Text) = Some(text);
        (model.to_tensors().0.into_iter())
            .filter(|(k, _)| k.contains(".text."))
            .map(|(k, v)| (k, v.data))
            .collect()
    }

    /// `steps` AdamW steps (as training takes them) on `captions[step % len]`, compacted or
    /// with the whole table; the text encoder's weights after `steps / 2` steps (written as
    /// an epoch is, from a copy) and at the end.
    fn train(captions: &[Vec<Vec<f32>>], steps: usize, compact: bool) -> [Weights; 2] {
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
        let mut rows = compact.then(|| {
            let vocab = TokenRows::vocab(&text).unwrap();
            let all = captions.iter().flatten().map(Vec::as_slice);
            TokenRows::compact(&mut text, TokenRows::used_ids(vocab, all).unwrap())
        });
        let mut half = None;
        for step in 0..steps {
            if step == steps / 2 {
                let mut copy = text.clone();
                if let Some(r) = &mut rows {
                    r.expand(&mut copy);
                }
                half = Some(weights(&mut model, copy));
            }
            let batch: Vec<&[f32]> = captions[step % captions.len()]
                .iter()
                .map(Vec::as_slice)
                .collect();
            let x = match &rows {
                Some(r) => r.ids(&batch).into_encoder_input("text", &ad).unwrap(),
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
                r.record_step(lr, 0.05);
            }
        }
        if let Some(r) = &mut rows {
            r.expand(&mut text);
        }
        [half.unwrap_or_default(), weights(&mut model, text)]
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
        let table = |w: &Weights| {
            w.iter()
                .find(|(k, _)| k.ends_with("token_embedding.weight"))
                .expect("token table")
                .1
                .clone()
        };
        let [_, untrained] = &train(&captions, 0, false);
        // Used rows moved, unused ones only decayed: the comparisons below cover both.
        let (t0, t1) = (table(untrained), table(&whole[1]));
        let moved = |id: usize| t0[id * 64] != t1[id * 64];
        assert!(
            moved(300) && moved(49407) && moved(5),
            "rows did not change"
        );
        // Halfway (an epoch written from a copy, training going on) and at the end.
        for (w, c) in whole.iter().zip(&compact) {
            assert_eq!(w.len(), c.len());
            assert!(w.len() > 10, "{} text tensors", w.len());
            for ((ka, a), (kb, b)) in w.iter().zip(c) {
                assert_eq!(ka, kb);
                assert_eq!(a.len(), b.len(), "{ka}: shapes differ");
                assert!(a == b, "{ka}: weights differ");
            }
        }
    }

    #[test]
    fn a_token_outside_the_vocabulary_is_refused() {
        let err = TokenRows::used_ids(100, [[1.0, 100.0].as_slice()]).unwrap_err();
        assert!(err.to_string().contains("token id 100 is outside"), "{err}");
        assert!(TokenRows::used_ids(100, [[-1.0].as_slice()]).is_err());
        assert_eq!(
            TokenRows::used_ids(100, [[7.0, 3.0, 7.0].as_slice()]).unwrap(),
            vec![3, 7]
        );
    }
}
