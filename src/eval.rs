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
    /// `concept_p1` over the queries from one-concept and from two-concept scenes (`None`
    /// when there are none): two-object scenes are where small models fail.
    pub concept_p1_one: Option<f64>,
    pub concept_p1_two: Option<f64>,
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
    /// Inputs that could not be embedded, one "name: reason" each; they count in no metric.
    pub skipped: Vec<String>,
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
    let mut skipped = Vec::new();
    for ((m, i), r) in slots.into_iter().zip(results) {
        match r {
            Ok(v) => views.get_mut(&m).expect("listed")[i] = Some(unit(&v)),
            Err(e) => skipped.push(e.to_string()),
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
        skipped,
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
    // (hits, queries) by the query scene's number of concepts, 1 or 2.
    let mut by_count = [(0usize, 0usize); 2];
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
        let hit = usize::from(concept_set(rows[scored[0].1]) == concept_set(rows[i]));
        p1 += hit;
        if let Some(c) = by_count.get_mut(rows[i].concepts.len().wrapping_sub(1)) {
            c.0 += hit;
            c.1 += 1;
        }
    }
    let share = |(h, n): (usize, usize)| (n > 0).then(|| h as f64 / n as f64);
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
        concept_p1_one: share(by_count[0]),
        concept_p1_two: share(by_count[1]),
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
        s += "retrieval       kind       R@1    R@5   R@10  concept P@1  (1 object  2 objects)\n";
        let opt = |x: Option<f64>| x.map_or("    -".to_string(), |x| format!("{x:.3}"));
        for p in &self.pairs {
            s += &format!(
                "{:<15} {:<9} {:>5.3} {:>6.3} {:>6.3} {:>8.3}     {:>9} {:>10}\n",
                format!("{}→{}", p.query, p.target),
                p.kind,
                p.r1,
                p.r5,
                p.r10,
                p.concept_p1,
                opt(p.concept_p1_one),
                opt(p.concept_p1_two)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scene: &str, concepts: &[&str]) -> Row {
        Row {
            id: scene.into(),
            scene: scene.into(),
            split: Split::Test,
            views: BTreeMap::new(),
            label: Some(concepts[0].into()),
            concepts: concepts.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn views(v: &[[f32; 3]]) -> Vec<Option<Vec<f32>>> {
        v.iter().map(|x| Some(unit(x))).collect()
    }

    /// s1 {a}, s2 {b}, s3 {a, b}, s4 {a}.
    fn scenes() -> Vec<Row> {
        vec![
            row("s1", &["a"]),
            row("s2", &["b"]),
            row("s3", &["b", "a"]),
            row("s4", &["a"]),
        ]
    }

    const A: [f32; 3] = [1.0, 0.0, 0.0];
    const B: [f32; 3] = [0.0, 1.0, 0.0];
    const AB: [f32; 3] = [1.0, 1.0, 0.0];
    const A2: [f32; 3] = [0.9, 0.0, 0.43];

    #[test]
    fn retrieval_counts_scenes_and_concept_sets_by_object_count() {
        let rows = scenes();
        let rows: Vec<&Row> = rows.iter().collect();
        let target = views(&[A, B, AB, A2]);
        // Queries: s1 and s4 both look like A (s4's top hit is s1: right concepts, wrong
        // scene); s3's query misses its second concept and finds s1.
        let query = views(&[A, B, A, A2]);
        let p = retrieval(
            &rows,
            &query,
            &target,
            Modality::Audio,
            Modality::Vision,
            "x",
        )
        .expect("metrics");
        assert_eq!(p.queries, 4);
        assert_eq!((p.r1, p.r5, p.r10), (0.75, 1.0, 1.0));
        assert_eq!(p.concept_p1, 0.75);
        assert_eq!(p.concept_p1_one, Some(1.0));
        assert_eq!(p.concept_p1_two, Some(0.0));

        // Without two-concept scenes, there is no two-object figure (not a zero).
        let single: Vec<&Row> = rows
            .iter()
            .copied()
            .filter(|r| r.concepts.len() == 1)
            .collect();
        let pick = |v: &[Option<Vec<f32>>]| vec![v[0].clone(), v[1].clone(), v[3].clone()];
        let p = retrieval(
            &single,
            &pick(&query),
            &pick(&target),
            Modality::Audio,
            Modality::Vision,
            "x",
        )
        .expect("metrics");
        assert_eq!(p.concept_p1_two, None);
        assert_eq!(p.concept_p1_one, Some(1.0));
    }

    #[test]
    fn arithmetic_finds_the_scene_holding_both_concepts() {
        let rows = scenes();
        let rows: Vec<&Row> = rows.iter().collect();
        let mut v: Views = BTreeMap::new();
        v.insert(Modality::Vision, views(&[A, B, AB, A2]));
        v.insert(Modality::Audio, views(&[A, B, AB, A2]));
        // image(s1: a) + audio(s2: b) and image(s2: b) + audio(s1: a): s3 wins both times.
        let a = arithmetic(&rows, &v).expect("trials");
        assert_eq!((a.success, a.trials), (1.0, 2));

        // When the two-object image does not look like both, the A-like s4 wins instead.
        v.insert(Modality::Vision, views(&[A, B, [0.0, 0.0, 1.0], A2]));
        let a = arithmetic(&rows, &v).expect("trials");
        assert_eq!((a.success, a.trials), (0.0, 2));

        // No audio, no arithmetic.
        v.remove(&Modality::Audio);
        assert!(arithmetic(&rows, &v).is_none());
    }
}
