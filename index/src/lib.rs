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
//! | `vectors.mat` | all vectors contiguous (memory-mapped for search) + path/modality catalog | derived, stamped |
//! | `hnsw.usearch` | HNSW graph (only from `approx_min_items` files) | derived, stamped |
//! | `lock` | `flock`ed by the one writer; holds its pid | |
//!
//! Derived files carry the `(uid, generation)` of the SQLite state they were built from, are
//! written to a temp file + fsync + rename, and are ignored (and rebuilt) when stale.
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
pub mod kernels;
mod lock;
mod matrix;
mod store;
pub mod synth;
mod writer;

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
    hash_file,
};

use exact::RowFilter;
use kernels::Scored;
use matrix::Stamp;
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

/// Result of `Index::check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    pub files: usize,
    pub vectors: usize,
    /// Vectors no file references (left by an interrupted update; collected by the next one).
    pub orphan_vectors: usize,
    pub generation: u64,
    /// The on-disk matrix matched the database (`false`: it was stale or absent and the check
    /// used a freshly built one).
    pub matrix_was_fresh: bool,
    /// State of the HNSW graph file.
    pub approx: ApproxState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApproxState {
    Absent,
    Stale,
    Fresh,
}

/// An open index. `Send + Sync`: searches may run from several threads.
pub struct Index {
    pub(crate) dir: PathBuf,
    pub(crate) conn: Mutex<Connection>,
    pub(crate) meta: Meta,
    writable: bool,
    matrix: Mutex<Option<Arc<Matrix>>>,
    hnsw: Mutex<Option<Arc<Hnsw>>>,
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
            hnsw_params: HnswParams::default(),
            approx_min_items: AUTO_APPROX_MIN_ITEMS,
        }
    }

    /// Open the index in `dir` for `model`, creating the directory and an empty index if
    /// needed. Refuses an index built by another model ([`Error::ModelMismatch`]) or written by
    /// a newer format ([`Error::TooNew`]).
    pub fn create_or_open(dir: &Path, model: &ModelInfo) -> Result<Index> {
        let (conn, meta) = store::create_or_open(dir, &model.id, &model.name, model.dim)?;
        Ok(Index::from_parts(dir, conn, meta, true))
    }

    /// Open an existing index for searching (the model is whatever the index says).
    pub fn open(dir: &Path) -> Result<Index> {
        let (conn, meta, writable) = store::open_existing(dir)?;
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
        store::generation(&conn)
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

    /// Look up one stored file (metadata and vector).
    pub fn get(&self, path: &str) -> Result<Option<FileRecord>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = conn.prepare_cached(
            "SELECT f.path, f.modality, f.size, f.mtime_ns, f.hash, v.data FROM files f JOIN vectors v ON v.id = f.vector_id WHERE f.path = ?1",
        )?;
        let mut rows = st.query([path])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        let hash = r.get_ref(4)?.as_blob()?;
        Ok(Some(FileRecord {
            path: r.get(0)?,
            modality: r.get(1)?,
            size: r.get::<_, i64>(2)? as u64,
            mtime_ns: r.get(3)?,
            hash: ContentHash(
                hash.try_into()
                    .map_err(|_| self.corrupt(format!("bad hash for {path}")))?,
            ),
            vector: store::blob_to_vec(r.get_ref(5)?.as_blob()?),
        }))
    }

    /// Every indexed path with its modality, in insertion order.
    pub fn paths(&self) -> Result<Vec<(String, String)>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = conn.prepare("SELECT path, modality FROM files ORDER BY id")?;
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn corrupt(&self, detail: String) -> Error {
        Error::Corrupt {
            dir: self.dir.clone(),
            detail,
        }
    }

    fn current_stamp(&self) -> Result<Stamp> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Stamp {
            uid: self.meta.uid,
            generation: store::generation(&conn)?,
        })
    }

    /// The search matrix for the current database state.
    ///
    /// Fresh cached or on-disk matrix: used as is. Stale (an update was interrupted, or
    /// another process updated the index): rebuilt and saved if the writer lock is free and
    /// the directory writable; while another process holds the lock, the last complete state
    /// (the stale file) is used; otherwise it is built in memory.
    pub fn matrix(&self) -> Result<Arc<Matrix>> {
        let stamp = self.current_stamp()?;
        let mut cache = self.matrix.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = cache.as_ref()
            && m.stamp == stamp
        {
            return Ok(m.clone());
        }
        let on_disk = Matrix::load(&self.dir)
            .filter(|m| m.stamp.uid == self.meta.uid && m.dim == self.meta.dim);
        if let Some(m) = on_disk.as_ref()
            && m.stamp == stamp
        {
            let m = Arc::new(on_disk.unwrap());
            *cache = Some(m.clone());
            return Ok(m);
        }
        let old: Option<Arc<Matrix>> = cache.clone().or(on_disk.map(Arc::new));
        let built = if self.writable {
            match lock::try_lock(&self.dir) {
                Ok(lock::TryLock::Locked(_g)) => {
                    fsutil::remove_stale_temps(&self.dir);
                    let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
                    matrix::build(&conn, &self.dir, &self.meta, old.as_deref(), true)?
                }
                Ok(lock::TryLock::Busy(_)) => {
                    if let Some(o) = old {
                        // A writer is at work: serve the last complete state.
                        return Ok(o);
                    }
                    let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
                    matrix::build(&conn, &self.dir, &self.meta, None, false)?
                }
                Err(_) => {
                    let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
                    matrix::build(&conn, &self.dir, &self.meta, old.as_deref(), false)?
                }
            }
        } else {
            let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            matrix::build(&conn, &self.dir, &self.meta, old.as_deref(), false)?
        };
        let m = Arc::new(built);
        *cache = Some(m.clone());
        Ok(m)
    }

    /// Rebuild the matrix (and, by policy, the graph) for the current state. Caller holds the
    /// writer lock.
    pub(crate) fn rebuild_derived_locked(&mut self) -> Result<RebuildReport> {
        let mut rep = RebuildReport::default();
        let t = Instant::now();
        let stamp = self.current_stamp()?;
        let cached = self
            .matrix
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let m = match cached.filter(|m| m.stamp == stamp) {
            Some(m) => m,
            None => {
                let on_disk = Matrix::load(&self.dir)
                    .filter(|m| m.stamp.uid == self.meta.uid && m.dim == self.meta.dim);
                match on_disk {
                    Some(m) if m.stamp == stamp => Arc::new(m),
                    other => {
                        let old = self
                            .matrix
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clone()
                            .or(other.map(Arc::new));
                        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
                        let m = matrix::build(&conn, &self.dir, &self.meta, old.as_deref(), true)?;
                        rep.matrix_rebuilt = true;
                        Arc::new(m)
                    }
                }
            }
        };
        rep.matrix_ms = t.elapsed().as_millis() as u64;
        *self.matrix.lock().unwrap_or_else(|e| e.into_inner()) = Some(m.clone());

        let want = m.len() >= self.approx_min_items && !m.is_empty();
        let t = Instant::now();
        if want {
            let fresh = self.approx_for(&m).filter(|h| {
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
            }
        } else if self.dir.join(hnsw::HNSW_FILE).exists() {
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

    /// The graph matching `m`, if one exists (cached or on disk).
    fn approx_for(&self, m: &Matrix) -> Option<Arc<Hnsw>> {
        let mut cache = self.hnsw.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = cache.as_ref()
            && h.stamp == m.stamp
        {
            return Some(h.clone());
        }
        let h = Arc::new(Hnsw::load(&self.dir, m.stamp, m.dim())?);
        *cache = Some(h.clone());
        Some(h)
    }

    /// State of the approximate graph relative to the current database.
    pub fn approx_state(&self) -> Result<ApproxState> {
        let stamp = self.current_stamp()?;
        Ok(match Hnsw::file_stamp(&self.dir) {
            None => ApproxState::Absent,
            Some(s) if s == stamp => ApproxState::Fresh,
            Some(_) => ApproxState::Stale,
        })
    }

    /// Forget cached derived data (the next search re-checks the database generation anyway).
    pub fn refresh(&self) {
        *self.matrix.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.hnsw.lock().unwrap_or_else(|e| e.into_inner()) = None;
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

    /// Exact top-`k` by inner product (best first; ties by insertion order).
    pub fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let m = self.matrix()?;
        let rf = Self::row_filter(&m, filter);
        Ok(Self::hits(&m, exact::search_one(&m, query, k, &rf)))
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
        Ok(exact::search_many(&m, queries, queries.len() / dim, k, &rf)
            .into_iter()
            .map(|v| Self::hits(&m, v))
            .collect())
    }

    /// Approximate top-`k` through the HNSW graph (`ef`: candidate list size, default
    /// [`HnswParams::ef_for`] the graph's size; larger = better recall, slower). Scores are exact inner products
    /// of the returned rows. Fails with [`Error::NoApproxIndex`] when no up-to-date graph
    /// exists.
    pub fn search_approx(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter,
        ef: Option<usize>,
    ) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let m = self.matrix()?;
        let h = self.approx_for(&m).ok_or_else(|| Error::NoApproxIndex {
            dir: self.dir.clone(),
            min: self.approx_min_items,
        })?;
        Ok(Self::hits(&m, approx_rows(&m, &h, query, k, filter, ef)?))
    }

    /// Approximate when the index has at least `approx_min_items` files and an up-to-date
    /// graph, exact otherwise.
    pub fn search_auto(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<(Vec<Hit>, SearchMethod)> {
        self.check_query(query)?;
        let m = self.matrix()?;
        if m.len() >= self.approx_min_items
            && let Some(h) = self.approx_for(&m)
        {
            let ef = h.params.ef_for(h.len());
            return Ok((
                Self::hits(&m, approx_rows(&m, &h, query, k, filter, Some(ef))?),
                SearchMethod::Approx { ef },
            ));
        }
        let rf = Self::row_filter(&m, filter);
        Ok((
            Self::hits(&m, exact::search_one(&m, query, k, &rf)),
            SearchMethod::Exact,
        ))
    }

    /// Full integrity check: SQLite's own check, every vector's size and finiteness, every
    /// file's reference, and the search matrix row by row against the database.
    pub fn check(&self) -> Result<CheckReport> {
        let dim = self.meta.dim;
        let (files, vectors, orphans, generation) = {
            let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            let ic: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            if ic != "ok" {
                return Err(self.corrupt(format!("SQLite integrity check: {ic}")));
            }
            let dangling: i64 = conn.query_row("SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.id = f.vector_id)", [], |r| r.get(0))?;
            if dangling > 0 {
                return Err(self.corrupt(format!("{dangling} files reference missing vectors")));
            }
            let mut st = conn.prepare("SELECT id, data FROM vectors")?;
            let mut rows = st.query([])?;
            let mut nv = 0usize;
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                let b = r.get_ref(1)?.as_blob()?;
                if b.len() != dim * 4 {
                    return Err(self.corrupt(format!(
                        "vector {id} has {} bytes, expected {}",
                        b.len(),
                        dim * 4
                    )));
                }
                if store::blob_to_vec(b).iter().any(|x| !x.is_finite()) {
                    return Err(self.corrupt(format!("vector {id} has non-finite values")));
                }
                nv += 1;
            }
            let orphans: i64 = conn.query_row("SELECT count(*) FROM vectors v WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.vector_id = v.id)", [], |r| r.get(0))?;
            (
                store::file_count(&conn)?,
                nv,
                orphans as usize,
                store::generation(&conn)?,
            )
        };
        let stamp = Stamp {
            uid: self.meta.uid,
            generation,
        };
        let matrix_was_fresh = Matrix::load(&self.dir).is_some_and(|m| m.stamp == stamp);
        let m = self.matrix()?;
        if m.stamp != stamp {
            // Another process is mid-update; compare against a private snapshot instead.
            return Err(self.corrupt(
                "index changed during the check (a writer is active); run it again".into(),
            ));
        }
        if m.len() != files {
            return Err(self.corrupt(format!(
                "matrix has {} rows, database {files} files",
                m.len()
            )));
        }
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = conn.prepare("SELECT f.id, f.path, f.modality, v.data FROM files f JOIN vectors v ON v.id = f.vector_id ORDER BY f.id")?;
        let mut rows = st.query([])?;
        let mut i = 0usize;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let path = r.get_ref(1)?.as_str()?;
            let modality = r.get_ref(2)?.as_str()?;
            let data = store::blob_to_vec(r.get_ref(3)?.as_blob()?);
            if m.file_ids()[i] != id
                || m.path(i) != path
                || m.modality(i) != modality
                || m.row(i) != data.as_slice()
            {
                return Err(self.corrupt(format!("matrix row {i} does not match file {path}")));
            }
            i += 1;
        }
        drop(rows);
        drop(st);
        drop(conn);
        let approx = match Hnsw::file_stamp(&self.dir) {
            None => ApproxState::Absent,
            Some(s) if s == stamp => {
                let h = self.approx_for(&m).ok_or_else(|| {
                    self.corrupt("HNSW graph file is current but does not load".into())
                })?;
                let distinct = m
                    .vector_ids()
                    .iter()
                    .collect::<std::collections::HashSet<_>>()
                    .len();
                if h.len() != distinct {
                    return Err(self.corrupt(format!(
                        "HNSW graph has {} entries, the database {distinct} distinct vectors",
                        h.len()
                    )));
                }
                ApproxState::Fresh
            }
            Some(_) => ApproxState::Stale,
        };
        Ok(CheckReport {
            files,
            vectors,
            orphan_vectors: orphans,
            generation,
            matrix_was_fresh,
            approx,
        })
    }
}

fn hnsw_any(dir: &Path, meta: &Meta) -> Option<Hnsw> {
    // Any graph of this index (any generation), as the base of an incremental update.
    let s = Hnsw::file_stamp(dir)?;
    if s.uid != meta.uid {
        return None;
    }
    Hnsw::load(dir, s, meta.dim)
}

fn approx_rows(
    m: &Matrix,
    h: &Hnsw,
    query: &[f32],
    k: usize,
    filter: &Filter,
    ef: Option<usize>,
) -> Result<Vec<Scored>> {
    if k == 0 || m.is_empty() {
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
    let h = index.approx_for(&m).ok_or_else(|| Error::NoApproxIndex {
        dir: index.dir.clone(),
        min: index.approx_min_items,
    })?;
    let nq = queries.len() / dim;
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
