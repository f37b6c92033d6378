//! PyTorch `nn.Linear` weights are `[out, in]`; burn's `Linear` keeps `[in, out]`.

use burn::nn::Linear;

use crate::Result;
use crate::weights::{WeightLoader, WeightSink};

/// Loads a PyTorch linear layer stored as `{prefix}weight` (and `{prefix}bias`).
pub fn load_linear(
    w: &WeightLoader,
    prefix: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
) -> Result<Linear> {
    let name = format!("{prefix}weight");
    let weight = w.named_param(&name, w.tensor(&name, [d_out, d_in])?.transpose());
    let bias = if bias {
        Some(w.param(&format!("{prefix}bias"), [d_out])?)
    } else {
        None
    };
    Ok(Linear { weight, bias })
}

pub fn save_linear(l: &Linear, w: &WeightSink, prefix: &str) {
    w.put(&format!("{prefix}weight"), &l.weight.val().transpose());
    if let Some(b) = &l.bias {
        w.put(&format!("{prefix}bias"), &b.val());
    }
}
