//! Held-out evaluation: cross-modal retrieval (trained and emergent pairs), zero-shot
//! classification, embedding arithmetic (`arithmetic`) and the embeddings' geometry
//! (`geometry`) on the test split. Two-object figures are reported apart for the concept
//! pairs training held together and for those it never did (held-out pairs).

mod arithmetic;
mod geometry;

pub use arithmetic::{Arithmetic, ArithmeticGroup, MethodScore};
pub use geometry::Geometry;

use std::collections::BTreeMap;

use burn::tensor::Device;
use mmbind_modalities::Modality;
use serde::Serialize;

use crate::Result;
use crate::classify::{DEFAULT_TEMPLATES, label_embeddings, rank};
use crate::dataset::{Dataset, Row, Split};
use crate::embed::Embedder;
use crate::model::Model;
use crate::vector::{dot, normalized};

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
    /// `concept_p1_two` over queries whose pair training held together, and over those it
    /// never did (`None` when there are none, or when training rows carry no concepts).
    pub concept_p1_two_seen: Option<f64>,
    pub concept_p1_two_held_out: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ZeroShot {
    pub modality: Modality,
    pub accuracy: f64,
    pub n: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub split: Split,
    pub scenes: usize,
    pub pairs: Vec<PairMetrics>,
    pub zero_shot: Vec<ZeroShot>,
    pub arithmetic: Option<Arithmetic>,
    /// Two-object concept sets of this split that no training row holds (empty when the
    /// training rows carry no concepts: then seen and held-out cannot be told apart).
    pub held_out_pairs: Vec<ConceptSet>,
    /// Per modality with enough scenes.
    pub geometry: Vec<Geometry>,
    /// Inputs that could not be embedded, one "name: reason" each; they count in no metric.
    pub skipped: Vec<String>,
}

/// A scene's concepts, sorted.
type ConceptSet = Vec<String>;

fn concept_set(row: &Row) -> ConceptSet {
    let mut c = row.concepts.clone();
    c.sort();
    c
}

/// The distinct concept sets of the two-object scenes among `rows`, sorted.
fn pair_sets(rows: &[&Row]) -> Vec<ConceptSet> {
    let mut sets: Vec<ConceptSet> = rows
        .iter()
        .filter(|r| r.concepts.len() == 2)
        .map(|r| concept_set(r))
        .collect();
    sets.sort();
    sets.dedup();
    sets
}

/// Unit embeddings of every view of every row: `[modality][row] -> Option<vector>`.
type Views = BTreeMap<Modality, Vec<Option<Vec<f32>>>>;

/// One modality's unit embeddings, by row (`None`: the row has no such view).
type RowViews = [Option<Vec<f32>>];

pub fn evaluate(
    dataset: &Dataset,
    split: Split,
    model: &Model,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport> {
    let rows = dataset.split(split);
    let held_out = held_out_pairs(dataset, &rows);
    let embedder = Embedder::new(model, device);
    let (views, skipped) = embed_views(&embedder, &rows, &model.modalities(), progress);
    let pairs = retrievals(&rows, &views, held_out.as_deref());
    let zero_shot = if model.encoders.get(Modality::Text).is_some() {
        zero_shot(&embedder, &dataset.concepts(), &rows, &views)?
    } else {
        Vec::new()
    };
    let arithmetic = arithmetic::arithmetic(&rows, &views, held_out.as_deref());
    let geometry = views
        .iter()
        .filter_map(|(&m, v)| geometry::geometry(m, &rows, v, held_out.as_deref()))
        .collect();
    Ok(EvalReport {
        split,
        scenes: rows.len(),
        pairs,
        zero_shot,
        arithmetic,
        held_out_pairs: held_out.unwrap_or_default(),
        geometry,
        skipped,
    })
}

/// Every view of every row the model can embed, unit length; and a message for each view
/// that could not be embedded.
fn embed_views(
    embedder: &Embedder,
    rows: &[&Row],
    modalities: &[Modality],
    progress: &mut dyn FnMut(usize, usize),
) -> (Views, Vec<String>) {
    let mut items = Vec::new();
    let mut slots = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        for &m in modalities {
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
            Ok(v) => views.get_mut(&m).expect("listed")[i] = Some(normalized(&v)),
            Err(e) => skipped.push(e.to_string()),
        }
    }
    (views, skipped)
}

