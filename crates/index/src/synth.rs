//! Synthetic, non-uniform test data for benchmarks and recall measurements: unit vectors drawn
//! from Gaussian clusters of varied spread (no external RNG crate; deterministic per seed).
//!
//! Each cluster has a random unit centre `c` and a spread `s` drawn uniformly from
//! `[0.2, 1.0] × spread_scale`; a point is `normalise(c + s · g / √dim)` with `g` standard
//! normal. Two points of a cluster then have an expected inner product of about `1 / (1 + s²)`
//! (0.5–0.96 for the default scale), points of different clusters about 0 — dense, tight and
//! loose groups side by side, unlike uniform random vectors where every neighbour is equally
//! far.

/// SplitMix64 generator with a Box–Muller normal sampler.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x6A09_E667_F3BC_C908)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unif(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn normal(&mut self) -> f32 {
        let u1 = self.unif().max(1e-300);
        let u2 = self.unif();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        for x in v {
            *x /= n;
        }
    }
}

/// Parameters of the clustered distribution.
#[derive(Clone, Copy, Debug)]
pub struct Clusters {
    pub dim: usize,
    pub clusters: usize,
    pub spread_scale: f32,
    pub seed: u64,
}

impl Clusters {
    pub fn new(dim: usize, seed: u64) -> Self {
        Clusters {
            dim,
            clusters: 200,
            spread_scale: 1.0,
            seed,
        }
    }

    fn centres(&self) -> (Vec<f32>, Vec<f32>) {
        let mut r = Rng::new(self.seed);
        let mut c = vec![0f32; self.clusters * self.dim];
        let mut s = vec![0f32; self.clusters];
        for k in 0..self.clusters {
            let row = &mut c[k * self.dim..(k + 1) * self.dim];
            for x in row.iter_mut() {
                *x = r.normal();
            }
            normalize(row);
            s[k] = self.spread_scale * (0.2 + 0.8 * r.unif() as f32);
        }
        (c, s)
    }

    /// `n` points (row-major `n × dim`, unit length), stream `stream` (use different streams
    /// for the data and the queries: same clusters, different points).
    pub fn sample(&self, n: usize, stream: u64) -> Vec<f32> {
        let (c, s) = self.centres();
        let dim = self.dim;
        let sq = (dim as f32).sqrt();
        let mut out = vec![0f32; n * dim];
        // Parallel generation with one generator per chunk of rows (deterministic).
        use rayon::prelude::*;
        out.par_chunks_mut(dim * 1024)
            .enumerate()
            .for_each(|(chunk, rows)| {
                let mut r = Rng::new(
                    self.seed
                        .wrapping_mul(31)
                        .wrapping_add(stream.wrapping_mul(0x1000_0001))
                        .wrapping_add(chunk as u64 * 0x9E37),
                );
                for row in rows.chunks_exact_mut(dim) {
                    let k = r.below(self.clusters as u64) as usize;
                    for (j, x) in row.iter_mut().enumerate() {
                        *x = c[k * dim + j] + s[k] * r.normal() / sq;
                    }
                    normalize(row);
                }
            });
        out
    }
}

/// Synthetic stats of `files` (path, modality, vector): size 1, mtime 0.
pub fn file_stats(files: &[(String, String, Vec<f32>)]) -> Vec<crate::FileStat> {
    (files.iter())
        .map(|(p, m, _)| crate::FileStat {
            path: p.clone(),
            modality: m.clone(),
            size: 1,
            mtime_ns: 0,
        })
        .collect()
}

/// Indexes exactly `files` (path, modality, vector) as if they were files on disk: synthetic
/// stats, each file's content hash taken from its path. Returns how many files the update
/// embedded (those new to the index), and its statistics.
pub fn index_files(
    ix: &mut crate::Index,
    files: &[(String, String, Vec<f32>)],
) -> crate::Result<(usize, crate::CommitStats)> {
    use crate::{ContentHash, FileStat, PlanOptions, PlannedFile};
    let stats = file_stats(files);
    let by_path: std::collections::HashMap<&str, &[f32]> = files
        .iter()
        .map(|(p, _, v)| (p.as_str(), v.as_slice()))
        .collect();
    let hasher = |s: &FileStat| Ok(ContentHash::of_bytes(s.path.as_bytes()));
    let mut w = ix.writer(None)?;
    let options = PlanOptions {
        scope: None,
        hasher: Some(&hasher),
        keep: &[],
    };
    let plan = w.plan_with(&stats, &options)?;
    for chunk in plan.embed.chunks(997) {
        let batch: Vec<(&PlannedFile, &[f32])> = (chunk.iter())
            .map(|p| (p, by_path[p.stat.path.as_str()]))
            .collect();
        w.commit_batch(&batch)?;
    }
    Ok((plan.embed.len(), w.finish(&plan)?))
}
