//! Building a matrix from the database: the catalog, the rows (reused from the last matrix
//! or read and verified from SQLite), the checksums and the header, written to the index's
//! file atomically or kept in an anonymous map.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use memmap2::{Mmap, MmapMut};
use rusqlite::Connection;

use super::{FORMAT, HEADER, HEADER_SUMMED, Layout, MAGIC, MATRIX_FILE, Matrix, Stamp};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::integrity::{self, Load, SUM};
use crate::path_text::PathText;
use crate::store::{self, Meta};

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn header_bytes(dim: usize, count: usize, stamp: Stamp, l: &Layout, table: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; HEADER];
    h[0..8].copy_from_slice(MAGIC);
    put_u32(&mut h, 8, FORMAT);
    put_u32(&mut h, 12, dim as u32);
    put_u64(&mut h, 16, count as u64);
    put_u64(&mut h, 24, stamp.generation);
    h[32..48].copy_from_slice(&stamp.uid);
    let fields = [
        l.vectors,
        l.file_ids,
        l.vector_ids,
        l.codes,
        l.path_offs,
        l.path_bytes,
        l.path_bytes_len,
        l.modal,
        l.modal_len,
        l.total,
    ];
    for (i, f) in fields.iter().enumerate() {
        put_u64(&mut h, 48 + 8 * i, *f as u64);
    }
    put_u64(&mut h, 128, l.table as u64);
    put_u64(&mut h, 136, integrity::BLOCK as u64);
    h[144..160].copy_from_slice(&integrity::sum(table));
    let check = integrity::sum(&h[..HEADER_SUMMED]);
    h[HEADER_SUMMED..HEADER_SUMMED + SUM].copy_from_slice(&check);
    h
}

/// Catalog of the rows, read from SQLite.
struct Catalog {
    file_ids: Vec<i64>,
    vector_ids: Vec<i64>,
    codes: Vec<u8>,
    path_offs: Vec<u64>,
    path_bytes: Vec<u8>,
    modalities: Vec<String>,
}

/// The files rows, in id order, but those pointing at a vector of `exclude`. A row that cannot
/// be read is an error naming it.
fn read_catalog(conn: &Connection, exclude: &HashMap<i64, String>) -> Result<Catalog> {
    let mut c = Catalog {
        file_ids: vec![],
        vector_ids: vec![],
        codes: vec![],
        path_offs: vec![0],
        path_bytes: vec![],
        modalities: vec![],
    };
    let mut codes: HashMap<String, u8> = HashMap::new();
    let mut st = conn.prepare(
        "SELECT id, path, modality, size, mtime_ns, hash, vector_id FROM files ORDER BY id",
    )?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        if let Some(what) = store::check_file_row(r)? {
            return Err(Error::corrupt_here(what));
        }
        let vid: i64 = r.get(6)?;
        if exclude.contains_key(&vid) {
            continue;
        }
        c.file_ids.push(r.get(0)?);
        c.vector_ids.push(vid);
        let p = r.get::<_, PathText>(1)?.0;
        c.path_bytes.extend_from_slice(p.as_bytes());
        c.path_offs.push(c.path_bytes.len() as u64);
        let m = r.get_ref(2)?.as_str()?;
        let code = match codes.get(m) {
            Some(&k) => k,
            None => {
                if c.modalities.len() >= 255 || m.len() > u16::MAX as usize {
                    return Err(Error::corrupt_here(
                        "its files have more than 255 distinct modalities",
                    ));
                }
                let k = c.modalities.len() as u8;
                c.modalities.push(m.to_string());
                codes.insert(m.to_string(), k);
                k
            }
        };
        c.codes.push(code);
    }
    Ok(c)
}

fn modal_table(mods: &[String]) -> Vec<u8> {
    let mut out = (mods.len() as u32).to_le_bytes().to_vec();
    for m in mods {
        out.extend_from_slice(&(m.len() as u16).to_le_bytes());
        out.extend_from_slice(m.as_bytes());
    }
    out
}

