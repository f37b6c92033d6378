//! The network, one file per part, following ImageBind (Girdhar et al., "ImageBind: One
//! Embedding Space To Bind Them All", CVPR 2023; facebookresearch/ImageBind at 53680b0).
//!
//! Every encoder is `stem → trunk → head → postprocess`; only the stem knows its modality.

mod attention;
mod block;
mod drop;
mod encoder;
mod head;
mod layer_norm;
mod linear;
mod postprocess;
pub mod stems;
mod trunk;

pub use attention::MultiheadAttention;
pub use block::{Block, Mlp};
pub use drop::{Branch, Drops};
pub use encoder::{Encoder, EncoderInput, EncoderTrace, Stem};
pub use head::{Head, Pool};
pub use layer_norm::LayerNorm;
pub use postprocess::Postprocess;
pub use trunk::{Trunk, TrunkStage};
