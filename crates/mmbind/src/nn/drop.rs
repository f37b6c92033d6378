//! Stochastic depth and head dropout, the regularisation ImageBind trains its encoders with:
//! `drop_path`, a block's residual branch dropped at a rate rising linearly from 0 at the
//! first block to the config's at the last, and `head_dropout`, dropout on the pooled
//! features before the head's projection. Kept branches and features are scaled by
//! 1/(1 − p), as timm's `DropPath` and `nn.Dropout` do, so inference needs no change.
//!
//! What a dropped branch covers follows ImageBind, not the textbook: its blocks run
//! sequence-first (`[tokens, batch, d]`, between its trunks' `b l d -> l b d` rearranges), and
//! timm's `DropPath` draws one mask per index of the first axis, so a branch is dropped at a
//! token position for every sample of the batch, not for one sample at every position.
//!
//! Each place (a block's branch, the head) draws from a generator of its own, seeded by the
//! step's seed and the place: burn's path and the CPU path (`crate::cpu`) then drop the same
//! branches in a step whatever order they ask in, which is what lets their gradients be
//! checked against each other, and a resumed run draws what the interrupted one would have.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::config::EncoderConfig;

/// The masks of one training step for one encoder.
#[derive(Debug, Clone)]
pub struct Drops {
    seed: u64,
    /// Per block, the probability that a residual branch is dropped.
    path: Vec<f32>,
    head: f32,
}

/// The residual branches of a block.
#[derive(Debug, Clone, Copy)]
pub enum Branch {
    Attention,
    Mlp,
}

impl Drops {
    /// The masks of the step drawn from `seed` for an encoder configured as `cfg`, or `None`
    /// when it asks for neither (the step is then plain).
    pub fn new(cfg: &EncoderConfig, seed: u64) -> Option<Self> {
        let n = cfg.trunk.n_blocks;
        let rate = cfg.trunk.drop_path as f32;
        // ImageBind's "progressive" rule: `torch.linspace(0, drop_path, n_blocks)`.
        let path: Vec<f32> = (0..n)
            .map(|i| match n {
                1 => 0.0,
                _ => rate * i as f32 / (n - 1) as f32,
            })
            .collect();
        let head = cfg.head_dropout as f32;
        (path.iter().any(|&p| p > 0.0) || head > 0.0).then_some(Self { seed, path, head })
    }

    /// The factor on `branch` of block `block` at each of `tokens` token positions, the
    /// same for every sample (0 when dropped, 1/(1 − p) when kept; see the module's note), or
    /// `None` when that block drops nothing.
    pub fn branch(&self, block: usize, branch: Branch, tokens: usize) -> Option<Vec<f32>> {
        let p = self.path.get(block).copied().unwrap_or(0.0);
        let place = 1 + 2 * block as u64 + branch as u64;
        (p > 0.0).then(|| self.draws(place, tokens).map(|u| keep(p, u)).collect())
    }

    /// The factor on each of the `[samples, d]` pooled features (0 or 1/(1 − p)), or `None`
    /// without head dropout.
    pub fn head(&self, samples: usize, d: usize) -> Option<Vec<f32>> {
        (self.head > 0.0).then(|| {
            self.draws(0, samples * d)
                .map(|u| keep(self.head, u))
                .collect()
        })
    }

    /// `n` uniform draws in [0, 1) from the generator of `place`.
    fn draws(&self, place: u64, n: usize) -> impl Iterator<Item = f32> {
        // The whole (seed, place) is the key: every pair its own stream.
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&self.seed.to_le_bytes());
        key[8..16].copy_from_slice(&place.to_le_bytes());
        let mut rng = StdRng::from_seed(key);
        (0..n).map(move |_| rng.random::<f32>())
    }
}

/// The factor for a draw `u` at drop probability `p`.
fn keep(p: f32, u: f32) -> f32 {
    if u < p { 0.0 } else { 1.0 / (1.0 - p) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use mmbind_modalities::Modality;

    fn config(drop_path: f64, head_dropout: f64, n_blocks: usize) -> EncoderConfig {
        let mut cfg = ModelConfig::tiny()
            .encoder(Modality::Imu)
            .expect("tiny has IMU")
            .clone();
        cfg.trunk.drop_path = drop_path;
        cfg.trunk.n_blocks = n_blocks;
        cfg.head_dropout = head_dropout;
        cfg
    }

    #[test]
    fn nothing_to_drop_is_a_plain_step() {
        assert!(Drops::new(&config(0.0, 0.0, 6), 1).is_none());
        // One block: linspace(0, r, 1) is [0].
        assert!(Drops::new(&config(0.7, 0.0, 1), 1).is_none());
        assert!(Drops::new(&config(0.0, 0.5, 1), 1).is_some());
    }

    #[test]
    fn rates_rise_linearly_and_factors_keep_the_mean() {
        // ImageBind's IMU: 6 blocks, drop_path 0.7, head dropout 0.5.
        let d = Drops::new(&config(0.7, 0.5, 6), 42).unwrap();
        assert!(
            d.branch(0, Branch::Attention, 8).is_none(),
            "the first block keeps all"
        );
        let n = 20_000;
        for (block, p) in [(1, 0.14f32), (5, 0.7)] {
            for branch in [Branch::Attention, Branch::Mlp] {
                let f = d.branch(block, branch, n).unwrap();
                let dropped = f.iter().filter(|&&v| v == 0.0).count() as f32 / n as f32;
                assert!(
                    (dropped - p).abs() < 0.015,
                    "block {block}: {dropped} against {p}"
                );
                let kept = 1.0 / (1.0 - p);
                assert!(f.iter().all(|&v| v == 0.0 || (v - kept).abs() < 1e-6));
                let mean = f.iter().sum::<f32>() / n as f32;
                assert!((mean - 1.0).abs() < 0.05, "block {block}: mean {mean}");
            }
        }
        let h = d.head(100, 200).unwrap();
        let dropped = h.iter().filter(|&&v| v == 0.0).count() as f32 / h.len() as f32;
        assert!((dropped - 0.5).abs() < 0.015, "{dropped}");
    }

    #[test]
    fn masks_depend_on_seed_place_and_sample_only() {
        let cfg = config(0.5, 0.5, 2);
        let a = Drops::new(&cfg, 7).unwrap();
        let b = Drops::new(&cfg, 7).unwrap();
        let c = Drops::new(&cfg, 8).unwrap();
        let n = 256;
        assert_eq!(a.branch(1, Branch::Mlp, n), b.branch(1, Branch::Mlp, n));
        // A longer draw starts with the shorter one.
        assert_eq!(
            a.branch(1, Branch::Mlp, n).unwrap()[..10],
            a.branch(1, Branch::Mlp, 10).unwrap()[..]
        );
        assert_ne!(a.branch(1, Branch::Mlp, n), c.branch(1, Branch::Mlp, n));
        assert_ne!(
            a.branch(1, Branch::Mlp, n),
            a.branch(1, Branch::Attention, n)
        );
        assert_ne!(a.head(4, 64), c.head(4, 64));
    }
}