/// Retrieval between every ordered pair of modalities: trained (one side is vision) first.
fn retrievals(rows: &[&Row], views: &Views, held_out: Option<&[ConceptSet]>) -> Vec<PairMetrics> {
    let mut pairs = Vec::new();
    for &q in views.keys() {
        for &t in views.keys() {
            if q == t {
                continue;
            }
            let kind = if q == Modality::Vision || t == Modality::Vision {
                "trained"
            } else {
                "emergent"
            };
            if let Some(p) = retrieval(rows, &views[&q], &views[&t], q, t, kind, held_out) {
                pairs.push(p);
            }
        }
    }
    pairs.sort_by_key(|p| (p.kind != "trained", p.query, p.target));
    pairs
}

/// Zero-shot classification of every one-object view (but text's) over the dataset's
/// concepts, with the default templates: what `mmbind classify` does.
fn zero_shot(
    embedder: &Embedder,
    concepts: &[String],
    rows: &[&Row],
    views: &Views,
) -> Result<Vec<ZeroShot>> {
    let mut zero_shot = Vec::new();
    if concepts.is_empty() {
        return Ok(zero_shot);
    }
    let templates: Vec<String> = DEFAULT_TEMPLATES.iter().map(|t| t.to_string()).collect();
    let labels = label_embeddings(embedder, concepts, &templates)?;
    for (&m, view) in views.iter().filter(|&(&m, _)| m != Modality::Text) {
        let (mut correct, mut n) = (0, 0);
        for (i, row) in rows.iter().enumerate() {
            let (Some(v), [label]) = (&view[i], row.concepts.as_slice()) else {
                continue;
            };
            n += 1;
            correct += usize::from(&rank(v, concepts, &labels)[0].label == label);
        }
        if n > 0 {
            zero_shot.push(ZeroShot {
                modality: m,
                accuracy: correct as f64 / n as f64,
                n,
            });
        }
    }
    Ok(zero_shot)
}

/// The two-object concept sets of `rows` that no training row holds; `None` when no training
/// row carries concepts (nothing to tell seen from held-out by).
fn held_out_pairs(dataset: &Dataset, rows: &[&Row]) -> Option<Vec<ConceptSet>> {
    let train = dataset.split(Split::Train);
    if train.iter().all(|r| r.concepts.is_empty()) {
        return None;
    }
    let seen: std::collections::BTreeSet<ConceptSet> =
        train.iter().map(|r| concept_set(r)).collect();
    Some(
        pair_sets(rows)
            .into_iter()
            .filter(|c| !seen.contains(c))
            .collect(),
    )
}

