//! Building a graph: from scratch or as an incremental update of the last one, the check for
//! stranded nodes after parallel inserts, and the atomic write of the graph file.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use memmap2::Mmap;
use rayon::prelude::*;

use super::footer::{FOOTER, Footer, footer_bytes};
use super::{HNSW_FILE, Hnsw, HnswParams, err, install_metric, new_index, threads};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::integrity::{self, SUM};
use crate::matrix::Matrix;

/// Search breadth of the reachability check after parallel inserts. At 16 it flags about
/// twice the nodes a search at 128 cannot find (16 against 9 of 20,000); a reachable node
/// among the stranded ones costs a dot product per search, and the check takes a fifth of
/// the time of one at 128.
const CHECK_EF: usize = 16;
/// Fewer inserts than this run on one thread (see the `hnsw` module notes).
const PARALLEL_INSERT_MIN: usize = 20_000;

/// A graph node: its vector id and the first matrix row holding it.
type Node = (i64, usize);

/// Insert `(vector id, matrix row)` pairs; true when they went in on several threads.
fn insert(ix: &usearch::Index, matrix: &Matrix, items: &[Node]) -> Result<bool> {
    let add = |&(v, r): &Node| ix.add(v as u64, matrix.row(r)).map_err(err);
    if items.len() < PARALLEL_INSERT_MIN {
        items.iter().try_for_each(add)?;
        return Ok(false);
    }
    items.par_iter().try_for_each(add)?;
    Ok(true)
}

