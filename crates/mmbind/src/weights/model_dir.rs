//! A model directory: `model.json` (configuration, provenance, identity) beside
//! `weights.safetensors` (ImageBind key names, float32).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{TensorMap, read_safetensors, write_safetensors};
use crate::config::{ImageBindKwargs, ModelConfig};
use crate::model::Model;
use crate::{Error, Result};

/// Bumped when a model directory written by this version could not be read by an older one.
pub const MODEL_FORMAT_VERSION: u32 = 1;
const FORMAT_NAME: &str = "mmbind-model";
const MANIFEST: &str = "model.json";
const WEIGHTS: &str = "weights.safetensors";
const HASH_METADATA_KEY: &str = "mmbind.content_hash";
/// The note that the weights, as they are on disk now, were checked against the manifest.
const VERIFIED: &str = "weights.verified";

/// Where a model's weights came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `"imagebind-import"` or `"train"`.
    pub source: String,
    /// The checkpoint file name an import read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// `"pytorch"` or `"safetensors"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_format: Option<String>,
    /// The ImageBind constructor arguments an import assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imagebind_kwargs: Option<ImageBindKwargs>,
}

/// `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    pub format: String,
    pub format_version: u32,
    /// SHA-256 of every tensor's name, shape and values: the model's identity (indexes and
    /// caches built with one model refuse another).
    pub content_hash: String,
    pub parameters: usize,
    pub created_by: String,
    pub config: ModelConfig,
    pub provenance: Provenance,
}

/// A model directory on disk.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub path: PathBuf,
}

impl ModelDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn err(&self, reason: impl ToString) -> Error {
        Error::ModelDir {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    /// Writes weights, then `model.json`, each atomically; `model.json` last, so a directory
    /// with a manifest always has the weights it describes.
    pub fn write(
        &self,
        config: &ModelConfig,
        tensors: &TensorMap,
        provenance: Provenance,
    ) -> Result<ModelManifest> {
        std::fs::create_dir_all(&self.path).map_err(|e| self.err(e))?;
        let content_hash = tensors.content_hash();
        let metadata = HashMap::from([(HASH_METADATA_KEY.to_string(), content_hash.clone())]);
        write_safetensors(tensors, metadata, &self.path.join(WEIGHTS))?;
        let manifest = ModelManifest {
            format: FORMAT_NAME.into(),
            format_version: MODEL_FORMAT_VERSION,
            content_hash,
            parameters: tensors.num_parameters(),
            created_by: format!("mmbind {}", env!("CARGO_PKG_VERSION")),
            config: config.clone(),
            provenance,
        };
        let json = serde_json::to_string_pretty(&manifest).map_err(|e| self.err(e))?;
        mmbind_schema::write_atomic(&self.path.join(MANIFEST), (json + "\n").as_bytes())
            .map_err(|e| self.err(e))?;
        Ok(manifest)
    }

    /// Reads and checks `model.json`.
    pub fn manifest(&self) -> Result<ModelManifest> {
        let path = self.path.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                self.err(format!("no {MANIFEST} here; is this a model directory (made by `mmbind import` or `mmbind train`)?"))
            } else {
                self.err(format!("{MANIFEST}: {e}"))
            }
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| self.err(format!("{MANIFEST}: {e}")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
            return Err(self.err(format!("{MANIFEST} is not an mmbind model manifest")));
        }
        let version = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if version > MODEL_FORMAT_VERSION as u64 {
            return Err(self.err(format!(
                "written by a newer mmbind (model format {version}, this build reads up to {MODEL_FORMAT_VERSION}); upgrade mmbind"
            )));
        }
        serde_json::from_value(value).map_err(|e| self.err(format!("{MANIFEST}: {e}")))
    }

    /// The weights as stored.
    pub fn tensors(&self) -> Result<TensorMap> {
        read_safetensors(&self.path.join(WEIGHTS))
    }

    /// Loads the model onto `device`, after checking that the weights are the ones
    /// `model.json` names (see [`ModelDir::verify`]).
    pub fn load(&self, device: &Device) -> Result<(Model, ModelManifest)> {
        let manifest = self.manifest()?;
        let tensors = self.tensors()?;
        self.verify(&manifest, &tensors)?;
        let model = Model::from_tensors(manifest.config.clone(), &tensors, device)?;
        Ok((model, manifest))
    }

    /// Refuses weights whose content hash is not the manifest's: a `weights.safetensors`
    /// swapped in from another model (or damaged on disk) would otherwise mix two models'
    /// vectors in one index under one identity. Hashing the huge model takes seconds, so a
    /// verified file is remembered in `weights.verified` by its size, mtime, ctime and inode
    /// (ctime cannot be set back by a user; any rewrite or copy changes it). The note is best
    /// effort: a read-only directory is simply verified every time.
    pub fn verify(&self, manifest: &ModelManifest, tensors: &TensorMap) -> Result<()> {
        let note = self.path.join(VERIFIED);
        let stamp =
            file_stamp(&self.weights_path()).map(|s| format!("{s} {}", manifest.content_hash));
        if let Some(stamp) = &stamp
            && std::fs::read_to_string(&note).is_ok_and(|n| n.trim() == stamp)
        {
            return Ok(());
        }
        let actual = tensors.content_hash();
        if actual != manifest.content_hash {
            return Err(self.err(format!(
                "{WEIGHTS} is not the model {MANIFEST} describes (content hash {} but {MANIFEST} \
                 says {}): the weights were replaced or damaged; restore them, or import or \
                 train the model again",
                &actual[..16.min(actual.len())],
                &manifest.content_hash[..16.min(manifest.content_hash.len())]
            )));
        }
        if let Some(stamp) = stamp {
            let _ = std::fs::write(&note, stamp + "\n");
        }
        Ok(())
    }

    pub fn weights_path(&self) -> PathBuf {
        self.path.join(WEIGHTS)
    }
}

/// Size, modification and change times and inode of a file: changes whenever its content
/// may have.
#[cfg(unix)]
fn file_stamp(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(format!(
        "{} {}.{} {}.{} {}:{}",
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        m.dev(),
        m.ino()
    ))
}

/// Elsewhere nothing is remembered and every load verifies.
#[cfg(not(unix))]
fn file_stamp(_: &Path) -> Option<String> {
    None
}

/// Whether `path` looks like a model directory.
pub fn is_model_dir(path: &Path) -> bool {
    path.join(MANIFEST).is_file()
}
