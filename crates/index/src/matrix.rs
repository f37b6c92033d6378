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
//! matrix file (see [`build()`]).

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::integrity::{self, Load, SUM};

mod build;
mod parse;

pub(crate) use build::build;

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
