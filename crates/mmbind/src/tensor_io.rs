//! Raw tensors in and out (`mmbind embed --tensors IN.safetensors --out OUT.safetensors`):
//! for interop with other pipelines and for parity checks against PyTorch.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};
use mmbind_modalities::Modality;
use safetensors::{Dtype, SafeTensors};

use crate::embed::Embedder;
use crate::model::Model;
use crate::nn::EncoderInput;
use crate::weights::{FloatDtype, HostTensor, TensorMap, floats_le, ints_le, write_safetensors};
use crate::{Error, Result};

/// One `<modality>.input` tensor read from a file.
#[derive(Debug, Clone)]
pub enum RawInput {
    Float { shape: Vec<usize>, data: Vec<f32> },
    Int { shape: Vec<usize>, data: Vec<i64> },
}

impl RawInput {
    pub fn shape(&self) -> &[usize] {
        match self {
            RawInput::Float { shape, .. } | RawInput::Int { shape, .. } => shape,
        }
    }

    /// The encoder input this tensor is, by rank and type (ImageBind's layouts, batch-first),
    /// on `device`: the one way host data becomes an encoder's input (files, raw tensors,
    /// training batches). `name` says whose input it is in an error.
    pub fn into_encoder_input(self, name: &str, device: &Device) -> Result<EncoderInput> {
        let bad = |reason: String| Error::Input {
            name: name.into(),
            reason,
        };
        Ok(match self {
            RawInput::Int { shape, data } if shape.len() == 2 => EncoderInput::Ids(
                Tensor::<2, Int>::from_data(TensorData::new(data, [shape[0], shape[1]]), device),
            ),
            RawInput::Int { shape, .. } => {
                return Err(bad(format!(
                    "integer input must be [batch, context], got {shape:?}"
                )));
            }
            RawInput::Float { shape, data } => {
                let d = TensorData::new(data, shape.clone());
                match shape.len() {
                    3 => EncoderInput::Series(Tensor::from_data(d, device)),
                    4 => EncoderInput::Image(Tensor::from_data(d, device)),
                    5 => EncoderInput::Clips(Tensor::from_data(d, device)),
                    _ => {
                        return Err(bad(format!(
                            "float input must have 3, 4 or 5 dimensions, got {shape:?}"
                        )));
                    }
                }
            }
        })
    }

    /// [`into_encoder_input`](Self::into_encoder_input) of a copy.
    pub fn to_encoder_input(&self, name: &str, device: &Device) -> Result<EncoderInput> {
        self.clone().into_encoder_input(name, device)
    }
}

/// Reads every `<modality>.input` tensor of a safetensors file. Other tensors are ignored,
/// so a file of inputs and reference outputs (like the parity fixtures) can be passed as is.
pub fn read_inputs(path: &Path) -> Result<BTreeMap<Modality, RawInput>> {
    let io = |e: String| Error::Input {
        name: path.display().to_string(),
        reason: e,
    };
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| io(format!("not a valid safetensors file ({e})")))?;
    let mut inputs = BTreeMap::new();
    for (name, view) in st.tensors() {
        let Some(m) = name.strip_suffix(".input") else {
            continue;
        };
        let m: Modality = m.parse().map_err(|e| io(format!("tensor '{name}': {e}")))?;
        let shape = view.shape().to_vec();
        let b = view.data();
        let raw = match view.dtype() {
            Dtype::F32 => RawInput::Float {
                shape,
                data: floats_le(b, FloatDtype::F32),
            },
            Dtype::I64 => RawInput::Int {
                shape,
                data: ints_le(b, true),
            },
            Dtype::I32 => RawInput::Int {
                shape,
                data: ints_le(b, false),
            },
            other => {
                return Err(io(format!(
                    "tensor '{name}' has dtype {other:?}; expected F32 (or I64/I32 token ids)"
                )));
            }
        };
        inputs.insert(m, raw);
    }
    if inputs.is_empty() {
        return Err(io(
            "no '<modality>.input' tensors (e.g. 'audio.input') in the file".into(),
        ));
    }
    Ok(inputs)
}

/// Embeds every input with its encoder: `<modality>.embedding` `[batch, out_dim]`.
pub fn embed_inputs(
    model: &Model,
    inputs: &BTreeMap<Modality, RawInput>,
    device: &Device,
) -> Result<TensorMap> {
    let embedder = Embedder::new(model, device);
    let mut out = TensorMap::default();
    for (m, raw) in inputs {
        let name = format!("{m}.input");
        if let (
            RawInput::Int { data, .. },
            Some(crate::config::StemConfig::Text { vocab_size, .. }),
        ) = (raw, model.config.encoder(*m).map(|c| &c.stem))
            && let Some(bad) = data.iter().find(|&&id| id < 0 || id >= *vocab_size as i64)
        {
            return Err(Error::Input {
                name,
                reason: format!("token id {bad} is outside the vocabulary (0..{vocab_size})"),
            });
        }
        let rows = embedder.embed_raw(*m, raw)?;
        let shape = vec![rows.len(), model.config.out_dim];
        out.insert(
            format!("{m}.embedding"),
            HostTensor::new(shape, rows.concat()),
        );
    }
    Ok(out)
}

/// Writes embeddings as safetensors.
pub fn write_embeddings(map: &TensorMap, path: &Path) -> Result<()> {
    write_safetensors(map, HashMap::new(), path)
}
