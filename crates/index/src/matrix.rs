//! The search matrix: a derived, memory-mapped file holding every indexed vector contiguously
//! (row = file, in `files.id` order) plus a small catalog (file id, vector id, modality code,
//! path) so that a search never touches SQLite.
//!
//! Layout (format 2, little-endian; sections 8-byte aligned, vectors page-aligned):
//! ```text
//! 0      magic "MMBXMAT1", format u32 (2), dim u32, count u64, generation u64, uid [16]
//! 48     offsets/lengths of the sections below, total length (10 × u64)
//! 128    table offset u64, block size u64, BLAKE3 of the checksum table [16]
//! 4080   BLAKE3 of bytes 0..4080 [16]
//! 4096   vectors      count × dim × f32
//!        file_ids     count × i64   (ascending)
//!        vector_ids   count × i64
//!        codes        count × u8    (index into the modality table)
//!        path_offs    (count + 1) × u64
//!        path_bytes   UTF-8
//!        modalities   u32 n, then n × (u16 len, bytes)
//!        table        one CRC-32 (u32) per 1 MiB block of bytes 4096..table offset
//! ```
//! The file is written to a temp name, fsynced and renamed (see `fsutil`), and stamped with
//! the SQLite `(uid, generation)` it was built from; a stamp that differs from the database's
//! current one marks it stale. Loading verifies the header, the table and every block
//! (`integrity`) before a row is read; a file of format 1 (no block checksums) reads as
//! [`Load::Old`] and is rebuilt. Every vector read from SQLite for a build is verified against
//! its checksum (`store::check_vector`); one that does not verify is never written into a
//! matrix file (see [`build`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use memmap2::{Mmap, MmapMut};
use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::integrity::{self, Load, SUM};
use crate::path_text::PathText;
use crate::store::{self, Meta};

pub(crate) const MATRIX_FILE: &str = "vectors.mat";
const MAGIC: &[u8; 8] = b"MMBXMAT1";
const FORMAT: u32 = 2;
const HEADER: usize = 4096;
/// Bytes of the header covered by its checksum (the rest: the checksum).
const HEADER_SUMMED: usize = HEADER - SUM;

#[cfg(not(target_endian = "little"))]
compile_error!(
    "mmbind-index stores little-endian floats and maps them directly; big-endian targets are not supported"
);

/// Identifies the SQLite state a derived file was built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub uid: [u8; 16],
    pub generation: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Layout {
    vectors: usize,
    file_ids: usize,
    vector_ids: usize,
    codes: usize,
    path_offs: usize,
    path_bytes: usize,
    path_bytes_len: usize,
    modal: usize,
    modal_len: usize,
    table: usize,
    total: usize,
}

fn align8(x: usize) -> usize {
    x.div_ceil(8) * 8
}

impl Layout {
    fn compute(count: usize, dim: usize, path_bytes_len: usize, modal_len: usize) -> Layout {
        let vectors = HEADER;
        let file_ids = align8(vectors + count * dim * 4);
        let vector_ids = file_ids + count * 8;
        let codes = vector_ids + count * 8;
        let path_offs = align8(codes + count);
        let path_bytes = path_offs + (count + 1) * 8;
        let modal = align8(path_bytes + path_bytes_len);
        let table = align8(modal + modal_len);
        let total = table + integrity::blocks(table - HEADER) * integrity::BLOCK_SUM;
        Layout {
            vectors,
            file_ids,
            vector_ids,
            codes,
            path_offs,
            path_bytes,
            path_bytes_len,
            modal,
            modal_len,
            table,
            total,
        }
    }
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
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

/// The rows of an index, memory-mapped (from the derived file, or an anonymous map when the
/// directory cannot be written).
pub struct Matrix {
    map: Mmap,
    pub(crate) dim: usize,
    pub(crate) count: usize,
    pub(crate) stamp: Stamp,
    layout: Layout,
    modalities: Vec<String>,
    pub(crate) on_disk: bool,
    /// Built without the files of damaged stored vectors (in memory only, never saved).
    pub(crate) partial: bool,
    /// The int8 copy for the compressed scan, made on its first use.
    quantized: std::sync::OnceLock<crate::quantized::Quantized>,
}

impl std::fmt::Debug for Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matrix")
            .field("dim", &self.dim)
            .field("count", &self.count)
            .field("stamp", &self.stamp)
            .finish()
    }
}

