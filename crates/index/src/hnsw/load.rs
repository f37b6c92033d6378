//! Opening a graph file: its footer alone (`peek`), or the whole graph verified block by
//! block and link by link before usearch views it (`load`).

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;

use memmap2::Mmap;

use super::footer::{FOOTER, Footer, parse_footer, parse_footer_at};
use super::{HNSW_FILE, Hnsw, install_metric, options};
use crate::hnsw_layout::{self, REMOVED};
use crate::integrity::{self, Load};
use crate::matrix::Stamp;

/// A message about damage to the graph file.
fn damaged(what: &str) -> String {
    format!("{HNSW_FILE}: {what}")
}

/// The graph file of `dir`, mapped (`None`: there is none).
fn map_file(dir: &Path) -> Result<Option<Mmap>, String> {
    let f = match File::open(dir.join(HNSW_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{HNSW_FILE} cannot be read: {e}")),
    };
    // SAFETY: replaced only by rename, never modified in place.
    match unsafe { Mmap::map(&f) } {
        Ok(m) => Ok(Some(m)),
        Err(e) => Err(format!("{HNSW_FILE} cannot be mapped: {e}")),
    }
}

/// Checks the checksum table against the footer, then every block against the table.
fn verify_blocks(map: &[u8], footer: &Footer) -> Result<(), String> {
    let body = footer.table_off();
    let table = &map[body..map.len() - FOOTER];
    if integrity::sum(table) != footer.table_sum {
        return Err(damaged("its checksum table does not match the footer"));
    }
    integrity::verify(HNSW_FILE, 0, &map[..body], table)
}

/// What follows usearch's payload in the file.
struct Trailer {
    /// `(vector id, matrix row)` of every row, sorted.
    rows: Vec<(i64, u64)>,
    /// The stranded nodes' vector ids, sorted.
    stranded: Vec<i64>,
}

/// The trailer's row table and stranded nodes (both must be sorted).
fn read_trailer(map: &[u8], footer: &Footer) -> Result<Trailer, String> {
    let rows: Vec<(i64, u64)> = map[footer.keys_off..footer.keys_off + footer.rows * 16]
        .chunks_exact(16)
        .map(|c| {
            (
                i64::from_le_bytes(c[..8].try_into().unwrap()),
                u64::from_le_bytes(c[8..].try_into().unwrap()),
            )
        })
        .collect();
    let stranded_off = footer.keys_off + footer.rows * 16;
    let stranded: Vec<i64> = map[stranded_off..stranded_off + footer.stranded * 8]
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    if !rows.is_sorted() || !stranded.is_sorted() {
        return Err(damaged("its row table is not sorted"));
    }
    Ok(Trailer { rows, stranded })
}

/// Checks usearch's payload link by link, and that its live nodes are the row table's
/// vectors.
fn check_nodes(payload: &[u8], dim: usize, rows: &[(i64, u64)]) -> Result<(), String> {
    // The checksums prove the bytes are the ones written, not who wrote them: usearch
    // follows every link it views, so the links are checked first.
    let keys = hnsw_layout::check(payload, dim).map_err(|e| damaged(&e))?;
    // Its live nodes are the row table's vectors, once each; the rest were removed.
    let mut live: Vec<u64> = keys.into_iter().filter(|&k| k != REMOVED).collect();
    live.sort_unstable();
    let mut vectors: Vec<u64> = rows.iter().map(|&(v, _)| v as u64).collect();
    vectors.dedup();
    if live != vectors {
        return Err(damaged("its nodes are not the vectors of its row table"));
    }
    Ok(())
}

/// A usearch index viewing `map`'s verified payload.
fn view(map: &Mmap, footer: &Footer, dim: usize) -> Result<usearch::Index, String> {
    let Ok(mut index) = usearch::Index::new(&options(dim, &footer.params)) else {
        return Err(damaged("its parameters are refused by usearch"));
    };
    // SAFETY: `map` is stored next to `index` in the returned struct and dropped after it;
    // its bytes were verified above, and every link in them stays inside them.
    if let Err(e) = unsafe { index.view_from_buffer(&map[..footer.payload_len]) } {
        return Err(damaged(&format!("usearch cannot view it ({e})")));
    }
    install_metric(&mut index, dim);
    index.change_expansion_search(footer.params.ef_search);
    if index.size() != footer.count || index.dimensions() != dim {
        return Err(damaged("its node count does not match its footer"));
    }
    Ok(index)
}

/// The graph of `map`, whose footer parsed, after verifying everything else.
fn verified(map: Mmap, footer: Footer, dim: usize) -> Result<Hnsw, String> {
    if footer.dim != dim {
        return Err(damaged(&format!(
            "built for {}-dimensional vectors, the index holds {dim}",
            footer.dim
        )));
    }
    verify_blocks(&map, &footer)?;
    let Trailer { rows, stranded } = read_trailer(&map, &footer)?;
    check_nodes(&map[..footer.payload_len], dim, &rows)?;
    let index = view(&map, &footer, dim)?;
    Ok(Hnsw {
        index,
        _map: Some(map),
        stamp: footer.stamp,
        params: footer.params,
        dim,
        count: footer.count,
        tombstones: footer.tombstones,
        rows,
        stranded,
        search_lock: Mutex::new(()),
    })
}

impl Hnsw {
    /// View the graph file in `dir` after verifying every block. With `want`, a graph of
    /// another stamp is [`Load::Stale`] (not verified: it would not be used).
    pub(crate) fn load(dir: &Path, want: Option<Stamp>, dim: usize) -> Load<Hnsw> {
        let map = match map_file(dir) {
            Ok(Some(m)) => m,
            Ok(None) => return Load::Missing,
            Err(d) => return Load::Damaged(d),
        };
        let footer = match parse_footer(&map) {
            Load::Ok(f) => f,
            Load::Old => return Load::Old,
            Load::Damaged(d) => return Load::Damaged(d),
            Load::Missing | Load::Stale => unreachable!("parse_footer says neither"),
        };
        if want.is_some_and(|w| w != footer.stamp) {
            return Load::Stale;
        }
        match verified(map, footer, dim) {
            Ok(h) => Load::Ok(h),
            Err(d) => Load::Damaged(d),
        }
    }

    /// The stamp of the graph file, from its footer alone (to report staleness without
    /// mapping and verifying it).
    pub(crate) fn peek(dir: &Path) -> Load<Stamp> {
        let mut f = match File::open(dir.join(HNSW_FILE)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Load::Missing,
            Err(e) => return Load::Damaged(format!("{HNSW_FILE} cannot be read: {e}")),
        };
        let len = match f.metadata() {
            Ok(m) => m.len() as usize,
            Err(e) => return Load::Damaged(format!("{HNSW_FILE} cannot be read: {e}")),
        };
        let mut buf = vec![0u8; FOOTER];
        if len >= FOOTER
            && (f.seek(SeekFrom::Start((len - FOOTER) as u64)).is_err()
                || std::io::Read::read_exact(&mut f, &mut buf).is_err())
        {
            return Load::Damaged(format!("{HNSW_FILE}: its footer cannot be read"));
        }
        match parse_footer_at(if len >= FOOTER { &buf } else { &[] }, len) {
            Load::Ok(f) => Load::Ok(f.stamp),
            Load::Old => Load::Old,
            Load::Damaged(d) => Load::Damaged(d),
            Load::Missing | Load::Stale => unreachable!("parse_footer says neither"),
        }
    }
}
