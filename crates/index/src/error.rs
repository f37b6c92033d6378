//! Errors of the index library. Every variant's message is meant to be shown to a user as is.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shortens a model hash for messages: the first 12 characters and an ellipsis.
pub(crate) fn short_hash(h: &str) -> String {
    if h.chars().count() > 12 {
        let s: String = h.chars().take(12).collect();
        format!("{s}…")
    } else {
        h.to_string()
    }
}

fn model_label(name: &str, id: &str) -> String {
    if name.is_empty() || name == id {
        format!("(hash {})", short_hash(id))
    } else {
        format!("{name} (hash {})", short_hash(id))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The index was built by another model: its vectors live in another space.
    #[error(
        "index {} was built with model {}; this is model {} — re-index into a new directory or pass the same model",
        dir.display(), model_label(index_model_name, index_model_id), model_label(model_name, model_id)
    )]
    ModelMismatch {
        dir: PathBuf,
        index_model_id: String,
        index_model_name: String,
        model_id: String,
        model_name: String,
    },

    /// Same model id but another embedding dimension (should not happen for a real model).
    #[error("index {} holds {index_dim}-dimensional vectors; this model produces {dim}", dir.display())]
    DimMismatch {
        dir: PathBuf,
        index_dim: usize,
        dim: usize,
    },

    /// The index was written by a newer mmbind.
    #[error(
        "index {} has format version {found}, but this mmbind reads versions up to {supported} — upgrade mmbind, or re-index into a new directory",
        dir.display()
    )]
    TooNew {
        dir: PathBuf,
        found: u32,
        supported: u32,
    },

    /// The directory is not (or not yet) an mmbind index.
    #[error("{} is not an mmbind index: {reason}", dir.display())]
    NotAnIndex { dir: PathBuf, reason: String },

    /// Another process holds the writer lock.
    #[error(
        "index {} is being updated by another process{}; waited {:.1}s — try again when it has finished",
        dir.display(),
        match pid { Some(p) => format!(" (pid {p})"), None => String::new() },
        waited.as_secs_f64()
    )]
    Busy {
        dir: PathBuf,
        pid: Option<u32>,
        waited: Duration,
    },

    /// A vector handed to the writer is unusable.
    #[error("vector for {path}: {reason}")]
    InvalidVector { path: String, reason: String },

    /// A query is unusable (wrong length, NaN, ...).
    #[error("invalid query: {0}")]
    InvalidQuery(String),

    /// A caller-side misuse of the API (path not in the plan, ...).
    #[error("{0}")]
    Usage(String),

    /// Approximate search was asked for, but no up-to-date HNSW graph exists.
    #[error(
        "index {} has no up-to-date approximate (HNSW) graph; build one with `mmbind index --approx` (it is built automatically from {min} items) or use exact search",
        dir.display()
    )]
    NoApproxIndex { dir: PathBuf, min: usize },

    /// The index failed an integrity check.
    #[error("index {} is damaged: {detail}", dir.display())]
    Corrupt { dir: PathBuf, detail: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A database error that is not damage (busy, disk full, read-only, ...).
    #[error("index {}: database error: {source}", dir.display())]
    Database {
        dir: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// Raw SQLite error; public methods of `Index` and `Writer` turn it into `Corrupt` or
    /// `Database`, naming the index.
    #[error("index database: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("index database value: {0}")]
    Value(#[from] rusqlite::types::FromSqlError),

    #[error("HNSW graph: {0}")]
    Hnsw(String),
}

/// The hint appended to damage found outside `check`.
pub(crate) fn check_hint(dir: &std::path::Path) -> String {
    format!("`mmbind index --check --index {}` says more", dir.display())
}

impl Error {
    /// Names the index in an error that comes from SQLite without a path: damage (a
    /// malformed database, a value of the wrong type or encoding) becomes [`Error::Corrupt`],
    /// anything else [`Error::Database`].
    pub(crate) fn in_index(self, dir: &std::path::Path) -> Error {
        use rusqlite::ErrorCode;
        let damaged = |detail: String| Error::Corrupt {
            dir: dir.to_path_buf(),
            detail: format!("{detail} — {}", check_hint(dir)),
        };
        match self {
            Error::Sqlite(e) => match &e {
                rusqlite::Error::SqliteFailure(f, _)
                    if matches!(f.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) =>
                {
                    damaged(format!("its database cannot be read ({})", one_line(&e)))
                }
                rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
                | rusqlite::Error::Utf8Error(..) => {
                    damaged(format!("a database value is unreadable ({})", one_line(&e)))
                }
                _ => Error::Database {
                    dir: dir.to_path_buf(),
                    source: e,
                },
            },
            Error::Value(e) => {
                damaged(format!("a database value is unreadable ({})", one_line(&e)))
            }
            Error::Corrupt { dir: d, detail } if d.as_os_str().is_empty() => damaged(detail),
            other => other,
        }
    }

    /// Damage found where the index directory is not at hand: `in_index` names it.
    pub(crate) fn corrupt_here(detail: impl Into<String>) -> Error {
        Error::Corrupt {
            dir: PathBuf::new(),
            detail: detail.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `e`'s message on one line.
pub(crate) fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