impl Matrix {
    /// Parses a matrix file; with `verify`, checks every block against its checksum first.
    fn parse(map: Mmap, on_disk: bool, verify: bool) -> Load<Matrix> {
        let b: &[u8] = &map;
        let damaged = |what: &str| Load::Damaged(format!("{MATRIX_FILE}: {what}"));
        if b.len() < HEADER || &b[0..8] != MAGIC {
            return damaged(&format!("not a matrix file ({} bytes)", b.len()));
        }
        let format = get_u32(b, 8);
        if format == 1 && blake3::hash(&b[..128]).as_bytes()[..8] == b[128..136] {
            return Load::Old;
        }
        if integrity::sum(&b[..HEADER_SUMMED])[..] != b[HEADER_SUMMED..HEADER_SUMMED + SUM] {
            return damaged("its header does not match its checksum");
        }
        if format != FORMAT {
            return damaged(&format!("unknown format {format}"));
        }
        let dim = get_u32(b, 12) as usize;
        let count = get_u64(b, 16) as usize;
        let generation = get_u64(b, 24);
        let mut uid = [0u8; 16];
        uid.copy_from_slice(&b[32..48]);
        let f: Vec<usize> = (0..10).map(|i| get_u64(b, 48 + 8 * i) as usize).collect();
        let layout = Layout {
            vectors: f[0],
            file_ids: f[1],
            vector_ids: f[2],
            codes: f[3],
            path_offs: f[4],
            path_bytes: f[5],
            path_bytes_len: f[6],
            modal: f[7],
            modal_len: f[8],
            table: get_u64(b, 128) as usize,
            total: f[9],
        };
        // The lengths come from the file: bound them before computing with them.
        let fits = dim > 0
            && (dim * 4 + 17)
                .checked_mul(count)
                .is_some_and(|n| n <= b.len())
            && layout.path_bytes_len <= b.len()
            && layout.modal_len <= b.len();
        if !fits
            || get_u64(b, 136) as usize != integrity::BLOCK
            || Layout::compute(count, dim, layout.path_bytes_len, layout.modal_len) != layout
            || layout.total != b.len()
            || !(b.as_ptr() as usize).is_multiple_of(8)
        {
            return damaged(&format!(
                "its sections do not add up to its {} bytes (truncated?)",
                b.len()
            ));
        }
        let table = &b[layout.table..];
        if integrity::sum(table)[..] != b[144..160] {
            return damaged("its checksum table does not match the header");
        }
        if verify
            && let Err(e) = integrity::verify(MATRIX_FILE, HEADER, &b[HEADER..layout.table], table)
        {
            return Load::Damaged(e);
        }
        // Modality table.
        let mt = &b[layout.modal..layout.modal + layout.modal_len];
        let bad_catalog = || damaged("its catalog is inconsistent");
        if mt.len() < 4 {
            return bad_catalog();
        }
        let n = get_u32(mt, 0) as usize;
        let mut pos = 4;
        let mut modalities = Vec::with_capacity(n.min(256));
        for _ in 0..n {
            if pos + 2 > mt.len() {
                return bad_catalog();
            }
            let len = u16::from_le_bytes([mt[pos], mt[pos + 1]]) as usize;
            pos += 2;
            let Some(s) = mt
                .get(pos..pos + len)
                .and_then(|s| std::str::from_utf8(s).ok())
            else {
                return bad_catalog();
            };
            modalities.push(s.to_string());
            pos += len;
        }
        let m = Matrix {
            map,
            dim,
            count,
            stamp: Stamp { uid, generation },
            layout,
            modalities,
            on_disk,
            partial: false,
            quantized: std::sync::OnceLock::new(),
        };
        // Codes and path offsets must be in range, paths UTF-8.
        if m.codes().iter().any(|&c| c as usize >= m.modalities.len()) {
            return bad_catalog();
        }
        let po = m.path_offs();
        if po[0] != 0
            || po[count] as usize != layout.path_bytes_len
            || po.windows(2).any(|w| w[0] > w[1])
            || std::str::from_utf8(
                &m.map[layout.path_bytes..layout.path_bytes + layout.path_bytes_len],
            )
            .is_err()
        {
            return bad_catalog();
        }
        Load::Ok(m)
    }

