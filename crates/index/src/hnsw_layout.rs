//! usearch's serialised graph, checked for structure before usearch views it.
//!
//! usearch (2.26) views a buffer without copying it, and checks only its headers and total
//! size: the neighbour lists are followed as they are. A slot past the node count, a count
//! past a list's capacity, or a neighbour at level `l` whose own level is below `l` makes a
//! search read outside the buffer. The block checksums (see `integrity`) catch damage, not a
//! file whose checksums were recomputed, so [`check`] walks the whole payload once (about as
//! long as verifying its checksums) and refuses anything usearch would read out of bounds.
//! It returns the nodes' keys, which the caller checks against its row table (a forged key
//! would not crash usearch, but would make the next incremental update fail).
//!
//! Layout, as `index_dense_gt::save_to_stream` writes it without options (little-endian):
//! - the vectors: `rows: u32`, `bytes per vector: u32`, then `rows` vectors;
//! - a 64-byte head: magic `usearch`, version (3 × u16), metric, scalar, key and slot kinds
//!   (a byte each), present and deleted counts and the dimension (u64 each), `multi` (bool);
//! - the graph (`index_gt::save_to_stream`): `size`, `connectivity`, `connectivity_base`,
//!   `max_level`, `entry_slot` (u64 each); one `i16` level per node; then each node: its key
//!   (u64), its level (i16), the level-0 list (`count: u32` and `connectivity_base` u32 slots)
//!   and one list of `connectivity` slots per level above 0.

/// The kinds usearch writes in its head for our options (`index_plugins.hpp`).
const METRIC_IP: u8 = b'i';
const SCALAR_F32: u8 = 11;
const KEY_U64: u8 = 14;
const SLOT_U32: u8 = 15;
const VERSION_MAJOR: u16 = 2;
/// Before 2.10 the kinds were numbered otherwise (usearch converts them on load).
const VERSION_MINOR_MIN: u16 = 10;
const HEAD: usize = 64;

