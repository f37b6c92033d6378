//! Running the phases. The joint vision+text phase goes first and alone: it shapes the space
//! every other modality binds to (with `jobs` ≥ 2, its two encoders run on two threads; see
//! `joint`). The frozen phases only read that space, so they run side by side, `jobs` at a
//! time: one phase's steps are small tensors that keep about one core busy. Each phase is
//! seeded by its own index and starts from the same frozen vision encoder, so the weights do
//! not depend on `jobs` or on which phase finishes an epoch first.

use std::path::{Path, PathBuf};
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

use super::cpu_step::{CpuPass, embedding_leaf};
use super::joint::{JointExtras, joint_step, joint_step_cpu};
use super::token_rows::TokenRows;
use super::{
    AnchorBank, AnchorEmbeddings, Checkpoint, ContentSets, EpochMetrics, Features, Negatives,
    Observer, Phase, Sets, Targets, TrainOptions, TrainState, TrainSummary, anchor_embeddings,
    anchor_hash, bank_info_nce, cache_dir, learning_rate, phases, symmetric_info_nce,
};
use crate::config::ModelConfig;
use crate::dataset::{Dataset, Split};
use crate::embed::Item;
use crate::model::Model;
use crate::nn::{Drops, Encoder};
use crate::weights::{ModelDir, Provenance, TensorMap, host_values};
use crate::{Error, Result};

/// A training run to start or to resume: `Training::new(data, model_dir, config, options)`
/// or `Training::resume(data, model_dir)`, then `.jobs(n)` and `.run(device, observer)`.
pub struct Training<'a> {
    data: &'a Path,
    model_dir: &'a Path,
    /// `None` resumes from the checkpoint in `model_dir`, which holds the config and options.
    fresh: Option<(ModelConfig, TrainOptions)>,
    jobs: usize,
    whole_token_table: bool,
    allow_outside: bool,
}

impl<'a> Training<'a> {
    /// A new run; `model_dir` must not hold one already.
    pub fn new(
        data: &'a Path,
        model_dir: &'a Path,
        config: ModelConfig,
        options: TrainOptions,
    ) -> Self {
        Self {
            data,
            model_dir,
            fresh: Some((config, options)),
            jobs: 1,
            whole_token_table: false,
            allow_outside: false,
        }
    }

    /// Continues exactly from the last checkpoint in `model_dir`, with its config and options.
    pub fn resume(data: &'a Path, model_dir: &'a Path) -> Self {
        Self {
            data,
            model_dir,
            fresh: None,
            jobs: 1,
            whole_token_table: false,
            allow_outside: false,
        }
    }

    /// Threads to train on (default 1): up to `jobs` frozen phases at once, sharing them (see
    /// the module doc); with two or more, the joint phase runs vision and text side by side.
    /// The weights do not depend on it.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Lets the dataset's rows name files outside its directory (see [`Dataset::open_with`]).
    pub fn allow_outside(mut self, allow: bool) -> Self {
        self.allow_outside = allow;
        self
    }

    /// A new run trains the text encoder's whole token table, as runs did before
    /// `token_rows` (same weights, slower): the reference of the training benchmark and tests.
    #[doc(hidden)]
    pub fn whole_token_table(mut self) -> Self {
        self.whole_token_table = true;
        self
    }

    /// Trains into the model directory. `device` is a plain (non-autodiff) device; gradients
    /// run on its autodiff twin.
    pub fn run(self, device: &Device, obs: &mut dyn Observer) -> Result<TrainSummary> {
        train(self, device, obs)
    }
}

