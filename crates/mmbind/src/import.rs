//! Importing the official ImageBind checkpoint into a model directory.

use std::path::Path;

use crate::Result;
use crate::config::ImageBindKwargs;
use crate::model::Model;
use crate::weights::{ModelDir, ModelManifest, Provenance, read_checkpoint};

/// Reads `checkpoint` (`.pth` as `torch.save` writes it, or `.safetensors`), checks that it
/// is exactly the model `kwargs` describes — every key present, every shape right, nothing
/// left over — and writes a model directory at `out`.
///
/// The tensors are written as read, so importing the `.pth` and the `.safetensors` of the
/// same weights gives the same `weights.safetensors` and the same content hash.
pub fn import_imagebind(
    checkpoint: &Path,
    kwargs: ImageBindKwargs,
    out: &Path,
) -> Result<ModelManifest> {
    let tensors = read_checkpoint(checkpoint)?;
    let config = kwargs.to_config();
    // Building the real model on the CPU is the check: it runs the same loader every later
    // `load` runs, so anything that imports also loads.
    drop(Model::from_tensors(
        config.clone(),
        &tensors,
        &crate::backend::ndarray_device(),
    )?);
    let format = if burn_container(checkpoint) {
        "pytorch"
    } else {
        "safetensors"
    };
    let provenance = Provenance {
        source: "imagebind-import".into(),
        checkpoint: checkpoint
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        checkpoint_format: Some(format.into()),
        imagebind_kwargs: Some(kwargs),
    };
    ModelDir::new(out).write(&config, &tensors, provenance)
}

fn burn_container(path: &Path) -> bool {
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|_| head == *b"PK" || head[0] == 0x80)
        .unwrap_or(false)
}
