//! Running the phases. The joint vision+text phase goes first and alone: it shapes the space
//! every other modality binds to (with `jobs` ≥ 2, its two encoders run on two threads; see
//! `joint`). The frozen phases only read that space, so they run side by side, `jobs` at a
//! time: one phase's steps are small tensors that keep about one core busy. Each phase is
//! seeded by its own index and starts from the same frozen vision encoder, so the weights do
//! not depend on `jobs` or on which phase finishes an epoch first.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use mmbind_modalities::Modality;
use rand::SeedableRng;
use rand::seq::SliceRandom;

mod phase;
mod start;

pub use start::Training;

use super::cpu_step::{CpuPass, embedding_leaf};
use super::joint::{JointExtras, joint_step, joint_step_cpu};
use super::token_rows::TokenRows;
use super::{
    AnchorBank, AnchorEmbeddings, Checkpoint, ContentSets, EpochMetrics, Features, Negatives,
    Observer, Phase, Sets, Targets, TrainOptions, TrainState, anchor_embeddings, anchor_hash,
    bank_info_nce, learning_rate, symmetric_info_nce,
};
use crate::config::ModelConfig;
use crate::dataset::{Dataset, Split};
use crate::embed::Item;
use crate::model::Model;
use crate::nn::{Drops, Encoder};
use crate::weights::{TensorMap, host_values};
use crate::{Error, Result};

/// One training run: what every phase reads, and what they share.
struct Run<'o> {
    dataset: Dataset,
    ckpt: Checkpoint,
    config: ModelConfig,
    opts: TrainOptions,
    cache: PathBuf,
    phases: Vec<Phase>,
    /// Epochs of each phase.
    epochs: Vec<usize>,
    device: Device,
    ad: Device,
    /// Whether the phases train on the CPU path (`cpu_step`): on the ndarray device.
    cpu: bool,
    shared: Mutex<Shared>,
    obs: Mutex<&'o mut dyn Observer>,
    /// Set when the observer asks to stop or a phase fails: every phase stops after its step.
    stop: AtomicBool,
    steps_run: AtomicUsize,
    /// Threads to train on: frozen phases side by side, or vision and text of the joint one.
    jobs: usize,
}

/// A batch of one side of a step: on the device for burn, or in host memory for the CPU
/// path.
enum StepInput {
    Burn(crate::nn::EncoderInput),
    Host(crate::tensor_io::RawInput),
}

/// The state of the last checkpoint: every phase's finished epochs and the weights as of them.
struct Shared {
    state: TrainState,
    tensors: TensorMap,
}

/// A phase's cached inputs, built before it runs.
struct PhaseInputs {
    vision: Features,
    other: Features,
    /// Rows where both views could be read.
    usable: Vec<usize>,
    /// The frozen vision embeddings (none for the joint phase).
    anchor: Option<AnchorEmbeddings>,
    /// Each pair's content, for graded targets (joint phase with `Targets::Graded` only).
    sets: Option<ContentSets>,
}

/// The rayon pool a lane of training runs in. burn-ndarray splits each tensor op over the
/// current rayon pool; called from a thread outside any pool, every op is handed to a worker
/// while the caller waits, two context switches per op (about a fifth of a depth step's time in
/// `perf`). Inside its own pool, a lane's ops stay on its threads. The `jobs` threads are shared
/// out: all of them to the joint phase (vision and text on two, their ops spread over the
/// rest), an equal share to each frozen lane (one each on two cores). Measured on 2 cores:
/// vision+text 1.3× and frozen phases two at a time 1.15–1.28× faster than on the global pool.
fn lane_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("mmbind-train-{i}"))
        .build()
        .map_err(|e| Error::Backend(format!("cannot start training threads: {e}")))
}

