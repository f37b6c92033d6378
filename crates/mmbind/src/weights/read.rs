//! Reading checkpoints (PyTorch `.pth` zip/pickle through burn-store's reader, safetensors)
//! into a [`TensorMap`], and writing safetensors.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use burn::store::pytorch_reader::{DType as PtDType, PytorchReader};
use safetensors::{Dtype, SafeTensors, View};

use super::{FloatDtype, HostTensor, TensorMap, floats_le};
use crate::{Error, Result};

fn checkpoint_err(path: &Path, reason: impl ToString) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads a checkpoint, choosing the container by its first bytes (a PyTorch zip starts with
/// `PK`, a legacy pickle with 0x80) rather than trusting the extension.
pub fn read_checkpoint(path: &Path) -> Result<TensorMap> {
    let mut head = [0u8; 8];
    let n = {
        use std::io::Read;
        let mut f = File::open(path).map_err(|e| checkpoint_err(path, e))?;
        f.read(&mut head).map_err(|e| checkpoint_err(path, e))?
    };
    if n == 0 {
        return Err(checkpoint_err(path, "the file is empty"));
    }
    if head.starts_with(b"PK") || head[0] == 0x80 {
        read_pytorch(path)
    } else {
        read_safetensors(path)
    }
}

/// Reads a PyTorch checkpoint saved with `torch.save(state_dict)`.
pub fn read_pytorch(path: &Path) -> Result<TensorMap> {
    let reader = PytorchReader::new(path)
        .map_err(|e| checkpoint_err(path, format!("not a readable PyTorch checkpoint ({e})")))?;
    let file_len = std::fs::metadata(path).map_or(0, |m| m.len());
    // Views of one storage may share it (tied weights), so the tensors may add up to more
    // than the file, but not to more than twice it: many small repeating views cannot
    // together gather what one large one may not.
    let mut total = 0u64;
    let mut map = TensorMap::default();
    for (name, t) in reader.into_tensors() {
        // A view may repeat its storage (a stride of 0, as `expand` makes): 300 bytes of
        // checkpoint could declare a 4 GiB tensor, which reading would gather. No tensor of
        // a saved state dict is larger than the whole file, so that bounds each one.
        let declared = t
            .shape()
            .iter()
            .try_fold(t.dtype().size(), |n, &d| n.checked_mul(d));
        if declared.is_none_or(|n| n as u64 > file_len) {
            return Err(checkpoint_err(
                path,
                format!(
                    "tensor '{name}' of shape {:?} would be larger than the whole checkpoint \
                     ({file_len} bytes): a view that repeats its storage, which a saved \
                     state dict does not hold",
                    t.shape()
                ),
            ));
        }
        total = total.saturating_add(declared.unwrap_or(usize::MAX) as u64);
        if total > file_len.saturating_mul(2) {
            return Err(checkpoint_err(
                path,
                format!(
                    "its tensors add up to more than twice the file ({file_len} bytes) by \
                     '{name}': views that repeat their storage, which a saved state dict \
                     does not hold"
                ),
            ));
        }
        let bytes = t.read().map_err(|e| checkpoint_err(path, e))?;
        // PyTorch stores its tensors little-endian (the byte order a checkpoint records;
        // every platform mmbind builds for reads it natively).
        let dtype = match t.dtype() {
            PtDType::F32 => FloatDtype::F32,
            PtDType::F64 => FloatDtype::F64,
            PtDType::F16 => FloatDtype::F16,
            PtDType::BF16 => FloatDtype::BF16,
            other => {
                return Err(checkpoint_err(
                    path,
                    format!("tensor '{name}' has dtype {other:?}; only float tensors are expected"),
                ));
            }
        };
        let data = floats_le(&bytes, dtype);
        map.insert(name, HostTensor::new(t.shape().to_vec(), data));
    }
    if map.is_empty() {
        return Err(checkpoint_err(path, "the checkpoint holds no tensors"));
    }
    Ok(map)
}

/// Reads a safetensors file (memory-mapped).
pub fn read_safetensors(path: &Path) -> Result<TensorMap> {
    let file = File::open(path).map_err(|e| checkpoint_err(path, e))?;
    // SAFETY: the mapping is read-only and dropped before this function returns; a file
    // changed underneath us can only yield wrong values, which the shape checks then meet.
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| checkpoint_err(path, e))?;
    let st = SafeTensors::deserialize(&mmap)
        .map_err(|e| checkpoint_err(path, format!("not a valid safetensors file ({e})")))?;
    let mut map = TensorMap::default();
    for (name, view) in st.tensors() {
        let bytes = view.data();
        let dtype = match view.dtype() {
            Dtype::F32 => FloatDtype::F32,
            Dtype::F64 => FloatDtype::F64,
            Dtype::F16 => FloatDtype::F16,
            Dtype::BF16 => FloatDtype::BF16,
            other => {
                return Err(checkpoint_err(
                    path,
                    format!("tensor '{name}' has dtype {other:?}; only float tensors are expected"),
                ));
            }
        };
        let data = floats_le(bytes, dtype);
        map.insert(name, HostTensor::new(view.shape().to_vec(), data));
    }
    if map.is_empty() {
        return Err(checkpoint_err(path, "the file holds no tensors"));
    }
    Ok(map)
}

struct F32View<'a>(&'a HostTensor);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.le_bytes())
    }
    fn data_len(&self) -> usize {
        self.0.data.len() * 4
    }
}

/// Writes `map` as safetensors, atomically: a temporary file in the same directory is
/// renamed over `path`, so a crash never leaves a half-written file behind.
pub fn write_safetensors(
    map: &TensorMap,
    metadata: HashMap<String, String>,
    path: &Path,
) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = mmbind_schema::AtomicFile::create(path).map_err(io)?;
    let views = map.0.iter().map(|(k, t)| (k.as_str(), F32View(t)));
    // safetensors streams to a path: the temporary one, whose inode `file` holds, so the
    // commit fsyncs what it wrote before the rename.
    safetensors::serialize_to_file(views, Some(metadata), file.tmp_path())
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    file.commit().map_err(io)
}
