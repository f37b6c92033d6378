//! The words every mmbind crate shares, defined once: the six [`Modality`]s, a map with one
//! value per modality ([`PerModality`]), the dataset's [`Split`]s and its `pairs.jsonl` row
//! ([`PairsRow`]: the world writes it, the dataset reads it), and the one way to replace a
//! file so that a crash leaves the old file or the new one ([`atomic`]).
//!
//! It depends on serde alone, so the decoders, the generator, the index and the fuzzer can
//! all use it without the model.

pub mod atomic;
#[macro_use]
mod define;
mod modality;
mod pairs;
mod per_modality;

pub use atomic::{AtomicFile, sync_dir, write_atomic};
pub use modality::{Modality, PerModality, UnknownModality};
pub use pairs::{PairsRow, Split};
pub use per_modality::Absent;
