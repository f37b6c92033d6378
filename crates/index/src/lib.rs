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

mod error;
mod exact;
mod fsutil;
mod hnsw;
mod hnsw_layout;
mod integrity;
pub mod kernels;
mod lock;
mod matrix;
pub mod path_text;
mod quantized;
mod store;
pub mod synth;
mod writer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;

pub use error::{Error, Result};
pub use hnsw::{Hnsw, HnswParams};
pub use matrix::Matrix;
pub use store::SCHEMA_VERSION;
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

/// The model an index belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// Identity: the model's content hash. An index refuses any other id.
    pub id: String,
    /// Human-readable name for messages (preset / directory), may be empty.
    pub name: String,
    /// Embedding dimension.
    pub dim: usize,
}

impl ModelInfo {
    pub fn new(id: impl Into<String>, name: impl Into<String>, dim: usize) -> Self {
        ModelInfo {
            id: id.into(),
            name: name.into(),
            dim,
        }
    }
}

/// Result filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Keep only these result modalities (empty: all).
    pub modalities: Vec<String>,
    /// Keep only scores `>=` this.
    pub min_score: Option<f32>,
}

impl Filter {
    pub fn modality(mut self, m: impl Into<String>) -> Self {
        self.modalities.push(m.into());
        self
    }
    pub fn min_score(mut self, s: f32) -> Self {
        self.min_score = Some(s);
        self
    }
}

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub path: String,
    pub modality: String,
    /// Inner product of the stored vector and the query.
    pub score: f32,
}

/// How `search_auto` answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchMethod {
    Exact,
    Approx { ef: usize },
}

/// What happened to the derived files in a rebuild.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub matrix_rebuilt: bool,
    pub matrix_ms: u64,
    /// `Some(incremental)` when a graph was built.
    pub approx_built: Option<bool>,
    pub approx_ms: u64,
    /// A graph that is no longer wanted (index shrank below the threshold) was deleted.
    pub approx_removed: bool,
    /// Files dropped from the index because their stored vector did not verify
    /// (path, what was wrong): embed them again (`mmbind index` does).
    pub dropped: Vec<(String, String)>,
}

/// A stored file (see `Index::get`).
#[derive(Clone, Debug, PartialEq)]
pub struct FileRecord {
    pub path: String,
    pub modality: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub hash: ContentHash,
    pub vector: Vec<f32>,
}

/// State of a derived file (search matrix, HNSW graph) as `Index::check` found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Not there (a graph below the size threshold, or never built).
    Missing,
    /// Verified, and built from the database's current state.
    Fresh,
    /// Intact but built from an earlier state (an update was interrupted, or another process
    /// is updating the index): rebuilt when next needed. Not damage.
    Stale,
    /// Written by an older mmbind (no block checksums): rebuilt when next needed. Not damage.
    OldFormat,
    /// Does not verify: what is wrong. Never used; rebuilt from the database.
    Damaged(String),
}

impl FileState {
    pub fn is_damaged(&self) -> bool {
        matches!(self, FileState::Damaged(_))
    }
}

/// A stored vector that does not verify, and the files that point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedVector {
    pub id: i64,
    /// What is wrong ("it does not match its checksum", "it is missing", ...).
    pub reason: String,
    pub paths: Vec<String>,
}

/// Result of `Index::check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    pub files: usize,
    pub vectors: usize,
    /// Vectors no file references (left by an interrupted update; collected by the next one).
    pub orphan_vectors: usize,
    pub generation: u64,
    /// What SQLite's `PRAGMA integrity_check` reported (empty: the database is sound).
    pub sqlite: Vec<String>,
    /// Files rows that cannot be read ("file row 17 (/a.png): its path is neither UTF-8 text nor a non-UTF-8 name").
    pub bad_files: Vec<String>,
    /// Stored vectors that do not verify (checksum, length, finiteness), with their files.
    pub damaged_vectors: Vec<DamagedVector>,
    /// Vectors stored without a checksum (by an older mmbind while this one migrated the
    /// database): checked for length and finiteness only. `repair` computes their checksums.
    pub unverified_vectors: usize,
    /// The search matrix file (`vectors.mat`).
    pub matrix: FileState,
    /// The HNSW graph file (`hnsw.usearch`).
    pub approx: FileState,
}

impl CheckReport {
    /// Nothing damaged (stale or old-format derived files are not damage).
    pub fn is_clean(&self) -> bool {
        self.damage().is_empty()
    }

    /// One line per problem found.
    pub fn damage(&self) -> Vec<String> {
        let mut out: Vec<String> = (self.sqlite.iter())
            .map(|s| format!("SQLite integrity check: {s}"))
            .collect();
        out.extend(self.bad_files.iter().cloned());
        for v in &self.damaged_vectors {
            let files = if v.paths.is_empty() {
                "no file".to_string()
            } else {
                v.paths.join(", ")
            };
            out.push(format!("stored vector {} ({files}): {}", v.id, v.reason));
        }
        for f in [&self.matrix, &self.approx] {
            if let FileState::Damaged(d) = f {
                out.push(d.clone());
            }
        }
        out
    }