fn retrieval(
    rows: &[&Row],
    q: &[Option<Vec<f32>>],
    t: &[Option<Vec<f32>>],
    qm: Modality,
    tm: Modality,
    kind: &'static str,
    held_out: Option<&[ConceptSet]>,
) -> Option<PairMetrics> {
    let gallery: Vec<usize> = (0..rows.len()).filter(|&i| t[i].is_some()).collect();
    let queries: Vec<usize> = (0..rows.len())
        .filter(|&i| q[i].is_some() && t[i].is_some())
        .collect();
    if queries.is_empty() || gallery.len() < 2 {
        return None;
    }
    let (mut r1, mut r5, mut r10, mut p1) = (0, 0, 0, 0);
    // (hits, queries) by the query scene's number of concepts, 1 or 2; and of the two-object
    // queries, seen and held-out pairs.
    let mut by_count = [(0usize, 0usize); 2];
    let mut by_pair = [(0usize, 0usize); 2];
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
        if let (2, Some(h)) = (rows[i].concepts.len(), held_out) {
            let c = &mut by_pair[usize::from(h.contains(&concept_set(rows[i])))];
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
        concept_p1_two_seen: share(by_pair[0]),
        concept_p1_two_held_out: share(by_pair[1]),
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
        s += "retrieval       kind       R@1    R@5   R@10  concept P@1  (1 object  2 objects: seen  held-out)\n";
        let opt = |x: Option<f64>| x.map_or("    -".to_string(), |x| format!("{x:.3}"));
        for p in &self.pairs {
            s += &format!(
                "{:<15} {:<9} {:>5.3} {:>6.3} {:>6.3} {:>8.3}     {:>9} {:>10} {:>6} {:>9}\n",
                format!("{}→{}", p.query, p.target),
                p.kind,
                p.r1,
                p.r5,
                p.r10,
                p.concept_p1,
                opt(p.concept_p1_one),
                opt(p.concept_p1_two),
                opt(p.concept_p1_two_seen),
                opt(p.concept_p1_two_held_out)
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
            s += &a.table();
        }
        if !self.geometry.is_empty() {
            s += "\ngeometry        pair·sum  (seen  held-out)  concept·concept  two-object offset  | centred: pair·sum (held-out)  concept·concept\n";
            for g in &self.geometry {
                s += &format!(
                    "{:<15} {:>8.3}  {:>6} {:>9}  {:>15.3}  {:>17.3}  | {:>17.3} {:>10}  {:>15.3}\n",
                    g.modality.name(),
                    g.pair_vs_sum,
                    opt(g.pair_vs_sum_seen),
                    opt(g.pair_vs_sum_held_out),
                    g.concept_cosine,
                    g.two_object_offset,
                    g.pair_vs_sum_centred,
                    opt(g.pair_vs_sum_centred_held_out),
                    g.concept_cosine_centred
                );
            }
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
        v.iter().map(|x| Some(normalized(x))).collect()
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
            Some(&[vec!["a".to_string(), "b".to_string()]]),
        )
        .expect("metrics");
        assert_eq!(p.queries, 4);
        assert_eq!((p.r1, p.r5, p.r10), (0.75, 1.0, 1.0));
        assert_eq!(p.concept_p1, 0.75);
        assert_eq!(p.concept_p1_one, Some(1.0));
        assert_eq!(p.concept_p1_two, Some(0.0));
        // {a, b} is a held-out pair here: its one query counts there, none as seen.
        assert_eq!(p.concept_p1_two_held_out, Some(0.0));
        assert_eq!(p.concept_p1_two_seen, None);

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
            Some(&[vec!["a".to_string(), "b".to_string()]]),
        )
        .expect("metrics");
        assert_eq!(p.concept_p1_two, None);
        assert_eq!(p.concept_p1_one, Some(1.0));
    }

    fn method(g: &ArithmeticGroup, name: &str) -> f64 {
        g.methods
            .iter()
            .find(|m| m.method == name)
            .expect("method")
            .success
    }

    #[test]
    fn arithmetic_finds_the_scene_holding_both_concepts_and_beats_its_baselines() {
        // Concepts a, b, c on three axes; one-object scenes of each; {a, b} and {a, c} scenes.
        let (a, b, c) = ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]);
        let sum = |x: [f32; 3], y: [f32; 3]| [x[0] + y[0], x[1] + y[1], x[2] + y[2]];
        let spec: Vec<(&str, &[&str], [f32; 3])> = vec![
            ("s1", &["a"], a),
            ("s2", &["a"], a),
            ("s3", &["b"], b),
            ("s4", &["b"], b),
            ("s5", &["c"], c),
            ("s6", &["c"], c),
            ("s7", &["a", "b"], sum(a, b)),
            ("s8", &["c", "a"], sum(a, c)),
            ("s9", &["a"], a),
            ("s10", &["b"], b),
            ("s11", &["c"], c),
        ];
        let rows: Vec<Row> = spec.iter().map(|(id, cs, _)| row(id, cs)).collect();
        let rows: Vec<&Row> = rows.iter().collect();
        let vectors: Vec<[f32; 3]> = spec.iter().map(|s| s.2).collect();
        let mut v: Views = BTreeMap::new();
        v.insert(Modality::Vision, views(&vectors));
        v.insert(Modality::Audio, views(&vectors));
        let held: Vec<ConceptSet> = vec![vec!["a".into(), "c".into()]];
        let r = arithmetic::arithmetic(&rows, &v, Some(&held)).expect("trials");
        // Two sets, both orders, five instances each.
        assert_eq!((r.all.pairs, r.trials), (4, 20));
        assert_eq!(r.success, 1.0);
        assert_eq!(method(&r.all, "image(A) + image(B)"), 1.0);
        // Alone, one input finds a one-object scene of its own concept.
        assert_eq!(method(&r.all, "image(A)"), 0.0);
        assert_eq!(method(&r.all, "audio(B)"), 0.0);
        // One right scene among the gallery less the two or three sources: 1/8 or 1/9.
        let chance = method(&r.all, "chance");
        assert!((1.0 / 9.0..=1.0 / 8.0).contains(&chance), "{chance}");
        let (seen, held) = (
            r.seen.as_ref().expect("seen"),
            r.held_out.as_ref().expect("held out"),
        );
        assert_eq!((seen.pairs, held.pairs), (2, 2));
        let ci = r.all.methods[0].ci95;
        assert_eq!(ci, [1.0, 1.0]);
        assert!(r.table().contains("held-out pairs (2)"), "{}", r.table());

        // When the pair scenes do not look like both, a one-object scene wins instead.
        let mut broken = vectors.clone();
        broken[6] = [-1.0, -1.0, 0.2];
        broken[7] = [-1.0, 0.2, -1.0];
        assert_eq!(spec[6].0, "s7");
        v.insert(Modality::Vision, views(&broken));
        let r = arithmetic::arithmetic(&rows, &v, None).expect("trials");
        assert_eq!(r.success, 0.0);
        assert!(r.seen.is_none() && r.held_out.is_none());

        // No audio, no arithmetic.
        v.remove(&Modality::Audio);
        assert!(arithmetic::arithmetic(&rows, &v, None).is_none());
    }

    #[test]
    fn geometry_of_additive_embeddings_is_one_and_a_pair_direction_is_not() {
        let (a, b) = ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]);
        let spec: Vec<(&str, &[&str])> = vec![("s1", &["a"]), ("s2", &["b"]), ("s3", &["a", "b"])];
        let rows: Vec<Row> = spec.iter().map(|(id, cs)| row(id, cs)).collect();
        let rows: Vec<&Row> = rows.iter().collect();
        let g = geometry::geometry(
            Modality::Vision,
            &rows,
            &views(&[a, b, [1.0, 1.0, 0.0]]),
            None,
        )
        .expect("geometry");
        assert!(
            (g.pair_vs_sum - 1.0).abs() < 1e-6 && g.two_object_offset < 1e-6,
            "{g:?}"
        );
        assert!(g.concept_cosine.abs() < 1e-6);
        // A component shared by every embedding lifts the raw figure, not the centred one:
        // here the pair scene is a one-object scene of a, plus much of the shared axis.
        let shared = |x: [f32; 3]| [x[0], x[1], x[2] + 4.0];
        let g = geometry::geometry(
            Modality::Vision,
            &rows,
            &views(&[shared(a), shared(b), shared([1.0, 0.0, 0.0])]),
            None,
        )
        .expect("geometry");
        assert!(g.pair_vs_sum > 0.97 && g.concept_cosine > 0.9, "{g:?}");
        assert!(g.pair_vs_sum_centred < 0.8, "{g:?}");
        // The pair scene on its own axis: cosine 0 with the sum, and a whole offset.
        let g = geometry::geometry(
            Modality::Vision,
            &rows,
            &views(&[a, b, [0.0, 0.0, 1.0]]),
            None,
        )
        .expect("geometry");
        assert!(g.pair_vs_sum.abs() < 1e-6, "{g:?}");
        assert!((g.two_object_offset - 2f64.sqrt()).abs() < 1e-5, "{g:?}");
    }
}
