//! Approximate search: an HNSW graph from the `usearch` crate (Unum), keyed by vector id.
//!
//! One node per distinct vector, not per file: copies of a file share a vector, and identical
//! vectors make HNSW's neighbour pruning drop edges. Search maps each vector back to the files
//! holding it.
//!
//! Inserting from several threads at once leaves some nodes without an incoming edge in
//! usearch 2.26: measured on random 24-d unit vectors, 100 graphs each, a search for a node's
//! own vector (ef 200) missed it 5 times in 6,000 at 60 nodes and 12 in 9,000 at 90 nodes, and
//! never with one thread. Such a file could never be found by approximate search, so inserts
//! run on one thread up to `PARALLEL_INSERT_MIN`. On 1024-d benchmark vectors one thread is
//! no slower at 10k (8.4 s against 9.4 s on two) but twice as slow at 100k (76 s against 38 s),
//! so larger builds keep every thread, then search every node's vector for itself
//! (`stranded_nodes`). The ones not found are the graph's *stranded* nodes: kept in the file
//! and scored exactly at every search (about two per thousand nodes), so every file stays
//! findable. Inserting them again, as this once did, linked only about half of them (on 256-d
//! clustered vectors, 8 of 15 at 20k and 90 of 109 at 40k were still missed after three
//! rounds: HNSW's neighbour pruning drops the edges to a node in a dense cluster as soon as
//! they are made), and each re-insert could in turn strand a neighbour that had passed the
//! check. At 20k × 1024 on two threads the check costs about 2 s.
//!
//! An incremental update that inserts in parallel checks every node while the graph is at
//! most four times its new nodes, and only the new ones beyond that: checking a large graph
//! would cost far more than the update, so old nodes that the new edges strand (2 to 4 of
//! 20,000 when as many were added) stay unchecked there.
//!
//! usearch is built without its `numkong` SIMD library (which takes minutes to compile); the
//! graph uses our own AVX2/FMA inner product through usearch's custom-metric hook instead
//! (distance = 1 − ⟨a, b⟩). Results are re-scored exactly against the matrix.
//!
//! File `hnsw.usearch`: usearch's own serialisation from byte 0 (so it can be memory-mapped and
//! *viewed* without a copy), then our trailer: `(vector id, matrix row)` for every row, sorted
//! (to map search results to rows without a sort at open, and to update the graph
//! incrementally next time), the stranded nodes' vector ids, sorted, then a table of
//! checksums (a CRC-32 per 1 MiB block of everything before it, see `integrity`), then a
//! 4096-byte footer with magic, the `(uid, generation)` stamp, the parameters, the section
//! lengths and the table's own hash, itself checksummed. Written to a temp file, fsynced and
//! renamed, like the matrix.
//!
//! usearch trusts the file it views (a neighbour id out of range is followed: a flipped byte
//! in a neighbour list crashed a search in 18 of 40 trials). Loading therefore verifies every
//! block, then walks every neighbour list (`hnsw_layout`, for a file whose checksums were
//! forged too), before usearch sees the buffer; a graph that fails either is never viewed,
//! and the next writer (or `mmbind index --check`) builds a new one. A graph of format 4 or older
//! (no checksums) reads as [`Load::Old`] and is rebuilt the same way.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;

use memmap2::Mmap;
use rayon::prelude::*;
use usearch::{IndexOptions, MetricKind, ScalarKind};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::hnsw_layout::{self, REMOVED};
use crate::integrity::{self, Load, SUM};
use crate::kernels::dot;
use crate::matrix::{Matrix, Stamp};

pub(crate) const HNSW_FILE: &str = "hnsw.usearch";
const MAGIC: &[u8; 8] = b"MMBXHNS1";
const FORMAT: u32 = 5;
const FOOTER: usize = 4096;
/// Bytes of the footer covered by its checksum (the rest: the checksum).
const FOOTER_SUMMED: usize = FOOTER - SUM;
/// Search breadth of the reachability check after parallel inserts. At 16 it flags about
/// twice the nodes a search at 128 cannot find (16 against 9 of 20,000); a reachable node
/// among the stranded ones costs a dot product per search, and the check takes a fifth of
/// the time of one at 128.
const CHECK_EF: usize = 16;
/// Fewer inserts than this run on one thread (see the module notes).
const PARALLEL_INSERT_MIN: usize = 20_000;

