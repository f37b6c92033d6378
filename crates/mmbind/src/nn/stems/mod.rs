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
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

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

/// Conv2d without padding or bias, `[batch, c, h, w]` → `[batch, d, h', w']`.
///
/// When the stride equals the kernel (non-overlapping patches: every stem but ImageBind's
/// audio one) this is a reshape into patches and one matmul, which autodiff handles with plain
/// matmul gradients: burn 0.22's wgpu conv2d computes a wrong weight gradient for the tiny
/// audio stem (kernel 16 on a 64×204 spectrogram; checked by
/// `frozen_phase_gradients_agree_across_backends`), and the matmul is no slower on ndarray.
/// Rows and columns that no kernel position reads are dropped, as the conv does.
fn patchify(x: Tensor<4>, weight: Tensor<4>, stride: [usize; 2]) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    let [d, _, kh, kw] = weight.dims();
    if stride != [kh, kw] || height < kh || width < kw {
        return conv2d(x, weight, None, ConvOptions::new(stride, [0, 0], [1, 1], 1));
    }
    let (h, w) = (height / kh, width / kw);
    let x = if (h * kh, w * kw) == (height, width) {
        x
    } else {
        x.slice([0..batch, 0..channels, 0..h * kh, 0..w * kw])
    };
    // [b, c, h, kh, w, kw] → [b, h, w, c, kh, kw]: one row per patch, in the kernel's order.
    let patches = x
        .reshape([batch, channels, h, kh, w, kw])
        .permute([0, 2, 4, 1, 3, 5])
        .reshape([batch * h * w, channels * kh * kw]);
    patches
        .matmul(weight.reshape([d, channels * kh * kw]).transpose())
        .reshape([batch, h, w, d])
        .permute([0, 3, 1, 2])
}
