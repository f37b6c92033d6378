//! Checkpoints: PyTorch `.pth` (ZIP, legacy stream, TAR, plain pickle) through
//! `pytorch-reader`, and safetensors, converted to f32 exactly as `crates/mmbind/src/weights/read.rs` does.
//!
//! The main crate links burn, so this target cannot call `read_checkpoint` itself; it repeats
//! its glue over the same reader crates at the same versions, and decodes the elements with
//! the main crate's own `weights/dtype.rs` (compiled here as it is: it needs no burn).
//! Replace the rest of the copy with a call once the readers live in a burn-free crate (see
//! fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pytorch_reader::{DType as PtDType, PytorchReader};
use safetensors::{Dtype, SafeTensors};

#[path = "../../crates/mmbind/src/weights/dtype.rs"]
#[allow(dead_code)]
mod dtype;
use dtype::{FloatDtype, floats_le};

/// `read_checkpoint`: the container is chosen by the first bytes.
fn read_checkpoint(
    path: &std::path::Path,
    bytes: &[u8],
) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>, String> {
    if bytes.starts_with(b"PK") || bytes.first() == Some(&0x80) {
        read_pytorch(path)
    } else {
        read_safetensors(bytes)
    }
}

fn read_pytorch(path: &std::path::Path) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>, String> {
    let reader = PytorchReader::new(path).map_err(|e| e.to_string())?;
    let file_len = std::fs::metadata(path).map_or(0, |m| m.len());
    let mut out = Vec::new();
    for (name, t) in reader.into_tensors() {
        // As read.rs: a tensor larger than the whole file (a view repeating its storage)
        // is refused before it is read.
        let declared = t
            .shape()
            .iter()
            .try_fold(t.dtype().size(), |n, &d| n.checked_mul(d));
        if declared.is_none_or(|n| n as u64 > file_len) {
            return Err(format!("tensor '{name}' larger than the checkpoint"));
        }
        let bytes = t.read().map_err(|e| e.to_string())?;
        let dtype = match t.dtype() {
            PtDType::F32 => FloatDtype::F32,
            PtDType::F64 => FloatDtype::F64,
            PtDType::F16 => FloatDtype::F16,
            PtDType::BF16 => FloatDtype::BF16,
            other => return Err(format!("tensor '{name}' has dtype {other:?}")),
        };
        let data = floats_le(&bytes, dtype);
        // `HostTensor::new` pairs them; a mismatch would be a reader bug.
        assert_eq!(
            data.len(),
            t.shape().iter().product::<usize>(),
            "{name}: data/shape mismatch"
        );
        out.push((name, t.shape().to_vec(), data));
    }
    Ok(out)
}

fn read_safetensors(bytes: &[u8]) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>, String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let b = view.data();
        let dtype = match view.dtype() {
            Dtype::F32 => FloatDtype::F32,
            Dtype::F64 => FloatDtype::F64,
            Dtype::F16 => FloatDtype::F16,
            Dtype::BF16 => FloatDtype::BF16,
            other => return Err(format!("tensor '{name}' has dtype {other:?}")),
        };
        let data = floats_le(b, dtype);
        assert_eq!(
            data.len(),
            view.shape().iter().product::<usize>(),
            "{name}: data/shape mismatch"
        );
        out.push((name, view.shape().to_vec(), data));
    }
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let path = mmbind_fuzz::scratch_file("input.pth", data);
    let r = read_checkpoint(&path, data);
    mmbind_fuzz::verbose("checkpoint", &r);
});
