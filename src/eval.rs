//! Held-out evaluation: cross-modal retrieval (trained and emergent pairs), zero-shot
//! classification and embedding arithmetic on the test split.

use std::collections::BTreeMap;

use burn::tensor::Device;
use mmbind_modalities::Modality;
use serde::Serialize;

use crate::Result;
use crate::classify::{DEFAULT_TEMPLATES, label_embeddings, rank};
use crate::dataset::{Dataset, Row, Split};
use crate::embed::Embedder;
use crate::model::Model;

#[derive(Debug, Clone, Serialize)]
pub struct PairMetrics {
    pub query: Modality,
    pub target: Modality,
    /// `trained` (one side is vision) or `emergent` (never paired in training).
    pub kind: &'static str,
    pub queries: usize,
    /// Same-scene recall at 1, 5, 10.
    pub r1: f64,
    pub r5: f64,
    pub r10: f64,
    /// The top hit holds the same set of concepts.
    pub concept_p1: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ZeroShot {
    pub modality: Modality,
    pub accuracy: f64,
    pub n: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Arithmetic {
    /// image of a scene with concept A + audio of concept B → is the top test image a scene
    /// holding exactly A and B?
    pub success: f64,
    pub trials: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub split: Split,
    pub scenes: usize,
    pub pairs: Vec<PairMetrics>,
    pub zero_shot: Vec<ZeroShot>,
    pub arithmetic: Option<Arithmetic>,
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn concept_set(row: &Row) -> Vec<String> {
    let mut c = row.concepts.clone();
    c.sort();
    c
}

/// Unit embeddings of every view of every row: `[modality][row] -> Option<vector>`.
type Views = BTreeMap<Modality, Vec<Option<Vec<f32>>>>;

pub fn evaluate(
    dataset: &Dataset,
    split: Split,
    model: &Model,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport> {
    let rows = dataset.split(split);
    let modalities = model.modalities();
    let embedder = Embedder::new(model, device);
    let mut items = Vec::new();
    let mut slots = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        for &m in &modalities {
            if let Some(item) = row.item(m) {
                items.push(item);
                slots.push((m, i));
            }
        }
    }
    let total = items.len();
    let results = embedder.embed_all(&items, &mut |d| progress(d, total));
    let mut views: Views = modalities
        .iter()
        .map(|&m| (m, vec![None; rows.len()]))
        .collect();
    for ((m, i), r) in slots.into_iter().zip(results) {
        if let Ok(v) = r {
            views.get_mut(&m).expect("listed")[i] = Some(unit(&v));
        }
    }

    let mut pairs = Vec::new();
    for &q in &modalities {
        for &t in &modalities {
            if q == t {
                continue;
            }
            let kind = if q == Modality::Vision || t == Modality::Vision {
                "trained"
            } else {
                "emergent"
            };
            if let Some(p) = retrieval(&rows, &views[&q], &views[&t], q, t, kind) {
                pairs.push(p);
            }
        }
    }
    pairs.sort_by_key(|p| (p.kind != "trained", p.query, p.target));

    let concepts = dataset.concepts();
    let mut zero_shot = Vec::new();
    if model.encoders.text.is_some() && !concepts.is_empty() {
        let templates: Vec<String> = DEFAULT_TEMPLATES.iter().map(|t| t.to_string()).collect();
        let labels = label_embeddings(&embedder, &concepts, &templates)?;
        for &m in modalities.iter().filter(|&&m| m != Modality::Text) {
            let (mut correct, mut n) = (0, 0);
            for (i, row) in rows.iter().enumerate() {
                let (Some(v), [label]) = (&views[&m][i], row.concepts.as_slice()) else {
                    continue;
                };
                n += 1;
                correct += usize::from(&rank(v, &concepts, &labels)[0].label == label);
            }
            if n > 0 {
                zero_shot.push(ZeroShot {
                    modality: m,
                    accuracy: correct as f64 / n as f64,
                    n,
                });
            }
        }
    }
    let arithmetic = arithmetic(&rows, &views);
    Ok(EvalReport {
        split,
        scenes: rows.len(),
        pairs,
        zero_shot,
        arithmetic,
    })
}

fn retrieval(
    rows: &[&Row],
    q: &[Option<Vec<f32>>],
    t: &[Option<Vec<f32>>],
    qm: Modality,
    tm: Modality,
    kind: &'static str,
) -> Option<PairMetrics> {
    let gallery: Vec<usize> = (0..rows.len()).filter(|&i| t[i].is_some()).collect();
    let queries: Vec<usize> = (0..rows.len())
        .filter(|&i| q[i].is_some() && t[i].is_some())
        .collect();
    if queries.is_empty() || gallery.len() < 2 {
        return None;
    }
    let (mut r1, mut r5, mut r10, mut p1) = (0, 0, 0, 0);
    for &i in &queries {
        let qv = q[i].as_ref().expect("filtered");
        let mut scored: Vec<(f32, usize)> = gallery
            .iter()
            .map(|&g| (dot(qv, t[g].as_ref().expect("filtered")), g))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let rank = scored
            .iter()
            .position(|&(_, g)| rows[g].scene == rows[i].scene)
            .unwrap_or(usize::MAX);
        r1 += usize::from(rank < 1);
        r5 += usize::from(rank < 5);
        r10 += usize::from(rank < 10);
        p1 += usize::from(concept_set(rows[scored[0].1]) == concept_set(rows[i]));
    }
    let n = queries.len() as f64;
    Some(PairMetrics {
        query: qm,
        target: tm,
        kind,
        queries: queries.len(),
        r1: r1 as f64 / n,
        r5: r5 as f64 / n,
        r10: r10 as f64 / n,
        concept_p1: p1 as f64 / n,
    })
}

/// For every two-concept test scene {A, B}, in both orders: the image of a one-concept
/// scene with A plus the audio of a one-concept scene with B.
fn arithmetic(rows: &[&Row], views: &Views) -> Option<Arithmetic> {
    let (vision, audio) = (views.get(&Modality::Vision)?, views.get(&Modality::Audio)?);
    let single = |c: &str, v: &[Option<Vec<f32>>]| -> Option<usize> {
        (0..rows.len())
            .find(|&i| rows[i].concepts.len() == 1 && rows[i].concepts[0] == c && v[i].is_some())
    };
    let mut targets: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| r.concepts.len() == 2)
        .map(|r| concept_set(r))
        .collect();
    targets.sort();
    targets.dedup();
    let (mut ok, mut trials) = (0, 0);
    for pair in &targets {
        for (a, b) in [(&pair[0], &pair[1]), (&pair[1], &pair[0])] {
            let (Some(vi), Some(ai)) = (single(a, vision), single(b, audio)) else {
                continue;
            };
            let (va, ab) = (
                vision[vi].as_ref().expect("found"),
                audio[ai].as_ref().expect("found"),
            );
            let query = unit(&va.iter().zip(ab).map(|(x, y)| x + y).collect::<Vec<_>>());
            // The two source scenes are left out of the gallery: the query image itself
            // holds only A and would otherwise win on self-similarity.
            let best = (0..rows.len())
                .filter(|&g| g != vi && g != ai)
                .filter_map(|g| vision[g].as_ref().map(|v| (dot(&query, v), g)))
                .max_by(|x, y| x.0.total_cmp(&y.0))
                .map(|(_, g)| g)?;
            trials += 1;
            ok += usize::from(&concept_set(rows[best]) == pair);
        }
    }
    (trials > 0).then(|| Arithmetic {
        success: ok as f64 / trials as f64,
        trials,
    })
}

impl EvalReport {
    /// The human-readable table `mmbind eval` prints.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{} split: {} scenes\n\n",
            match self.split {
                Split::Train => "train",
                Split::Val => "val",
                Split::Test => "test",
            },
            self.scenes
        );
        s += "retrieval       kind       R@1    R@5   R@10  concept P@1\n";
        for p in &self.pairs {
            s += &format!(
                "{:<15} {:<9} {:>5.3} {:>6.3} {:>6.3} {:>8.3}\n",
                format!("{}→{}", p.query, p.target),
                p.kind,
                p.r1,
                p.r5,
                p.r10,
                p.concept_p1
            );
        }
        if !self.zero_shot.is_empty() {
            s += "\nzero-shot classification (one-concept scenes)\n";
            for z in &self.zero_shot {
                s += &format!(
                    "{:<15} {:>6.3}  (n={})\n",
                    z.modality.name(),
                    z.accuracy,
                    z.n
                );
            }
        }
        if let Some(a) = &self.arithmetic {
            s += &format!(
                "\narithmetic: image(A) + audio(B) → image of A and B: {:.3} of {} trials\n",
                a.success, a.trials
            );
        }
        s
    }
}
