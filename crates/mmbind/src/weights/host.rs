use std::collections::BTreeMap;

use burn::tensor::Tensor;
use sha2::{Digest, Sha256};

/// A tensor's values in host memory as f32, row-major.
pub fn host_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    // burn-ndarray reads a tensor whose storage is shared (a parameter's value, any clone)
    // element by element through a dynamic-rank iterator, about 30 ns a value; a fresh tensor
    // of its own it hands over without a copy. A product by one (exact) makes that fresh
    // tensor: 0.2–0.3 ns a value in all, measured on 128 k values. The training steps on the
    // CPU path read every weight this way each step.
    let ndarray = crate::backend::ndarray_device();
    let device = t.device();
    let t = if device == ndarray || device == ndarray.autodiff() {
        t.detach().mul_scalar(1.0)
    } else {
        t
    };
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float tensor")
}

/// A float32 tensor in host memory, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    pub fn num_elements(&self) -> usize {
        self.data.len()
    }

    pub fn le_bytes(&self) -> Vec<u8> {
        self.data.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
}

/// Named tensors, sorted by name so that everything derived from them (files, hashes) is
/// deterministic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorMap(pub BTreeMap<String, HostTensor>);

impl TensorMap {
    pub fn insert(&mut self, name: impl Into<String>, t: HostTensor) {
        self.0.insert(name.into(), t);
    }

    pub fn get(&self, name: &str) -> Option<&HostTensor> {
        self.0.get(name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn num_parameters(&self) -> usize {
        self.0.values().map(HostTensor::num_elements).sum()
    }

    /// SHA-256 over every name, shape and little-endian value, in name order: the model's
    /// identity. Two files holding the same tensors hash the same whatever their container.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        for (name, t) in &self.0 {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((t.shape.len() as u64).to_le_bytes());
            for d in &t.shape {
                h.update((*d as u64).to_le_bytes());
            }
            for chunk in t.data.chunks(1 << 16) {
                let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
                h.update(&bytes);
            }
        }
        let digest = h.finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_sees_names_shapes_and_values() {
        let mut a = TensorMap::default();
        a.insert("w", HostTensor::new(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]));
        let base = a.content_hash();
        let mut renamed = TensorMap::default();
        renamed.insert("v", HostTensor::new(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]));
        let mut reshaped = TensorMap::default();
        reshaped.insert("w", HostTensor::new(vec![4], vec![1.0, 2.0, 3.0, 4.0]));
        let mut changed = a.clone();
        changed.0.get_mut("w").unwrap().data[3] = 4.000001;
        assert_eq!(base, a.clone().content_hash());
        assert_ne!(base, renamed.content_hash());
        assert_ne!(base, reshaped.content_hash());
        assert_ne!(base, changed.content_hash());
        assert_eq!(base.len(), 64);
    }
}