/// Insert `(vector id, matrix row)` pairs; true when they went in on several threads.
fn insert(ix: &usearch::Index, matrix: &Matrix, items: &[(i64, usize)]) -> Result<bool> {
    let add = |&(v, r): &(i64, usize)| ix.add(v as u64, matrix.row(r)).map_err(err);
    if items.len() < PARALLEL_INSERT_MIN {
        items.iter().try_for_each(add)?;
        return Ok(false);
    }
    items.par_iter().try_for_each(add)?;
    Ok(true)
}

/// Parallel inserts leave a few nodes that no search reaches (module notes): the nodes of
/// `nodes` not in their own top 10, sorted.
fn stranded_nodes(
    ix: &usearch::Index,
    matrix: &Matrix,
    nodes: &[(i64, usize)],
) -> Result<Vec<i64>> {
    ix.change_expansion_search(CHECK_EF);
    let found = nodes
        .par_iter()
        .map(|&(v, r)| {
            Ok(ix
                .search(matrix.row(r), 10)
                .map_err(err)?
                .keys
                .contains(&(v as u64)))
        })
        .collect::<Result<Vec<bool>>>()?;
    let mut stranded: Vec<i64> = (nodes.iter().zip(found))
        .filter(|(_, f)| !f)
        .map(|(&(v, _), _)| v)
        .collect();
    stranded.sort_unstable();
    Ok(stranded)
}

/// HNSW parameters. Defaults: M = 16, ef_construction = 128, ef_search = 64; on 100k clustered
/// 1024-d vectors that gives recall@10 ≥ 0.95 (see the benchmark and `recall_at_k`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HnswParams {
    /// Graph connectivity (usearch "connectivity", the paper's M).
    pub m: usize,
    /// Candidate list size while inserting.
    pub ef_construction: usize,
    /// Default candidate list size while searching (`search_approx(.., ef: None)`).
    pub ef_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 128,
            ef_search: 64,
        }
    }
}

impl HnswParams {
    /// The `ef` used when the caller gives none, for a graph of `n` items: `ef_search` up to
    /// 100k items, then growing almost linearly, `ef_search · (n / 100k)^0.9` (capped at
    /// 1024). Fitted on the clustered benchmark data (1024-d): recall@10 ≥ 0.95 needs ef ≈ 36
    /// at 100k but ≈ 280 at 1M; this rule keeps a ~1.8× margin over that (ef 64 at 100k →
    /// recall 0.988; ef 508 at 1M). Check it on real embeddings with `recall_at_k`.
    pub fn ef_for(&self, n: usize) -> usize {
        let scale = (n as f64 / 100_000.0).max(1.0).powf(0.9);
        ((self.ef_search as f64 * scale).round() as usize)
            .clamp(self.ef_search, self.ef_search.max(1024))
    }
}

/// The graph, either viewed from its file (zero-copy) or held in memory.
pub struct Hnsw {
    // Field order matters: the usearch index must be dropped before the map it views.
    index: usearch::Index,
    _map: Option<Mmap>,
    pub(crate) stamp: Stamp,
    pub(crate) params: HnswParams,
    pub(crate) dim: usize,
    pub(crate) count: usize,
    tombstones: usize,
    /// `(vector id, row)` of every row of the matrix with this graph's stamp, sorted; the
    /// distinct vector ids are the graph's keys.
    rows: Vec<(i64, u64)>,
    /// Vector ids that graph search may not reach, sorted; scored exactly at every search.
    stranded: Vec<i64>,
    search_lock: Mutex<()>,
}

impl std::fmt::Debug for Hnsw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hnsw")
            .field("stamp", &self.stamp)
            .field("params", &self.params)
            .field("count", &self.count)
            .finish()
    }
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Hnsw(e.to_string())
}