    /// The paths whose stored vectors are damaged (to re-index).
    pub fn damaged_paths(&self) -> Vec<&str> {
        (self.damaged_vectors.iter())
            .flat_map(|v| v.paths.iter().map(|p| p.as_str()))
            .collect()
    }
}

/// What `Index::repair` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// SQLite's indexes were rebuilt (`REINDEX`) because its integrity check failed.
    pub reindexed: bool,
    /// What SQLite's integrity check still reports afterwards (empty: sound).
    pub sqlite: Vec<String>,
    /// Unreadable files rows that were deleted.
    pub dropped_rows: Vec<String>,
    /// Checksums computed for vectors stored without one.
    pub checksums_filled: usize,
    /// The derived files rebuilt; `rebuild.dropped` lists the files dropped because their
    /// stored vector was damaged (only with `drop_damaged`).
    pub rebuild: RebuildReport,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApproxState {
    Absent,
    Stale,
    Fresh,
}

/// Why no graph can answer.
enum NoGraph {
    /// Missing, stale or of an older format: the next update builds one.
    Absent,
    /// Present but damaged: what is wrong.
    Damaged(String),
    /// The matrix leaves out damaged stored vectors (already reported): rows would not match.
    Partial,
}

/// Identity of a file's current contents (device, inode, length, mtime): remembers that a
/// graph file is damaged without verifying it again at every search.
type FileKey = (u64, u64, u64, i64, i64);

