//! Building modules from named tensors and back, with the checkpoint's key names coming
//! from the module tree itself (`w.pp("blocks").pp(i)`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Display;
use std::rc::Rc;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};

use super::{HostTensor, TensorMap, host_values};
use crate::{Error, Result};

/// A read-only view of a [`TensorMap`] under a key prefix, recording which keys were taken
/// so that [`WeightLoader::finish`] can refuse weights the model never used.
#[derive(Clone)]
pub struct WeightLoader<'a> {
    source: Source<'a>,
    used: Rc<RefCell<BTreeSet<String>>>,
    prefix: String,
    device: &'a Device,
}

impl<'a> WeightLoader<'a> {
    pub fn new(map: &'a TensorMap, device: &'a Device) -> Self {
        Self {
            source: Source::Map(map),
            used: Rc::default(),
            prefix: String::new(),
            device,
        }
    }

    /// A loader that invents every tensor it is asked for (see [`init_tensor`]): a freshly
    /// initialised model for training from scratch, or for benchmarks.
    pub fn random(seed: u64, device: &'a Device) -> Self {
        Self {
            source: Source::Random(seed),
            used: Rc::default(),
            prefix: String::new(),
            device,
        }
    }

    /// The view one level down: `pp("blocks").pp(3)` reads `…blocks.3.*`.
    pub fn pp(&self, name: impl Display) -> Self {
        let prefix = join_key(&self.prefix, name);
        Self {
            prefix,
            ..self.clone()
        }
    }

    pub fn device(&self) -> &'a Device {
        self.device
    }

    fn key(&self, name: &str) -> String {
        join_key(&self.prefix, name)
    }

    /// Whether the weights hold `name` under this prefix (for optional parts such as biases).
    pub fn contains(&self, name: &str) -> bool {
        match self.source {
            Source::Map(map) => map.get(&self.key(name)).is_some(),
            Source::Random(_) => true,
        }
    }

    /// Whether tensors are being invented rather than read.
    pub fn is_random(&self) -> bool {
        matches!(self.source, Source::Random(_))
    }

    /// The raw tensor `name`, checked against `expected` (its shape in the checkpoint).
    pub fn host(&self, name: &str, expected: &[usize]) -> Result<Cow<'a, HostTensor>> {
        let key = self.key(name);
        let map = match self.source {
            Source::Map(map) => map,
            Source::Random(seed) => return Ok(Cow::Owned(init_tensor(&key, expected, seed))),
        };
        let t = map.get(&key).ok_or_else(|| Error::MissingWeight {
            key: key.clone(),
            expected: expected.to_vec(),
        })?;
        if t.shape != expected {
            return Err(Error::ShapeMismatch {
                key,
                found: t.shape.clone(),
                expected: expected.to_vec(),
            });
        }
        self.used.borrow_mut().insert(key);
        Ok(Cow::Borrowed(t))
    }

    /// Tensor `name` of shape `shape` on the loader's device.
    pub fn tensor<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<Tensor<D>> {
        let t = self.host(name, &shape)?.into_owned();
        Ok(Tensor::from_data(
            TensorData::new(t.data, shape),
            self.device,
        ))
    }

    /// Tensor `name` as a trainable parameter.
    pub fn param<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<Param<Tensor<D>>> {
        Ok(self.named_param(name, self.tensor(name, shape)?))
    }

    /// `value` as the parameter stored under `name`. Its id is derived from the full key, so
    /// a model rebuilt from the same weights has the same parameter ids — which is what lets
    /// a saved optimizer state find its parameters again when training resumes.
    pub fn named_param<const D: usize>(&self, name: &str, value: Tensor<D>) -> Param<Tensor<D>> {
        let mut p = Param::from_tensor(value);
        p.id = burn::module::ParamId::from(fnv1a(&self.key(name)));
        p
    }

    /// Fails naming every key nobody took: a checkpoint for another configuration, or a
    /// module this version does not know, must not load silently.
    pub fn finish(self) -> Result<()> {
        let Source::Map(map) = self.source else {
            return Ok(());
        };
        let used = self.used.borrow();
        let unused: Vec<&String> = map.0.keys().filter(|k| !used.contains(*k)).collect();
        if unused.is_empty() {
            return Ok(());
        }
        let mut keys = unused
            .iter()
            .take(8)
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if unused.len() > 8 {
            keys.push_str(", …");
        }
        Err(Error::UnusedWeights {
            count: unused.len(),
            keys,
        })
    }
}

