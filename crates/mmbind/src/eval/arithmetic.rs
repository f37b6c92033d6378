//! Embedding arithmetic: does the image of a scene with A plus the sound of a scene with B
//! find a scene holding exactly A and B? With the baselines that a binding which does not
//! compose would still score (one of the two inputs alone, chance), and image(A) + image(B),
//! the best the anchor itself can do. Each ordered pair (A, B) gets several random instances,
//! and the 95% intervals come from resampling the pairs.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use super::{ConceptSet, RowViews, Views, concept_set, pair_sets};
use crate::dataset::Row;
use crate::search::combine;
use crate::vector::dot;
use mmbind_modalities::Modality;

/// Random instances (source scenes) per ordered pair (A, B).
pub const INSTANCES: usize = 5;
/// Bootstrap resamples of the pairs behind each interval.
const RESAMPLES: usize = 2000;

/// How often one way of forming the query finds a scene of exactly A and B.
#[derive(Debug, Clone, Serialize)]
pub struct MethodScore {
    /// `image(A) + audio(B)`, `image(A) + image(B)`, `image(A)`, `audio(B)` or `chance`.
    pub method: &'static str,
    pub success: f64,
    /// 95% interval (percentile bootstrap over the ordered pairs).
    pub ci95: [f64; 2],
}