fn as_bytes<T>(v: &[T]) -> &[u8] {
    // SAFETY: plain old data (i64/u64/u8) viewed as bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

/// A matrix and the stored vectors left out of it.
pub(crate) struct Built {
    pub matrix: Matrix,
    /// Vector ids that did not verify in SQLite, with what is wrong: their files are not in
    /// `matrix`, and `matrix` is then never written to disk (whoever holds the writer lock
    /// drops those files and builds again: see `Index::rebuild_derived_locked`).
    pub damaged: Vec<(i64, String)>,
}

/// Build the matrix for the database's current state, reusing rows of `old` whose vector id
/// is unchanged (vectors are immutable, ids never reused; `old` was verified when loaded).
/// With `to_disk`, the result is written atomically to `dir/vectors.mat` (the caller must hold
/// the writer lock); otherwise it lives in an anonymous map. Every vector read from SQLite is
/// verified; when one does not, the build starts over in memory without the files pointing at
/// any damaged vector (see [`Built::damaged`]).
pub(crate) fn build(
    conn: &Connection,
    dir: &Path,
    meta: &Meta,
    old: Option<&Matrix>,
    to_disk: bool,
) -> Result<Built> {
    // One read transaction: the catalog and the vectors come from the same snapshot.
    let tx = conn.unchecked_transaction()?;
    let none = HashMap::new();
    if let Some(m) = build_in(&tx, dir, meta, old, to_disk, &none)? {
        tx.finish()?;
        return Ok(Built {
            matrix: m,
            damaged: vec![],
        });
    }
    let scan = store::scan_vectors(&tx, meta)?;
    let damaged: HashMap<i64, String> = scan.damaged.into_iter().collect();
    let m = build_in(&tx, dir, meta, old, false, &damaged)?.ok_or_else(|| {
        Error::corrupt_here("a stored vector is damaged but a full scan found none")
    })?;
    tx.finish()?;
    let mut damaged: Vec<(i64, String)> = damaged.into_iter().collect();
    damaged.sort();
    Ok(Built { matrix: m, damaged })
}

/// One build attempt; `Ok(None)` when a vector read from SQLite does not verify.
fn build_in(
    tx: &Connection,
    dir: &Path,
    meta: &Meta,
    old: Option<&Matrix>,
    to_disk: bool,
    exclude: &HashMap<i64, String>,
) -> Result<Option<Matrix>> {
    let a = Attempt::new(tx, dir, meta, old, exclude)?;
    if to_disk {
        a.write_file()
    } else {
        a.in_memory()
    }
}

/// One build attempt: the rows' catalog and the file's layout, and where each row's vector
/// comes from (a row of `old`, or SQLite).
struct Attempt<'a> {
    tx: &'a Connection,
    dir: &'a Path,
    meta: &'a Meta,
    exclude: &'a HashMap<i64, String>,
    stamp: Stamp,
    cat: Catalog,
    modal: Vec<u8>,
    layout: Layout,
    old: Option<&'a Matrix>,
    /// The row of `old` holding each vector id.
    old_rows: HashMap<i64, usize>,
    /// Rows whose vector is not in `old`.
    missing: usize,
}

impl<'a> Attempt<'a> {
    fn new(
        tx: &'a Connection,
        dir: &'a Path,
        meta: &'a Meta,
        old: Option<&'a Matrix>,
        exclude: &'a HashMap<i64, String>,
    ) -> Result<Attempt<'a>> {
        let generation = store::generation(tx)?;
        let stamp = Stamp {
            uid: meta.uid,
            generation,
        };
        let cat = read_catalog(tx, exclude)?;
        let count = cat.file_ids.len();
        let dim = meta.dim;
        let modal = modal_table(&cat.modalities);
        let layout = Layout::compute(count, dim, cat.path_bytes.len(), modal.len());

