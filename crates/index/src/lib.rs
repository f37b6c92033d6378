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
}

fn hnsw_any(dir: &Path, meta: &Meta) -> Option<Hnsw> {
    // Any intact graph of this index (any generation), as the base of an incremental update.
    let s = Hnsw::peek(dir).ok()?;
    if s.uid != meta.uid {
        return None;
    }
    Hnsw::load(dir, Some(s), meta.dim).ok()
}