#[derive(Clone, Copy)]
enum Source<'a> {
    Map(&'a TensorMap),
    Random(u64),
}

/// The initialisation of a fresh model, decided by the key: LayerNorm weights 1 and biases 0
/// (1-D `weight`/`bias`), the text mask causal, embeddings (token, position, CLS,
/// `bias_k`/`bias_v`) N(0, 0.02²) as ImageBind, and linear/conv weights N(0, 1/fan_in).
///
/// ImageBind draws every weight from N(0, 0.02²), which suits its widths (1/√1024 ≈ 0.03)
/// but at the tiny preset's width 64 shrinks each projection's output ~6×: the attention
/// paths then add almost nothing to the residual stream, every input pools to the same
/// vector (mean pairwise cosine 1.0000 at init), and contrastive training sits at ln(batch)
/// for hundreds of steps before it moves (a fixed batch of 32 random image/text pairs:
/// loss 3.46 = ln 32 after 10 AdamW steps at lr 1e-3, 0.68 after 55). With 1/fan_in the
/// same batch is at 0.04 after 10 steps. Each key has its own stream, seeded from the key and `seed`, so
/// adding a modality does not change the others.
pub fn init_tensor(key: &str, shape: &[usize], seed: u64) -> HostTensor {
    use rand::{RngExt, SeedableRng};
    let n: usize = shape.iter().product();
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let data = if shape.len() == 1 && leaf == "weight" {
        vec![1.0; n]
    } else if shape.len() == 1 && leaf.ends_with("bias") {
        vec![0.0; n]
    } else if leaf == "mask" && shape.len() == 2 {
        let s = shape[0];
        (0..s)
            .flat_map(|i| (0..s).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect()
    } else {
        let projection = leaf.ends_with("weight") && !key.contains("token_embedding");
        let std = if projection {
            (1.0 / shape[1..].iter().product::<usize>() as f64).sqrt() as f32
        } else {
            0.02
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ fnv1a(key));
        (0..n)
            .map(|_| std * rng.sample::<f32, _>(rand_distr::StandardNormal))
            .collect()
    };
    HostTensor::new(shape.to_vec(), data)
}

/// `prefix.name`, or `name` at the root.
fn join_key(prefix: &str, name: impl Display) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// FNV-1a: a stable 64-bit hash of a key (std's hasher is randomly seeded per process).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The writing side of [`WeightLoader`]: modules put their tensors under the same names.
#[derive(Clone, Default)]
pub struct WeightSink {
    map: Rc<RefCell<TensorMap>>,
    prefix: String,
}

impl WeightSink {
    pub fn pp(&self, name: impl Display) -> Self {
        let prefix = join_key(&self.prefix, name);
        Self {
            prefix,
            map: self.map.clone(),
        }
    }

    fn key(&self, name: &str) -> String {
        join_key(&self.prefix, name)
    }

    /// Stores `t` under `name` with its own shape.
    pub fn put<const D: usize>(&self, name: &str, t: &Tensor<D>) {
        let shape = t.dims().to_vec();
        self.put_shaped(name, t, shape);
    }

    /// Stores `t` under `name` with another shape of the same size (a 0-dim scale, say).
    pub fn put_shaped<const D: usize>(&self, name: &str, t: &Tensor<D>, shape: Vec<usize>) {
        self.put_host(name, HostTensor::new(shape, host_values(t.clone())));
    }

    pub fn put_host(&self, name: &str, t: HostTensor) {
        self.map.borrow_mut().insert(self.key(name), t);
    }

    pub fn into_map(self) -> TensorMap {
        Rc::try_unwrap(self.map)
            .map(RefCell::into_inner)
            .unwrap_or_else(|rc| rc.borrow().clone())
    }
}
