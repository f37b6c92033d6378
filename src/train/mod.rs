//! Training the binding: vision↔text first (both trainable, CLIP-style), then every other
//! modality bound to the frozen vision encoder (ImageBind), with symmetric InfoNCE.

mod anchor;
mod checkpoint;
mod features;
mod loss;

pub use anchor::{AnchorEmbeddings, anchor_embeddings, anchor_hash};
pub use checkpoint::{Checkpoint, TrainState};
pub use features::{Features, cache_dir};
pub use loss::{learning_rate, symmetric_info_nce};

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use mmbind_modalities::Modality;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::dataset::{Dataset, Split};
use crate::embed::Item;
use crate::model::Model;
use crate::nn::Encoder;
use crate::weights::{ModelDir, Provenance, TensorMap};
use crate::{Error, Result};

/// What to train and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Modalities to bind to vision, in order (text first trains vision too unless `init`).
    pub modalities: Vec<Modality>,
    /// Epochs per phase, unless `phase_epochs` names the phase's modality.
    pub epochs: usize,
    /// Per-modality overrides of `epochs` (the joint phase is text's).
    #[serde(default)]
    pub phase_epochs: Vec<(Modality, usize)>,
    /// Pairs per step, unless `phase_batch_size` names the phase's modality.
    pub batch_size: usize,
    /// Per-modality overrides of `batch_size`.
    #[serde(default)]
    pub phase_batch_size: Vec<(Modality, usize)>,
    /// Peak learning rate (AdamW), unless `phase_lr` names the phase's modality.
    pub lr: f64,
    /// Per-modality overrides of `lr`.
    #[serde(default)]
    pub phase_lr: Vec<(Modality, f64)>,
    pub weight_decay: f64,
    /// Fraction of each phase's steps spent warming up.
    pub warmup: f64,
    /// Gradient clipping by global norm.
    pub clip_norm: f32,
    pub seed: u64,
    /// A model directory to start from; its vision encoder stays frozen.
    pub init: Option<PathBuf>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            modalities: vec![
                Modality::Text,
                Modality::Audio,
                Modality::Depth,
                Modality::Thermal,
                Modality::Imu,
            ],
            epochs: 10,
            phase_epochs: Vec::new(),
            phase_lr: Vec::new(),
            batch_size: 64,
            phase_batch_size: Vec::new(),
            lr: 2e-3,
            weight_decay: 0.05,
            warmup: 0.1,
            clip_norm: 1.0,
            seed: 0,
            init: None,
        }
    }
}

impl TrainOptions {
    /// Epochs of the phase that binds `m`.
    pub fn epochs_for(&self, m: Modality) -> usize {
        for_phase(&self.phase_epochs, m, self.epochs)
    }

    /// Batch size of the phase that binds `m` (at least 2: contrastive pairs need negatives).
    pub fn batch_size_for(&self, m: Modality) -> usize {
        for_phase(&self.phase_batch_size, m, self.batch_size).max(2)
    }

    /// Peak learning rate of the phase that binds `m`.
    pub fn lr_for(&self, m: Modality) -> f64 {
        for_phase(&self.phase_lr, m, self.lr)
    }
}

/// The last override naming `m`, else `default`.
fn for_phase<T: Copy>(overrides: &[(Modality, T)], m: Modality, default: T) -> T {
    overrides
        .iter()
        .rev()
        .find(|(k, _)| *k == m)
        .map_or(default, |&(_, v)| v)
}

/// One stage of training: `modality` against vision; `joint` trains vision as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    pub modality: Modality,
    pub joint: bool,
}

impl Phase {
    pub fn name(&self) -> String {
        if self.joint {
            format!("vision+{}", self.modality)
        } else {
            format!("{}→vision", self.modality)
        }
    }
}

pub fn phases(opts: &TrainOptions) -> Vec<Phase> {
    let mut mods = opts.modalities.clone();
    mods.retain(|m| *m != Modality::Vision);
    mods.dedup();
    // Text first: with a vision encoder trained from scratch, the vision space is shaped by
    // text (CLIP-style) before anything is bound to it.
    mods.sort_by_key(|m| *m != Modality::Text);
    mods.into_iter()
        .map(|m| Phase {
            modality: m,
            joint: m == Modality::Text && opts.init.is_none(),
        })
        .collect()
}

