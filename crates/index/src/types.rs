//! The index's public value types: what a search is given and returns, and what the
//! integrity check and repair report.

use super::*;

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
    /// The file's row: stable while the file stays indexed (see [`Index::get_by_id`]).
    ///
    /// [`Index::get_by_id`]: crate::Index::get_by_id
    pub id: i64,
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
pub(crate) enum NoGraph {
    /// Missing, stale or of an older format: the next update builds one.
    Absent,
    /// Present but damaged: what is wrong.
    Damaged(String),
    /// The matrix leaves out damaged stored vectors (already reported): rows would not match.
    Partial,
}
