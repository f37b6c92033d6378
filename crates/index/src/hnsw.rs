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
//! (no checksums) reads as [`Load::Old`](crate::integrity::Load::Old) and is rebuilt the same
//! way.

use std::sync::Mutex;

use memmap2::Mmap;
use usearch::{IndexOptions, MetricKind, ScalarKind};

use crate::error::{Error, Result};
use crate::kernels::dot;
use crate::matrix::Stamp;

mod build;
mod footer;
mod load;

pub(crate) const HNSW_FILE: &str = "hnsw.usearch";

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

impl Hnsw {
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