fn train(job: Training<'_>, device: &Device, obs: &mut dyn Observer) -> Result<TrainSummary> {
    let Training {
        data,
        model_dir,
        fresh,
        jobs,
        whole_token_table,
        allow_outside,
    } = job;
    let dataset = Dataset::open_with(data, allow_outside)?;
    let ckpt = Checkpoint::new(model_dir);
    let resume = fresh.is_none();
    let (mut state, tensors) = match fresh {
        None => ckpt.load()?,
        Some((config, opts)) => {
            if ckpt.exists() {
                let reason = "already holds a training run; pass --resume to continue it or \
                              choose another directory";
                return Err(Error::ModelDir {
                    path: model_dir.to_path_buf(),
                    reason: reason.into(),
                });
            }
            let tensors = initial_tensors(&config, &opts, device)?;
            let mut state = TrainState::new(config, opts);
            state.token_rows = !whole_token_table;
            (state, tensors)
        }
    };
    state.config.validate().map_err(Error::Config)?;
    let phases = phases(&state.options);
    let epochs: Vec<usize> = phases
        .iter()
        .map(|p| state.options.epochs_for(p.modality))
        .collect();
    state.fill_progress(&epochs);
    if resume {
        obs.message(&format!(
            "resuming {} at epoch {} of phase {}",
            model_dir.display(),
            state.epochs_done + 1,
            state.phase + 1
        ));
    }
    let run = Run {
        dataset,
        ckpt,
        config: state.config.clone(),
        opts: state.options.clone(),
        cache: cache_dir(model_dir),
        phases,
        epochs,
        device: device.clone(),
        ad: device.clone().autodiff(),
        cpu: crate::cpu::serves(device),
        shared: Mutex::new(Shared { state, tensors }),
        obs: Mutex::new(obs),
        stop: AtomicBool::new(false),
        steps_run: AtomicUsize::new(0),
        jobs,
    };
    run.all()?;
    let steps = run.steps_run.load(Ordering::Relaxed);
    if run.stop.load(Ordering::Relaxed) {
        return Ok(TrainSummary {
            steps,
            interrupted: true,
            content_hash: String::new(),
        });
    }
    let shared = lock(&run.shared);
    let provenance = Provenance {
        source: "train".into(),
        checkpoint: None,
        checkpoint_format: None,
        imagebind_kwargs: None,
    };
    let manifest = ModelDir::new(model_dir).write(&run.config, &shared.tensors, provenance)?;
    Ok(TrainSummary {
        steps,
        interrupted: false,
        content_hash: manifest.content_hash,
    })
}

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

    /// Trains phase `i` from its last finished epoch to its end (or until training stops),
    /// checkpointing after every epoch.
    fn phase(&self, i: usize, inputs: PhaseInputs) -> Result<()> {
        let phase = self.phases[i];
        let (mut optim, mut model, first_epoch) = self.start(i)?;
        let schedule = Schedule::new(&self.opts, phase, inputs.usable.len(), self.epochs[i]);
        lock(&self.obs).phase_started(&phase, schedule.total);
        let mut trainable = take_trainable(&mut model, phase)?;
        let mut tokens = self.token_rows(&mut trainable, &inputs, first_epoch)?;
        let bank = inputs
            .anchor
            .as_ref()
            .filter(|_| self.opts.negatives == Negatives::All)
            .map(|a| AnchorBank::new(a, &inputs.usable, &self.ad));

        for epoch in first_epoch..self.epochs[i] {
            let mut order = inputs.usable.clone();
            let seed = self.opts.seed ^ ((i as u64) << 32) ^ epoch as u64;
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let mut tally = Tally::new();
            for (b, batch) in order.chunks(schedule.batch_size).enumerate() {
                if batch.len() < 2 {
                    continue;
                }
                let global = epoch * schedule.steps_per_epoch + b;
                let lr = schedule.lr(global);
                let t0 = Instant::now();
                let (x, v) = self.step_inputs(i, &inputs, tokens.as_ref(), batch, global)?;
                let t1 = Instant::now();
                let step = Step {
                    i,
                    batch,
                    global,
                    inputs: &inputs,
                    bank: bank.as_ref(),
                };
                let (loss, grads, t2) = self.forward_backward(&trainable, &step, x, v)?;
                trainable = optimizer_step(&mut optim, trainable, lr, grads);
                if let Some(t) = &mut tokens {
                    t.record_step(lr, self.opts.weight_decay as f32);
                }
                tally.step(loss, lr, [t0, t1, t2, Instant::now()]);
                self.steps_run.fetch_add(1, Ordering::Relaxed);
                let seen = (b + 1) * schedule.batch_size;
                if self.observe_step(&phase, global, loss, seen, tally.start) {
                    return Ok(());
                }
            }
            let metrics = tally.metrics(&phase, epoch, inputs.usable.len());
            put_back(&mut model, phase, &trainable);
            if let Some(t) = &mut tokens {
                let enc = model.encoders.slot_mut(phase.modality).as_mut();
                t.expand(enc.expect("put back"));
            }
            // Only the encoders this phase trains: the others' weights are other phases'.
            let trained = model.tensors_of(&phase.trained());
            self.checkpoint(i, &trained, tally.steps, &optim, &metrics)?;
            lock(&self.obs).epoch_finished(&metrics);
        }
        lock(&self.obs).phase_finished(&phase);
        Ok(())
    }

    /// Phase `i`'s optimizer (its saved state when the phase is resumed), the model as of the
    /// last checkpoint, and the first epoch to run.
    fn start(&self, i: usize) -> Result<(ModuleOptimizer, Model, usize)> {
        let opts = &self.opts;
        // Plain decoupled decay: `TokenRows` applies it to the token rows it does not train.
        let mut optim = AdamWConfig::new()
            .with_weight_decay(opts.weight_decay as f32)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(opts.clip_norm)))
            .init();
        // Under the lock: another phase's checkpoint would otherwise replace the one read.
        let (tensors, first_epoch) = {
            let shared = lock(&self.shared);
            let done = shared.state.progress[i];
            if done > 0 {
                optim = self.ckpt.load_optimizer(i, optim)?;
            }
            (shared.tensors.clone(), done)
        };
        let model = Model::from_tensors(self.config.clone(), &tensors, &self.ad)?;
        Ok((optim, model, first_epoch))
    }

    /// The token rows a text encoder trains (the rows its captions use), when the run trains
    /// those alone; a resumed phase keeps the rows its optimizer state was saved for.
    fn token_rows(
        &self,
        trainable: &mut Trainable,
        inputs: &PhaseInputs,
        first_epoch: usize,
    ) -> Result<Option<TokenRows>> {
        if !lock(&self.shared).state.token_rows {
            return Ok(None);
        }
        let (Trainable::Joint { other: enc, .. } | Trainable::Single(enc)) = trainable;
        let Some(vocab) = TokenRows::vocab(enc) else {
            return Ok(None);
        };
        let captions = inputs.usable.iter().map(|&r| inputs.other.row(r));
        let used = TokenRows::used_ids(vocab, captions)?;
        let saved = lock(&self.shared).state.token_ids.clone();
        let used = if first_epoch > 0 && !saved.is_empty() {
            let new = used.iter().filter(|id| saved.binary_search(id).is_err());
            let new = new.count();
            if new > 0 {
                return Err(Error::Config(format!(
                    "cannot resume: the training captions now use {new} tokens that the \
                     interrupted run did not train; resume with the data it started \
                     with, or start a new run"
                )));
            }
            saved
        } else {
            used
        };
        lock(&self.shared).state.token_ids = used.clone();
        Ok(Some(TokenRows::compact(enc, used)))
    }

    /// The step's input to the trained encoder, and the vision input of a joint phase: on
    /// the host for the CPU path, on the device otherwise.
    fn step_inputs(
        &self,
        i: usize,
        inputs: &PhaseInputs,
        tokens: Option<&TokenRows>,
        batch: &[usize],
        global: usize,
    ) -> Result<(StepInput, Option<StepInput>)> {
        let phase = self.phases[i];
        let (other, vision) = (&inputs.other, &inputs.vision);
        let x = match tokens {
            Some(t) if self.cpu => StepInput::Host(t.host_batch(other, batch)),
            Some(t) => StepInput::Burn(t.batch(other, batch, &self.ad)?),
            None => {
                // One draw per phase and step: a resumed run turns its maps alike.
                let seed = self.opts.seed ^ ((i as u64) << 48) ^ global as u64;
                let raw = self
                    .opts
                    .augment
                    .apply(other.host_batch(batch), phase.modality, seed);
                if self.cpu {
                    StepInput::Host(raw)
                } else {
                    StepInput::Burn(raw.into_encoder_input(phase.modality.name(), &self.ad)?)
                }
            }
        };
        let v = match (phase.joint, self.cpu) {
            (false, _) => None,
            (true, true) => Some(StepInput::Host(vision.host_batch(batch))),
            (true, false) => Some(StepInput::Burn(vision.batch(batch, &self.ad)?)),
        };
        Ok((x, v))
    }

    /// One step's loss and gradients (and when the forward pass ended, for the timings).
    fn forward_backward(
        &self,
        trainable: &Trainable,
        step: &Step,
        x: StepInput,
        v_input: Option<StepInput>,
    ) -> Result<(f64, GradientsParams, Instant)> {
        let phase = self.phases[step.i];
        let batch = step.batch;
        // Stochastic depth and head dropout, as the encoders' configs ask; drawn per
        // phase, step and encoder, so a resumed run drops alike.
        let step_seed = self.opts.seed ^ ((step.i as u64) << 48) ^ step.global as u64;
        let drops = |m: Modality, salt: u64| {
            self.config
                .encoder(m)
                .and_then(|c| Drops::new(c, step_seed ^ (salt << 56)))
        };
        match (trainable, &step.inputs.anchor) {
            (
                Trainable::Joint {
                    vision: venc,
                    other: enc,
                },
                _,
            ) => {
                let targets = step.inputs.sets.as_ref().map(|s| {
                    let q = s.targets(batch, self.opts.graded_scale as f32);
                    Tensor::from_data(TensorData::new(q, [batch.len(); 2]), &self.ad)
                });
                let extras = JointExtras {
                    targets,
                    vision: drops(Modality::Vision, 1),
                    text: drops(phase.modality, 2),
                };
                match (v_input.expect("joint phase has vision input"), x) {
                    (StepInput::Burn(v), StepInput::Burn(x)) => {
                        joint_step(venc, enc, v, x, extras, self.jobs > 1)
                    }
                    (StepInput::Host(v), StepInput::Host(x)) => {
                        joint_step_cpu(venc, enc, &v, &x, extras, self.jobs > 1, &self.ad)
                    }
                    _ => unreachable!("both sides of a step are on one path"),
                }
            }
            (Trainable::Single(enc), Some(anchor)) => {
                // On the ndarray device the encoder runs forward and backward on the
                // CPU path; burn's autodiff keeps only the loss.
                let dropped = drops(phase.modality, 2);
                let (e, cpu) = match x {
                    StepInput::Host(raw) => {
                        let (y, pass) =
                            CpuPass::forward(enc, phase.modality, &raw, dropped.as_ref())?;
                        (embedding_leaf(y, batch.len(), &self.ad), Some(pass))
                    }
                    StepInput::Burn(x) => (enc.forward_train(x, dropped.as_ref())?, None),
                };
                let loss = match step.bank {
                    // The batch's anchors are rows of the bank, already on the device.
                    Some(bank) => {
                        let targets = bank.targets(batch, &self.ad);
                        let v = bank.embeddings.clone().select(0, targets.clone());
                        let logits = e.clone().matmul(v.transpose());
                        bank_info_nce(e.clone(), logits, bank.embeddings.clone(), targets)
                    }
                    None => {
                        let v = Tensor::<2>::from_data(
                            TensorData::new(anchor.rows(batch), [batch.len(), anchor.dim]),
                            &self.ad,
                        );
                        symmetric_info_nce(e.clone().matmul(v.transpose()))
                    }
                };
                let value = f64::from(loss.clone().into_scalar::<f32>());
                let t2 = Instant::now();
                let grads = match cpu {
                    Some(pass) => {
                        let at_loss = loss.backward();
                        let d_e = e
                            .grad(&at_loss)
                            .expect("the embeddings take part in the loss");
                        pass.backward(enc, &host_values(d_e))?
                    }
                    None => GradientsParams::from_grads(loss.backward(), enc),
                };
                Ok((value, grads, t2))
            }
            (Trainable::Single(_), None) => {
                unreachable!("a single-encoder phase has an anchor")
            }
        }
    }

    /// Reports a step; true when training is to stop (Ctrl-C, or another lane's error).
    fn observe_step(
        &self,
        phase: &Phase,
        global: usize,
        loss: f64,
        seen: usize,
        start: Instant,
    ) -> bool {
        let mut obs = lock(&self.obs);
        obs.step(
            phase,
            global + 1,
            loss,
            seen as f64 / start.elapsed().as_secs_f64(),
        );
        if obs.interrupted() {
            self.stop.store(true, Ordering::Relaxed);
        }
        self.stop.load(Ordering::Relaxed)
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

/// A phase's steps and learning rates.
struct Schedule {
    batch_size: usize,
    steps_per_epoch: usize,
    total: usize,
    warmup: usize,
    peak_lr: f64,
}

impl Schedule {
    fn new(opts: &TrainOptions, phase: Phase, pairs: usize, epochs: usize) -> Self {
        let batch_size = opts.batch_size_for(phase.modality);
        let steps_per_epoch = pairs / batch_size + usize::from(pairs % batch_size >= 2);
        let total = steps_per_epoch * epochs;
        Schedule {
            batch_size,
            steps_per_epoch,
            total,
            warmup: ((total as f64) * opts.warmup).ceil() as usize,
            peak_lr: opts.lr_for(phase.modality),
        }
    }

    fn lr(&self, global: usize) -> f64 {
        learning_rate(global, self.total, self.warmup, self.peak_lr)
    }
}

/// What a step needs besides its inputs: which phase, which rows, where in the run.
struct Step<'s> {
    i: usize,
    batch: &'s [usize],
    global: usize,
    inputs: &'s PhaseInputs,
    bank: Option<&'s AnchorBank>,
}

