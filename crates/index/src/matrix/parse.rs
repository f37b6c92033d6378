//! Reading a matrix file: its header, the checksums of its blocks, and its catalog, each
//! checked before the rows are used.

use std::sync::OnceLock;

use memmap2::Mmap;

use super::{FORMAT, HEADER, HEADER_SUMMED, Layout, MAGIC, MATRIX_FILE, Matrix, Stamp};
use crate::integrity::{self, Load, SUM};

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A message about damage to the matrix file.
fn damaged(what: &str) -> String {
    format!("{MATRIX_FILE}: {what}")
}

fn bad_catalog() -> Load<Matrix> {
    Load::Damaged(damaged("its catalog is inconsistent"))
}

/// What the header says.
struct Header {
    dim: usize,
    count: usize,
    stamp: Stamp,
    layout: Layout,
}

/// The header of the file `b`, checked against its checksum and the file's length.
fn header(b: &[u8]) -> Load<Header> {
    if b.len() < HEADER || &b[0..8] != MAGIC {
        return Load::Damaged(damaged(&format!("not a matrix file ({} bytes)", b.len())));
    }
    let format = get_u32(b, 8);
    if format == 1 && blake3::hash(&b[..128]).as_bytes()[..8] == b[128..136] {
        return Load::Old;
    }
    if integrity::sum(&b[..HEADER_SUMMED])[..] != b[HEADER_SUMMED..HEADER_SUMMED + SUM] {
        return Load::Damaged(damaged("its header does not match its checksum"));
    }
    if format != FORMAT {
        return Load::Damaged(damaged(&format!("unknown format {format}")));
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
        return Load::Damaged(damaged(&format!(
            "its sections do not add up to its {} bytes (truncated?)",
            b.len()
        )));
    }
    let stamp = Stamp { uid, generation };
    Load::Ok(Header {
        dim,
        count,
        stamp,
        layout,
    })
}

/// Checks the checksum table against the header and, with `verify`, every block against
/// the table.
fn check_blocks(b: &[u8], layout: &Layout, verify: bool) -> Result<(), String> {
    let table = &b[layout.table..];
    if integrity::sum(table)[..] != b[144..160] {
        return Err(damaged("its checksum table does not match the header"));
    }
    if verify {
        integrity::verify(MATRIX_FILE, HEADER, &b[HEADER..layout.table], table)?;
    }
    Ok(())
}

/// The modality table `mt` (`None`: it does not parse).
fn modalities(mt: &[u8]) -> Option<Vec<String>> {
    if mt.len() < 4 {
        return None;
    }
    let n = get_u32(mt, 0) as usize;
    let mut pos = 4;
    let mut modalities = Vec::with_capacity(n.min(256));
    for _ in 0..n {
        if pos + 2 > mt.len() {
            return None;
        }
        let len = u16::from_le_bytes([mt[pos], mt[pos + 1]]) as usize;
        pos += 2;
        let s = mt
            .get(pos..pos + len)
            .and_then(|s| std::str::from_utf8(s).ok())?;
        modalities.push(s.to_string());
        pos += len;
    }
    Some(modalities)
}

impl Matrix {
    /// Parses a matrix file; with `verify`, checks every block against its checksum first.
    pub(super) fn parse(map: Mmap, on_disk: bool, verify: bool) -> Load<Matrix> {
        let b: &[u8] = &map;
        let h = match header(b) {
            Load::Ok(h) => h,
            Load::Old => return Load::Old,
            Load::Damaged(d) => return Load::Damaged(d),
            Load::Missing | Load::Stale => unreachable!("header says neither"),
        };
        if let Err(d) = check_blocks(b, &h.layout, verify) {
            return Load::Damaged(d);
        }
        // Modality table.
        let mt = &b[h.layout.modal..h.layout.modal + h.layout.modal_len];
        let Some(modalities) = modalities(mt) else {
            return bad_catalog();
        };
        let m = Matrix {
            map,
            dim: h.dim,
            count: h.count,
            stamp: h.stamp,
            layout: h.layout,
            modalities,
            on_disk,
            partial: false,
            quantized: OnceLock::new(),
        };
        if !m.catalog_ok() {
            return bad_catalog();
        }
        Load::Ok(m)
    }

    /// Codes and path offsets must be in range, paths UTF-8.
    fn catalog_ok(&self) -> bool {
        if self
            .codes()
            .iter()
            .any(|&c| c as usize >= self.modalities.len())
        {
            return false;
        }
        let layout = &self.layout;
        let po = self.path_offs();
        !(po[0] != 0
            || po[self.count] as usize != layout.path_bytes_len
            || po.windows(2).any(|w| w[0] > w[1])
            || std::str::from_utf8(
                &self.map[layout.path_bytes..layout.path_bytes + layout.path_bytes_len],
            )
            .is_err())
    }
}
