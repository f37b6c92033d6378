//! The split plan: how many scenes each split gets, which concepts each scene holds, and the
//! concept pairs held out of training.

use mmbind_schema::Split;

use crate::util::{Stream, rng_for};
use crate::{WorldConfig, WorldError, concepts, validate};

/// The plan of one scene: its split and concepts (the first is its label).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneSpec {
    pub split: Split,
    pub concepts: Vec<usize>,
}

/// Scene counts `(train, val, test)`.
pub fn split_counts(cfg: &WorldConfig) -> (usize, usize, usize) {
    let n = cfg.scenes;
    let test = ((n as f64 * cfg.test_fraction).round() as usize).min(n);
    let val = ((n as f64 * cfg.val_fraction).round() as usize).min(n - test);
    (n - test - val, val, test)
}

/// The plan of every scene: splits (train first, then val, then test) and concepts.
pub fn plan(cfg: &WorldConfig) -> Result<Vec<SceneSpec>, WorldError> {
    validate(cfg)?;
    let (train, val, test) = split_counts(cfg);
    let mut specs = Vec::with_capacity(cfg.scenes);
    for (split, count) in [
        (Split::Train, train),
        (Split::Val, val),
        (Split::Test, test),
    ] {
        specs.extend(plan_split(cfg, split, count));
    }
    Ok(specs)
}

/// The concept pairs (lower index first) that only the test split holds: a regular set, so
/// no concept loses more of its partners than another. The concepts are put in a seeded ring;
/// the first pairs are neighbours on the ring (up to 12: every concept in 2), then opposite
/// concepts (up to 18: every concept in 3).
pub fn holdout_pairs(cfg: &WorldConfig) -> Vec<(usize, usize)> {
    let c = concepts().len();
    let mut ring: Vec<usize> = (0..c).collect();
    rng_for(cfg.seed, 0, Stream::Holdout).shuffle(&mut ring);
    let neighbours = (0..c).map(|i| (ring[i], ring[(i + 1) % c]));
    let opposite = (0..c / 2).map(|i| (ring[i], ring[i + c / 2]));
    let mut pairs: Vec<(usize, usize)> = neighbours
        .chain(opposite)
        .take(cfg.holdout_pairs)
        .map(|(a, b)| (a.min(b), a.max(b)))
        .collect();
    pairs.sort();
    pairs
}

/// Balanced concepts for one split: one-object scenes cycle through the concepts, two-object
/// scenes through the unordered pairs (each cycle reshuffled, each pair's order random), and
/// the scenes are then shuffled.
fn plan_split(cfg: &WorldConfig, split: Split, count: usize) -> Vec<SceneSpec> {
    let mut rng = rng_for(cfg.seed, split as u64, Stream::Plan);
    let c = concepts().len();
    let fraction = match split {
        Split::Train => cfg.train_two_object_fraction,
        Split::Val | Split::Test => cfg.two_object_fraction,
    };
    let twos = ((count as f64 * fraction).round() as usize).min(count);
    let mut out = Vec::with_capacity(count);
    let mut cycle: Vec<usize> = Vec::new();
    for _ in 0..count - twos {
        if cycle.is_empty() {
            cycle = (0..c).collect();
            rng.shuffle(&mut cycle);
        }
        out.push(SceneSpec {
            split,
            concepts: vec![cycle.pop().unwrap()],
        });
    }
    let held_out = match split {
        Split::Test => Vec::new(),
        Split::Train | Split::Val => holdout_pairs(cfg),
    };
    let all_pairs: Vec<(usize, usize)> = (0..c)
        .flat_map(|a| (a + 1..c).map(move |b| (a, b)))
        .filter(|p| !held_out.contains(p))
        .collect();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for _ in 0..twos {
        if pairs.is_empty() {
            pairs = all_pairs.clone();
            rng.shuffle(&mut pairs);
        }
        let (a, b) = pairs.pop().unwrap();
        let concepts = if rng.chance(0.5) {
            vec![a, b]
        } else {
            vec![b, a]
        };
        out.push(SceneSpec { split, concepts });
    }
    rng.shuffle(&mut out);
    out
}