/// An epoch's running sums, for its metrics.
struct Tally {
    start: Instant,
    steps: usize,
    loss: f64,
    lr: f64,
    /// Seconds loading inputs, forward, and backward with the optimizer step.
    times: [f64; 3],
}

impl Tally {
    fn new() -> Self {
        Tally {
            start: Instant::now(),
            steps: 0,
            loss: 0.0,
            lr: 0.0,
            times: [0.0; 3],
        }
    }

    /// A step's loss and learning rate, and its instants: start, inputs ready, forward done,
    /// optimizer done.
    fn step(&mut self, loss: f64, lr: f64, at: [Instant; 4]) {
        for (k, t) in self.times.iter_mut().enumerate() {
            *t += (at[k + 1] - at[k]).as_secs_f64();
        }
        self.loss += loss;
        self.lr = lr;
        self.steps += 1;
    }

    fn metrics(&self, phase: &Phase, epoch: usize, pairs: usize) -> EpochMetrics {
        let seconds = self.start.elapsed().as_secs_f64();
        let per = |t: f64| 1e3 * t / self.steps.max(1) as f64;
        EpochMetrics {
            phase: phase.name(),
            epoch: epoch + 1,
            steps: self.steps,
            loss: self.loss / self.steps.max(1) as f64,
            lr: self.lr,
            samples_per_s: pairs as f64 / seconds,
            seconds,
            load_ms: per(self.times[0]),
            forward_ms: per(self.times[1]),
            backward_ms: per(self.times[2]),
        }
    }
}

/// The optimizer's step on the trained encoders.
fn optimizer_step(
    optim: &mut ModuleOptimizer,
    trainable: Trainable,
    lr: f64,
    grads: GradientsParams,
) -> Trainable {
    match trainable {
        Trainable::Joint {
            vision: v,
            other: o,
        } => {
            let pair = optim.step(
                lr,
                JointPair {
                    vision: v,
                    other: o,
                },
                grads,
            );
            Trainable::Joint {
                vision: pair.vision,
                other: pair.other,
            }
        }
        Trainable::Single(enc) => Trainable::Single(optim.step(lr, enc, grads)),
    }
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
    let (init_model, manifest) = ModelDir::new(init).load(device)?;
    let mut out = fresh;
    for m in Modality::ALL {
        if config.encoder(m).is_some() && config.encoder(m) == manifest.config.encoder(m) {
            for (k, v) in init_model.tensors_of(&[m]).0 {
                out.insert(k, v);
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
