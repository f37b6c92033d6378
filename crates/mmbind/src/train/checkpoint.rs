//! Per-epoch checkpoints that a kill at any moment cannot corrupt: each one is written in
//! full into its own directory, then `checkpoints/LATEST` is switched to it by an atomic
//! rename. `--resume` reads whatever LATEST names.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use burn::tensor::Bytes;
use mmbind_schema::{sync_dir, write_atomic};
use serde::{Deserialize, Serialize};

use super::{EpochMetrics, TrainOptions};
use crate::config::ModelConfig;
use crate::weights::{ModelDir, Provenance, TensorMap, read_safetensors, write_safetensors};
use crate::{Error, Result};

/// Where training stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    pub config: ModelConfig,
    pub options: TrainOptions,
    /// Index of the first phase not finished (== number of phases when done).
    pub phase: usize,
    /// Epochs finished in that phase.
    pub epochs_done: usize,
    /// Optimizer steps taken so far, all phases.
    pub step: usize,
    /// Epochs finished in every phase. The frozen phases run side by side, so phases after
    /// `phase` may have started too. Absent in checkpoints of runs that ran one phase at a
    /// time; [`TrainState::fill_progress`] derives it from `phase` and `epochs_done`.
    #[serde(default)]
    pub progress: Vec<usize>,
    /// Whether phases that train a text encoder train only its token table's used rows
    /// (`token_rows`); runs started before it kept optimizer state for the whole table.
    #[serde(default)]
    pub token_rows: bool,
    /// The token ids whose rows the text phase trains, once it has started (its optimizer
    /// state covers these rows, in this order).
    #[serde(default)]
    pub token_ids: Vec<usize>,
}

impl TrainState {
    /// A state before any training.
    pub fn new(config: ModelConfig, options: TrainOptions) -> Self {
        Self {
            config,
            options,
            phase: 0,
            epochs_done: 0,
            step: 0,
            progress: Vec::new(),
            token_rows: true,
            token_ids: Vec::new(),
        }
    }

    /// Sizes `progress` to the phases (given their epoch counts), reading it from `phase` and
    /// `epochs_done` where a checkpoint predates it.
    pub fn fill_progress(&mut self, epochs: &[usize]) {
        if self.progress.len() != epochs.len() {
            self.progress = (0..epochs.len())
                .map(|i| match i.cmp(&self.phase) {
                    std::cmp::Ordering::Less => epochs[i],
                    std::cmp::Ordering::Equal => self.epochs_done,
                    std::cmp::Ordering::Greater => 0,
                })
                .collect();
        }
        self.sync_first_unfinished(epochs);
    }

    /// Records one more finished epoch of phase `i`.
    pub fn epoch_done(&mut self, i: usize, steps: usize, epochs: &[usize]) {
        self.progress[i] += 1;
        self.step += steps;
        self.sync_first_unfinished(epochs);
    }

    /// Marks phase `i` as finished without training (it has no pairs).
    pub fn skip(&mut self, i: usize, epochs: &[usize]) {
        self.progress[i] = epochs[i];
        self.sync_first_unfinished(epochs);
    }

    /// Phases started but not finished: each has an optimizer state in the checkpoint.
    pub fn in_progress(&self, epochs: &[usize]) -> Vec<usize> {
        (0..epochs.len())
            .filter(|&i| self.progress[i] > 0 && self.progress[i] < epochs[i])
            .collect()
    }

    fn sync_first_unfinished(&mut self, epochs: &[usize]) {
        self.phase = (0..epochs.len())
            .find(|&i| self.progress[i] < epochs[i])
            .unwrap_or(epochs.len());
        self.epochs_done = self.progress.get(self.phase).copied().unwrap_or(0);
    }
}

pub struct Checkpoint {
    model_dir: PathBuf,
}

const LATEST: &str = "LATEST";

impl Checkpoint {
    pub fn new(model_dir: &Path) -> Self {
        Self {
            model_dir: model_dir.to_path_buf(),
        }
    }

    fn root(&self) -> PathBuf {
        self.model_dir.join("checkpoints")
    }

    fn err(&self, reason: impl ToString) -> Error {
        Error::ModelDir {
            path: self.model_dir.clone(),
            reason: reason.to_string(),
        }
    }

    pub fn exists(&self) -> bool {
        self.root().join(LATEST).is_file()
    }

