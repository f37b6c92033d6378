//! Atomic file replacement: write a temporary file in the same directory, fsync it, rename it
//! over the target, fsync the directory. A reader, or a process started after a crash or a
//! power cut, sees either the old file or the complete new one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Marker in temporary file names: a writer killed before its rename leaves `NAME.tmp-…`
/// behind, which a later writer holding the directory's lock may remove.
pub const TMP_MARK: &str = ".tmp-";

/// A temporary file that becomes `target` on [`commit`](AtomicFile::commit), or disappears
/// when dropped uncommitted.
pub struct AtomicFile {
    pub file: File,
    tmp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl AtomicFile {
    /// Creates the temporary file beside `target` (a name no other writer uses).
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file");
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = target.with_file_name(format!("{name}{TMP_MARK}{}-{n}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        Ok(AtomicFile {
            file,
            tmp,
            target: target.to_path_buf(),
            done: false,
        })
    }

    /// Where the bytes are written until the commit.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// fsync, rename over the target, fsync the directory.
    pub fn commit(mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.sync_all()?;
        fs::rename(&self.tmp, &self.target)?;
        self.done = true;
        match self.target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
            _ => sync_dir(Path::new(".")),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// fsyncs a directory, so the renames and new entries in it survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(target)?;
    f.file.write_all(bytes)?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f.json");
        write_atomic(&target, b"old").unwrap();
        write_atomic(&target, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        // Dropped before its commit: the target keeps the last committed bytes.
        let mut f = AtomicFile::create(&target).unwrap();
        f.file.write_all(b"half").unwrap();
        let tmp = f.tmp_path().to_path_buf();
        assert!(tmp.exists());
        drop(f);
        assert!(!tmp.exists());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f.json"]);
    }
}
