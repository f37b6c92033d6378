//! What mmbind does to your file.
//!
//! Each modality has one module that turns bytes on disk into the array its encoder takes:
//! `decode_*` reads a file into samples, `preprocess` fits samples to the model geometry.
//! Nothing here knows about burn; the arrays are plain `ndarray` values so this crate compiles
//! fast and can be tested (and fuzzed) on its own.

pub mod error;

pub use error::{Error, Result};
pub use mmbind_schema::{Modality, PerModality, UnknownModality};

/// Reads a whole input file; an unreadable or empty file is a decode error naming the file.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    let bytes = crate::Limits::current().read_file(path)?;
    if bytes.is_empty() {
        return Err(Error::decode(path, "the file is empty (0 bytes)"));
    }
    Ok(bytes)
}

/// Serde default of the `std` of a preprocessing's `(x - mean) / std`: none.
pub(crate) fn unit_std() -> f32 {
    1.0
}

pub mod audio;
pub mod bpe;
pub mod depth;
pub mod fbank;
pub mod imu;
mod jpeg;
pub mod limits;
pub(crate) mod map;
pub(crate) mod npy;
pub mod prepare;
pub mod resample;
pub mod text;
pub mod thermal;
pub mod vision;

pub use limits::Limits;
pub use prepare::{Prepared, Preprocess, Source};