/// The `FileKey` of `p`.
fn file_key(p: &Path) -> Option<FileKey> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).ok()?;
    Some((m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// At most this many lines about damaged vectors per event (then a count).
const MAX_LINES: usize = 20;

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

    /// Look up one stored file (metadata and vector). A stored vector that does not verify is
    /// an [`Error::Corrupt`] naming the file.
    pub fn get(&self, path: &str) -> Result<Option<FileRecord>> {
        let r = self.get_inner(path);
        self.ctx(r)
    }

    fn get_inner(&self, path: &str) -> Result<Option<FileRecord>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let sql = format!(
            "SELECT f.path, f.modality, f.size, f.mtime_ns, f.hash, {} FROM files f LEFT JOIN vectors v ON v.id = f.vector_id WHERE f.path = ?1",
            self.meta.vector_cols()
        );
        let mut st = conn.prepare_cached(&sql)?;
        let mut rows = st.query([SqlPath(path)])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        let hash = r.get_ref(4)?.as_blob()?;
        let hash = ContentHash(hash.try_into().map_err(|_| {
            Error::corrupt_here(format!(
                "the content hash of {} is not 32 bytes",
                path_text::display(path)
            ))
        })?);
        let vector = match store::check_vector(r, 5, self.meta.dim)? {
            Ok(data) => store::blob_to_vec(data),
            Err(why) => {
                return Err(Error::corrupt_here(format!(
                    "the stored vector of {} is damaged: {why}",
                    path_text::display(path)
                )));
            }
        };
        Ok(Some(FileRecord {
            path: r.get::<_, PathText>(0)?.0,
            modality: r.get(1)?,
            size: r.get::<_, i64>(2)? as u64,
            mtime_ns: r.get(3)?,
            hash,
            vector,
        }))
    }

    /// Every indexed path with its modality, in insertion order.
    pub fn paths(&self) -> Result<Vec<(String, String)>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let r = (|| {
            let mut st = conn.prepare("SELECT path, modality FROM files ORDER BY id")?;
            let v = st
                .query_map([], |r| Ok((r.get::<_, PathText>(0)?.0, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })();
        self.ctx(r)
    }

    fn current_stamp(&self) -> Result<Stamp> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Stamp {
            uid: self.meta.uid,
            generation: store::generation(&conn)?,
        })
    }

    /// The verified on-disk matrix of this index (any stamp), if any; damage is reported.
    fn load_matrix(&self) -> Option<Matrix> {
        match Matrix::load(&self.dir) {
            Load::Ok(m) if m.stamp.uid == self.meta.uid && m.dim == self.meta.dim => Some(m),
            Load::Ok(_) => {
                self.warn(format!(
                    "index {}: {} belongs to another index; rebuilding it from the database",
                    self.dir.display(),
                    matrix::MATRIX_FILE
                ));
                None
            }
            Load::Damaged(d) => {
                self.warn(format!(
                    "index {}: {d}; rebuilding it from the database",
                    self.dir.display()
                ));
                None
            }
            Load::Missing | Load::Old | Load::Stale => None,
        }
    }

    /// Warns about stored vectors a build left out (`dropped`: and removed from the index).
    fn report_vectors(&self, conn: &Connection, damaged: &[(i64, String)], dropped: bool) {
        let mut lines = 0usize;
        let mut more = 0usize;
        for (vid, why) in damaged {
            let paths = store::paths_of_vector(conn, *vid).unwrap_or_default();
            for p in paths {
                if lines == MAX_LINES {
                    more += 1;
                    continue;
                }
                lines += 1;
                self.warn(format!(
                    "index {}: the stored vector of {p} is damaged ({why}); {}",
                    self.dir.display(),
                    if dropped {
                        "dropped from the index: index the file again"
                    } else {
                        "left out of search until the file is indexed again (`mmbind index`)"
                    }
                ));
            }
        }
        if more > 0 {
            self.warn(format!(
                "index {}: and {more} more files with damaged stored vectors (`mmbind index --check --index {}` lists them)",
                self.dir.display(),
                self.dir.display()
            ));
        }
    }

    /// The search matrix for the current database state.
    ///
    /// Fresh cached or on-disk matrix (verified block by block when loaded): used as is.
    /// Stale (an update was interrupted, or another process updated the index), of an older
    /// format, or damaged: rebuilt and saved if the writer lock is free and the directory
    /// writable; while another process holds the lock, the last complete state (the stale
    /// file) is used; otherwise it is built in memory. Stored vectors that do not verify are
    /// left out (and the result is not saved); both are reported through `take_warnings`.
    pub fn matrix(&self) -> Result<Arc<Matrix>> {
        let r = self.matrix_inner();
        self.ctx(r)
    }

    fn matrix_inner(&self) -> Result<Arc<Matrix>> {
        let stamp = self.current_stamp()?;
        let mut cache = self.matrix.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = cache.as_ref()
            && m.stamp == stamp
        {
            return Ok(m.clone());
        }
        let on_disk = self.load_matrix();
        if let Some(m) = on_disk.as_ref()
            && m.stamp == stamp
        {
            let m = Arc::new(on_disk.unwrap());
            *cache = Some(m.clone());
            return Ok(m);
        }
        let old: Option<Arc<Matrix>> = cache.clone().or(on_disk.map(Arc::new));
        let build = |old: Option<&Matrix>, to_disk: bool| {
            let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            let b = matrix::build(&conn, &self.dir, &self.meta, old, to_disk)?;
            self.report_vectors(&conn, &b.damaged, false);
            Ok::<_, Error>(b.matrix)
        };
        let built = if self.writable {
            match lock::try_lock(&self.dir) {
                Ok(lock::TryLock::Locked(_g)) => {
                    fsutil::remove_stale_temps(&self.dir);
                    build(old.as_deref(), true)?
                }
                Ok(lock::TryLock::Busy(_)) => {
                    if let Some(o) = old {
                        // A writer is at work: serve the last complete state.
                        return Ok(o);
                    }
                    build(None, false)?
                }
                Err(_) => build(old.as_deref(), false)?,
            }
        } else {
            build(old.as_deref(), false)?
        };
        let m = Arc::new(built);
        *cache = Some(m.clone());
        Ok(m)
    }

    /// Rebuild the matrix (and, by policy, the graph) for the current state. Caller holds the
    /// writer lock. With `drop_damaged`, files whose stored vector does not verify are
    /// removed from the index (listed in `RebuildReport::dropped`) so that the saved matrix
    /// is complete; without, the matrix leaves them out and is not saved.
    pub(crate) fn rebuild_derived_locked(&mut self, drop_damaged: bool) -> Result<RebuildReport> {
        let r = self.rebuild_inner(drop_damaged);
        self.ctx(r)
    }

    fn rebuild_inner(&mut self, drop_damaged: bool) -> Result<RebuildReport> {
        let mut rep = RebuildReport::default();
        let t = Instant::now();
        let stamp = self.current_stamp()?;
        let cached = self
            .matrix
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let m = match cached.filter(|m| m.stamp == stamp && m.on_disk) {
            Some(m) => m,
            None => match self.load_matrix() {
                Some(m) if m.stamp == stamp => Arc::new(m),
                other => {
                    let old = self
                        .matrix
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone()
                        .filter(|m| !m.partial)
                        .or(other.map(Arc::new));
                    let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
                    let mut b = matrix::build(&conn, &self.dir, &self.meta, old.as_deref(), true)?;
                    if !b.damaged.is_empty() && drop_damaged {
                        self.report_vectors(&conn, &b.damaged, true);
                        let ids: Vec<i64> = b.damaged.iter().map(|d| d.0).collect();
                        let mut paths = Vec::new();
                        for (vid, why) in &b.damaged {
                            for p in store::paths_of_vector(&conn, *vid)? {
                                paths.push((p, why.clone()));
                            }
                        }
                        let tx = conn.unchecked_transaction()?;
                        store::drop_vectors(&tx, &ids)?;
                        tx.commit()?;
                        rep.dropped = paths;
                        b = matrix::build(&conn, &self.dir, &self.meta, old.as_deref(), true)?;
                        if !b.damaged.is_empty() {
                            return Err(Error::corrupt_here(
                                "stored vectors are still damaged after dropping the damaged ones",
                            ));
                        }
                    } else {
                        self.report_vectors(&conn, &b.damaged, false);
                    }
                    // Rebuilt and saved (a matrix without damaged vectors stays in memory).
                    rep.matrix_rebuilt = b.matrix.on_disk;
                    Arc::new(b.matrix)
                }
            },
        };
        rep.matrix_ms = t.elapsed().as_millis() as u64;
        *self.matrix.lock().unwrap_or_else(|e| e.into_inner()) = Some(m.clone());

        let want = m.len() >= self.approx_min_items && !m.is_empty() && !m.partial;
        let t = Instant::now();
        if want {
            let fresh = self.approx_for(&m).ok().filter(|h| {
                h.params.m == self.hnsw_params.m
                    && h.params.ef_construction == self.hnsw_params.ef_construction
            });
            if fresh.is_none() {
                let old = self
                    .hnsw
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .or_else(|| hnsw_any(&self.dir, &self.meta).map(Arc::new));
                let (h, incremental) =
                    Hnsw::build(&self.dir, &m, self.hnsw_params, old.as_deref(), true)?;
                rep.approx_built = Some(incremental);
                *self.hnsw.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(h));
                *self.bad_graph.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
        } else if !m.partial && self.dir.join(hnsw::HNSW_FILE).exists() {
            let _ = std::fs::remove_file(self.dir.join(hnsw::HNSW_FILE));
            *self.hnsw.lock().unwrap_or_else(|e| e.into_inner()) = None;
            rep.approx_removed = true;
        }
        rep.approx_ms = t.elapsed().as_millis() as u64;
        Ok(rep)
    }

    /// Build (or update) the HNSW graph now, whatever the index size. Takes the writer lock.
    pub fn build_approx(&mut self, wait: Option<Duration>) -> Result<RebuildReport> {
        let saved = std::mem::replace(&mut self.approx_min_items, 0);
        let r = match self.writer(wait) {
            Ok(mut w) => w.rebuild_derived(),
            Err(e) => Err(e),
        };
        self.approx_min_items = saved;
        r
    }

    /// The graph matching `m`, if one exists (cached, or on disk and verified).
    fn approx_for(&self, m: &Matrix) -> std::result::Result<Arc<Hnsw>, NoGraph> {
        let mut cache = self.hnsw.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = cache.as_ref()
            && h.stamp == m.stamp
            && !m.partial
        {
            return Ok(h.clone());
        }
        if m.partial {
            return Err(NoGraph::Partial);
        }
        let path = self.dir.join(hnsw::HNSW_FILE);
        let key = file_key(&path);
        if let Some((k, d)) = self
            .bad_graph
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && Some(*k) == key
        {
            return Err(NoGraph::Damaged(d.clone()));
        }
        let h = match Hnsw::load(&self.dir, Some(m.stamp), m.dim()) {
            Load::Ok(h) => h,
            Load::Damaged(d) => {
                if let Some(k) = key {
                    *self.bad_graph.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some((k, d.clone()));
                }
                return Err(NoGraph::Damaged(d));
            }
            Load::Missing | Load::Old | Load::Stale => return Err(NoGraph::Absent),
        };
        // Its row table must describe this matrix (it would index rows out of range).
        let rows_ok = h.row_count() == m.len()
            && h.row_table()
                .iter()
                .all(|&(v, r)| (r as usize) < m.len() && m.vector_ids()[r as usize] == v);
        if !rows_ok {
            let d = format!(
                "{}: its row table does not match the search matrix",
                hnsw::HNSW_FILE
            );
            if let Some(k) = key {
                *self.bad_graph.lock().unwrap_or_else(|e| e.into_inner()) = Some((k, d.clone()));
            }
            return Err(NoGraph::Damaged(d));
        }
        let h = Arc::new(h);
        *cache = Some(h.clone());
        Ok(h)
    }

    /// The graph for an explicit approximate search, or the error saying why there is none.
    fn graph_for(&self, m: &Matrix) -> Result<Arc<Hnsw>> {
        self.approx_for(m).map_err(|e| match e {
            NoGraph::Absent => Error::NoApproxIndex {
                dir: self.dir.clone(),
                min: self.approx_min_items,
            },
            NoGraph::Damaged(d) => Error::Corrupt {
                dir: self.dir.clone(),
                detail: format!(
                    "{d} — `mmbind index --check --index {}` rebuilds the graph; exact search (--exact) works meanwhile",
                    self.dir.display()
                ),
            },
            NoGraph::Partial => Error::Corrupt {
                dir: self.dir.clone(),
                detail: format!(
                    "some stored vectors do not verify, so approximate search is off until their files are indexed again (`mmbind index`, or `mmbind index --check --repair --index {}` to drop them); exact search (--exact) leaves them out meanwhile",
                    self.dir.display()
                ),
            },
        })
    }

    /// State of the approximate graph relative to the current database (from its footer;
    /// a graph of an older format or with a damaged footer reads as stale).
    pub fn approx_state(&self) -> Result<ApproxState> {
        let stamp = self.ctx(self.current_stamp())?;
        Ok(match Hnsw::peek(&self.dir) {
            Load::Missing => ApproxState::Absent,
            Load::Ok(s) if s == stamp => ApproxState::Fresh,
            _ => ApproxState::Stale,
        })
    }

    /// Forget cached derived data (the next search re-checks the database generation anyway).
    pub fn refresh(&self) {
        *self.matrix.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.hnsw.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.bad_graph.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn check_query(&self, q: &[f32]) -> Result<()> {
        if q.len() != self.meta.dim {
            return Err(Error::InvalidQuery(format!(
                "{} values; this index holds {}-dimensional vectors",
                q.len(),
                self.meta.dim
            )));
        }
        if q.iter().any(|x| !x.is_finite()) {
            return Err(Error::InvalidQuery("contains NaN or infinity".into()));
        }
        Ok(())
    }

    fn row_filter<'m>(m: &'m Matrix, f: &Filter) -> RowFilter<'m> {
        let allowed = if f.modalities.is_empty() {
            None
        } else {
            let mut a = [false; 256];
            for (code, name) in m.modalities().iter().enumerate() {
                a[code] = f.modalities.iter().any(|x| x == name);
            }
            Some(a)
        };
        RowFilter {
            allowed,
            min_score: f.min_score,
            codes: m.codes(),
        }
    }

    fn hits(m: &Matrix, v: Vec<Scored>) -> Vec<Hit> {
        v.into_iter()
            .map(|s| Hit {
                path: m.path(s.row as usize).to_string(),
                modality: m.modality(s.row as usize).to_string(),
                score: s.score,
            })
            .collect()
    }

    /// Exact top-`k` by inner product (best first; ties by insertion order). Any `k` is
    /// safe: it is clamped to the number of indexed files (the caller sets the policy for
    /// absurd values: mmbind's `--limit top-k`).
    pub fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let m = self.matrix()?;
        let rf = Self::row_filter(&m, filter);
        Ok(Self::hits(
            &m,
            exact::search_one(&m, query, k.min(m.len()), &rf),
        ))
    }

    /// [`Self::search`]'s answer from a compressed scan: rows scored from int8 codes (a
    /// quarter of the bytes), the rows that could reach the top `k` re-scored from the float32
    /// vectors, so the hits and scores are the float32 scan's. The codes are built in memory on
    /// the first call (one float32 read): worth it in processes that answer many queries.
    pub fn search_compressed(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let m = self.matrix()?;
        let rf = Self::row_filter(&m, filter);
        if !rf.any_allowed() {
            return Ok(Vec::new());
        }
        let qz = m.quantized();
        Ok(Self::hits(
            &m,
            quantized::search_one(&m, qz, query, k.min(m.len()), &rf),
        ))
    }

    /// Exact top-`k` for many queries at once (`queries`: `nq × dim`, row-major) — blocked
    /// matrix multiply, far higher throughput than one `search` per query.
    pub fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Vec<Hit>>> {
        let dim = self.meta.dim;
        if !queries.len().is_multiple_of(dim) {
            return Err(Error::InvalidQuery(format!(
                "{} values is not a multiple of the dimension {dim}",
                queries.len()
            )));
        }
        for q in queries.chunks_exact(dim) {
            self.check_query(q)?;
        }
        let m = self.matrix()?;
        let rf = Self::row_filter(&m, filter);
        Ok(
            exact::search_many(&m, queries, queries.len() / dim, k.min(m.len()), &rf)
                .into_iter()
                .map(|v| Self::hits(&m, v))
                .collect(),
        )
    }

    /// Approximate top-`k` through the HNSW graph (`ef`: candidate list size, default
    /// [`HnswParams::ef_for`] the graph's size; larger = better recall, slower). Scores are exact inner products
    /// of the returned rows. Fails with [`Error::NoApproxIndex`] when no up-to-date graph
    /// exists, with [`Error::Corrupt`] when the graph file does not verify (it is never
    /// handed to usearch then). `k` is clamped to the number of indexed files and `ef` to the
    /// graph's size (an unchecked `k` of `u64::MAX` made usearch abort the process).
    pub fn search_approx(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter,
        ef: Option<usize>,
    ) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let m = self.matrix()?;
        let h = self.graph_for(&m)?;
        Ok(Self::hits(&m, approx_rows(&m, &h, query, k, filter, ef)?))
    }

    /// Approximate when the index has at least `approx_min_items` files and an up-to-date
    /// graph, exact otherwise — also when the graph is damaged (reported through
    /// `take_warnings`).
    pub fn search_auto(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<(Vec<Hit>, SearchMethod)> {
        self.check_query(query)?;
        let m = self.matrix()?;
        if m.len() >= self.approx_min_items && !m.is_empty() {
            match self.approx_for(&m) {
                Ok(h) => {
                    let ef = h.params.ef_for(h.len());
                    return Ok((
                        Self::hits(&m, approx_rows(&m, &h, query, k, filter, Some(ef))?),
                        SearchMethod::Approx { ef },
                    ));
                }
                Err(NoGraph::Damaged(d)) => self.warn(format!(
                    "index {}: {d}; searching exactly until `mmbind index --check --index {}` rebuilds the graph",
                    self.dir.display(),
                    self.dir.display()
                )),
                // Partial: the damaged vectors were reported when the matrix was built.
                Err(NoGraph::Absent | NoGraph::Partial) => {}
            }
        }
        let rf = Self::row_filter(&m, filter);
        Ok((
            Self::hits(&m, exact::search_one(&m, query, k.min(m.len()), &rf)),
            SearchMethod::Exact,
        ))
    }

    /// Full integrity check; writes nothing. SQLite's own check, every files row, every
    /// stored vector against its checksum (and length, finiteness), the search matrix (every
    /// block, then row by row against the database when it is current) and the HNSW graph
    /// (every block, its rows against the matrix). Damage is reported in the result
    /// ([`CheckReport::is_clean`]); an error means the check itself could not run.
    pub fn check(&self) -> Result<CheckReport> {
        let r = self.check_inner();
        self.ctx(r)
    }

    fn check_inner(&self) -> Result<CheckReport> {
        let dim = self.meta.dim;
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        // One read transaction: everything below sees one state of the database.
        let tx = conn.unchecked_transaction()?;
        let mut sqlite = Vec::new();
        {
            let mut st = tx.prepare("PRAGMA integrity_check(100)")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let line = match r.get_ref(0)? {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    _ => "unreadable result".into(),
                };
                if line != "ok" {
                    sqlite.push(line);
                }
            }
        }
        let bad_files: Vec<String> = store::bad_file_rows(&tx)?
            .into_iter()
            .map(|(_, w)| w)
            .collect();
        let scan = store::scan_vectors(&tx, &self.meta)?;
        let mut damaged_vectors = Vec::new();
        for (id, reason) in &scan.damaged {
            damaged_vectors.push(DamagedVector {
                id: *id,
                reason: reason.clone(),
                paths: store::paths_of_vector(&tx, *id)?,
            });
        }
        let orphans: i64 = tx.query_row("SELECT count(*) FROM vectors v WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.vector_id = v.id)", [], |r| r.get(0))?;
        let files = store::file_count(&tx)?;
        let generation = store::generation(&tx)?;
        let stamp = Stamp {
            uid: self.meta.uid,
            generation,
        };

        // The matrix file.
        let mut fresh_matrix = None;
        let mut matrix_state = match Matrix::load(&self.dir) {
            Load::Ok(m) if m.stamp.uid != self.meta.uid || m.dim != dim => FileState::Damaged(
                format!("{}: it belongs to another index", matrix::MATRIX_FILE),
            ),
            Load::Ok(m) if m.stamp == stamp => {
                fresh_matrix = Some(m);
                FileState::Fresh
            }
            Load::Ok(_) | Load::Stale => FileState::Stale,
            Load::Old => FileState::OldFormat,
            Load::Missing => FileState::Missing,
            Load::Damaged(d) => FileState::Damaged(d),
        };
        if let Some(m) = &fresh_matrix
            && let Some(d) = compare_matrix(&tx, &self.meta, m, files)?
        {
            matrix_state = FileState::Damaged(d);
            fresh_matrix = None;
        }
        tx.finish()?;
        drop(conn);

        // The graph file.
        let approx = match Hnsw::peek(&self.dir) {
            Load::Missing => FileState::Missing,
            Load::Old => FileState::OldFormat,
            Load::Damaged(d) => FileState::Damaged(d),
            Load::Ok(s) if s != stamp => FileState::Stale,
            Load::Ok(_) | Load::Stale => match Hnsw::load(&self.dir, Some(stamp), dim) {
                Load::Ok(h) => {
                    let distinct = h
                        .row_table()
                        .iter()
                        .map(|e| e.0)
                        .collect::<HashSet<_>>()
                        .len();
                    if h.len() != distinct {
                        FileState::Damaged(format!(
                            "{}: it has {} nodes for {distinct} distinct vectors",
                            hnsw::HNSW_FILE,
                            h.len()
                        ))
                    } else if let Some(m) = &fresh_matrix
                        && (h.row_count() != m.len()
                            || h.row_table().iter().any(|&(v, r)| {
                                (r as usize) >= m.len() || m.vector_ids()[r as usize] != v
                            }))
                    {
                        FileState::Damaged(format!(
                            "{}: its row table does not match the search matrix",
                            hnsw::HNSW_FILE
                        ))
                    } else {
                        FileState::Fresh
                    }
                }
                Load::Damaged(d) => FileState::Damaged(d),
                Load::Old => FileState::OldFormat,
                Load::Missing => FileState::Missing,
                Load::Stale => FileState::Stale,
            },
        };
        Ok(CheckReport {
            files,
            vectors: scan.vectors,
            orphan_vectors: orphans as usize,
            generation,
            sqlite,
            bad_files,
            damaged_vectors,
            unverified_vectors: scan.unverified,
            matrix: matrix_state,
            approx,
        })
    }

    /// Repairs what can be repaired, under the writer lock (waiting up to `wait`): rebuilds
    /// SQLite's indexes when its integrity check fails (`REINDEX`), rebuilds the search matrix
    /// and the HNSW graph (when one exists or is due) unless they verify and are current, and
    /// computes missing vector checksums. With `drop_damaged`, also deletes unreadable files
    /// rows and the files whose stored vector does not verify (listed in
    /// `rebuild.dropped`), so that indexing their directories again embeds them anew.
    pub fn repair(&mut self, wait: Option<Duration>, drop_damaged: bool) -> Result<RepairReport> {
        if !self.writable {
            return Err(Error::Usage(format!(
                "index {} is opened read-only",
                self.dir.display()
            )));
        }
        let guard = lock::lock(&self.dir, wait)?;
        let r = self.repair_inner(drop_damaged);
        drop(guard);
        self.ctx(r)
    }

    fn repair_inner(&mut self, drop_damaged: bool) -> Result<RepairReport> {
        fsutil::remove_stale_temps(&self.dir);
        let mut rep = RepairReport::default();
        {
            let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            let ok = |c: &Connection| -> Result<Vec<String>> {
                let mut st = c.prepare("PRAGMA integrity_check(100)")?;
                let v = st
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(v.into_iter().filter(|l| l != "ok").collect())
            };
            if !ok(&conn)?.is_empty() {
                // Damaged indexes (the b-trees beside the tables) are rebuilt from the tables.
                conn.execute_batch("REINDEX")?;
                rep.reindexed = true;
                rep.sqlite = ok(&conn)?;
            }
            let tx = conn.unchecked_transaction()?;
            if drop_damaged {
                let bad = store::bad_file_rows(&tx)?;
                let ids: Vec<i64> = bad.iter().map(|b| b.0).collect();
                store::drop_file_rows(&tx, &ids)?;
                rep.dropped_rows = bad.into_iter().map(|b| b.1).collect();
            }
            if self.meta.checksums {
                rep.checksums_filled = store::fill_checksums(&tx)?;
            }
            tx.commit()?;
        }
        // Derived files: forget what is cached so that they are verified from disk again.
        self.refresh();
        let graph_exists = self.dir.join(hnsw::HNSW_FILE).exists();
        let saved = self.approx_min_items;
        if graph_exists {
            self.approx_min_items = 0;
        }
        let r = self.rebuild_inner(drop_damaged);
        self.approx_min_items = saved;
        rep.rebuild = r?;
        Ok(rep)
    }
}

