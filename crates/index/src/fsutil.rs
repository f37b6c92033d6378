//! Atomic file replacement is `mmbind_schema::atomic`'s (fsync, rename, fsync the directory);
//! here is only what the index adds to it: its error type, and the removal of temporaries a
//! killed writer left behind.

use std::fs;
use std::path::Path;

pub(crate) use mmbind_schema::AtomicFile;
use mmbind_schema::atomic::TMP_MARK;

use crate::error::{Error, Result};

/// A temporary file that becomes `target` on [`commit`].
pub(crate) fn create(target: &Path) -> Result<AtomicFile> {
    AtomicFile::create(target).map_err(|e| Error::io(target, e))
}

/// Makes `file` the `target` it was created for.
pub(crate) fn commit(file: AtomicFile, target: &Path) -> Result<()> {
    file.commit().map_err(|e| Error::io(target, e))
}

/// Write `bytes` to `target` atomically.
pub(crate) fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    mmbind_schema::write_atomic(target, bytes).map_err(|e| Error::io(target, e))
}

/// Remove temp files left behind by killed writers. Call only while holding the writer lock.
pub(crate) fn remove_stale_temps(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().contains(TMP_MARK) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}
