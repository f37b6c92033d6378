//! # mmbind-index
//!
//! Storage and search for `mmbind index` / `query` / `add`: per-file metadata and vectors in
//! SQLite, incremental (re)indexing, crash-safe writes, exact and approximate inner-product
//! search. Pure Rust apart from SQLite (bundled) and usearch (C++, compiled by cargo); the
//! embeddings come from the caller as `f32` slices.
//!
//! ## On disk (`INDEX_DIR/`)
//! | file | what | authority |
//! |---|---|---|
//! | `index.sqlite` (+ `-wal`, `-shm`) | model id/name, dim, format version, a generation counter, every file (path, modality, size, mtime, BLAKE3 hash) and every vector | source of truth |
//! | `VERSION` | `mmbind-index <format>`: lets any future version refuse or migrate before opening SQLite | |
//! | `vectors.mat` | all vectors contiguous (memory-mapped for search) + path/modality catalog | derived, stamped, block checksums |
//! | `hnsw.usearch` | HNSW graph (only from `approx_min_items` files) | derived, stamped, block checksums |
//! | `lock` | `flock`ed by the one writer; holds its pid | |
//!
//! Derived files carry the `(uid, generation)` of the SQLite state they were built from, are
//! written to a temp file + fsync + rename, and are ignored (and rebuilt) when stale. Every
//! file is verified before use: the derived files block by block (a CRC-32 per MiB), every
//! stored vector against its checksum column; damage is reported (`take_warnings`,
//! [`Index::check`]) and what is derived is rebuilt from SQLite (see the README's
//! "Integrity").
//!
//! ## Typical use
//! ```no_run
//! use mmbind_index::*;
//! # fn embed(_: &[PlannedFile]) -> Vec<Vec<f32>> { vec![] }
//! # fn main() -> Result<()> {
//! let model = ModelInfo::new("3fa9c2…", "tiny", 512);
//! let mut index = Index::create_or_open("my-index".as_ref(), &model)?;
//! let files = vec![FileStat::from_path("a.png".as_ref(), "vision").unwrap()];
//! let mut w = index.writer(Some(std::time::Duration::from_secs(5)))?;
//! let plan = w.plan(&files)?;
//! for chunk in plan.embed.chunks(64) {
//!     let vecs = embed(chunk);
//!     let batch: Vec<(&PlannedFile, &[f32])> = chunk.iter().zip(&vecs).map(|(p, v)| (p, v.as_slice())).collect();
//!     w.commit_batch(&batch)?;            // durable from here on
//! }
//! let stats = w.finish(&plan)?;           // renames/duplicates, removals, search files
//! # let query = vec![0f32; 512];
//! let hits = index.search(&query, 5, &Filter::default())?;
//! # Ok(()) }
//! ```
//!
//! Scores are plain inner products of the stored vector and the query: this crate does **not**
//! normalise anything (the main crate stores and queries L2-normalised embeddings, so the
//! score is the cosine similarity).

mod check;
mod derived;
mod error;
mod exact;
mod fsutil;
mod hnsw;
mod hnsw_layout;
mod integrity;
pub mod kernels;
mod lock;
mod lookup;
mod matrix;
pub mod path_text;
mod quantized;
mod search;
mod store;
pub mod synth;
mod types;
mod writer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;

pub use error::{Error, Result};
pub use hnsw::{Hnsw, HnswParams};
pub use matrix::Matrix;
pub use search::recall_at_k;
pub use store::SCHEMA_VERSION;
use types::NoGraph;
pub use types::{
    ApproxState, CheckReport, DamagedVector, FileRecord, FileState, Filter, Hit, ModelInfo,
    RebuildReport, RepairReport, SearchMethod,
};
pub use writer::{
    Change, CommitStats, ContentHash, FileStat, Hasher, Plan, PlanOptions, PlannedFile, Writer,
    file_kind, hash_file,
};

use exact::RowFilter;
use integrity::Load;
use kernels::Scored;
use matrix::Stamp;
use path_text::{PathText, SqlPath};
use store::Meta;

/// From this many files on, `Writer::finish` builds an HNSW graph and `search_auto` uses it.
///
/// Measured on the 2-core development machine with 1024-d vectors (`benches/search.rs`, see
/// the crate README): exact single-query search is memory-bound at ~0.2 ms per 1000 rows
/// (18–24 ms at 100k, 66 ms at 300k, 213 ms at 1M), HNSW answers in 0.5–1.6 ms at
/// recall@10 ≈ 0.98 with the default ef. Below ~200k
/// the exact scan stays under ~50 ms — small next to loading the model and embedding the
/// query — is exact, and needs no graph (~90 s of build per 100k vectors on 2 cores, and a
/// second copy of the vectors on disk), so the graph only pays off from here on.
pub const AUTO_APPROX_MIN_ITEMS: usize = 200_000;

/// Identity of a file's current contents (device, inode, length, mtime): remembers that a
/// graph file is damaged without verifying it again at every search.
type FileKey = (u64, u64, u64, i64, i64);

