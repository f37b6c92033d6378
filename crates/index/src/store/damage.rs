//! Finding and dropping what cannot be used: files rows that cannot be read, stored vectors
//! that do not verify (or are missing), and the paths pointing at them.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Transaction};

use super::{Meta, bump_generation, check_vector};
use crate::error::Result;
use crate::path_text;

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
