//! PyTorch `nn.Linear` weights are `[out, in]`; burn's `Linear` keeps `[in, out]`.
//!
//! The weight is transposed in host memory, so that burn holds it row-major: a transposed
//! view would stay column-major through every optimizer step, and burn-ndarray reads such a
//! tensor back element by element (27 ns a value against under 1), which the CPU path's
//! training steps do with every weight each step.

use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData};

use crate::Result;
use crate::weights::{HostTensor, WeightLoader, WeightSink, host_values};

/// `[rows, cols]` row-major → `[cols, rows]` row-major.
fn transposed(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; data.len()];
    for (r, row) in data.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            out[c * rows + r] = v;
        }
    }
    out
}

/// Loads a PyTorch linear layer stored as `{prefix}weight` (and `{prefix}bias`).
pub fn load_linear(
    w: &WeightLoader,
    prefix: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
) -> Result<Linear> {
    let name = format!("{prefix}weight");
    let torch = w.host(&name, &[d_out, d_in])?;
    let weight = Tensor::from_data(
        TensorData::new(transposed(&torch.data, d_out, d_in), [d_in, d_out]),
        w.device(),
    );
    let weight = w.named_param(&name, weight);
    let bias = if bias {
        Some(w.param(&format!("{prefix}bias"), [d_out])?)
    } else {
        None
    };
    Ok(Linear { weight, bias })
}

pub fn save_linear(l: &Linear, w: &WeightSink, prefix: &str) {
    let [d_in, d_out] = l.weight.dims();
    let data = transposed(&host_values(l.weight.val()), d_in, d_out);
    w.put_host(
        &format!("{prefix}weight"),
        HostTensor::new(vec![d_out, d_in], data),
    );
    if let Some(b) = &l.bias {
        w.put(&format!("{prefix}bias"), &b.val());
    }
}
