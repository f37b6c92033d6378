//! Weights on disk and in memory.
//!
//! mmbind keeps ImageBind's own key names everywhere — in the official `.pth`, in an imported
//! model directory's `weights.safetensors` and in trained models — so one loader serves all of
//! them, and each module's `load` names its keys exactly as the checkpoint does (the module
//! tree and the checkpoint cannot drift apart).

mod dtype;
mod host;
mod loader;
mod model_dir;
mod read;

pub use dtype::{FloatDtype, floats_le, ints_le};
pub use host::{HostTensor, TensorMap, host_values};
pub use loader::{WeightLoader, WeightSink};
pub use model_dir::{MODEL_FORMAT_VERSION, ModelDir, ModelManifest, Provenance, is_model_dir};
pub use read::{read_checkpoint, read_pytorch, read_safetensors, write_safetensors};
