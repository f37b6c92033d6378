//! The SQLite store: the index's source of truth.
//!
//! ```sql
//! meta(key TEXT PRIMARY KEY, value TEXT)          -- format, schema_version, uid, model_id,
//!                                                 -- model_name, dim, generation
//! vectors(id INTEGER PRIMARY KEY AUTOINCREMENT,   -- one embedding per (content, modality);
//!         hash BLOB, modality TEXT, data BLOB,    -- immutable once written, ids never reused
//!         checksum INTEGER,                       -- `vector_sum` of hash, modality, data
//!         UNIQUE(hash, modality))
//! files(id INTEGER PRIMARY KEY, path TEXT UNIQUE, modality TEXT, size INTEGER,
//!       mtime_ns INTEGER, hash BLOB, vector_id INTEGER REFERENCES vectors(id))
//! ```
//! Every write transaction that changes what is searched (files added, removed, re-pointed to
//! another vector) increments `meta.generation`; derived files (the search matrix and
//! the HNSW graph) are stamped with `(uid, generation)` and ignored when they do not match.
//!
//! Schema 2 added `vectors.checksum` (the first 8 bytes of BLAKE3 over the content hash,
//! the modality and the vector bytes, as a signed integer): every read of a vector verifies
//! it, so a flipped bit in a blob is reported instead of searched. A schema-1 database is
//! migrated when it is first opened writable (the column is added and filled from the stored
//! vectors, which are taken as they are); opened read-only, its vectors are checked for
//! length and finiteness only.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::error::{Error, Result};

mod damage;
mod open;

pub(crate) use damage::{
    bad_file_rows, check_file_row, drop_file_rows, drop_vectors, paths_of_vector, scan_vectors,
};
pub(crate) use open::{create_or_open, fill_checksums, open_existing};

pub(crate) const DB_FILE: &str = "index.sqlite";
pub(crate) const VERSION_FILE: &str = "VERSION";
pub(crate) const FORMAT_NAME: &str = "mmbind-index";
/// Format version written by (and the newest readable by) this library.
pub const SCHEMA_VERSION: u32 = 2;
/// Largest embedding dimension an index may declare (a tampered `dim` is refused, not
/// allocated).
pub(crate) const MAX_DIM: usize = 1 << 16;

#[derive(Clone, Debug)]
pub(crate) struct Meta {
    pub uid: [u8; 16],
    pub model_id: String,
    pub model_name: String,
    pub dim: usize,
    /// Whether `vectors.checksum` exists (schema ≥ 2; a schema-1 database opened read-only
    /// has none).
    pub checksums: bool,
}

impl Meta {
    /// The vector columns `check_vector` reads, for a `vectors` table aliased `v`.
    pub fn vector_cols(&self) -> &'static str {
        if self.checksums {
            "v.hash, v.modality, v.data, v.checksum"
        } else {
            "v.hash, v.modality, v.data, NULL"
        }
    }
}

/// The checksum stored beside a vector: BLAKE3 over its content hash, modality and bytes.
pub(crate) fn vector_sum(hash: &[u8], modality: &[u8], data: &[u8]) -> i64 {
    let mut h = blake3::Hasher::new();
    h.update(&(hash.len() as u32).to_le_bytes());
    h.update(hash);
    h.update(&(modality.len() as u32).to_le_bytes());
    h.update(modality);
    h.update(data);
    i64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().unwrap())
}

fn bytes_of<'r>(v: ValueRef<'r>) -> Option<&'r [u8]> {
    match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => Some(b),
        _ => None,
    }
}

/// Verifies one stored vector from four columns starting at `first` (`Meta::vector_cols`):
/// `Ok(data)` when intact, `Err(what is wrong)` otherwise.
pub(crate) fn check_vector<'r>(
    row: &'r rusqlite::Row,
    first: usize,
    dim: usize,
) -> rusqlite::Result<std::result::Result<&'r [u8], String>> {
    let hash = row.get_ref(first)?;
    let modality = row.get_ref(first + 1)?;
    let data = row.get_ref(first + 2)?;
    let sum = row.get_ref(first + 3)?;
    let Some(data) = (match data {
        ValueRef::Blob(b) => Some(b),
        _ => None,
    }) else {
        return Ok(Err("its data is not a blob".into()));
    };
    let (Some(h), Some(m)) = (bytes_of(hash), bytes_of(modality)) else {
        return Ok(Err("its content hash or modality is unreadable".into()));
    };
    match sum {
        ValueRef::Integer(s) => {
            if vector_sum(h, m, data) != s {
                return Ok(Err("it does not match its checksum".into()));
            }
        }
        // Written before checksums existed: only length and values can be checked.
        ValueRef::Null => {}
        _ => return Ok(Err("its checksum is unreadable".into())),
    }
    if data.len() != dim * 4 {
        return Ok(Err(format!(
            "it has {} bytes, expected {}",
            data.len(),
            dim * 4
        )));
    }
    if data
        .chunks_exact(4)
        .any(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite())
    {
        return Ok(Err("it holds NaN or infinity".into()));
    }
    Ok(Ok(data))
}

pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn meta_set(tx: &Transaction, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub(crate) fn generation(conn: &Connection) -> Result<u64> {
    let g: Option<String> = meta_get(conn, "generation")?;
    g.and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::corrupt_here("its generation counter is missing or not a number"))
}

/// Bump the generation inside a write transaction; returns the new value.
pub(crate) fn bump_generation(tx: &Transaction) -> Result<u64> {
    tx.execute(
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'",
        [],
    )?;
    let g: String = tx.query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| {
        r.get(0)
    })?;
    g.parse()
        .map_err(|_| Error::corrupt_here("its generation counter is not a number"))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn file_count(conn: &Connection) -> Result<usize> {
    let n: i64 = conn.query_row("SELECT count(*) FROM files", [], |r| r.get(0))?;
    Ok(n as usize)
}

/// Little-endian f32 bytes of a vector.
pub(crate) fn vec_to_blob(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

pub(crate) fn blob_to_vec(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