/// Stops the other phases when one panics (its panic is re-raised when its thread is joined,
/// which would otherwise wait for them to finish).
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// A poisoned lock means another phase panicked; its panic is re-raised when it is joined.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Run<'_> {
    fn all(&self) -> Result<()> {
        let pending: Vec<usize> = {
            let shared = lock(&self.shared);
            (0..self.phases.len())
                .filter(|&i| shared.state.progress[i] < self.epochs[i])
                .collect()
        };
        let (joint, frozen): (Vec<usize>, Vec<usize>) =
            pending.into_iter().partition(|&i| self.phases[i].joint);
        for i in joint {
            if let Some(inputs) = self.prepare(i)? {
                lane_pool(self.jobs)?.install(|| self.phase(i, inputs))?;
            }
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
        }
        // Inputs are prepared one phase at a time: phases may share cache files (the vision
        // features and anchor embeddings of the same images).
        let mut lanes = Vec::new();
        for i in frozen {
            if let Some(inputs) = self.prepare(i)? {
                lanes.push((i, inputs));
            }
        }
        let workers = self.jobs.clamp(1, lanes.len().max(1));
        let threads_per_lane = (self.jobs / workers).max(1);
        let queue = Mutex::new(lanes.into_iter());
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| s.spawn(|| lane_pool(threads_per_lane)?.install(|| self.lane(&queue))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect::<Result<Vec<()>>>()
        })?;
        Ok(())
    }

    /// Runs queued phases one after another until the queue is empty or training stops.
    fn lane(&self, queue: &Mutex<impl Iterator<Item = (usize, PhaseInputs)>>) -> Result<()> {
        let _stop_on_panic = StopOnPanic(&self.stop);
        loop {
            let next = lock(queue).next();
            let Some((i, inputs)) = next else {
                return Ok(());
            };
            if let Err(e) = self.phase(i, inputs) {
                self.stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
        }
    }

    /// Marks phase `i` done without training it, and says why.
    fn skip(&self, obs: &mut dyn Observer, i: usize, why: &str) -> Option<PhaseInputs> {
        obs.message(&format!("skipping {}: {why}", self.phases[i].name()));
        lock(&self.shared).state.skip(i, &self.epochs);
        None
    }

    /// Builds (or opens) phase `i`'s cached inputs; `None` if it has nothing to train on.
    fn prepare(&self, i: usize) -> Result<Option<PhaseInputs>> {
        let phase = self.phases[i];
        let rows = self
            .dataset
            .pairs(Split::Train, Modality::Vision, phase.modality);
        let mut obs = lock(&self.obs);
        if rows.len() < 2 {
            return Ok(self.skip(&mut **obs, i, "fewer than two training pairs"));
        }
        let items = |m: Modality| -> Vec<Item> {
            rows.iter()
                .map(|r| r.item(m).expect("pairs have both views"))
                .collect()
        };
        let mut features = |m: Modality| {
            Features::build_or_open(
                &self.cache,
                m,
                &items(m),
                &self.config.preprocess,
                &mut |_, _| {},
                &mut |e: &str| obs.message(&format!("skipped {e}")),
            )
        };
        let vision = features(Modality::Vision)?;
        let other = features(phase.modality)?;
        let usable: Vec<usize> = (0..rows.len())
            .filter(|&r| vision.ok[r] && other.ok[r])
            .collect();
        if usable.len() < 2 {
            // An epoch would take no step, and its checkpoint would overwrite the last one.
            return Ok(self.skip(&mut **obs, i, "fewer than two training pairs could be read"));
        }
        let sets = if phase.joint && self.opts.targets == Targets::Graded {
            let sets = ContentSets::of(&rows, self.opts.graded_sets).map_err(Error::Config)?;
            obs.message(&format!(
                "{}: graded targets from the {}",
                phase.name(),
                match sets.source {
                    Sets::Concepts => "rows' concepts",
                    _ => "captions' content words",
                }
            ));
            Some(sets)
        } else {
            None
        };
        let anchor = if phase.joint {
            None
        } else {
            let tensors = lock(&self.shared).tensors.clone();
            let inference = Model::from_tensors(self.config.clone(), &tensors, &self.device)?;
            Some(anchor_embeddings(
                &self.cache,
                &anchor_hash(&tensors),
                &vision,
                inference.encoder(Modality::Vision)?,
                &self.device,
                &mut |d, t| obs.preparing("vision anchor embeddings", d, t),
            )?)
        };
        Ok(Some(PhaseInputs {
            vision,
            other,
            usable,
            anchor,
            sets,
        }))
    }

    /// Records phase `i`'s finished epoch: its encoders' weights (`phase_tensors`, the
    /// tensors of the encoders it trains), its optimizer state (the other running phases'
    /// states are carried over as of their own last epoch).
    fn checkpoint(
        &self,
        i: usize,
        phase_tensors: &TensorMap,
        steps: usize,
        optim: &ModuleOptimizer,
        metrics: &EpochMetrics,
    ) -> Result<()> {
        let mut shared = lock(&self.shared);
        // The new state is built aside and kept only once it is on disk: after a failed
        // save, another phase's checkpoint must not record this epoch without its optimizer.
        let mut tensors = shared.tensors.clone();
        for (k, v) in &phase_tensors.0 {
            tensors.insert(k.clone(), v.clone());
        }
        let mut state = shared.state.clone();
        state.epoch_done(i, steps, &self.epochs);
        let running = state.progress[i] < self.epochs[i];
        let carried: Vec<usize> = state
            .in_progress(&self.epochs)
            .into_iter()
            .filter(|&q| q != i)
            .collect();
        self.ckpt.save(
            &state,
            &tensors,
            running.then_some((i, optim)),
            &carried,
            metrics,
        )?;
        *shared = Shared { state, tensors };
        Ok(())
    }
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