/// A reader over the payload that fails instead of reading past it.
struct Bytes<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = (self.at.checked_add(n))
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| format!("the graph ends inside its {what}"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The key of a removed node (usearch's free key).
pub(crate) const REMOVED: u64 = u64::MAX;

/// Check that `payload` is a usearch graph of `dim`-dimensional f32 vectors whose every
/// neighbour list stays inside it: the nodes' keys, or the reason when it is not.
pub(crate) fn check(payload: &[u8], dim: usize) -> Result<Vec<u64>, String> {
    let mut r = Bytes { b: payload, at: 0 };
    let rows = vectors(&mut r, dim)?;
    head(&mut r, dim)?;
    let g = Graph::read(&mut r, rows, payload.len())?;
    if g.size == 0 {
        // usearch views an empty graph without reading further.
        return Ok(Vec::new());
    }
    if g.entry >= g.size {
        return Err("its entry node is past the last node".into());
    }
    let levels: Vec<i16> = r
        .take(rows * 2, "node levels")?
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    if levels.iter().any(|&l| l < 0 || l as u64 > g.max_level)
        || (levels[g.entry as usize] as u64) != g.max_level
    {
        return Err("its node levels are out of range".into());
    }
    let keys = nodes(&mut r, &levels, &g)?;
    let used = r.at;
    if used != payload.len() {
        return Err(format!(
            "{} bytes follow its last node",
            payload.len() - used
        ));
    }
    Ok(keys)
}

/// Skips the vectors, checking their size: how many there are.
fn vectors(r: &mut Bytes, dim: usize) -> Result<usize, String> {
    let rows = r.u32("vector matrix size")? as usize;
    let cols = r.u32("vector matrix size")? as usize;
    if cols != dim * 4 {
        return Err(format!("its vectors hold {cols} bytes, not {}", dim * 4));
    }
    let vectors = rows
        .checked_mul(cols)
        .ok_or("its vector matrix is too large")?;
    r.take(vectors, "vector matrix")?;
    Ok(rows)
}

/// Checks the head: usearch 2, our kinds, `dim`, one key per node.
fn head(r: &mut Bytes, dim: usize) -> Result<(), String> {
    let head = r.take(HEAD, "head")?;
    if &head[..7] != b"usearch"
        || le_u16(head, 7) != VERSION_MAJOR
        || le_u16(head, 9) < VERSION_MINOR_MIN
    {
        return Err("its head is not usearch 2's".into());
    }
    if head[13..17] != [METRIC_IP, SCALAR_F32, KEY_U64, SLOT_U32] {
        return Err("its head names other metric, scalar or key types".into());
    }
    if le_u64(head, 33) != dim as u64 || head[41] != 0 {
        return Err("its head names another dimension or a multi-key index".into());
    }
    Ok(())
}

/// The graph's header.
struct Graph {
    size: u64,
    connectivity: u64,
    connectivity_base: u64,
    max_level: u64,
    entry: u64,
}

impl Graph {
    /// Reads the header of the graph of `rows` vectors in a payload of `len` bytes.
    fn read(r: &mut Bytes, rows: usize, len: usize) -> Result<Graph, String> {
        let g = Graph {
            size: r.u64("graph header")?,
            connectivity: r.u64("graph header")?,
            connectivity_base: r.u64("graph header")?,
            max_level: r.u64("graph header")?,
            entry: r.u64("graph header")?,
        };
        let (size, connectivity, connectivity_base) = (g.size, g.connectivity, g.connectivity_base);
        if size != rows as u64 {
            return Err(format!("its graph has {size} nodes for {rows} vectors"));
        }
        // A level-0 list (a count and `connectivity_base` slots) must fit in the payload.
        let most = len as u64 / 4;
        if !(2..=most).contains(&connectivity)
            || !(connectivity..=most).contains(&connectivity_base)
        {
            return Err(format!(
                "its connectivity ({connectivity}, base {connectivity_base}) is out of range"
            ));
        }
        Ok(g)
    }
}

/// Walks every node (of the levels `levels`): the keys, once every neighbour list is found
/// to stay inside the graph.
fn nodes(r: &mut Bytes, levels: &[i16], g: &Graph) -> Result<Vec<u64>, String> {
    let n = levels.len();
    let (cap_base, cap) = (g.connectivity_base as usize, g.connectivity as usize);
    let mut keys = Vec::with_capacity(n);
    for (i, &level) in levels.iter().enumerate() {
        keys.push(r.u64("nodes")?);
        let own = r.take(2, "nodes")?;
        if i16::from_le_bytes([own[0], own[1]]) != level {
            return Err(format!("node {i}'s level differs from the level table"));
        }
        for l in 0..=level {
            let capacity = if l == 0 { cap_base } else { cap };
            let count = r.u32("nodes")? as usize;
            let list = r.take(capacity * 4, "nodes")?;
            if count > capacity {
                return Err(format!(
                    "node {i} lists {count} neighbours, room for {capacity}"
                ));
            }
            for s in list[..count * 4].chunks_exact(4) {
                let s = u32::from_le_bytes(s.try_into().unwrap()) as usize;
                // A neighbour at level l is read at level l: it must exist there.
                if s >= n || levels[s] < l {
                    return Err(format!("node {i} links to a node it cannot reach"));
                }
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use usearch::{IndexOptions, MetricKind, ScalarKind};

    const DIM: usize = 8;

    /// A graph usearch wrote: enough nodes for several levels, some removed.
    fn graph() -> Vec<u8> {
        let ix = usearch::Index::new(&IndexOptions {
            dimensions: DIM,
            metric: MetricKind::IP,
            quantization: ScalarKind::F32,
            connectivity: 4,
            ..Default::default()
        })
        .unwrap();
        ix.reserve(400).unwrap();
        let mut x = 1u32;
        for k in 0..400u64 {
            let v: Vec<f32> = (0..DIM)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
                })
                .collect();
            ix.add(k, &v).unwrap();
        }
        ix.remove(7).unwrap();
        let mut b = vec![0u8; ix.serialized_length()];
        ix.save_to_buffer(&mut b).unwrap();
        b
    }

    /// Where the graph's parts start: (graph header, levels, each node).
    fn offsets(b: &[u8]) -> (usize, usize, Vec<usize>) {
        let rows = u32::from_le_bytes(b[..4].try_into().unwrap()) as usize;
        let header = 8 + rows * DIM * 4 + HEAD;
        let (cb, c) = (
            le_u64(b, header + 16) as usize,
            le_u64(b, header + 8) as usize,
        );
        let levels = header + 40;
        let mut at = levels + rows * 2;
        let nodes = (0..rows)
            .map(|i| {
                let node = at;
                let l = le_u16(b, levels + 2 * i) as usize;
                at += 10 + (4 + cb * 4) + l * (4 + c * 4);
                node
            })
            .collect();
        (header, levels, nodes)
    }

    fn put_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn refused(b: &[u8], because: &str) {
        let e = check(b, DIM).expect_err(because);
        assert!(e.contains(because), "{e:?} does not say {because:?}");
    }

    #[test]
    fn a_graph_usearch_wrote_passes_and_forged_links_do_not() {
        let good = graph();
        let mut keys = check(&good, DIM).unwrap();
        keys.sort_unstable();
        // Key 7 was removed: its node stays, under the free key.
        let want: Vec<u64> = (0..400).filter(|&k| k != 7).chain([REMOVED]).collect();
        assert_eq!(keys, want);
        let (header, levels, nodes) = offsets(&good);
        let level = |i: usize| le_u16(&good, levels + 2 * i);
        assert!(
            le_u64(&good, header + 24) >= 2,
            "the test wants several levels"
        );

        // A level-0 neighbour past the last node.
        let mut b = good.clone();
        put_u32(&mut b, nodes[3] + 10 + 4, 400);
        refused(&b, "cannot reach");
        // More neighbours than the list has room for (base capacity 8 for connectivity 4).
        let mut b = good.clone();
        put_u32(&mut b, nodes[3] + 10, 9);
        refused(&b, "room for 8");
        // A level-1 link to a node that lives on level 0 only.
        let upper = (0..400).find(|&i| level(i) >= 1).unwrap();
        let ground = (0..400).find(|&i| level(i) == 0).unwrap() as u32;
        let list1 = nodes[upper] + 10 + 4 + 8 * 4;
        assert!(u32::from_le_bytes(good[list1..list1 + 4].try_into().unwrap()) > 0);
        let mut b = good.clone();
        put_u32(&mut b, list1 + 4, ground);
        refused(&b, "cannot reach");
        // A node whose own level disagrees with the level table (its tape would be misread).
        let mut b = good.clone();
        b[nodes[5] + 8] ^= 1;
        refused(&b, "level differs");
        // The level table disagreeing with the nodes, or past the maximum.
        let mut b = good.clone();
        b[levels + 2 * 5 + 1] = 0x80;
        refused(&b, "levels are out of range");
        // The entry node past the end.
        let mut b = good.clone();
        b[header + 32..header + 40].copy_from_slice(&400u64.to_le_bytes());
        refused(&b, "entry node");
        // Vectors of another size than the head's dimension (the metric reads `DIM` floats).
        let mut b = good.clone();
        put_u32(&mut b, 4, (DIM as u32 - 1) * 4);
        refused(&b, "vectors hold");
        let mut b = good.clone();
        let head = header - HEAD;
        b[head + 33..head + 41].copy_from_slice(&(DIM as u64 + 1).to_le_bytes());
        refused(&b, "another dimension");
        // Cut short, or with bytes after the last node.
        refused(&good[..good.len() - 3], "ends inside");
        let mut b = good.clone();
        b.push(0);
        refused(&b, "follow its last node");
    }
}