/// The scores of every method over one group of ordered pairs.
#[derive(Debug, Clone, Serialize)]
pub struct ArithmeticGroup {
    /// Ordered pairs (A, B) and trials (pairs × instances).
    pub pairs: usize,
    pub trials: usize,
    pub methods: Vec<MethodScore>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Arithmetic {
    /// image(A) + audio(B) over every pair, and its number of trials (as before the groups).
    pub success: f64,
    pub trials: usize,
    pub instances_per_pair: usize,
    /// Test images with a vision embedding; each query is ranked against them less its 2–3
    /// source scenes.
    pub gallery: usize,
    pub all: ArithmeticGroup,
    /// Pairs that training held together, and pairs it never did (absent when the training
    /// rows carry no concepts to tell them apart, or when a group is empty).
    pub seen: Option<ArithmeticGroup>,
    pub held_out: Option<ArithmeticGroup>,
}

const METHODS: [&str; 5] = [
    "image(A) + audio(B)",
    "image(A) + image(B)",
    "image(A)",
    "audio(B)",
    "chance",
];

/// One ordered pair's outcomes: per method, the successes (or for chance, the expected
/// successes) over its instances.
struct PairOutcome {
    held_out: Option<bool>,
    hits: [f64; 5],
    trials: usize,
}

/// For every two-concept test scene's set {A, B}, in both orders, `INSTANCES` random choices
/// of a one-concept A scene (its image) and B scenes (its audio, and another's image).
/// `held_out`: the sets training never held (`None`: unknown).
pub fn arithmetic(
    rows: &[&Row],
    views: &Views,
    held_out: Option<&[ConceptSet]>,
) -> Option<Arithmetic> {
    let (vision, audio) = (views.get(&Modality::Vision)?, views.get(&Modality::Audio)?);
    let singles = |c: &str, v: &[Option<Vec<f32>>]| -> Vec<usize> {
        (0..rows.len())
            .filter(|&i| rows[i].concepts.len() == 1 && rows[i].concepts[0] == c && v[i].is_some())
            .collect()
    };
    let targets = pair_sets(rows);
    // Every scene's set, once: each trial compares it for the whole gallery.
    let sets: Vec<ConceptSet> = rows.iter().map(|r| concept_set(r)).collect();
    let gallery: Vec<usize> = (0..rows.len()).filter(|&g| vision[g].is_some()).collect();
    let mut rng = StdRng::seed_from_u64(0);
    let mut outcomes = Vec::new();
    for pair in &targets {
        for (a, b) in [(&pair[0], &pair[1]), (&pair[1], &pair[0])] {
            let (a_images, b_sounds, b_images) =
                (singles(a, vision), singles(b, audio), singles(b, vision));
            if a_images.is_empty() || b_sounds.is_empty() || b_images.is_empty() {
                continue;
            }
            let mut out = PairOutcome {
                held_out: held_out.map(|h| h.contains(pair)),
                hits: [0.0; 5],
                trials: 0,
            };
            for _ in 0..INSTANCES {
                let picked = [
                    a_images[rng.random_range(0..a_images.len())],
                    b_sounds[rng.random_range(0..b_sounds.len())],
                    b_images[rng.random_range(0..b_images.len())],
                ];
                out.trial(picked, (vision, audio), &gallery, &sets, pair);
            }
            outcomes.push(out);
        }
    }
    let all = group(outcomes.iter().collect())?;
    let pick = |want: bool| {
        group(
            outcomes
                .iter()
                .filter(|o| o.held_out == Some(want))
                .collect(),
        )
    };
    let (seen, held) = match held_out {
        Some(_) => (pick(false), pick(true)),
        None => (None, None),
    };
    Some(Arithmetic {
        success: all.methods[0].success,
        trials: all.trials,
        instances_per_pair: INSTANCES,
        gallery: gallery.len(),
        all,
        seen,
        held_out: held,
    })
}

impl PairOutcome {
    /// One instance: image(A) + audio(B), image(A) + image(B), image(A) and audio(B) as
    /// queries over the gallery's images; a hit when the best is a scene of exactly {A, B}.
    /// `picked`: the A image's, B sound's and B image's rows.
    fn trial(
        &mut self,
        [vi, ai, vj]: [usize; 3],
        (vision, audio): (&RowViews, &RowViews),
        gallery: &[usize],
        sets: &[ConceptSet],
        pair: &ConceptSet,
    ) {
        let (va, ab, vb) = (
            vision[vi].as_deref().expect("listed"),
            audio[ai].as_deref().expect("listed"),
            vision[vj].as_deref().expect("listed"),
        );
        // What `mmbind add` computes for the two terms (weights 1); a sum that cancels out
        // (never, for two unit vectors of different scenes) finds nothing.
        let sum = |x: &[f32], y: &[f32]| {
            combine(&[(1.0, x), (1.0, y)]).unwrap_or_else(|_| vec![0.0; x.len()])
        };
        let queries = [sum(va, ab), sum(va, vb), va.to_vec(), ab.to_vec()];
        // The source scenes are left out: the query image itself holds only A and
        // would otherwise win on self-similarity.
        let candidates: Vec<usize> = gallery
            .iter()
            .copied()
            .filter(|&g| g != vi && g != ai && g != vj)
            .collect();
        for (k, q) in queries.iter().enumerate() {
            let best = candidates
                .iter()
                .map(|&g| (dot(q, vision[g].as_deref().expect("listed")), g))
                .max_by(|x, y| x.0.total_cmp(&y.0))
                .map(|(_, g)| g);
            self.hits[k] += f64::from(u8::from(best.is_some_and(|g| &sets[g] == pair)));
        }
        let right = candidates.iter().filter(|&&g| &sets[g] == pair).count();
        self.hits[4] += right as f64 / candidates.len().max(1) as f64;
        self.trials += 1;
    }
}

/// Scores and bootstrap intervals of a group of pairs (`None` when empty).
fn group(pairs: Vec<&PairOutcome>) -> Option<ArithmeticGroup> {
    let trials: usize = pairs.iter().map(|p| p.trials).sum();
    if trials == 0 {
        return None;
    }
    let rate = |k: usize, sample: &mut dyn Iterator<Item = &PairOutcome>| {
        let (mut hits, mut n) = (0.0, 0usize);
        for p in sample {
            hits += p.hits[k];
            n += p.trials;
        }
        hits / n.max(1) as f64
    };
    let mut rng = StdRng::seed_from_u64(1);
    let methods = METHODS
        .iter()
        .enumerate()
        .map(|(k, &method)| {
            let mut resampled: Vec<f64> = (0..RESAMPLES)
                .map(|_| {
                    let mut it = (0..pairs.len()).map(|_| pairs[rng.random_range(0..pairs.len())]);
                    rate(k, &mut it)
                })
                .collect();
            resampled.sort_by(f64::total_cmp);
            let at = |q: f64| {
                resampled[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)]
            };
            MethodScore {
                method,
                success: rate(k, &mut pairs.iter().copied()),
                ci95: [at(0.025), at(0.975)],
            }
        })
        .collect();
    Some(ArithmeticGroup {
        pairs: pairs.len(),
        trials,
        methods,
    })
}

impl Arithmetic {
    /// The table `mmbind eval` prints.
    pub fn table(&self) -> String {
        let groups: Vec<(&str, &ArithmeticGroup)> = [
            Some(("all pairs", &self.all)),
            self.seen.as_ref().map(|g| ("seen pairs", g)),
            self.held_out.as_ref().map(|g| ("held-out pairs", g)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut s = format!(
            "\narithmetic: top-1 of the {} test images less the query's sources holds exactly A and B ({} random instances per \
             ordered pair; [95% interval])\n{:<21}",
            self.gallery, self.instances_per_pair, "query"
        );
        for (name, g) in &groups {
            s += &format!(" {:<22}", format!("{name} ({})", g.pairs));
        }
        s += "\n";
        for (k, method) in METHODS.iter().enumerate() {
            s += &format!("{method:<21}");
            for (_, g) in &groups {
                let m = &g.methods[k];
                s += &format!(" {:.3} [{:.2}, {:.2}]    ", m.success, m.ci95[0], m.ci95[1]);
            }
            s = s.trim_end().to_string() + "\n";
        }
        s
    }
}
