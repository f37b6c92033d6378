//! Checkpoints: PyTorch `.pth` (ZIP, legacy stream, TAR, plain pickle) through
//! `pytorch-reader`, and safetensors, converted to f32 exactly as `crates/mmbind/src/weights/read.rs` does.
//!
//! The main crate links burn, so this target cannot call `read_checkpoint` itself; it repeats
//! its ~40 lines of glue over the same reader crates at the same versions. Replace the copy
//! with a call once the readers live in a burn-free crate (see fuzz/README.md).
#![no_main]

use half::{bf16, f16};
use libfuzzer_sys::fuzz_target;
use pytorch_reader::{DType as PtDType, PytorchReader};
use safetensors::{Dtype, SafeTensors};

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
        let data: Vec<f32> = match t.dtype() {
            PtDType::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            PtDType::F64 => bytes
                .chunks_exact(8)
                .map(|c| f64::from_ne_bytes(c.try_into().expect("chunk of 8")) as f32)
                .collect(),
            PtDType::F16 => bytes
                .chunks_exact(2)
                .map(|c| f16::from_ne_bytes([c[0], c[1]]).to_f32())
                .collect(),
            PtDType::BF16 => bytes
                .chunks_exact(2)
                .map(|c| bf16::from_ne_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => return Err(format!("tensor '{name}' has dtype {other:?}")),
        };
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
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F64 => b
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunk of 8")) as f32)
                .collect(),
            Dtype::F16 => b
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => b
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => return Err(format!("tensor '{name}' has dtype {other:?}")),
        };
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
