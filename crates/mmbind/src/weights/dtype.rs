//! Tensor elements as files store them, decoded in one place: the checkpoint readers
//! (PyTorch, safetensors) and the raw-input reader all call these.
//!
//! Nothing here depends on burn (only `half`), so the fuzzer compiles this very file
//! (`fuzz/fuzz_targets/checkpoint.rs`) with the readers it mirrors.

use half::{bf16, f16};

/// The float element types a checkpoint may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatDtype {
    F32,
    F64,
    F16,
    BF16,
}

/// Little-endian elements of `dtype` as `f32` (f64 values too large for f32 become
/// infinite; a trailing partial element is ignored).
pub fn floats_le(bytes: &[u8], dtype: FloatDtype) -> Vec<f32> {
    match dtype {
        FloatDtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        FloatDtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("chunk of 8")) as f32)
            .collect(),
        FloatDtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        FloatDtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    }
}

/// Little-endian integers, 8 bytes each (`wide`) or 4, as `i64`.
pub fn ints_le(bytes: &[u8], wide: bool) -> Vec<i64> {
    if wide {
        bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("chunk of 8")))
            .collect()
    } else {
        bytes
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dtype_decodes_its_little_endian_bytes() {
        let x = [1.5f32, -2.25];
        let f32s: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let f64s: Vec<u8> = x.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect();
        let f16s: Vec<u8> = x
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect();
        let bf16s: Vec<u8> = x
            .iter()
            .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
            .collect();
        assert_eq!(floats_le(&f32s, FloatDtype::F32), x);
        assert_eq!(floats_le(&f64s, FloatDtype::F64), x);
        assert_eq!(floats_le(&f16s, FloatDtype::F16), x);
        assert_eq!(floats_le(&bf16s, FloatDtype::BF16), x);
        assert_eq!(
            floats_le(&f64::MAX.to_le_bytes(), FloatDtype::F64),
            [f32::INFINITY]
        );
        let ids = [7i64, -3];
        let wide: Vec<u8> = ids.iter().flat_map(|v| v.to_le_bytes()).collect();
        let narrow: Vec<u8> = ids.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect();
        assert_eq!(ints_le(&wide, true), ids);
        assert_eq!(ints_le(&narrow, false), ids);
    }
}