/// One epoch's record in `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub phase: String,
    pub epoch: usize,
    pub steps: usize,
    pub loss: f64,
    pub lr: f64,
    pub samples_per_s: f64,
    pub seconds: f64,
    /// Mean time per step spent gathering batches, in the forward pass and in the backward
    /// pass + optimizer step (milliseconds).
    pub load_ms: f64,
    pub forward_ms: f64,
    pub backward_ms: f64,
}

/// What the caller sees while training runs.
pub trait Observer {
    fn message(&mut self, _text: &str) {}
    /// Preprocessing or anchor embedding progress.
    fn preparing(&mut self, _what: &str, _done: usize, _total: usize) {}
    fn phase_started(&mut self, _phase: &Phase, _steps: usize) {}
    fn step(&mut self, _step: usize, _loss: f64, _samples_per_s: f64) {}
    fn epoch_finished(&mut self, _m: &EpochMetrics) {}
    /// Checked after every step: stop cleanly (the last checkpoint stays).
    fn interrupted(&self) -> bool {
        false
    }
}

/// The result of [`train`].
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub steps: usize,
    pub interrupted: bool,
    pub content_hash: String,
}

/// Trains into `model_dir`. With `resume`, continues exactly from the last checkpoint
/// there. `device` is a plain (non-autodiff) device; gradients run on its autodiff twin.
pub fn train(
    data: &Path,
    model_dir: &Path,
    config: ModelConfig,
    opts: &TrainOptions,
    resume: bool,
    device: &Device,
    obs: &mut dyn Observer,
) -> Result<TrainSummary> {
    let dataset = Dataset::open(data)?;
    let ckpt = Checkpoint::new(model_dir);
    let (config, opts, mut state, mut tensors) = if resume {
        let (state, tensors) = ckpt.load()?;
        obs.message(&format!(
            "resuming {} at epoch {} of phase {}",
            model_dir.display(),
            state.epochs_done + 1,
            state.phase + 1
        ));
        (state.config.clone(), state.options.clone(), state, tensors)
    } else {
        if ckpt.exists() {
            return Err(Error::ModelDir {
                path: model_dir.to_path_buf(),
                reason: "already holds a training run; pass --resume to continue it or choose another directory".into(),
            });
        }
        let tensors = initial_tensors(&config, opts, device)?;
        let state = TrainState {
            config: config.clone(),
            options: opts.clone(),
            phase: 0,
            epochs_done: 0,
            step: 0,
        };
        (config, opts.clone(), state, tensors)
    };
    config.validate().map_err(Error::Config)?;
    let cache = cache_dir(model_dir);
    let all_phases = phases(&opts);
    let ad = device.clone().autodiff();
    let mut steps_run = 0;

    while state.phase < all_phases.len() {
        let phase = all_phases[state.phase];
        let rows = dataset.pairs(Split::Train, Modality::Vision, phase.modality);
        if rows.len() < 2 {
            obs.message(&format!(
                "skipping {}: fewer than two training pairs",
                phase.name()
            ));
            state.phase += 1;
            state.epochs_done = 0;
            continue;
        }
        let items = |m: Modality| -> Vec<Item> {
            rows.iter()
                .map(|r| r.item(m).expect("pairs have both views"))
                .collect()
        };
        let mut note = |e: &str| obs.message(&format!("skipped {e}"));
        let vision = Features::build_or_open(
            &cache,
            Modality::Vision,
            &items(Modality::Vision),
            &config.preprocess,
            &mut |_, _| {},
            &mut note,
        )?;
        let other = Features::build_or_open(
            &cache,
            phase.modality,
            &items(phase.modality),
            &config.preprocess,
            &mut |_, _| {},
            &mut note,
        )?;
        let usable: Vec<usize> = (0..rows.len())
            .filter(|&i| vision.ok[i] && other.ok[i])
            .collect();

        let mut model = Model::from_tensors(config.clone(), &tensors, &ad)?;
        let anchor = if phase.joint {
            None
        } else {
            let inference = Model::from_tensors(config.clone(), &tensors, device)?;
            let hash = anchor_hash(&tensors);
            Some(anchor_embeddings(
                &cache,
                &hash,
                &vision,
                inference.encoder(Modality::Vision)?,
                device,
                &mut |d, t| obs.preparing("vision anchor embeddings", d, t),
            )?)
        };
        let batch_size = opts.batch_size_for(phase.modality);
        let peak_lr = opts.lr_for(phase.modality);
        let steps_per_epoch =
            usable.len() / batch_size + usize::from(usable.len() % batch_size >= 2);
        let epochs = opts.epochs_for(phase.modality);
        let total = steps_per_epoch * epochs;
        let warmup = ((total as f64) * opts.warmup).ceil() as usize;
        obs.phase_started(&phase, total);

        let mut optim = AdamWConfig::new()
            .with_weight_decay(opts.weight_decay as f32)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(opts.clip_norm)))
            .init();
        if state.epochs_done > 0 {
            optim = optim
                .load(ckpt.optimizer_path()?)
                .map_err(|e| Error::ModelDir {
                    path: model_dir.to_path_buf(),
                    reason: format!("cannot read the optimizer state: {e}"),
                })?;
        }
        let mut trainable = take_trainable(&mut model, phase)?;

        while state.epochs_done < epochs {
            let epoch = state.epochs_done;
            let mut order = usable.clone();
            let mut rng = rand::rngs::StdRng::seed_from_u64(
                opts.seed ^ ((state.phase as u64) << 32) ^ epoch as u64,
            );
            order.shuffle(&mut rng);
            let start = Instant::now();
            let (mut loss_sum, mut n_steps, mut lr) = (0.0, 0usize, 0.0);
            let (mut t_load, mut t_fwd, mut t_bwd) = (0.0, 0.0, 0.0);
            for (b, batch) in order.chunks(batch_size).enumerate() {
                if batch.len() < 2 {
                    continue;
                }
                let global = epoch * steps_per_epoch + b;
                lr = learning_rate(global, total, warmup, peak_lr);
                let t0 = Instant::now();
                let x = other.batch(batch, &ad);
                let v_input = if phase.joint {
                    Some(vision.batch(batch, &ad))
                } else {
                    None
                };
                let t1 = Instant::now();
                let logits = match (&trainable, &anchor) {
                    (
                        Trainable::Joint {
                            vision: venc,
                            other: enc,
                        },
                        _,
                    ) => {
                        let v = venc.forward(v_input.expect("joint phase has vision input"))?;
                        v.matmul(enc.forward(x)?.transpose())
                    }
                    (Trainable::Single(enc), Some(anchor)) => {
                        let v = Tensor::<2>::from_data(
                            TensorData::new(anchor.rows(batch), [batch.len(), anchor.dim]),
                            &ad,
                        );
                        enc.forward(x)?.matmul(v.transpose())
                    }
                    (Trainable::Single(_), None) => {
                        unreachable!("a single-encoder phase has an anchor")
                    }
                };
                let loss = symmetric_info_nce(logits);
                let t2 = Instant::now();
                let loss_value = loss
                    .clone()
                    .into_data()
                    .convert::<f64>()
                    .try_into_vec::<f64>()
                    .expect("scalar")[0];
                let grads = loss.backward();
                trainable = match trainable {
                    Trainable::Joint {
                        vision: v,
                        other: o,
                    } => {
                        let pair = JointPair {
                            vision: v,
                            other: o,
                        };
                        let g = GradientsParams::from_grads(grads, &pair);
                        let pair = optim.step(lr, pair, g);
                        Trainable::Joint {
                            vision: pair.vision,
                            other: pair.other,
                        }
                    }
                    Trainable::Single(enc) => {
                        let g = GradientsParams::from_grads(grads, &enc);
                        Trainable::Single(optim.step(lr, enc, g))
                    }
                };
                let t3 = Instant::now();
                t_load += (t1 - t0).as_secs_f64();
                t_fwd += (t2 - t1).as_secs_f64();
                t_bwd += (t3 - t2).as_secs_f64();
                loss_sum += loss_value;
                n_steps += 1;
                steps_run += 1;
                state.step += 1;
                let seen = (b + 1) * batch_size;
                obs.step(
                    global + 1,
                    loss_value,
                    seen as f64 / start.elapsed().as_secs_f64(),
                );
                if obs.interrupted() {
                    return Ok(TrainSummary {
                        steps: steps_run,
                        interrupted: true,
                        content_hash: String::new(),
                    });
                }
            }
            let seconds = start.elapsed().as_secs_f64();
            let per = |t: f64| 1e3 * t / n_steps.max(1) as f64;
            let metrics = EpochMetrics {
                phase: phase.name(),
                epoch: epoch + 1,
                steps: n_steps,
                loss: loss_sum / n_steps.max(1) as f64,
                lr,
                samples_per_s: usable.len() as f64 / seconds,
                seconds,
                load_ms: per(t_load),
                forward_ms: per(t_fwd),
                backward_ms: per(t_bwd),
            };
            state.epochs_done += 1;
            put_back(&mut model, phase, &trainable);
            tensors = model.to_tensors();
            if state.epochs_done == epochs {
                state.phase += 1;
                state.epochs_done = 0;
            }
            ckpt.save(
                &state,
                &tensors,
                (state.epochs_done > 0).then_some(&optim),
                &metrics,
            )?;
            obs.epoch_finished(&metrics);
            if state.epochs_done == 0 {
                break;
            }
        }
    }
    let provenance = Provenance {
        source: "train".into(),
        checkpoint: None,
        checkpoint_format: None,
        imagebind_kwargs: None,
    };
    let manifest = ModelDir::new(model_dir).write(&config, &tensors, provenance)?;
    Ok(TrainSummary {
        steps: steps_run,
        interrupted: false,
        content_hash: manifest.content_hash,
    })
}