        let old = old.filter(|o| o.stamp.uid == meta.uid && o.dim == dim);
        let old_rows: HashMap<i64, usize> = match old {
            Some(o) => o
                .vector_ids()
                .iter()
                .enumerate()
                .map(|(i, &v)| (v, i))
                .collect(),
            None => HashMap::new(),
        };
        let missing = cat
            .vector_ids
            .iter()
            .filter(|v| !old_rows.contains_key(v))
            .count();
        Ok(Attempt {
            tx,
            dir,
            meta,
            exclude,
            stamp,
            cat,
            modal,
            layout,
            old,
            old_rows,
            missing,
        })
    }

    fn count(&self) -> usize {
        self.cat.file_ids.len()
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::io(self.dir.join(MATRIX_FILE), e)
    }

    /// Emit every section after the header, in file order, into `w`; `false` when a stored
    /// vector does not verify.
    fn emit(&self, w: &mut dyn Write) -> Result<bool> {
        let rows_ok = if self.missing * 10 > self.count() && self.exclude.is_empty() {
            self.emit_joined(w)?
        } else {
            self.emit_by_id(w)?
        };
        if !rows_ok {
            return Ok(false);
        }
        self.emit_catalog(w)?;
        Ok(true)
    }

    /// Mostly new: every row from one sequential join.
    fn emit_joined(&self, w: &mut dyn Write) -> Result<bool> {
        let (count, dim) = (self.count(), self.meta.dim);
        let sql = format!(
            "SELECT f.vector_id, {} FROM files f JOIN vectors v ON v.id = f.vector_id ORDER BY f.id",
            self.meta.vector_cols()
        );
        let mut st = self.tx.prepare(&sql)?;
        let mut rows = st.query([])?;
        let mut i = 0usize;
        while let Some(r) = rows.next()? {
            let vid: i64 = r.get(0)?;
            if i >= count || vid != self.cat.vector_ids[i] {
                return Ok(false); // a file without its vector
            }
            let Ok(data) = store::check_vector(r, 1, dim)? else {
                return Ok(false);
            };
            w.write_all(data).map_err(|e| self.io(e))?;
            i += 1;
        }
        Ok(i == count)
    }

    /// Each row from `old` when it holds the vector, else from SQLite by vector id.
    fn emit_by_id(&self, w: &mut dyn Write) -> Result<bool> {
        let sql = format!(
            "SELECT {} FROM vectors v WHERE v.id = ?1",
            self.meta.vector_cols()
        );
        let mut st = self.tx.prepare(&sql)?;
        for &vid in &self.cat.vector_ids {
            if let (Some(&r), Some(o)) = (self.old_rows.get(&vid), self.old) {
                w.write_all(as_bytes(o.row(r))).map_err(|e| self.io(e))?;
            } else {
                let mut rows = st.query([vid])?;
                let Some(r) = rows.next()? else {
                    return Ok(false);
                };
                let Ok(data) = store::check_vector(r, 0, self.meta.dim)? else {
                    return Ok(false);
                };
                w.write_all(data).map_err(|e| self.io(e))?;
            }
        }
        Ok(true)
    }

    /// The catalog sections after the vectors, each padded to its offset.
    fn emit_catalog(&self, w: &mut dyn Write) -> Result<()> {
        let (cat, layout, count) = (&self.cat, &self.layout, self.count());
        let io = |e| self.io(e);
        let pad = |w: &mut dyn Write, upto: usize, at: usize| w.write_all(&vec![0u8; upto - at]);
        pad(w, layout.file_ids, HEADER + count * self.meta.dim * 4).map_err(io)?;
        w.write_all(as_bytes(&cat.file_ids)).map_err(io)?;
        w.write_all(as_bytes(&cat.vector_ids)).map_err(io)?;
        w.write_all(&cat.codes).map_err(io)?;
        pad(w, layout.path_offs, layout.codes + count).map_err(io)?;
        w.write_all(as_bytes(&cat.path_offs)).map_err(io)?;
        w.write_all(&cat.path_bytes).map_err(io)?;
        pad(w, layout.modal, layout.path_bytes + cat.path_bytes.len()).map_err(io)?;
        w.write_all(&self.modal).map_err(io)?;
        pad(w, layout.table, layout.modal + self.modal.len()).map_err(io)?;
        Ok(())
    }

    fn header(&self, table: &[u8]) -> Vec<u8> {
        header_bytes(self.meta.dim, self.count(), self.stamp, &self.layout, table)
    }

    /// Writes the matrix to `dir/vectors.mat` atomically and maps it from there.
    fn write_file(&self) -> Result<Option<Matrix>> {
        let target = self.dir.join(MATRIX_FILE);
        let af = fsutil::create(&target)?;
        {
            let mut bw = BufWriter::with_capacity(1 << 20, &af.file);
            bw.write_all(&[0u8; HEADER]).map_err(|e| self.io(e))?;
            if !self.emit(&mut bw)? {
                return Ok(None); // the temp file goes with `af`
            }
            bw.flush().map_err(|e| Error::io(af.tmp_path(), e))?;
        }
        let tmp_err = |e| Error::io(af.tmp_path(), e);
        // SAFETY: our own temp file, complete up to the table, not modified while mapped.
        let map = unsafe { Mmap::map(&af.file) }.map_err(tmp_err)?;
        let table = integrity::block_sums(&map[HEADER..self.layout.table]);
        drop(map);
        let header = self.header(&table);
        af.file
            .write_all_at(&table, self.layout.table as u64)
            .map_err(tmp_err)?;
        af.file.write_all_at(&header, 0).map_err(tmp_err)?;
        // SAFETY: as above; complete now, never modified after this point.
        let map = unsafe { Mmap::map(&af.file) }.map_err(tmp_err)?;
        fsutil::commit(af, &target)?;
        Ok(Some(parsed(
            Matrix::parse(map, true, false),
            "a freshly written",
        )?))
    }

    /// Builds the matrix in an anonymous map (partial when files were excluded).
    fn in_memory(&self) -> Result<Option<Matrix>> {
        let layout = &self.layout;
        let mut anon = MmapMut::map_anon(layout.total).map_err(|e| Error::io(self.dir, e))?;
        {
            let mut cursor: &mut [u8] = &mut anon[HEADER..];
            if !self.emit(&mut cursor)? {
                return Ok(None);
            }
        }
        let table = integrity::block_sums(&anon[HEADER..layout.table]);
        anon[layout.table..].copy_from_slice(&table);
        anon[..HEADER].copy_from_slice(&self.header(&table));
        let map = anon.make_read_only().map_err(|e| Error::io(self.dir, e))?;
        let mut m = parsed(Matrix::parse(map, false, false), "an in-memory")?;
        m.partial = !self.exclude.is_empty();
        Ok(Some(m))
    }
}

/// The matrix this build just made (`what`: which, for the error when it does not parse).
fn parsed(m: Load<Matrix>, what: &str) -> Result<Matrix> {
    m.ok()
        .ok_or_else(|| Error::corrupt_here(format!("{what} matrix does not parse")))
}