fn options(dim: usize, p: &HnswParams) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        metric: MetricKind::IP,
        quantization: ScalarKind::F32,
        connectivity: p.m,
        expansion_add: p.ef_construction,
        expansion_search: p.ef_search,
        multi: false,
    }
}

fn install_metric(index: &mut usearch::Index, dim: usize) {
    index.change_metric::<f32>(Box::new(move |a: *const f32, b: *const f32| {
        // SAFETY: usearch passes pointers to two vectors of the index's dimension.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, dim),
                std::slice::from_raw_parts(b, dim),
            )
        };
        1.0 - dot(a, b)
    }));
}

fn new_index(dim: usize, p: &HnswParams) -> Result<usearch::Index> {
    let mut index = usearch::Index::new(&options(dim, p)).map_err(err)?;
    install_metric(&mut index, dim);
    Ok(index)
}

fn threads() -> usize {
    rayon::current_num_threads().max(1)
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

struct Footer {
    dim: usize,
    count: usize,
    rows: usize,
    stamp: Stamp,
    params: HnswParams,
    tombstones: usize,
    payload_len: usize,
    keys_off: usize,
    stranded: usize,
    /// Hash of the checksum table (set when writing).
    table_sum: [u8; SUM],
}

impl Footer {
    /// Where the checksum table starts: the end of the checksummed body.
    fn table_off(&self) -> usize {
        self.keys_off + self.rows * 16 + self.stranded * 8
    }
}

fn footer_bytes(f: &Footer) -> Vec<u8> {
    let mut h = vec![0u8; FOOTER];
    h[0..8].copy_from_slice(MAGIC);
    put_u32(&mut h, 8, FORMAT);
    put_u32(&mut h, 12, f.dim as u32);
    put_u64(&mut h, 16, f.count as u64);
    put_u64(&mut h, 24, f.stamp.generation);
    h[32..48].copy_from_slice(&f.stamp.uid);
    put_u64(&mut h, 48, f.params.m as u64);
    put_u64(&mut h, 56, f.params.ef_construction as u64);
    put_u64(&mut h, 64, f.params.ef_search as u64);
    put_u64(&mut h, 72, f.tombstones as u64);
    put_u64(&mut h, 80, f.payload_len as u64);
    put_u64(&mut h, 88, f.keys_off as u64);
    put_u64(&mut h, 96, f.rows as u64);
    put_u64(&mut h, 104, f.stranded as u64);
    put_u64(&mut h, 112, integrity::BLOCK as u64);
    h[128..144].copy_from_slice(&f.table_sum);
    let c = integrity::sum(&h[..FOOTER_SUMMED]);
    h[FOOTER_SUMMED..FOOTER_SUMMED + SUM].copy_from_slice(&c);
    h
}

/// Parses the footer `h` (the last `FOOTER` bytes of a file of `len` bytes).
fn parse_footer_at(h: &[u8], len: usize) -> Load<Footer> {
    let damaged = |what: &str| Load::Damaged(format!("{HNSW_FILE}: {what}"));
    if len < FOOTER || h.len() != FOOTER || &h[0..8] != MAGIC {
        return damaged(&format!("not a graph file ({len} bytes)"));
    }
    let format = get_u32(h, 8);
    if format < FORMAT && blake3::hash(&h[..128]).as_bytes()[..8] == h[128..136] {
        return Load::Old;
    }
    if integrity::sum(&h[..FOOTER_SUMMED])[..] != h[FOOTER_SUMMED..FOOTER_SUMMED + SUM] {
        return damaged("its footer does not match its checksum");
    }
    if format != FORMAT || get_u64(h, 112) as usize != integrity::BLOCK {
        return damaged(&format!("unknown format {format}"));
    }
    let mut uid = [0u8; 16];
    uid.copy_from_slice(&h[32..48]);
    let mut table_sum = [0u8; SUM];
    table_sum.copy_from_slice(&h[128..144]);
    let f = Footer {
        dim: get_u32(h, 12) as usize,
        count: get_u64(h, 16) as usize,
        stamp: Stamp {
            uid,
            generation: get_u64(h, 24),
        },
        params: HnswParams {
            m: get_u64(h, 48) as usize,
            ef_construction: get_u64(h, 56) as usize,
            ef_search: get_u64(h, 64) as usize,
        },
        tombstones: get_u64(h, 72) as usize,
        payload_len: get_u64(h, 80) as usize,
        keys_off: get_u64(h, 88) as usize,
        rows: get_u64(h, 96) as usize,
        stranded: get_u64(h, 104) as usize,
        table_sum,
    };
    // Checked: the lengths come from the file.
    let body = (f.rows.checked_mul(16))
        .zip(f.stranded.checked_mul(8))
        .and_then(|(k, s)| k.checked_add(s)?.checked_add(f.keys_off));
    let end = body.and_then(|b| {
        b.checked_add(integrity::blocks(b).checked_mul(integrity::BLOCK_SUM)?)?
            .checked_add(FOOTER)
    });
    if f.keys_off < f.payload_len || end != Some(len) || !f.keys_off.is_multiple_of(8) {
        return damaged(&format!(
            "its sections do not add up to its {len} bytes (truncated?)"
        ));
    }
    Load::Ok(f)
}

fn parse_footer(b: &[u8]) -> Load<Footer> {
    if b.len() < FOOTER {
        return parse_footer_at(&[], b.len());
    }
    parse_footer_at(&b[b.len() - FOOTER..], b.len())
}

impl Hnsw {
    /// View the graph file in `dir` after verifying every block. With `want`, a graph of
    /// another stamp is [`Load::Stale`] (not verified: it would not be used).
    pub(crate) fn load(dir: &Path, want: Option<Stamp>, dim: usize) -> Load<Hnsw> {
        let f = match File::open(dir.join(HNSW_FILE)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Load::Missing,
            Err(e) => return Load::Damaged(format!("{HNSW_FILE} cannot be read: {e}")),
        };
        // SAFETY: replaced only by rename, never modified in place.
        let map = match unsafe { Mmap::map(&f) } {
            Ok(m) => m,
            Err(e) => return Load::Damaged(format!("{HNSW_FILE} cannot be mapped: {e}")),
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
        let damaged = |what: &str| Load::Damaged(format!("{HNSW_FILE}: {what}"));
        if footer.dim != dim {
            return damaged(&format!(
                "built for {}-dimensional vectors, the index holds {dim}",
                footer.dim
            ));
        }
        let body = footer.table_off();
        let table = &map[body..map.len() - FOOTER];
        if integrity::sum(table) != footer.table_sum {
            return damaged("its checksum table does not match the footer");
        }
        if let Err(e) = integrity::verify(HNSW_FILE, 0, &map[..body], table) {
            return Load::Damaged(e);
        }
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
            return damaged("its row table is not sorted");
        }
        // The checksums prove the bytes are the ones written, not who wrote them: usearch
        // follows every link it views, so the links are checked first.
        let keys = match hnsw_layout::check(&map[..footer.payload_len], dim) {
            Ok(keys) => keys,
            Err(e) => return damaged(&e),
        };
        // Its live nodes are the row table's vectors, once each; the rest were removed.
        let mut live: Vec<u64> = keys.into_iter().filter(|&k| k != REMOVED).collect();
        live.sort_unstable();
        let mut vectors: Vec<u64> = rows.iter().map(|&(v, _)| v as u64).collect();
        vectors.dedup();
        if live != vectors {
            return damaged("its nodes are not the vectors of its row table");
        }
        let Ok(mut index) = usearch::Index::new(&options(dim, &footer.params)) else {
            return damaged("its parameters are refused by usearch");
        };
        // SAFETY: `map` is stored next to `index` in the returned struct and dropped after it;
        // its bytes were verified above, and every link in them stays inside them.
        if let Err(e) = unsafe { index.view_from_buffer(&map[..footer.payload_len]) } {
            return damaged(&format!("usearch cannot view it ({e})"));
        }
        install_metric(&mut index, dim);
        index.change_expansion_search(footer.params.ef_search);
        if index.size() != footer.count || index.dimensions() != dim {
            return damaged("its node count does not match its footer");
        }
        Load::Ok(Hnsw {
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

    /// Build (or incrementally update `old`) for the rows of `matrix`. With `to_disk` the graph
    /// is written atomically to `dir/hnsw.usearch` (caller holds the writer lock) and viewed
    /// from there.
    /// Returns the graph and whether it was an incremental update of `old`.
    pub(crate) fn build(
        dir: &Path,
        matrix: &Matrix,
        params: HnswParams,
        old: Option<&Hnsw>,
        to_disk: bool,
    ) -> Result<(Hnsw, bool)> {
        let dim = matrix.dim();
        let mut rows: Vec<(i64, u64)> = matrix
            .vector_ids()
            .iter()
            .enumerate()
            .map(|(r, &v)| (v, r as u64))
            .collect();
        rows.sort_unstable();
        // One node per distinct vector: its id and the first row holding it.
        let mut firsts: Vec<(i64, usize)> = rows.iter().map(|&(v, r)| (v, r as usize)).collect();
        firsts.dedup_by_key(|e| e.0);
        let n = firsts.len();

        // Incremental when the old graph is compatible and the change is small. Vectors are
        // immutable, so the change is the difference of two sorted id lists.
        let mut index = None;
        let mut tombstones = 0usize;
        // Nodes the graph's search misses (see `stranded_nodes`): carried over from the old
        // graph, or found after parallel inserts.
        let mut stranded: Vec<i64> = Vec::new();
        let mut parallel = false;
        // After parallel inserts, the nodes to check: all of them (`None`), or only the new
        // ones when the graph is much larger (see below).
        let mut recheck: Option<Vec<(i64, usize)>> = None;
        if let Some(o) = old.filter(|o| {
            o.stamp.uid == matrix.stamp.uid
                && o.dim == dim
                && o.params.m == params.m
                && o.params.ef_construction == params.ef_construction
        }) {
            let mut removes: Vec<u64> = Vec::new();
            let mut adds: Vec<(i64, usize)> = Vec::new();
            let (mut i, mut j) = (0usize, 0usize);
            let ok: Vec<i64> = o.keys().collect();
            while i < ok.len() || j < n {
                if j == n || (i < ok.len() && ok[i] < firsts[j].0) {
                    removes.push(ok[i] as u64);
                    i += 1;
                } else if i == ok.len() || firsts[j].0 < ok[i] {
                    adds.push(firsts[j]);
                    j += 1;
                } else {
                    i += 1;
                    j += 1;
                }
            }
            let new_tomb = o.tombstones + removes.len();
            if new_tomb * 5 <= n.max(1) && adds.len() * 2 <= n {
                let serialized = o.serialize()?;
                let mut ix = new_index(dim, &params)?;
                ix.load_from_buffer(&serialized).map_err(err)?;
                drop(serialized);
                install_metric(&mut ix, dim);
                for k in &removes {
                    ix.remove(*k).map_err(err)?;
                }
                ix.reserve_capacity_and_threads(ix.size() + adds.len() + 16, threads())
                    .map_err(err)?;
                parallel = insert(&ix, matrix, &adds)?;
                stranded = (o.stranded.iter().copied())
                    .filter(|&v| removes.binary_search(&(v as u64)).is_err())
                    .collect();
                // New edges can prune old nodes' links too (20k inserts into a 20k graph
                // stranded 2 to 4 old nodes), but checking every node costs time in
                // proportion to the graph: past four times the new nodes, only they are.
                if adds.len() * 4 < n {
                    recheck = Some(adds);
                }
                tombstones = new_tomb;
                index = Some(ix);
            }
        }
        let incremental = index.is_some();
        let index = match index {
            Some(ix) => ix,
            None => {
                let ix = new_index(dim, &params)?;
                ix.reserve_capacity_and_threads(n.max(16), threads())
                    .map_err(err)?;
                parallel = insert(&ix, matrix, &firsts)?;
                ix
            }
        };
        if parallel {
            let lost = stranded_nodes(&index, matrix, recheck.as_deref().unwrap_or(&firsts))?;
            if recheck.is_some() {
                stranded.extend(lost);
                stranded.sort_unstable();
                stranded.dedup();
            } else {
                stranded = lost;
            }
        }
        index.change_expansion_search(params.ef_search);

        if !to_disk {
            let h = Hnsw {
                index,
                _map: None,
                stamp: matrix.stamp,
                params,
                dim,
                count: n,
                tombstones,
                rows,
                stranded,
                search_lock: Mutex::new(()),
            };
            return Ok((h, incremental));
        }
        let target = dir.join(HNSW_FILE);
        let af = fsutil::create(&target)?;
        let tmp = af.tmp_path().to_path_buf();
        let tmp_str = tmp
            .to_str()
            .ok_or_else(|| Error::Usage(format!("index path {} is not UTF-8", tmp.display())))?;
        index.save(tmp_str).map_err(err)?;
        drop(index);
        {
            let mut f = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&tmp)
                .map_err(|e| Error::io(&tmp, e))?;
            let payload_len = f.metadata().map_err(|e| Error::io(&tmp, e))?.len() as usize;
            let keys_off = payload_len.div_ceil(8) * 8;
            let mut trailer = vec![0u8; keys_off - payload_len];
            trailer.reserve(rows.len() * 16 + stranded.len() * 8 + FOOTER);
            for (v, r) in &rows {
                trailer.extend_from_slice(&v.to_le_bytes());
                trailer.extend_from_slice(&r.to_le_bytes());
            }
            for v in &stranded {
                trailer.extend_from_slice(&v.to_le_bytes());
            }
            f.write_all(&trailer).map_err(|e| Error::io(&tmp, e))?;
            let mut footer = Footer {
                dim,
                count: n,
                rows: rows.len(),
                stamp: matrix.stamp,
                params,
                tombstones,
                payload_len,
                keys_off,
                stranded: stranded.len(),
                table_sum: [0; SUM],
            };
            // SAFETY: our own temp file, complete up to the table, not modified while mapped.
            let map = unsafe { Mmap::map(&f) }.map_err(|e| Error::io(&tmp, e))?;
            let table = integrity::block_sums(&map[..footer.table_off()]);
            drop(map);
            footer.table_sum = integrity::sum(&table);
            f.write_all(&table).map_err(|e| Error::io(&tmp, e))?;
            f.write_all(&footer_bytes(&footer))
                .map_err(|e| Error::io(&tmp, e))?;
        }
        fsutil::commit(af, &target)?;
        let h = Hnsw::load(dir, Some(matrix.stamp), dim)
            .ok()
            .ok_or_else(|| Error::Hnsw("freshly written graph does not load".into()))?;
        Ok((h, incremental))
    }

    fn serialize(&self) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.index.serialized_length()];
        self.index.save_to_buffer(&mut buf).map_err(err)?;
        Ok(buf)
    }

    /// The graph's keys: the distinct vector ids, ascending.
    fn keys(&self) -> impl Iterator<Item = i64> + '_ {
        let mut last = None;
        self.rows.iter().filter_map(move |&(v, _)| {
            let new = last != Some(v);
            last = Some(v);
            new.then_some(v)
        })
    }

    /// The matrix rows holding vector `v` (rows of the matrix with this graph's stamp).
    pub(crate) fn rows_of(&self, v: i64) -> impl Iterator<Item = u32> + '_ {
        let start = self.rows.partition_point(|e| e.0 < v);
        self.rows[start..]
            .iter()
            .take_while(move |e| e.0 == v)
            .map(|e| e.1 as u32)
    }

    /// Vector ids that graph search may miss (sorted): search them exactly as well.
    pub(crate) fn stranded(&self) -> &[i64] {
        &self.stranded
    }

    /// Nearest vector ids (best first) with their approximate scores.
    pub(crate) fn search(
        &self,
        query: &[f32],
        count: usize,
        ef: usize,
        allowed: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<(u64, f32)>> {
        // usearch allocates `count` results (and `ef` candidates) up front: a huge `count`
        // aborted the process. No graph holds more than `self.count` nodes, so neither needs
        // to be larger.
        let count = count.min(self.count);
        if count == 0 {
            return Ok(Vec::new());
        }
        let ef = ef.clamp(count, self.count.max(count));
        let _g = self.search_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.index.change_expansion_search(ef);
        let m = match allowed {
            Some(f) => self.index.filtered_search(query, count, |k: u64| f(k)),
            None => self.index.search(query, count),
        }
        .map_err(err)?;
        Ok(m.keys
            .into_iter()
            .zip(m.distances)
            .map(|(k, d)| (k, 1.0 - d))
            .collect())
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }
    /// `(vector id, matrix row)` of every row the graph was built for, sorted.
    pub(crate) fn row_table(&self) -> &[(i64, u64)] {
        &self.rows
    }
    pub(crate) fn row_count(&self) -> usize {
        self.rows.len()
    }
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(test)]
impl Hnsw {
    /// Takes vector `v` out of the graph and lists it as stranded: what a node that the
    /// graph's search cannot reach looks like to a search.
    pub(crate) fn strand(&mut self, v: i64) {
        self.index.remove(v as u64).expect("in the graph");
        self.stranded.push(v);
        self.stranded.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer(stranded: usize) -> Footer {
        Footer {
            dim: 4,
            count: 1,
            rows: 1,
            stamp: Stamp {
                uid: [7; 16],
                generation: 3,
            },
            params: HnswParams::default(),
            tombstones: 0,
            payload_len: 8,
            keys_off: 8,
            stranded,
            table_sum: [0; SUM],
        }
    }

    /// A file of `footer`: 8 payload bytes, one key row, `stranded_bytes`, a one-block
    /// checksum table, the footer.
    fn file(footer: &Footer, stranded_bytes: usize) -> Vec<u8> {
        let mut b = vec![0u8; 8 + 16 + stranded_bytes + integrity::BLOCK_SUM];
        b.extend(footer_bytes(footer));
        b
    }

    fn damaged(l: Load<Footer>) -> bool {
        matches!(l, Load::Damaged(_))
    }

    #[test]
    fn a_footer_whose_sections_do_not_add_up_is_refused() {
        let ok = parse_footer(&file(&footer(2), 16))
            .ok()
            .expect("consistent");
        assert_eq!((ok.stranded, ok.rows, ok.stamp.generation), (2, 1, 3));
        assert!(damaged(parse_footer(&file(&footer(3), 16))));
        // A count whose byte length overflows is refused: wrapped, 2 + 2^61 entries would
        // take the 16 bytes there are.
        assert!(damaged(parse_footer(&file(&footer(2 + (1 << 61)), 16))));
        // Every bit of the footer's checksummed part counts.
        let good = file(&footer(2), 16);
        let at = good.len() - FOOTER;
        for byte in (0..FOOTER).step_by(7) {
            let mut b = good.clone();
            b[at + byte] ^= 0x20;
            assert!(damaged(parse_footer(&b)), "flip at footer byte {byte}");
        }
        assert!(damaged(parse_footer(b"short")));
    }

    #[test]
    fn a_graph_of_an_older_format_reads_as_old() {
        // Format 4's footer: its first 128 bytes hashed into bytes 128..136.
        let mut old = file(&footer(0), 0);
        let at = old.len() - FOOTER;
        put_u32(&mut old[at..], 8, 4);
        let hash = blake3::hash(&old[at..at + 128]);
        old[at + 128..at + 136].copy_from_slice(&hash.as_bytes()[..8]);
        assert!(matches!(parse_footer(&old), Load::Old));
        // With a wrong old checksum it is damage, not an old file.
        old[at + 130] ^= 1;
        assert!(damaged(parse_footer(&old)));
    }
}
