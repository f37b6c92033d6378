//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! Most decoders of `mmbind-modalities` take a path (they read the file through the limits
//! policy), so the targets write each input to a scratch file first: on `/dev/shm` where it
//! exists (no disk I/O), else the system temp dir; `MMBIND_FUZZ_TMP` overrides both. Each
//! process gets its own directory (`mmbind-fuzz-<pid>`), so `-jobs`/`-workers` runs do not
//! collide.
//!
//! The index targets need an index directory: [`TemplateIndex`] builds a small one (dim 4,
//! a handful of files in three modalities, matrix and HNSW graph written) once per process,
//! then each input replaces one derived file in it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[cfg(feature = "index")]
mod index;
#[cfg(feature = "index")]
pub use index::*;

/// Call first in every target. libfuzzer-sys installs a panic hook that aborts on *any* panic,
/// even one mmbind catches on purpose (audio decodes with symphonia under `catch_unwind`, so
/// one bad file cannot take down a batch). This restores the default hook: a panic that
/// escapes the target still aborts (libfuzzer-sys's wrapper does that: a crash), one caught
/// inside mmbind is printed ("panicked at ...") and fuzzing goes on.
/// `MMBIND_FUZZ_STRICT_PANICS=1` keeps libfuzzer's hook, to collect the caught ones too.
pub fn setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("MMBIND_FUZZ_STRICT_PANICS").is_none_or(|v| v != "1") {
            drop(std::panic::take_hook());
        }
    });
}

/// This process's scratch directory (created on first use).
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = match std::env::var_os("MMBIND_FUZZ_TMP") {
            Some(d) => PathBuf::from(d),
            None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
            None => std::env::temp_dir(),
        };
        let dir = base.join(format!("mmbind-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz scratch directory");
        dir
    })
}

/// Writes `bytes` to the scratch file `name` and returns its path.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, bytes).expect("write the fuzz input to the scratch directory");
    path
}

/// With `MMBIND_FUZZ_VERBOSE` set, prints what the decoder said about each input (to check
/// that seeds are accepted: `MMBIND_FUZZ_VERBOSE=1 cargo +nightly fuzz run image seeds/image
/// -- -runs=0`).
pub fn verbose<T, E: std::fmt::Display>(what: &str, r: &Result<T, E>) {
    if verbose_enabled() {
        match r {
            Ok(_) => eprintln!("{what}: ok"),
            Err(e) => eprintln!("{what}: {e}"),
        }
    }
}

/// Whether `MMBIND_FUZZ_VERBOSE` is set.
pub fn verbose_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MMBIND_FUZZ_VERBOSE").is_some())
}

/// Whether `MMBIND_FUZZ_DECODE_ONLY=1` asks the image target to skip preprocessing.
pub fn decode_only() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MMBIND_FUZZ_DECODE_ONLY").is_some_and(|v| v == "1"))
}