/// Compares a current matrix with the database row by row: `Some(what differs)`.
fn compare_matrix(
    conn: &Connection,
    meta: &Meta,
    m: &Matrix,
    files: usize,
) -> Result<Option<String>> {
    if m.len() != files {
        return Ok(Some(format!(
            "{}: it has {} rows, the database {files} files",
            matrix::MATRIX_FILE,
            m.len()
        )));
    }
    let sql = format!(
        "SELECT f.id, f.path, f.modality, f.vector_id, {} FROM files f LEFT JOIN vectors v ON v.id = f.vector_id ORDER BY f.id",
        meta.vector_cols()
    );
    let mut st = conn.prepare(&sql)?;
    let mut rows = st.query([])?;
    let mut i = 0usize;
    while let Some(r) = rows.next()? {
        let text = |c: usize| match r.get_ref(c) {
            Ok(rusqlite::types::ValueRef::Text(t)) => std::str::from_utf8(t).ok(),
            _ => None,
        };
        let path = r.get::<_, PathText>(1).ok();
        let (path, modality) = (path.as_ref().map(|p| p.0.as_str()), text(2));
        let same_vector = match store::check_vector(r, 4, meta.dim)? {
            Ok(data) => as_f32_bytes(m.row(i)) == data,
            // Damaged in the database: reported there; the matrix cannot be compared.
            Err(_) => true,
        };
        if i >= m.len()
            || r.get::<_, i64>(0).ok() != Some(m.file_ids()[i])
            || r.get::<_, i64>(3).ok() != Some(m.vector_ids()[i])
            || path != Some(m.path(i))
            || modality != Some(m.modality(i))
            || !same_vector
        {
            return Ok(Some(format!(
                "{}: row {i} does not match file {}",
                matrix::MATRIX_FILE,
                path.map_or("(unreadable path)".into(), path_text::display)
            )));
        }
        i += 1;
    }
    Ok(None)
}