/// The weights training starts from: a fresh model, with an `--init` model's encoders
/// copied over where the configurations agree.
fn initial_tensors(
    config: &ModelConfig,
    opts: &TrainOptions,
    device: &Device,
) -> Result<TensorMap> {
    let fresh = Model::random(config.clone(), opts.seed, device)?.to_tensors();
    let Some(init) = &opts.init else {
        return Ok(fresh);
    };
    let dir = ModelDir::new(init);
    let manifest = dir.manifest()?;
    let init_tensors = dir.tensors()?;
    let mut out = fresh;
    for m in Modality::ALL {
        if config.encoder(m).is_some() && config.encoder(m) == manifest.config.encoder(m) {
            let tag = format!(".{m}.");
            for (k, v) in init_tensors.0.iter().filter(|(k, _)| k.contains(&tag)) {
                out.insert(k.clone(), v.clone());
            }
        } else if m == Modality::Vision {
            return Err(Error::Config(format!(
                "--init {}: its vision encoder differs from the configuration being trained; train with the same preset",
                init.display()
            )));
        }
    }
    Ok(out)
}

/// The encoders a phase updates.
enum Trainable {
    Joint { vision: Encoder, other: Encoder },
    Single(Encoder),
}

/// Vision and text as one module, so one optimizer updates both.
#[derive(Module, Debug)]
struct JointPair {
    vision: Encoder,
    other: Encoder,
}

fn take_trainable(model: &mut Model, phase: Phase) -> Result<Trainable> {
    let other = model
        .encoders
        .slot_mut(phase.modality)
        .take()
        .ok_or(Error::NoEncoder(phase.modality))?;
    if phase.joint {
        let vision = model
            .encoders
            .slot_mut(Modality::Vision)
            .take()
            .ok_or(Error::NoEncoder(Modality::Vision))?;
        Ok(Trainable::Joint { vision, other })
    } else {
        Ok(Trainable::Single(other))
    }
}

fn put_back(model: &mut Model, phase: Phase, t: &Trainable) {
    match t {
        Trainable::Joint { vision, other } => {
            *model.encoders.slot_mut(Modality::Vision) = Some(vision.clone());
            *model.encoders.slot_mut(phase.modality) = Some(other.clone());
        }
        Trainable::Single(enc) => *model.encoders.slot_mut(phase.modality) = Some(enc.clone()),
    }
}
