//! Files and text in, embeddings out: preprocessing in parallel, batching per modality.
//! Every command that embeds (embed, classify, index, query, train's caches) goes through
//! here.

use burn::tensor::Device;
use mmbind_modalities::{Modality, Prepared, Source};
use rayon::prelude::*;

use crate::cpu::{self, CpuModel};
use crate::model::Model;
use crate::nn::EncoderInput;
use crate::tensor_io::RawInput;
use crate::weights::host_values;
use crate::{Error, Result};

/// One thing to embed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Item {
    pub modality: Modality,
    pub source: Source,
}

impl Item {
    pub fn file(modality: Modality, path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            modality,
            source: Source::File(path.into()),
        }
    }

    pub fn text(text: impl Into<String>) -> Self {
        Self {
            modality: Modality::Text,
            source: Source::Text(text.into()),
        }
    }
}

/// Embeds items with a model, `batch_size` at a time.
pub struct Embedder<'a> {
    pub model: &'a Model,
    pub device: &'a Device,
    pub batch_size: usize,
    /// Pad every batch to `batch_size` (with copies of its last item) so that an input's
    /// vector does not depend on which inputs share its batch. wgpu's kernels are picked by
    /// shape, and a larger batch can take another reduction order (measured: 2 of 16 vision
    /// vectors differed in their last bits between a batch of 16 and batches of 8); with one
    /// shape, the shards of a list give the vectors of one run, bit for bit. The CPU path
    /// computes every row alike whatever the batch, and needs no padding.
    pub pad_batches: bool,
    /// The CPU inference path, when the device is the CPU (see [`crate::cpu`]).
    cpu: Option<CpuModel<'a>>,
}

impl<'a> Embedder<'a> {
    pub fn new(model: &'a Model, device: &'a Device) -> Self {
        Self {
            model,
            device,
            batch_size: 16,
            pad_batches: false,
            cpu: cpu::serves(device).then(|| CpuModel::new(model)),
        }
    }

    /// One batch of one modality through the model, `[batch][out_dim]`.
    pub fn embed_raw(&self, m: Modality, input: &RawInput) -> Result<Vec<Vec<f32>>> {
        let (flat, d) = match &self.cpu {
            Some(cpu) => (cpu.embed(m, input)?, self.model.config.out_dim),
            None => {
                let out = self
                    .model
                    .embed(m, input.to_encoder_input(m.name(), self.device)?)?;
                let [_, d] = out.dims();
                (host_values(out), d)
            }
        };
        Ok(flat.chunks(d.max(1)).map(<[f32]>::to_vec).collect())
    }

    /// One result per item, in order. A bad input fails alone; the rest are embedded.
    /// `progress` is told how many items are done after every batch.
    pub fn embed_all(
        &self,
        items: &[Item],
        progress: &mut dyn FnMut(usize),
    ) -> Vec<Result<Vec<f32>>> {
        let mut results: Vec<Option<Result<Vec<f32>>>> = (0..items.len()).map(|_| None).collect();
        let mut done = 0;
        for m in Modality::ALL {
            let indices: Vec<usize> = (0..items.len())
                .filter(|&i| items[i].modality == m)
                .collect();
            for chunk in indices.chunks(self.batch_size.max(1)) {
                let prepared: Vec<Result<Prepared>> = chunk
                    .par_iter()
                    .map(|&i| Ok(self.model.config.preprocess.prepare(m, &items[i].source)?))
                    .collect();
                let ok: Vec<(usize, Prepared)> = chunk
                    .iter()
                    .zip(prepared)
                    .filter_map(|(&i, p)| match p {
                        Ok(p) => Some((i, p)),
                        Err(e) => {
                            results[i] = Some(Err(e));
                            None
                        }
                    })
                    .collect();
                if !ok.is_empty() {
                    let (ids, mut batch): (Vec<usize>, Vec<Prepared>) = ok.into_iter().unzip();
                    if self.pad_batches && self.cpu.is_none() {
                        let last = batch.last().expect("not empty").clone();
                        batch.resize(self.batch_size.max(1), last);
                    }
                    match self.embed_prepared(m, &batch) {
                        Ok(rows) => ids.iter().zip(rows).for_each(|(&i, row)| {
                            results[i] = Some(finite(row, || items[i].source.label()));
                        }),
                        Err(e) => {
                            let reason = e.to_string();
                            for &i in &ids {
                                let name = items[i].source.label();
                                results[i] = Some(Err(Error::Input {
                                    name,
                                    reason: reason.clone(),
                                }));
                            }
                        }
                    }
                }
                done += chunk.len();
                progress(done);
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every item is handled"))
            .collect()
    }

    /// Embeds already-preprocessed items of one modality as one batch: `[n][out_dim]`.
    pub fn embed_prepared(&self, m: Modality, batch: &[Prepared]) -> Result<Vec<Vec<f32>>> {
        self.embed_raw(m, &stack_host(batch)?)
    }
}

/// An embedding with a NaN or an infinity is no embedding: every cosine with it is NaN, so
/// it would be a silent null in JSON and rank nowhere (or everywhere) in an index. It comes
/// from damaged weights or an input the model overflows on, and fails that input.
fn finite(row: Vec<f32>, name: impl FnOnce() -> String) -> Result<Vec<f32>> {
    if row.iter().all(|v| v.is_finite()) {
        return Ok(row);
    }
    Err(Error::Input {
        name: name(),
        reason: "the model gave a non-finite embedding (NaN or infinity); its weights may be \
                 damaged (check the model directory) or the input overflows it"
            .into(),
    })
}

/// Stacks same-shaped items into one batch tensor whose rank says what it is.
pub fn stack(batch: &[Prepared], device: &Device) -> Result<EncoderInput> {
    stack_host(batch)?.into_encoder_input("batch", device)
}

/// [`stack`] in host memory (what the CPU path takes without a copy through burn).
pub fn stack_host(batch: &[Prepared]) -> Result<RawInput> {
    let bad = |reason: String| Error::Input {
        name: "batch".into(),
        reason,
    };
    let first = batch.first().ok_or_else(|| bad("empty batch".into()))?;
    let item_shape = first.shape();
    if batch.iter().any(|p| p.shape() != item_shape) {
        return Err(bad("items of one batch must have the same shape".into()));
    }
    let n = batch.len();
    let mut shape = vec![n];
    shape.extend(&item_shape);
    Ok(match first {
        Prepared::Ids(_) => {
            let mut data = Vec::with_capacity(n * item_shape.iter().product::<usize>());
            for p in batch {
                if let Prepared::Ids(v) = p {
                    data.extend_from_slice(v);
                }
            }
            RawInput::Int { shape, data }
        }
        Prepared::Floats { .. } => {
            if !(3..=5).contains(&shape.len()) {
                return Err(bad(format!("unexpected item shape {item_shape:?}")));
            }
            let mut data = Vec::with_capacity(n * item_shape.iter().product::<usize>());
            for p in batch {
                if let Prepared::Floats { data: d, .. } = p {
                    data.extend_from_slice(d);
                }
            }
            RawInput::Float { shape, data }
        }
    })
}
