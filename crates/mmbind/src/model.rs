//! The whole model: one [`Encoder`] per modality the configuration names.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use mmbind_modalities::Modality;

use crate::config::ModelConfig;
use crate::nn::{Encoder, EncoderInput, EncoderTrace};
use crate::weights::{TensorMap, WeightLoader, WeightSink};
use crate::{Error, Result};

/// One encoder slot per modality (filled for those the configuration has), as one burn
/// module. An array indexed by [`Modality::index`] rather than named fields, so the list of
/// modalities lives only in the schema (burn's `Module` cannot be derived for the schema's
/// `PerModality`, a foreign type).
#[derive(Module, Debug)]
pub struct Encoders {
    slots: [Option<Encoder>; Modality::COUNT],
}

impl Encoders {
    pub fn get(&self, m: Modality) -> Option<&Encoder> {
        self.slots[m.index()].as_ref()
    }

    /// The slot of `m`'s encoder, to take it out (e.g. to train it alone) and put it back.
    pub fn slot_mut(&mut self, m: Modality) -> &mut Option<Encoder> {
        &mut self.slots[m.index()]
    }
}

/// A configured model with its weights on a device.
#[derive(Debug)]
pub struct Model {
    pub config: ModelConfig,
    pub encoders: Encoders,
}

impl Model {
    /// Builds the model from ImageBind-named tensors, checking every key and shape and
    /// refusing tensors the configuration does not use.
    pub fn from_tensors(config: ModelConfig, tensors: &TensorMap, device: &Device) -> Result<Self> {
        Self::build(config, WeightLoader::new(tensors, device))
    }

    /// A freshly initialised model (ImageBind's initialisation, seeded).
    pub fn random(config: ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        Self::build(config, WeightLoader::random(seed, device))
    }

    fn build(config: ModelConfig, w: WeightLoader) -> Result<Self> {
        config.validate().map_err(Error::Config)?;
        let load = |m: Modality| -> Result<Option<Encoder>> {
            config
                .encoder(m)
                .map(|cfg| Encoder::load(&w, m, cfg, config.out_dim))
                .transpose()
        };
        let mut slots = Modality::ALL.map(|_| None);
        for m in Modality::ALL {
            slots[m.index()] = load(m)?;
        }
        let encoders = Encoders { slots };
        w.finish()?;
        Ok(Self { config, encoders })
    }

    /// The weights under ImageBind's key names (what `weights.safetensors` holds).
    pub fn to_tensors(&self) -> TensorMap {
        self.tensors_of(&Modality::ALL)
    }

    /// The ImageBind-named tensors of the encoders of `modalities` (those the model has).
    pub fn tensors_of(&self, modalities: &[Modality]) -> TensorMap {
        let sink = WeightSink::default();
        for &m in modalities {
            if let Some(enc) = self.encoders.get(m) {
                enc.save(&sink, m);
            }
        }
        sink.into_map()
    }

    pub fn modalities(&self) -> Vec<Modality> {
        self.config.modalities()
    }

    pub fn encoder(&self, m: Modality) -> Result<&Encoder> {
        self.encoders.get(m).ok_or(Error::NoEncoder(m))
    }

    /// Embeds a batch of modality `m`: `[batch, out_dim]`.
    pub fn embed(&self, m: Modality, input: EncoderInput) -> Result<Tensor<2>> {
        self.check_input(m, &input)?;
        self.encoder(m)?.forward(input)
    }

    /// Embeds a batch keeping every intermediate.
    pub fn embed_trace(&self, m: Modality, input: EncoderInput) -> Result<EncoderTrace> {
        self.check_input(m, &input)?;
        self.encoder(m)?.forward_trace(input)
    }

    /// The per-item input shape modality `m` takes (without batch, and without the clip
    /// axis that audio adds).
    pub fn input_shape(&self, m: Modality) -> Result<Vec<usize>> {
        let cfg = self.config.encoder(m).ok_or(Error::NoEncoder(m))?;
        Ok(cfg.stem.item_shape())
    }

    /// Checks an input against the configured geometry so a wrong tensor is an error
    /// naming both shapes, not a panic deep inside a convolution.
    pub(crate) fn check_input(&self, m: Modality, input: &EncoderInput) -> Result<()> {
        let dims = match input {
            EncoderInput::Ids(t) => t.dims().to_vec(),
            EncoderInput::Series(t) => t.dims().to_vec(),
            EncoderInput::Image(t) => t.dims().to_vec(),
            EncoderInput::Clips(t) => t.dims().to_vec(),
        };
        self.check_shape(m, &dims)
    }

    /// [`Self::check_input`] for a batch's whole shape; rank 5 is `[batch, clips, ...]`.
    pub(crate) fn check_shape(&self, m: Modality, dims: &[usize]) -> Result<()> {
        let want = self.input_shape(m)?;
        let clips = dims.len() == 5;
        let (batch, got) = match dims {
            [b, c, rest @ ..] if clips => (b * c, rest.to_vec()),
            [b, rest @ ..] => (*b, rest.to_vec()),
            [] => (0, vec![]),
        };
        if got != want || batch == 0 {
            return Err(Error::Input {
                name: format!("{m} input"),
                reason: format!(
                    "expected [batch{}, {}], got shape {got:?} per item (batch {batch})",
                    if clips { ", clips" } else { "" },
                    want.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        Ok(())
    }
}
