//! Per-epoch checkpoints that a kill at any moment cannot corrupt: each one is written in
//! full into its own directory, then `checkpoints/LATEST` is switched to it by an atomic
//! rename. `--resume` reads whatever LATEST names.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
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
    /// Index of the phase in progress (== number of phases when done).
    pub phase: usize,
    /// Epochs finished in that phase.
    pub epochs_done: usize,
    /// Optimizer steps taken so far, all phases.
    pub step: usize,
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

    pub fn optimizer_path(&self) -> Result<PathBuf> {
        Ok(self.latest()?.join("optimizer.bpk"))
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
    /// epoch's metrics and refreshes the model directory itself.
    pub fn save(
        &self,
        state: &TrainState,
        tensors: &TensorMap,
        optim: Option<&ModuleOptimizer>,
        metrics: &EpochMetrics,
    ) -> Result<()> {
        let name = format!("step-{:08}", state.step);
        let dir = self.root().join(&name);
        std::fs::create_dir_all(&dir).map_err(|e| self.err(e))?;
        write_safetensors(tensors, HashMap::new(), &dir.join("weights.safetensors"))?;
        if let Some(optim) = optim {
            optim
                .save(dir.join("optimizer.bpk"))
                .map_err(|e| self.err(format!("cannot save the optimizer state: {e}")))?;
        }
        std::fs::write(
            dir.join("state.json"),
            serde_json::to_vec_pretty(state).expect("serialisable"),
        )
        .map_err(|e| self.err(e))?;
        let tmp = self.root().join("LATEST.tmp");
        std::fs::write(&tmp, &name).map_err(|e| self.err(e))?;
        std::fs::rename(&tmp, self.root().join(LATEST)).map_err(|e| self.err(e))?;
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
