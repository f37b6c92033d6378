//! Incremental updates: planning (what must be embedded, reused, touched, removed) and
//! committing (batches of vectors, then the rest), each step one SQLite transaction.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::Path;

use crate::lock::LockGuard;
use crate::path_text;
use crate::store;
use crate::{Index, RebuildReport};

mod commit;
mod plan;

/// A file as the caller sees it now.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileStat {
    /// The path as the caller wants it stored and shown (used as the file's identity, and
    /// opened to compute the content hash).
    pub path: String,
    /// Modality name chosen by the caller ("vision", "audio", ...).
    pub modality: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

impl FileStat {
    /// Stat `path` (size and mtime) for `modality`; it is stored as its text form
    /// ([`path_text::encode`]: exact for a name that is not UTF-8). Refuses (`InvalidInput`)
    /// anything but a regular file (opening a FIFO blocks until a writer appears; a device or
    /// socket has no content to hash).
    pub fn from_path(path: &Path, modality: &str) -> io::Result<FileStat> {
        let md = std::fs::metadata(path)?;
        if !md.is_file() {
            return Err(not_regular(&md));
        }
        let mtime_ns = md
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or_else(|e| -(e.duration().as_nanos() as i64));
        Ok(FileStat {
            path: path_text::encode(path).into_owned(),
            modality: modality.to_string(),
            size: md.len(),
            mtime_ns,
        })
    }
}

/// BLAKE3 hash of a file's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    pub fn of_bytes(b: &[u8]) -> ContentHash {
        ContentHash(*blake3::hash(b).as_bytes())
    }
    pub fn hex(&self) -> String {
        store::hex(&self.0)
    }
    fn from_blob(b: &[u8]) -> Option<ContentHash> {
        Some(ContentHash(b.try_into().ok()?))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.hex()[..16])
    }
}
impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

fn not_regular(md: &std::fs::Metadata) -> io::Error {
    let what = file_kind(md);
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file: skipped"),
    )
}

/// What kind of file `md` describes, in words for messages ("a FIFO", "a device", ...):
/// what `index` says of a path it does not take.
pub fn file_kind(md: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = md.file_type();
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Hash a file's content (BLAKE3, streamed). Only regular files: the file is opened
/// non-blocking and checked after opening, so a FIFO put in a file's place fails at once
/// instead of blocking (while the caller holds the writer lock).
pub fn hash_file(path: &Path) -> io::Result<ContentHash> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let md = f.metadata()?;
    if !md.is_file() {
        return Err(not_regular(&md));
    }
    let mut h = blake3::Hasher::new();
    h.update_reader(f)?;
    Ok(ContentHash(*h.finalize().as_bytes()))
}

/// Why a file is in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Not in the index yet.
    New,
    /// Size or mtime changed and so did the content.
    Modified,
    /// The caller now assigns another modality to the same content.
    ModalityChanged,
    /// Size or mtime changed but the content hash did not: metadata update only.
    Touched,
}

/// One file of a plan, with its content hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFile {
    pub stat: FileStat,
    pub hash: ContentHash,
    pub change: Change,
    /// For reused vectors: a path that has (or had, for a rename) the same content and
    /// modality — in the index, or earlier in `Plan::embed`. `None` if the vector is an
    /// orphan kept from an interrupted run.
    pub same_content_as: Option<String>,
}

/// What `Writer::plan` decided.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Must be embedded by the caller (one per distinct (content, modality); duplicates of
    /// these are in `reuse`).
    pub embed: Vec<PlannedFile>,
    /// Get their vector from a stored file (or an `embed` entry) with the same content hash and
    /// modality: renames and duplicates. Applied by `finish`.
    pub reuse: Vec<PlannedFile>,
    /// Same content, new size/mtime: metadata update only. Applied by `finish`.
    pub touch: Vec<PlannedFile>,
    /// Files whose stored entry is still current (not re-hashed).
    pub unchanged: usize,
    /// Indexed paths that are no longer present (within the plan's scope). Applied by `finish`.
    pub remove: Vec<String>,
    /// Files that could not be hashed: (path, reason). Left as they are in the index.
    pub failed: Vec<(String, String)>,
    /// How many files were hashed.
    pub hashed: usize,
}

impl Plan {
    /// Reused entries whose source is being removed: renames (new path, old path).
    pub fn renames(&self) -> Vec<(&str, &str)> {
        let removed: HashSet<&str> = self.remove.iter().map(|s| s.as_str()).collect();
        self.reuse
            .iter()
            .filter_map(|p| {
                p.same_content_as
                    .as_deref()
                    .filter(|s| removed.contains(s))
                    .map(|s| (p.stat.path.as_str(), s))
            })
            .collect()
    }
    /// Nothing to do?
    pub fn is_noop(&self) -> bool {
        self.embed.is_empty()
            && self.reuse.is_empty()
            && self.touch.is_empty()
            && self.remove.is_empty()
    }
}

/// A custom content hasher (tests count calls with it).
pub type Hasher<'h> = &'h (dyn Fn(&FileStat) -> io::Result<ContentHash> + Sync);

/// Options of `Writer::plan_with`.
#[derive(Clone, Copy, Default)]
pub struct PlanOptions<'a> {
    /// Only indexed paths under one of these prefixes (compared as path components) may be
    /// removed; `None`: the file list is the complete collection.
    pub scope: Option<&'a [String]>,
    /// Content hasher; default `hash_file(stat.path)`.
    pub hasher: Option<Hasher<'a>>,
    /// Indexed paths under one of these prefixes (compared as path components) are never
    /// removed, listed or not: directories that could not be read and files that could not
    /// be examined, whose files are still there as far as anyone knows.
    pub keep: &'a [String],
}

/// Counts of a commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Files stored with a freshly embedded vector (by this writer, all batches).
    pub embedded: usize,
    /// Files stored with a reused vector.
    pub reused: usize,
    /// Metadata-only updates.
    pub touched: usize,
    /// Files removed.
    pub removed: usize,
    /// Planned embeddings that were never committed (e.g. the caller could not decode them):
    /// those files keep their previous entry, if any.
    pub not_embedded: usize,
    /// Reuse entries whose source vector did not exist at finish time (its `embed` entry was
    /// never committed): not stored.
    pub unresolved: Vec<String>,
    /// Unreferenced vectors deleted.
    pub vectors_collected: usize,
    /// Files in the index afterwards.
    pub files: usize,
    /// Database generation afterwards.
    pub generation: u64,
    /// What happened to the derived files.
    pub rebuild: RebuildReport,
}

/// Exclusive write access to an index (holds the lock file until dropped).
pub struct Writer<'a> {
    pub(crate) index: &'a mut Index,
    pub(crate) _lock: LockGuard,
    pub(crate) committed: HashSet<String>,
    pub(crate) embedded: usize,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("dir", &self.index.dir)
            .field("embedded", &self.embedded)
            .finish()
    }
}

impl<'a> Writer<'a> {
    pub fn index(&self) -> &Index {
        self.index
    }
}
