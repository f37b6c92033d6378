#![allow(dead_code)]
//! Shared test helpers.

use std::path::Path;

use mmbind_index::synth::{Rng, normalize};
use mmbind_index::*;

/// The "embedding" of a content hash: a deterministic unit vector, so any stored vector can be
/// checked against the hash stored beside it.
pub fn vector_for(hash: &ContentHash, modality: &str, dim: usize) -> Vec<f32> {
    let mut seed = u64::from_le_bytes(hash.0[..8].try_into().unwrap());
    for b in modality.bytes() {
        seed = seed.wrapping_mul(131).wrapping_add(b as u64);
    }
    let mut r = Rng::new(seed);
    let mut v: Vec<f32> = (0..dim).map(|_| r.normal()).collect();
    normalize(&mut v);
    v
}

/// Embed every planned file with `vector_for`, in batches, then finish.
pub fn apply(w: Writer<'_>, plan: &Plan, batch: usize) -> CommitStats {
    let mut w = w;
    let dim = w.index().dim();
    for chunk in plan.embed.chunks(batch.max(1)) {
        let vecs: Vec<Vec<f32>> = chunk
            .iter()
            .map(|p| vector_for(&p.hash, &p.stat.modality, dim))
            .collect();
        let items: Vec<(&PlannedFile, &[f32])> = chunk
            .iter()
            .zip(&vecs)
            .map(|(p, v)| (p, v.as_slice()))
            .collect();
        w.commit_batch(&items).unwrap();
    }
    w.finish(plan).unwrap()
}

pub fn write_file(path: &Path, content: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, content).unwrap();
}

pub fn stats_of(dir: &Path, modality_of: impl Fn(&str) -> &'static str) -> Vec<FileStat> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.to_string_lossy().into_owned();
                out.push(FileStat::from_path(&p, modality_of(&name)).unwrap());
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Brute-force top-k (score desc, row asc) over `rows`.
pub fn brute_topk(
    rows: &[Vec<f32>],
    q: &[f32],
    k: usize,
    keep: impl Fn(usize, f32) -> bool,
) -> Vec<(usize, f32)> {
    let mut s: Vec<(usize, f32)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                i,
                r.iter()
                    .zip(q)
                    .map(|(a, b)| (*a as f64) * (*b as f64))
                    .sum::<f64>() as f32,
            )
        })
        .filter(|(i, s)| keep(*i, *s))
        .collect();
    s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    s.truncate(k);
    s
}
