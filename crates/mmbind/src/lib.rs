//! mmbind: six modalities — vision, text, audio, depth, thermal, IMU — bound into one
//! embedding space, ImageBind-style, on burn.
//!
//! The layout follows the architecture: [`config`] says how big each encoder is, [`nn`] holds
//! the network (one file per part, one stem per modality), [`weights`] moves tensors between
//! checkpoints, model directories and modules, and [`model`] ties the six encoders together.
//! What happens to a file before it reaches an encoder lives in the `mmbind-modalities`
//! crate; the command line on top is the `mmbind-cli` crate (binary `mmbind`). The library
//! has no command-line parser and sets up nothing process-wide.

pub mod backend;
pub mod choice;
pub mod classify;
pub mod config;
pub mod cpu;
pub mod dataset;
pub mod embed;
mod error;
pub mod eval;
pub mod import;
pub mod model;
pub mod nn;
pub mod search;
pub mod tensor_io;
pub mod train;
pub mod vector;
pub mod weights;

pub use choice::Choice;
pub use error::{Error, Result};
pub use mmbind_modalities::Modality;
pub use model::Model;
