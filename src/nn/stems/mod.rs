//! The modality-specific part of each encoder: raw input → tokens (+ CLS, + positions).

mod imu;
mod patch;
mod text;
mod video;

pub use imu::ImuStem;
pub use patch::PatchStem;
pub use text::TextStem;
pub use video::VideoStem;

use burn::tensor::Tensor;

use super::Pool;

/// What a stem hands the trunk.
pub struct Tokens {
    /// `[batch, tokens, d_model]`, positions already added.
    pub x: Tensor<3>,
    /// The token the head reads.
    pub pool: Pool,
    /// An additive attention mask `[tokens, tokens]` for every block (text: causal).
    pub mask: Option<Tensor<2>>,
}

/// `[batch, tokens, d]` → `[batch, 1 + tokens, d]` with the learned CLS token in front.
fn prepend_cls(x: Tensor<3>, cls: Tensor<3>) -> Tensor<3> {
    let [batch, _, d] = x.dims();
    Tensor::cat(vec![cls.expand([batch, 1, d]), x], 1)
}
