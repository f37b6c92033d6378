//! The writer lock: an advisory `flock` on `INDEX_DIR/lock`, holding the owner's pid as text.
//!
//! The kernel releases a `flock` when its process dies (even by SIGKILL), so a crashed writer
//! never leaves the index locked.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub(crate) const LOCK_FILE: &str = "lock";

/// Held writer lock; released on drop.
#[derive(Debug)]
pub(crate) struct LockGuard {
    file: File,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

/// Outcome of a lock attempt that is not an I/O error.
pub(crate) enum TryLock {
    Locked(LockGuard),
    Busy(Option<u32>),
}

/// Try once, without waiting.
pub(crate) fn try_lock(dir: &Path) -> Result<TryLock> {
    let path: PathBuf = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(|e| Error::io(&path, e))?;
            file.seek(SeekFrom::Start(0))
                .map_err(|e| Error::io(&path, e))?;
            file.write_all(format!("{}\n", std::process::id()).as_bytes())
                .map_err(|e| Error::io(&path, e))?;
            Ok(TryLock::Locked(LockGuard { file }))
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(TryLock::Busy(read_pid(&mut file))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// Take the lock, polling for up to `wait` (`None`: a single attempt).
pub(crate) fn lock(dir: &Path, wait: Option<Duration>) -> Result<LockGuard> {
    let start = Instant::now();
    let wait = wait.unwrap_or(Duration::ZERO);
    let mut pause = Duration::from_millis(10);
    loop {
        match try_lock(dir)? {
            TryLock::Locked(g) => return Ok(g),
            TryLock::Busy(pid) => {
                let waited = start.elapsed();
                if waited >= wait {
                    return Err(Error::Busy {
                        dir: dir.to_path_buf(),
                        pid,
                        waited,
                    });
                }
                std::thread::sleep(pause.min(wait - waited));
                pause = (pause * 2).min(Duration::from_millis(200));
            }
        }
    }
}