    fn latest(&self) -> Result<PathBuf> {
        let name = std::fs::read_to_string(self.root().join(LATEST)).map_err(|_| {
            self.err("no checkpoint to resume from (checkpoints/LATEST is missing)")
        })?;
        Ok(self.root().join(name.trim()))
    }

    /// The optimizer state file of phase `phase` in the last checkpoint (`optimizer.bpk` in
    /// checkpoints written one phase at a time).
    fn optimizer_path(&self, phase: usize) -> Result<PathBuf> {
        let dir = self.latest()?;
        let own = dir.join(optimizer_file(phase));
        Ok(if own.is_file() {
            own
        } else {
            dir.join("optimizer.bpk")
        })
    }

    /// Restores phase `phase`'s optimizer state from the last checkpoint. The file is read
    /// whole: burn's file loader reads tensors lazily, and the next checkpoint (of a phase
    /// running beside this one) deletes this one's directory.
    pub fn load_optimizer(&self, phase: usize, fresh: ModuleOptimizer) -> Result<ModuleOptimizer> {
        let path = self.optimizer_path(phase)?;
        let bytes = std::fs::read(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        fresh
            .from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| self.err(format!("cannot read the optimizer state: {e}")))
    }

    pub fn load(&self) -> Result<(TrainState, TensorMap)> {
        let dir = self.latest()?;
        let state: TrainState = serde_json::from_slice(
            &std::fs::read(dir.join("state.json")).map_err(|e| self.err(e))?,
        )
        .map_err(|e| self.err(format!("state.json: {e}")))?;
        Ok((state, read_safetensors(&dir.join("weights.safetensors"))?))
    }

    /// Writes the checkpoint, switches LATEST to it, removes older ones, appends the
    /// epoch's metrics and refreshes the model directory itself. `optim` is the optimizer
    /// state of the phase that just finished an epoch (none once the phase is over); the
    /// states of the phases in `carried`, running beside it, are copied over from the last
    /// checkpoint, which holds them as of their own last epoch, like `tensors`.
    pub fn save(
        &self,
        state: &TrainState,
        tensors: &TensorMap,
        optim: Option<(usize, &ModuleOptimizer)>,
        carried: &[usize],
        metrics: &EpochMetrics,
    ) -> Result<()> {
        let name = format!("step-{:08}", state.step);
        let dir = self.root().join(&name);
        std::fs::create_dir_all(&dir).map_err(|e| self.err(e))?;
        write_safetensors(tensors, HashMap::new(), &dir.join("weights.safetensors"))?;
        if let Some((phase, optim)) = optim {
            optim
                .save(dir.join(optimizer_file(phase)))
                .map_err(|e| self.err(format!("cannot save the optimizer state: {e}")))?;
        }
        for &phase in carried {
            let from = self.optimizer_path(phase)?;
            std::fs::copy(&from, dir.join(optimizer_file(phase)))
                .map_err(|e| self.err(format!("cannot copy {}: {e}", from.display())))?;
        }
        let json = serde_json::to_vec_pretty(state).expect("serialisable");
        write_atomic(&dir.join("state.json"), &json).map_err(|e| self.err(e))?;
        // Every file of the step on disk before LATEST names it: the optimizer states
        // (written by burn, or copied) and the directory's entries.
        for entry in std::fs::read_dir(&dir).map_err(|e| self.err(e))?.flatten() {
            File::open(entry.path())
                .and_then(|f| f.sync_all())
                .map_err(|e| self.err(e))?;
        }
        sync_dir(&dir).map_err(|e| self.err(e))?;
        write_atomic(&self.root().join(LATEST), name.as_bytes()).map_err(|e| self.err(e))?;
        for entry in std::fs::read_dir(self.root())
            .map_err(|e| self.err(e))?
            .flatten()
        {
            let n = entry.file_name().to_string_lossy().into_owned();
            if n.starts_with("step-") && n != name {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.model_dir.join("metrics.jsonl"))
            .map_err(|e| self.err(e))?;
        writeln!(
            f,
            "{}",
            serde_json::to_string(metrics).expect("serialisable")
        )
        .map_err(|e| self.err(e))?;
        let provenance = Provenance {
            source: "train".into(),
            checkpoint: None,
            checkpoint_format: None,
            imagebind_kwargs: None,
        };
        ModelDir::new(&self.model_dir).write(&state.config, tensors, provenance)?;
        Ok(())
    }
}

fn optimizer_file(phase: usize) -> String {
    format!("optimizer-{phase}.bpk")
}