    /// Map and verify the derived file in `dir` (any stamp: the caller compares it).
    pub(crate) fn load(dir: &Path) -> Load<Matrix> {
        let f = match File::open(dir.join(MATRIX_FILE)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Load::Missing,
            Err(e) => return Load::Damaged(format!("{MATRIX_FILE} cannot be read: {e}")),
        };
        // SAFETY: the file is only ever replaced by rename, never modified in place, so the
        // mapped inode does not change under us.
        match unsafe { Mmap::map(&f) } {
            Ok(map) => Matrix::parse(map, true, true),
            Err(e) => Load::Damaged(format!("{MATRIX_FILE} cannot be mapped: {e}")),
        }
    }

    fn slice<T>(&self, off: usize, n: usize) -> &[T] {
        let bytes = &self.map[off..off + n * std::mem::size_of::<T>()];
        debug_assert_eq!(bytes.as_ptr() as usize % std::mem::align_of::<T>(), 0);
        // SAFETY: in bounds (checked by `parse` through the layout), aligned (page-aligned
        // map, 8-aligned offsets), and every bit pattern is a valid f32/i64/u64/u8.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const T, n) }
    }

    /// The int8 rows (built from the float32 ones on first call).
    pub(crate) fn quantized(&self) -> &crate::quantized::Quantized {
        self.quantized
            .get_or_init(|| crate::quantized::Quantized::new(self.vectors(), self.dim))
    }

    pub fn vectors(&self) -> &[f32] {
        self.slice(self.layout.vectors, self.count * self.dim)
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.vectors()[i * self.dim..(i + 1) * self.dim]
    }
    pub(crate) fn file_ids(&self) -> &[i64] {
        self.slice(self.layout.file_ids, self.count)
    }
    pub(crate) fn vector_ids(&self) -> &[i64] {
        self.slice(self.layout.vector_ids, self.count)
    }
    pub(crate) fn codes(&self) -> &[u8] {
        self.slice(self.layout.codes, self.count)
    }
    fn path_offs(&self) -> &[u64] {
        self.slice(self.layout.path_offs, self.count + 1)
    }
    pub fn path(&self, i: usize) -> &str {
        let po = self.path_offs();
        let b = &self.map
            [self.layout.path_bytes + po[i] as usize..self.layout.path_bytes + po[i + 1] as usize];
        std::str::from_utf8(b).unwrap_or("<invalid utf-8 path>")
    }
    pub fn modality(&self, i: usize) -> &str {
        &self.modalities[self.codes()[i] as usize]
    }
    pub(crate) fn modalities(&self) -> &[String] {
        &self.modalities
    }
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Whether this matrix is the index's file (`false`: built in memory, e.g. read-only dir).
    pub fn is_persisted(&self) -> bool {
        self.on_disk
    }
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
    let row_bytes = dim * 4;
    let io = |e: std::io::Error| Error::io(dir.join(MATRIX_FILE), e);

