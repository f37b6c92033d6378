//! The frozen anchor's embeddings, computed once per (anchor weights, inputs) and kept on
//! disk: binding a modality to a frozen vision encoder then costs only that modality's
//! encoder.

use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::features::Features;
use crate::cpu::CpuEncoder;
use crate::nn::Encoder;
use crate::weights::{TensorMap, host_values};
use crate::{Error, Result};

/// The identity of the vision encoder: the content hash of its tensors only, so training
/// another modality does not invalidate the cache but any change to vision does.
pub fn anchor_hash(tensors: &TensorMap) -> String {
    let vision = TensorMap(
        tensors
            .0
            .iter()
            .filter(|(k, _)| k.contains(".vision."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    vision.content_hash()
}

/// `[rows, out_dim]` unit vectors (vision embeddings are not scaled).
pub struct AnchorEmbeddings {
    pub dim: usize,
    pub data: Vec<f32>,
    /// Whether this call computed them (false: read from the cache).
    pub computed: bool,
}

impl AnchorEmbeddings {
    pub fn rows(&self, rows: &[usize]) -> Vec<f32> {
        rows.iter()
            .flat_map(|&r| self.data[r * self.dim..(r + 1) * self.dim].iter().copied())
            .collect()
    }
}

pub fn anchor_embeddings(
    dir: &Path,
    anchor_hash: &str,
    vision: &Features,
    encoder: &Encoder,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<AnchorEmbeddings> {
    let path = dir.join(format!("anchor-{}-{}.f32", &anchor_hash[..16], vision.key));
    let io = |e: std::io::Error| Error::Io {
        path: path.clone(),
        source: e,
    };
    if let Ok(bytes) = std::fs::read(&path) {
        let data: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if !vision.is_empty() && data.len().is_multiple_of(vision.len()) {
            return Ok(AnchorEmbeddings {
                dim: data.len() / vision.len(),
                data,
                computed: false,
            });
        }
    }
    let mut data = Vec::new();
    let rows: Vec<usize> = (0..vision.len()).collect();
    let mut dim = 0;
    // On the ndarray device, the CPU path (both cores, several times burn-ndarray's speed).
    let cpu = crate::cpu::serves(device).then(|| CpuEncoder::new(encoder));
    for chunk in rows.chunks(64) {
        let out = match &cpu {
            Some(enc) => {
                let raw = vision.host_batch(chunk);
                let (input, _) = crate::cpu::host_input(vision.modality, &raw)?;
                let out = enc.forward(&input, None)?;
                dim = enc.out_dim();
                out
            }
            None => {
                let out = encoder.forward(vision.batch(chunk, device)?)?;
                dim = out.dims()[1];
                host_values(out)
            }
        };
        data.extend(out);
        progress(data.len() / dim.max(1), rows.len());
    }
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    mmbind_schema::write_atomic(&path, &bytes).map_err(io)?;
    Ok(AnchorEmbeddings {
        dim,
        data,
        computed: true,
    })
}

/// The frozen embeddings of every training pair, on the device: the negatives of the
/// `X → vision` half of a frozen phase's loss (see [`super::bank_info_nce`]).
pub struct AnchorBank {
    pub embeddings: Tensor<2>,
    /// Dataset row → place in the bank.
    place: Vec<usize>,
}

impl AnchorBank {
    /// The bank of `rows` (dataset rows, each once), in that order.
    pub fn new(anchor: &AnchorEmbeddings, rows: &[usize], device: &Device) -> Self {
        let mut place = vec![usize::MAX; rows.iter().max().map_or(0, |m| m + 1)];
        for (k, &r) in rows.iter().enumerate() {
            place[r] = k;
        }
        let embeddings = Tensor::from_data(
            TensorData::new(anchor.rows(rows), [rows.len(), anchor.dim]),
            device,
        );
        Self { embeddings, place }
    }

    /// The bank places of a batch's rows (each must be one the bank was built from).
    pub fn targets(&self, batch: &[usize], device: &Device) -> Tensor<1, Int> {
        let ids: Vec<i64> = batch.iter().map(|&r| self.place[r] as i64).collect();
        Tensor::from_data(TensorData::new(ids, [batch.len()]), device)
    }
}