fn as_f32_bytes(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding; viewing its bytes is always valid.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

fn hnsw_any(dir: &Path, meta: &Meta) -> Option<Hnsw> {
    // Any intact graph of this index (any generation), as the base of an incremental update.
    let s = Hnsw::peek(dir).ok()?;
    if s.uid != meta.uid {
        return None;
    }
    Hnsw::load(dir, Some(s), meta.dim).ok()
}

fn approx_rows(
    m: &Matrix,
    h: &Hnsw,
    query: &[f32],
    k: usize,
    filter: &Filter,
    ef: Option<usize>,
) -> Result<Vec<Scored>> {
    let k = k.min(m.len());
    if k == 0 {
        return Ok(Vec::new());
    }
    let ef = ef.unwrap_or_else(|| h.params.ef_for(h.len())).max(k);
    let rf = Index::row_filter(m, filter);
    // Every row of a vector has the vector's modality, so its first row decides.
    let allow = |key: u64| h.rows_of(key as i64).next().is_some_and(|r| rf.row_ok(r));
    let found = h.search(
        query,
        k,
        ef,
        if rf.allowed.is_some() {
            Some(&allow)
        } else {
            None
        },
    )?;
    // The graph's answer and its stranded nodes (nodes its search may miss), all scored exactly.
    let mut keys: Vec<i64> = found.into_iter().map(|(key, _)| key as i64).collect();
    keys.extend(
        (h.stranded().iter().copied()).filter(|&v| rf.allowed.is_none() || allow(v as u64)),
    );
    keys.sort_unstable();
    keys.dedup();
    let mut out: Vec<Scored> = keys
        .into_iter()
        .flat_map(|key| h.rows_of(key))
        .map(|r| Scored {
            score: kernels::dot(query, m.row(r as usize)),
            row: r,
        })
        .filter(|s| filter.min_score.is_none_or(|t| s.score >= t))
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    out.truncate(k);
    Ok(out)
}

/// Recall@k of approximate search against exact search, averaged over `queries`
/// (`nq × dim`, row-major): the fraction of the exact top-`k` rows that the approximate top-`k`
/// also returns. Use it to validate `ef` on real embeddings.
pub fn recall_at_k(index: &Index, queries: &[f32], k: usize, ef: Option<usize>) -> Result<f64> {
    let dim = index.dim();
    let m = index.matrix()?;
    let h = index.graph_for(&m)?;
    let nq = queries.len() / dim;
    let k = k.min(m.len());
    if nq == 0 || k == 0 {
        return Ok(1.0);
    }
    let rf = Index::row_filter(&m, &Filter::default());
    let exact = exact::search_many(&m, queries, nq, k, &rf);
    let mut found = 0usize;
    let mut total = 0usize;
    for (i, ex) in exact.iter().enumerate() {
        let ap = approx_rows(
            &m,
            &h,
            &queries[i * dim..(i + 1) * dim],
            k,
            &Filter::default(),
            ef,
        )?;
        let set: std::collections::HashSet<u32> = ap.iter().map(|s| s.row).collect();
        found += ex.iter().filter(|s| set.contains(&s.row)).count();
        total += ex.len();
    }
    Ok(if total == 0 {
        1.0
    } else {
        found as f64 / total as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Rng, normalize};

    /// `/f/0`, `/f/1`, ...: random unit vectors, modality by number.
    fn random_files(
        seed: u64,
        n: usize,
        dim: usize,
        modality: impl Fn(usize) -> &'static str,
    ) -> Vec<(String, String, Vec<f32>)> {
        let mut r = Rng::new(seed);
        (0..n)
            .map(|i| {
                let mut v: Vec<f32> = (0..dim).map(|_| r.normal()).collect();
                normalize(&mut v);
                (format!("/f/{i}"), modality(i).to_string(), v)
            })
            .collect()
    }

    #[test]
    fn stranded_nodes_are_searched_filtered_and_returned_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dim = 16;
        let files = random_files(9, 60, dim, |i| if i % 2 == 0 { "vision" } else { "audio" });
        let mut ix =
            Index::create_or_open(tmp.path(), &ModelInfo::new("b3:00", "tiny", dim)).unwrap();
        crate::synth::index_files(&mut ix, &files).unwrap();

        let m = ix.matrix().unwrap();
        let (mut h, _) = Hnsw::build(tmp.path(), &m, HnswParams::default(), None, false).unwrap();
        // File 4 (vision) is only reachable through the stranded list from now on.
        let row = (0..m.len()).find(|&r| m.path(r) == "/f/4").unwrap();
        h.strand(m.vector_ids()[row]);
        let query = &files[4].2;
        let all = |f: &Filter, k| approx_rows(&m, &h, query, k, f, Some(64)).unwrap();
        let hits = all(&Filter::default(), 5);
        assert_eq!(hits[0].row as usize, row, "found through the stranded list");
        assert!((hits[0].score - 1.0).abs() < 1e-5, "scored exactly");
        let mut rows: Vec<u32> = all(&Filter::default(), 60).iter().map(|s| s.row).collect();
        assert_eq!(rows.len(), 60, "every file, the stranded one included");
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(rows.len(), 60, "none twice");
        // Filters apply to it as to graph hits.
        let audio = all(&Filter::default().modality("audio"), 5);
        assert!(audio.iter().all(|s| m.modality(s.row as usize) == "audio"));
        let vision = all(&Filter::default().modality("vision"), 5);
        assert_eq!(vision[0].row as usize, row);
        assert!(all(&Filter::default().min_score(1.5), 5).is_empty());
    }

    #[test]
    fn an_incremental_update_keeps_the_stranded_nodes_it_does_not_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let dim = 16;
        let mut files = random_files(11, 66, dim, |_| "vision");
        let new_files = files.split_off(60);
        let mut ix =
            Index::create_or_open(tmp.path(), &ModelInfo::new("b3:00", "tiny", dim)).unwrap();
        crate::synth::index_files(&mut ix, &files).unwrap();
        let m = ix.matrix().unwrap();
        let (mut h, _) = Hnsw::build(tmp.path(), &m, HnswParams::default(), None, false).unwrap();
        let vid =
            |m: &Matrix, p: &str| m.vector_ids()[(0..m.len()).find(|&r| m.path(r) == p).unwrap()];
        let (kept, removed) = (vid(&m, "/f/4"), vid(&m, "/f/6"));
        h.strand(kept);
        h.strand(removed);

        // File 6 goes, six files come: a small change, so the old graph is updated in place.
        files.remove(6);
        files.extend(new_files);
        crate::synth::index_files(&mut ix, &files).unwrap();
        let m2 = ix.matrix().unwrap();
        let (h2, incremental) =
            Hnsw::build(tmp.path(), &m2, HnswParams::default(), Some(&h), false).unwrap();
        assert!(incremental, "a small change updates the old graph");
        assert_eq!(
            h2.stranded(),
            &[kept],
            "the removed node's entry goes, the other stays"
        );
        let hits = approx_rows(&m2, &h2, &files[4].2, 1, &Filter::default(), Some(64)).unwrap();
        assert_eq!(
            m2.path(hits[0].row as usize),
            "/f/4",
            "still found after the update"
        );
    }
}