/// The `FileKey` of `p`.
fn file_key(p: &Path) -> Option<FileKey> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).ok()?;
    Some((m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// An open index. `Send + Sync`: searches may run from several threads.
pub struct Index {
    pub(crate) dir: PathBuf,
    pub(crate) conn: Mutex<Connection>,
    pub(crate) meta: Meta,
    writable: bool,
    matrix: Mutex<Option<Arc<Matrix>>>,
    hnsw: Mutex<Option<Arc<Hnsw>>>,
    /// The graph file found damaged, and what was wrong (not verified again while unchanged).
    bad_graph: Mutex<Option<(FileKey, String)>>,
    /// Damage found and dealt with, for the caller to show (`take_warnings`), each once.
    warnings: Mutex<(Vec<String>, HashSet<String>)>,
    hnsw_params: HnswParams,
    approx_min_items: usize,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dir", &self.dir)
            .field("model_id", &self.meta.model_id)
            .field("dim", &self.meta.dim)
            .finish()
    }
}

impl Index {
    fn from_parts(dir: &Path, conn: Connection, meta: Meta, writable: bool) -> Index {
        Index {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
            meta,
            writable,
            matrix: Mutex::new(None),
            hnsw: Mutex::new(None),
            bad_graph: Mutex::new(None),
            warnings: Mutex::new(Default::default()),
            hnsw_params: HnswParams::default(),
            approx_min_items: AUTO_APPROX_MIN_ITEMS,
        }
    }

    /// Open the index in `dir` for `model`, creating the directory and an empty index if
    /// needed. Refuses an index built by another model ([`Error::ModelMismatch`]) or written by
    /// a newer format ([`Error::TooNew`]). A database of the previous schema is migrated.
    pub fn create_or_open(dir: &Path, model: &ModelInfo) -> Result<Index> {
        let (conn, meta) = store::create_or_open(dir, &model.id, &model.name, model.dim)
            .map_err(|e| e.in_index(dir))?;
        Ok(Index::from_parts(dir, conn, meta, true))
    }

    /// Open an existing index for searching (the model is whatever the index says).
    pub fn open(dir: &Path) -> Result<Index> {
        let (conn, meta, writable) = store::open_existing(dir).map_err(|e| e.in_index(dir))?;
        Ok(Index::from_parts(dir, conn, meta, writable))
    }

    /// Open an existing index and check it belongs to `model`.
    pub fn open_for(dir: &Path, model: &ModelInfo) -> Result<Index> {
        let ix = Index::open(dir)?;
        if ix.meta.model_id != model.id {
            return Err(Error::ModelMismatch {
                dir: dir.to_path_buf(),
                index_model_id: ix.meta.model_id.clone(),
                index_model_name: ix.meta.model_name.clone(),
                model_id: model.id.clone(),
                model_name: model.name.clone(),
            });
        }
        if ix.meta.dim != model.dim {
            return Err(Error::DimMismatch {
                dir: dir.to_path_buf(),
                index_dim: ix.meta.dim,
                dim: model.dim,
            });
        }
        Ok(ix)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn model_id(&self) -> &str {
        &self.meta.model_id
    }
    pub fn model_name(&self) -> &str {
        &self.meta.model_name
    }
    pub fn dim(&self) -> usize {
        self.meta.dim
    }

    /// Names this index in an error from SQLite (see [`Error::in_index`]).
    pub(crate) fn ctx<T>(&self, r: Result<T>) -> Result<T> {
        r.map_err(|e| e.in_index(&self.dir))
    }

    /// Records a line for `take_warnings` (each distinct line once per `Index`).
    pub(crate) fn warn(&self, line: String) {
        let mut w = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        if w.1.insert(line.clone()) {
            w.0.push(line);
        }
    }

    /// Damage found and dealt with since the last call — a derived file that did not verify
    /// and was rebuilt (or is being searched around), stored vectors left out of search or
    /// dropped — one line each, naming the index. Show them to the user: damage is never
    /// silent.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.lock().unwrap_or_else(|e| e.into_inner()).0)
    }

    /// Number of indexed files (from the database).
    pub fn len(&self) -> usize {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        store::file_count(&conn).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The database generation: incremented by every transaction that changes the searchable
    /// content (files, paths, modalities, vectors), not by metadata-only updates.
    pub fn generation(&self) -> Result<u64> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        self.ctx(store::generation(&conn))
    }

    /// HNSW parameters used when this process builds a graph.
    pub fn set_hnsw_params(&mut self, p: HnswParams) {
        self.hnsw_params = p;
    }
    pub fn hnsw_params(&self) -> HnswParams {
        self.hnsw_params
    }
    /// Size from which `finish` builds a graph and `search_auto` uses it
    /// (default [`AUTO_APPROX_MIN_ITEMS`]).
    pub fn set_approx_min_items(&mut self, n: usize) {
        self.approx_min_items = n;
    }
    pub fn approx_min_items(&self) -> usize {
        self.approx_min_items
    }

    /// Take the writer lock, waiting up to `wait` (`None`: fail at once) for another writer.
    /// On timeout: [`Error::Busy`] naming the holder's pid.
    pub fn writer(&mut self, wait: Option<Duration>) -> Result<Writer<'_>> {
        if !self.writable {
            return Err(Error::Usage(format!(
                "index {} is opened read-only",
                self.dir.display()
            )));
        }
        let guard = lock::lock(&self.dir, wait)?;
        fsutil::remove_stale_temps(&self.dir);
        Ok(Writer {
            index: self,
            _lock: guard,
            committed: Default::default(),
            embedded: 0,
        })
    }

    /// Forget cached derived data (the next search re-checks the database generation anyway).
    pub fn refresh(&self) {
        *self.matrix.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.hnsw.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.bad_graph.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
