//! Starting or resuming a run: the builder the caller configures, the state and weights the
//! run begins from, and saving the trained model at the end.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use burn::tensor::Device;
use mmbind_modalities::Modality;

use super::{Run, Shared, lock};
use crate::config::ModelConfig;
use crate::dataset::Dataset;
use crate::model::Model;
use crate::train::{
    Checkpoint, Observer, TrainOptions, TrainState, TrainSummary, cache_dir, phases,
};
use crate::weights::{ModelDir, Provenance, TensorMap};
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
    let (mut state, tensors) = start_state(&ckpt, model_dir, fresh, whole_token_table, device)?;
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

/// The state and weights a run starts from: the checkpoint's when resuming (`fresh` is
/// `None`), else new ones, refusing a directory that already holds a run.
fn start_state(
    ckpt: &Checkpoint,
    model_dir: &Path,
    fresh: Option<(ModelConfig, TrainOptions)>,
    whole_token_table: bool,
    device: &Device,
) -> Result<(TrainState, TensorMap)> {
    Ok(match fresh {
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