/// Parallel inserts leave a few nodes that no search reaches (`hnsw` module notes): the nodes
/// of `nodes` not in their own top 10, sorted.
fn stranded_nodes(ix: &usearch::Index, matrix: &Matrix, nodes: &[Node]) -> Result<Vec<i64>> {
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

/// `(vector id, row)` of every row of `matrix`, sorted, and one node per distinct vector.
fn rows_and_nodes(matrix: &Matrix) -> (Vec<(i64, u64)>, Vec<Node>) {
    let mut rows: Vec<(i64, u64)> = matrix
        .vector_ids()
        .iter()
        .enumerate()
        .map(|(r, &v)| (v, r as u64))
        .collect();
    rows.sort_unstable();
    let mut firsts: Vec<Node> = rows.iter().map(|&(v, r)| (v, r as usize)).collect();
    firsts.dedup_by_key(|e| e.0);
    (rows, firsts)
}

/// The keys of `old` that are not nodes any more, and the nodes that are not keys of `old`:
/// the difference of two sorted id lists (vectors are immutable).
fn diff(old: &[i64], nodes: &[Node]) -> (Vec<u64>, Vec<Node>) {
    let mut removes: Vec<u64> = Vec::new();
    let mut adds: Vec<Node> = Vec::new();
    let (mut i, mut j) = (0usize, 0usize);
    let n = nodes.len();
    while i < old.len() || j < n {
        if j == n || (i < old.len() && old[i] < nodes[j].0) {
            removes.push(old[i] as u64);
            i += 1;
        } else if i == old.len() || nodes[j].0 < old[i] {
            adds.push(nodes[j]);
            j += 1;
        } else {
            i += 1;
            j += 1;
        }
    }
    (removes, adds)
}

/// A graph with its nodes inserted, before the stranded-node check.
struct Draft {
    index: usearch::Index,
    tombstones: usize,
    /// Nodes the graph's search misses (see `stranded_nodes`): carried over from the old
    /// graph, or found after parallel inserts.
    stranded: Vec<i64>,
    parallel: bool,
    /// After parallel inserts, the nodes to check: all of them (`None`), or only the new
    /// ones when the graph is much larger (see `Draft::update`).
    recheck: Option<Vec<Node>>,
}

impl Draft {
    /// Every node of `nodes` inserted into a new graph.
    fn fresh(matrix: &Matrix, params: HnswParams, nodes: &[Node]) -> Result<Draft> {
        let ix = new_index(matrix.dim(), &params)?;
        ix.reserve_capacity_and_threads(nodes.len().max(16), threads())
            .map_err(err)?;
        let parallel = insert(&ix, matrix, nodes)?;
        Ok(Draft {
            index: ix,
            tombstones: 0,
            stranded: Vec::new(),
            parallel,
            recheck: None,
        })
    }

    /// `old` updated to hold `nodes`, when the change is small enough (`None`: build anew).
    fn update(
        old: &Hnsw,
        matrix: &Matrix,
        params: HnswParams,
        nodes: &[Node],
    ) -> Result<Option<Draft>> {
        let n = nodes.len();
        let ok: Vec<i64> = old.keys().collect();
        let (removes, adds) = diff(&ok, nodes);
        let new_tomb = old.tombstones + removes.len();
        if !(new_tomb * 5 <= n.max(1) && adds.len() * 2 <= n) {
            return Ok(None);
        }
        let dim = matrix.dim();
        let serialized = old.serialize()?;
        let mut ix = new_index(dim, &params)?;
        ix.load_from_buffer(&serialized).map_err(err)?;
        drop(serialized);
        install_metric(&mut ix, dim);
        for k in &removes {
            ix.remove(*k).map_err(err)?;
        }
        ix.reserve_capacity_and_threads(ix.size() + adds.len() + 16, threads())
            .map_err(err)?;
        let parallel = insert(&ix, matrix, &adds)?;
        let stranded = (old.stranded.iter().copied())
            .filter(|&v| removes.binary_search(&(v as u64)).is_err())
            .collect();
        // New edges can prune old nodes' links too (20k inserts into a 20k graph
        // stranded 2 to 4 old nodes), but checking every node costs time in
        // proportion to the graph: past four times the new nodes, only they are.
        let recheck = (adds.len() * 4 < n).then_some(adds);
        Ok(Some(Draft {
            index: ix,
            tombstones: new_tomb,
            stranded,
            parallel,
            recheck,
        }))
    }

    /// After parallel inserts, adds the nodes (of `nodes`, or of `recheck`) that the graph's
    /// search misses to `stranded`.
    fn find_stranded(&mut self, matrix: &Matrix, nodes: &[Node]) -> Result<()> {
        if !self.parallel {
            return Ok(());
        }
        let lost = stranded_nodes(
            &self.index,
            matrix,
            self.recheck.as_deref().unwrap_or(nodes),
        )?;
        if self.recheck.is_some() {
            self.stranded.extend(lost);
            self.stranded.sort_unstable();
            self.stranded.dedup();
        } else {
            self.stranded = lost;
        }
        Ok(())
    }
}

/// Appends the trailer (row table, stranded nodes), the checksum table and `footer` (its
/// offsets and the table's hash filled in here) to the usearch file `tmp`.
fn append_trailer(
    tmp: &Path,
    rows: &[(i64, u64)],
    stranded: &[i64],
    mut footer: Footer,
) -> Result<()> {
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .open(tmp)
        .map_err(|e| Error::io(tmp, e))?;
    let payload_len = f.metadata().map_err(|e| Error::io(tmp, e))?.len() as usize;
    let keys_off = payload_len.div_ceil(8) * 8;
    let mut trailer = vec![0u8; keys_off - payload_len];
    trailer.reserve(rows.len() * 16 + stranded.len() * 8 + FOOTER);
    for (v, r) in rows {
        trailer.extend_from_slice(&v.to_le_bytes());
        trailer.extend_from_slice(&r.to_le_bytes());
    }
    for v in stranded {
        trailer.extend_from_slice(&v.to_le_bytes());
    }
    f.write_all(&trailer).map_err(|e| Error::io(tmp, e))?;
    footer.payload_len = payload_len;
    footer.keys_off = keys_off;
    // SAFETY: our own temp file, complete up to the table, not modified while mapped.
    let map = unsafe { Mmap::map(&f) }.map_err(|e| Error::io(tmp, e))?;
    let table = integrity::block_sums(&map[..footer.table_off()]);
    drop(map);
    footer.table_sum = integrity::sum(&table);
    f.write_all(&table).map_err(|e| Error::io(tmp, e))?;
    f.write_all(&footer_bytes(&footer))
        .map_err(|e| Error::io(tmp, e))?;
    Ok(())
}

/// Writes `index` and its trailer to `dir/hnsw.usearch` atomically (temp file, fsync,
/// rename).
fn save(
    dir: &Path,
    index: usearch::Index,
    rows: &[(i64, u64)],
    stranded: &[i64],
    footer: Footer,
) -> Result<()> {
    let target = dir.join(HNSW_FILE);
    let af = fsutil::create(&target)?;
    let tmp = af.tmp_path().to_path_buf();
    let tmp_str = tmp
        .to_str()
        .ok_or_else(|| Error::Usage(format!("index path {} is not UTF-8", tmp.display())))?;
    index.save(tmp_str).map_err(err)?;
    drop(index);
    append_trailer(&tmp, rows, stranded, footer)?;
    fsutil::commit(af, &target)
}

impl Hnsw {
    /// Whether this graph can be updated for `matrix` and `params`: same index and
    /// dimension, same construction parameters.
    fn compatible(&self, matrix: &Matrix, params: &HnswParams) -> bool {
        self.stamp.uid == matrix.stamp.uid
            && self.dim == matrix.dim()
            && self.params.m == params.m
            && self.params.ef_construction == params.ef_construction
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
        let (rows, firsts) = rows_and_nodes(matrix);
        let n = firsts.len();

        // Incremental when the old graph is compatible and the change is small. Vectors are
        // immutable, so the change is the difference of two sorted id lists.
        let update = match old.filter(|o| o.compatible(matrix, &params)) {
            Some(o) => Draft::update(o, matrix, params, &firsts)?,
            None => None,
        };
        let incremental = update.is_some();
        let mut draft = match update {
            Some(d) => d,
            None => Draft::fresh(matrix, params, &firsts)?,
        };
        draft.find_stranded(matrix, &firsts)?;
        let Draft {
            index,
            tombstones,
            stranded,
            ..
        } = draft;
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
        let footer = Footer {
            dim,
            count: n,
            rows: rows.len(),
            stamp: matrix.stamp,
            params,
            tombstones,
            payload_len: 0,
            keys_off: 0,
            stranded: stranded.len(),
            table_sum: [0; SUM],
        };
        save(dir, index, &rows, &stranded, footer)?;
        let h = Hnsw::load(dir, Some(matrix.stamp), dim)
            .ok()
            .ok_or_else(|| Error::Hnsw("freshly written graph does not load".into()))?;
        Ok((h, incremental))
    }
}
