//! Opening the database: creating a new index, the version checks, reading `meta`, and the
//! migration of a schema-1 database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Transaction};

use super::{
    DB_FILE, FORMAT_NAME, MAX_DIM, Meta, SCHEMA_VERSION, VERSION_FILE, bytes_of, hex, meta_get,
    meta_set, vector_sum,
};
use crate::error::{Error, Result};

fn configure(conn: &Connection, writable: bool) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(30))?;
    if writable {
        // WAL: readers never block the writer and vice versa; FULL: a committed batch is on
        // disk before commit returns (survives power loss, not just a killed process).
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Usage(format!(
                "could not switch the index database to WAL mode (got {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn check_version_file(dir: &Path) -> Result<()> {
    let p = dir.join(VERSION_FILE);
    if let Ok(text) = std::fs::read_to_string(&p) {
        // "mmbind-index <version>"
        let v = text
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u32>().ok());
        match v {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(Error::TooNew {
                    dir: dir.to_path_buf(),
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(_) => {}
            None => {
                return Err(Error::NotAnIndex {
                    dir: dir.to_path_buf(),
                    reason: format!("{} does not name an mmbind index format", p.display()),
                });
            }
        }
    }
    Ok(())
}

fn new_uid() -> [u8; 16] {
    let mut h = blake3::Hasher::new();
    h.update(&std::process::id().to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(&now.as_nanos().to_le_bytes());
    let local = 0u8;
    h.update(&(&local as *const u8 as usize).to_le_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

fn unhex16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for i in 0..16 {
        out[i] = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

const SCHEMA: &str = "
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE vectors(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash BLOB NOT NULL,
    modality TEXT NOT NULL,
    data BLOB NOT NULL,
    checksum INTEGER,
    UNIQUE(hash, modality)
);
CREATE TABLE files(
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    modality TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash BLOB NOT NULL,
    vector_id INTEGER NOT NULL REFERENCES vectors(id)
);
CREATE INDEX files_vector ON files(vector_id);
";

fn read_meta(conn: &Connection, dir: &Path) -> Result<Meta> {
    let not_index = |reason: &str| Error::NotAnIndex {
        dir: dir.to_path_buf(),
        reason: reason.to_string(),
    };
    let has_meta: bool = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'",
        [],
        |r| r.get::<_, i64>(0),
    )? > 0;
    if !has_meta {
        return Err(not_index("the database has no mmbind metadata"));
    }
    let format = meta_get(conn, "format")?;
    if format.as_deref() != Some(FORMAT_NAME) {
        return Err(not_index("the database was not written by mmbind"));
    }
    let version: u32 = meta_get(conn, "schema_version")?
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| not_index("missing schema version"))?;
    if version > SCHEMA_VERSION {
        return Err(Error::TooNew {
            dir: dir.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let uid = meta_get(conn, "uid")?
        .as_deref()
        .and_then(unhex16)
        .ok_or_else(|| not_index("missing uid"))?;
    let model_id = meta_get(conn, "model_id")?.ok_or_else(|| not_index("missing model id"))?;
    let model_name = meta_get(conn, "model_name")?.unwrap_or_default();
    let dim: usize = meta_get(conn, "dim")?
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| not_index("missing dim"))?;
    if dim == 0 || dim > MAX_DIM {
        return Err(Error::Corrupt {
            dir: dir.to_path_buf(),
            detail: format!(
                "its recorded embedding dimension {dim} is not between 1 and {MAX_DIM}"
            ),
        });
    }
    let checksums = version >= 2 || has_checksum_column(conn)?;
    Ok(Meta {
        uid,
        model_id,
        model_name,
        dim,
        checksums,
    })
}

fn has_checksum_column(conn: &Connection) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM pragma_table_info('vectors') WHERE name = 'checksum'",
        [],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Brings a schema-1 database to schema 2 (adds and fills `vectors.checksum`), in one
/// transaction; rewrites `VERSION`. Needs a writable connection.
fn migrate(conn: &mut Connection, dir: &Path) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: u32 = meta_get(&tx, "schema_version")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(SCHEMA_VERSION);
    if version >= SCHEMA_VERSION {
        return Ok(()); // another process migrated it meanwhile
    }
    if !has_checksum_column(&tx)? {
        tx.execute_batch("ALTER TABLE vectors ADD COLUMN checksum INTEGER")?;
    }
    fill_checksums(&tx)?;
    meta_set(&tx, "schema_version", &SCHEMA_VERSION.to_string())?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    crate::fsutil::write_atomic(
        &dir.join(VERSION_FILE),
        format!("{FORMAT_NAME} {SCHEMA_VERSION}\n").as_bytes(),
    )
}

/// Computes the missing checksums (vectors written by an older mmbind) from the stored
/// bytes. Returns how many were filled.
pub(crate) fn fill_checksums(tx: &Transaction) -> Result<usize> {
    let mut todo: Vec<(i64, i64)> = Vec::new();
    {
        let mut st =
            tx.prepare("SELECT id, hash, modality, data FROM vectors WHERE checksum IS NULL")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            if let (Some(h), Some(m), ValueRef::Blob(d)) = (
                bytes_of(r.get_ref(1)?),
                bytes_of(r.get_ref(2)?),
                r.get_ref(3)?,
            ) {
                todo.push((id, vector_sum(h, m, d)));
            }
        }
    }
    let mut up = tx.prepare("UPDATE vectors SET checksum = ?2 WHERE id = ?1")?;
    for (id, s) in &todo {
        up.execute([id, s])?;
    }
    Ok(todo.len())
}

/// Creates the tables and metadata of a new index in the empty database `db` (and writes
/// `VERSION`); leaves an index's database as it is, and refuses any other database.
fn init_if_new(
    conn: &mut Connection,
    dir: &Path,
    db: &Path,
    model_id: &str,
    model_name: &str,
    dim: usize,
) -> Result<()> {
    // IMMEDIATE: two processes creating the same index serialise here.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let has_meta: bool = tx.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'",
        [],
        |r| r.get::<_, i64>(0),
    )? > 0;
    if has_meta {
        tx.commit()?;
        return Ok(());
    }
    let tables: i64 = tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if tables > 0 {
        return Err(Error::NotAnIndex {
            dir: dir.to_path_buf(),
            reason: format!("{} is a database of something else", db.display()),
        });
    }
    tx.execute_batch(SCHEMA)?;
    meta_set(&tx, "format", FORMAT_NAME)?;
    meta_set(&tx, "schema_version", &SCHEMA_VERSION.to_string())?;
    meta_set(&tx, "uid", &hex(&new_uid()))?;
    meta_set(&tx, "model_id", model_id)?;
    meta_set(&tx, "model_name", model_name)?;
    meta_set(&tx, "dim", &dim.to_string())?;
    meta_set(&tx, "generation", "1")?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    crate::fsutil::write_atomic(
        &dir.join(VERSION_FILE),
        format!("{FORMAT_NAME} {SCHEMA_VERSION}\n").as_bytes(),
    )
}

/// Open (creating if needed) the database of the index in `dir` for `model`.
pub(crate) fn create_or_open(
    dir: &Path,
    model_id: &str,
    model_name: &str,
    dim: usize,
) -> Result<(Connection, Meta)> {
    if model_id.is_empty() {
        return Err(Error::Usage("model id must not be empty".into()));
    }
    if dim == 0 {
        return Err(Error::Usage("embedding dimension must be positive".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    check_version_file(dir)?;
    let db = dir.join(DB_FILE);
    let mut conn = Connection::open_with_flags(
        &db,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn, true)?;
    init_if_new(&mut conn, dir, &db, model_id, model_name, dim)?;
    let mut meta = read_meta(&conn, dir)?;
    if needs_migration(&conn)? {
        migrate(&mut conn, dir)?;
        meta = read_meta(&conn, dir)?;
    }
    if meta.model_id != model_id {
        return Err(Error::ModelMismatch {
            dir: dir.to_path_buf(),
            index_model_id: meta.model_id,
            index_model_name: meta.model_name,
            model_id: model_id.to_string(),
            model_name: model_name.to_string(),
        });
    }
    if meta.dim != dim {
        return Err(Error::DimMismatch {
            dir: dir.to_path_buf(),
            index_dim: meta.dim,
            dim,
        });
    }
    Ok((conn, meta))
}

/// Open an existing index. Tries read-write (so WAL recovery and derived-file rebuilds can
/// happen), then read-only. Returns whether the connection is writable.
pub(crate) fn open_existing(dir: &Path) -> Result<(Connection, Meta, bool)> {
    let db: PathBuf = dir.join(DB_FILE);
    if !db.is_file() {
        return Err(Error::NotAnIndex {
            dir: dir.to_path_buf(),
            reason: if dir.is_dir() {
                format!("no {DB_FILE} in it (build one with `mmbind index`)")
            } else {
                "no such directory".into()
            },
        });
    }
    check_version_file(dir)?;
    let (conn, writable) = match Connection::open_with_flags(
        &db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => (c, true),
        Err(_) => (
            Connection::open_with_flags(
                &db,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
            false,
        ),
    };
    let mut conn = conn;
    configure(&conn, false)?;
    if writable {
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    let mut meta = read_meta(&conn, dir)?;
    if writable && needs_migration(&conn)? {
        migrate(&mut conn, dir)?;
        meta = read_meta(&conn, dir)?;
    }
    Ok((conn, meta, writable))
}

fn needs_migration(conn: &Connection) -> Result<bool> {
    let v: Option<u32> = meta_get(conn, "schema_version")?.and_then(|v| v.parse().ok());
    Ok(v.is_some_and(|v| v < SCHEMA_VERSION))
}
