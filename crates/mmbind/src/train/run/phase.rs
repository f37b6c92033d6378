//! One phase of a run: its epochs, each step's inputs, forward and backward passes and
//! optimizer step, and the metrics of each epoch.

use super::*;

impl Run<'_> {
    /// Trains phase `i` from its last finished epoch to its end (or until training stops),
    /// checkpointing after every epoch.
    pub(super) fn phase(&self, i: usize, inputs: PhaseInputs) -> Result<()> {
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
                self.single_step(enc, anchor, step, x, drops(phase.modality, 2))
            }
            (Trainable::Single(_), None) => {
                unreachable!("a single-encoder phase has an anchor")
            }
        }
    }

    /// A frozen-anchor phase's step: the one encoder against the anchor's embeddings (or
    /// the anchor bank's).
    fn single_step(
        &self,
        enc: &Encoder,
        anchor: &AnchorEmbeddings,
        step: &Step,
        x: StepInput,
        dropped: Option<Drops>,
    ) -> Result<(f64, GradientsParams, Instant)> {
        let (phase, batch) = (self.phases[step.i], step.batch);
        // On the ndarray device the encoder runs forward and backward on the
        // CPU path; burn's autodiff keeps only the loss.
        let (e, cpu) = match x {
            StepInput::Host(raw) => {
                let (y, pass) = CpuPass::forward(enc, phase.modality, &raw, dropped.as_ref())?;
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