    // Emit every section after the header, in file order, into `w`; `false` when a stored
    // vector does not verify.
    let emit = |w: &mut dyn Write| -> Result<bool> {
        if missing * 10 > count && exclude.is_empty() {
            // Mostly new: one sequential join.
            let sql = format!(
                "SELECT f.vector_id, {} FROM files f JOIN vectors v ON v.id = f.vector_id ORDER BY f.id",
                meta.vector_cols()
            );
            let mut st = tx.prepare(&sql)?;
            let mut rows = st.query([])?;
            let mut i = 0usize;
            while let Some(r) = rows.next()? {
                let vid: i64 = r.get(0)?;
                if i >= count || vid != cat.vector_ids[i] {
                    return Ok(false); // a file without its vector
                }
                let Ok(data) = store::check_vector(r, 1, dim)? else {
                    return Ok(false);
                };
                w.write_all(data).map_err(io)?;
                i += 1;
            }
            if i != count {
                return Ok(false);
            }
        } else {
            let sql = format!(
                "SELECT {} FROM vectors v WHERE v.id = ?1",
                meta.vector_cols()
            );
            let mut st = tx.prepare(&sql)?;
            for &vid in &cat.vector_ids {
                if let (Some(&r), Some(o)) = (old_rows.get(&vid), old) {
                    w.write_all(as_bytes(o.row(r))).map_err(io)?;
                } else {
                    let mut rows = st.query([vid])?;
                    let Some(r) = rows.next()? else {
                        return Ok(false);
                    };
                    let Ok(data) = store::check_vector(r, 0, dim)? else {
                        return Ok(false);
                    };
                    w.write_all(data).map_err(io)?;
                }
            }
        }
        let pad = |w: &mut dyn Write, upto: usize, at: usize| w.write_all(&vec![0u8; upto - at]);
        pad(w, layout.file_ids, HEADER + count * row_bytes).map_err(io)?;
        w.write_all(as_bytes(&cat.file_ids)).map_err(io)?;
        w.write_all(as_bytes(&cat.vector_ids)).map_err(io)?;
        w.write_all(&cat.codes).map_err(io)?;
        pad(w, layout.path_offs, layout.codes + count).map_err(io)?;
        w.write_all(as_bytes(&cat.path_offs)).map_err(io)?;
        w.write_all(&cat.path_bytes).map_err(io)?;
        pad(w, layout.modal, layout.path_bytes + cat.path_bytes.len()).map_err(io)?;
        w.write_all(&modal).map_err(io)?;
        pad(w, layout.table, layout.modal + modal.len()).map_err(io)?;
        Ok(true)
    };
    let built = |m: Load<Matrix>, what: &str| {
        m.ok()
            .ok_or_else(|| Error::corrupt_here(format!("{what} matrix does not parse")))
    };

    if to_disk {
        let target = dir.join(MATRIX_FILE);
        let af = fsutil::create(&target)?;
        {
            let mut bw = BufWriter::with_capacity(1 << 20, &af.file);
            bw.write_all(&[0u8; HEADER]).map_err(io)?;
            if !emit(&mut bw)? {
                return Ok(None); // the temp file goes with `af`
            }
            bw.flush().map_err(|e| Error::io(af.tmp_path(), e))?;
        }
        let tmp_err = |e| Error::io(af.tmp_path(), e);
        // SAFETY: our own temp file, complete up to the table, not modified while mapped.
        let map = unsafe { Mmap::map(&af.file) }.map_err(tmp_err)?;
        let table = integrity::block_sums(&map[HEADER..layout.table]);
        drop(map);
        let header = header_bytes(dim, count, stamp, &layout, &table);
        af.file
            .write_all_at(&table, layout.table as u64)
            .map_err(tmp_err)?;
        af.file.write_all_at(&header, 0).map_err(tmp_err)?;
        // SAFETY: as above; complete now, never modified after this point.
        let map = unsafe { Mmap::map(&af.file) }.map_err(tmp_err)?;
        fsutil::commit(af, &target)?;
        Ok(Some(built(
            Matrix::parse(map, true, false),
            "a freshly written",
        )?))
    } else {
        let mut anon = MmapMut::map_anon(layout.total).map_err(|e| Error::io(dir, e))?;
        {
            let mut cursor: &mut [u8] = &mut anon[HEADER..];
            if !emit(&mut cursor)? {
                return Ok(None);
            }
        }
        let table = integrity::block_sums(&anon[HEADER..layout.table]);
        anon[layout.table..].copy_from_slice(&table);
        anon[..HEADER].copy_from_slice(&header_bytes(dim, count, stamp, &layout, &table));
        let map = anon.make_read_only().map_err(|e| Error::io(dir, e))?;
        let mut m = built(Matrix::parse(map, false, false), "an in-memory")?;
        m.partial = !exclude.is_empty();
        Ok(Some(m))
    }
}
