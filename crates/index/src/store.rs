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

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};

use crate::error::{Error, Result};
use crate::path_text;

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

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    {
        // IMMEDIATE: two processes creating the same index serialise here.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let has_meta: bool = tx.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'",
            [],
            |r| r.get::<_, i64>(0),
        )? > 0;
        if !has_meta {
            let tables: i64 =
                tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
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
            )?;
        } else {
            tx.commit()?;
        }
    }
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

/// Lossy text of a column that should hold a path (for messages about damaged rows).
fn lossy(v: ValueRef) -> String {
    match v {
        ValueRef::Text(b) => String::from_utf8_lossy(b).into_owned(),
        ValueRef::Blob(b) => path_text::display_bytes(b),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Null => "NULL".into(),
    }
}

/// What is wrong with a `files` row (`SELECT id, path, modality, size, mtime_ns, hash,
/// vector_id`), if anything.
pub(crate) fn check_file_row(r: &rusqlite::Row) -> rusqlite::Result<Option<String>> {
    // No NUL in TEXT: that is the text form of a name stored as a BLOB (two rows, one file).
    let text_ok = |v: ValueRef| matches!(v, ValueRef::Text(b) if !b.is_empty() && !b.contains(&0) && std::str::from_utf8(b).is_ok());
    let int_ok = |v: ValueRef| matches!(v, ValueRef::Integer(_));
    let id: i64 = r.get(0)?;
    let path = r.get_ref(1)?;
    // A name that is not UTF-8 is stored as a BLOB of its bytes (`path_text`); a UTF-8 BLOB
    // would be a second row for a text name.
    let blob_ok = |v: ValueRef| matches!(v, ValueRef::Blob(b) if std::str::from_utf8(b).is_err());
    let what = if !text_ok(path) && !blob_ok(path) {
        Some("its path is neither UTF-8 text nor a non-UTF-8 name")
    } else if !text_ok(r.get_ref(2)?) {
        Some("its modality is not valid UTF-8 text")
    } else if !int_ok(r.get_ref(3)?) || !int_ok(r.get_ref(4)?) {
        Some("its size or modification time is not a number")
    } else if !matches!(r.get_ref(5)?, ValueRef::Blob(b) if b.len() == 32) {
        Some("its content hash is not 32 bytes")
    } else if !int_ok(r.get_ref(6)?) {
        Some("its vector reference is not a number")
    } else {
        None
    };
    Ok(what.map(|w| format!("file row {id} ({}): {w}", lossy(path))))
}

/// The files rows that cannot be used: (row id, what is wrong).
pub(crate) fn bad_file_rows(conn: &Connection) -> Result<Vec<(i64, String)>> {
    let mut st = conn.prepare(
        "SELECT id, path, modality, size, mtime_ns, hash, vector_id FROM files ORDER BY id",
    )?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        if let Some(w) = check_file_row(r)? {
            out.push((r.get(0)?, w));
        }
    }
    Ok(out)
}

/// Every stored vector verified, and the files whose vector is missing.
#[derive(Default)]
pub(crate) struct VectorScan {
    pub vectors: usize,
    /// Vector id → what is wrong (a missing vector that files point at included).
    pub damaged: std::collections::BTreeMap<i64, String>,
    /// Vectors without a checksum (written by an older mmbind, or by one during the
    /// migration).
    pub unverified: usize,
}

pub(crate) fn scan_vectors(conn: &Connection, meta: &Meta) -> Result<VectorScan> {
    let mut out = VectorScan::default();
    let sql = format!("SELECT v.id, {} FROM vectors v", meta.vector_cols());
    let mut st = conn.prepare(&sql)?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        out.vectors += 1;
        let ValueRef::Integer(id) = r.get_ref(0)? else {
            continue;
        };
        if let Err(why) = check_vector(r, 1, meta.dim)? {
            out.damaged.insert(id, why);
        } else if matches!(r.get_ref(4)?, ValueRef::Null) {
            out.unverified += 1;
        }
    }
    let mut st = conn.prepare(
        "SELECT DISTINCT f.vector_id FROM files f WHERE typeof(f.vector_id) = 'integer' AND NOT EXISTS (SELECT 1 FROM vectors v WHERE v.id = f.vector_id)",
    )?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        out.damaged.insert(r.get(0)?, "it is missing".into());
    }
    Ok(out)
}

/// The paths of the files pointing at vector `vid` (lossy: for messages).
pub(crate) fn paths_of_vector(conn: &Connection, vid: i64) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached("SELECT path FROM files WHERE vector_id = ?1 ORDER BY id")?;
    let mut rows = st.query([vid])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(lossy(r.get_ref(0)?));
    }
    Ok(out)
}

/// Deletes the files pointing at the vectors `vids`, and those vectors; bumps the generation
/// when anything went. Returns the removed paths (lossy).
pub(crate) fn drop_vectors(tx: &Transaction, vids: &[i64]) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    for &v in vids {
        paths.extend(paths_of_vector(tx, v)?);
        tx.execute("DELETE FROM files WHERE vector_id = ?1", [v])?;
        tx.execute("DELETE FROM vectors WHERE id = ?1", [v])?;
    }
    if !vids.is_empty() {
        bump_generation(tx)?;
    }
    Ok(paths)
}

/// Deletes files rows by row id (rows that cannot be read); returns how many went.
pub(crate) fn drop_file_rows(tx: &Transaction, ids: &[i64]) -> Result<usize> {
    let mut n = 0;
    for id in ids {
        n += tx.execute("DELETE FROM files WHERE id = ?1", [id])?;
    }
    if n > 0 {
        bump_generation(tx)?;
    }
    Ok(n)
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
