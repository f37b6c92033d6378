//! The shape of one modality's test embeddings: does a scene of A and B sit at the
//! normalised sum of A and B, are the concepts apart, and do two-object scenes share an
//! offset of their own (a "two objects" code that arithmetic cannot produce)?

use serde::Serialize;

use super::{ConceptSet, concept_set, pair_sets};
use crate::dataset::Row;
use crate::vector::{dot, normalized};
use mmbind_modalities::Modality;

#[derive(Debug, Clone, Serialize)]
pub struct Geometry {
    pub modality: Modality,
    /// Mean over concept pairs of cos(pair centroid, normalised sum of the two concepts'
    /// centroids): 1 when two-object scenes add up. Centroids are normalised means of the
    /// one-object (concept) or two-object (pair) test scenes.
    pub pair_vs_sum: f64,
    /// The same over the pairs training held together and over those it never did.
    pub pair_vs_sum_seen: Option<f64>,
    pub pair_vs_sum_held_out: Option<f64>,
    /// Mean cosine between the centroids of two different concepts.
    pub concept_cosine: f64,
    /// Length of the mean of (scene − normalised sum of its concepts' centroids) over
    /// two-object scenes: the offset two-object scenes share beyond their concepts (0 when
    /// there is none; instance noise averages out).
    pub two_object_offset: f64,
    /// `pair_vs_sum` (all and held-out pairs) and `concept_cosine` once the split's mean
    /// embedding is taken out: what a component shared by every embedding cannot lift.
    pub pair_vs_sum_centred: f64,
    pub pair_vs_sum_centred_held_out: Option<f64>,
    pub concept_cosine_centred: f64,
}

fn centroid<'a>(vs: impl Iterator<Item = &'a [f32]>) -> Option<Vec<f32>> {
    let mut sum: Option<Vec<f32>> = None;
    for v in vs {
        match &mut sum {
            None => sum = Some(v.to_vec()),
            Some(s) => s.iter_mut().zip(v).for_each(|(a, b)| *a += b),
        }
    }
    sum.map(|s| normalized(&s))
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// `None` when the split has no concept with one-object scenes or no pair with both concepts'.
pub fn geometry(
    modality: Modality,
    rows: &[&Row],
    views: &[Option<Vec<f32>>],
    held_out: Option<&[ConceptSet]>,
) -> Option<Geometry> {
    let raw = shape(modality, rows, views, held_out)?;
    // The same with the split's mean embedding taken out of every view: a component that all
    // embeddings share lifts every cosine, the pair's with its sum included, without making
    // A + B any closer to the scene of A and B than to the scenes of A.
    let n = views.iter().flatten().count().max(1) as f32;
    let mut mean = vec![0f32; views.iter().flatten().next()?.len()];
    for v in views.iter().flatten() {
        mean.iter_mut().zip(v).for_each(|(m, x)| *m += x / n);
    }
    let centred: Vec<Option<Vec<f32>>> = views
        .iter()
        .map(|v| {
            v.as_ref()
                .map(|v| v.iter().zip(&mean).map(|(x, m)| x - m).collect())
        })
        .collect();
    let c = shape(modality, rows, &centred, held_out)?;
    Some(Geometry {
        pair_vs_sum_centred: c.pair_vs_sum,
        pair_vs_sum_centred_held_out: c.pair_vs_sum_held_out,
        concept_cosine_centred: c.concept_cosine,
        ..raw
    })
}

/// The length of the mean offset of two-object embeddings from their concepts' sum.
fn two_object_offset(
    rows: &[&Row],
    views: &[Option<Vec<f32>>],
    sum_of: &dyn Fn(&ConceptSet) -> Option<Vec<f32>>,
) -> Option<f64> {
    let mut offset = vec![0f64; views.iter().flatten().next()?.len()];
    let mut n = 0usize;
    for (i, row) in rows.iter().enumerate() {
        let (Some(v), 2) = (views[i].as_deref(), row.concepts.len()) else {
            continue;
        };
        let Some(sum) = sum_of(&concept_set(row)) else {
            continue;
        };
        offset
            .iter_mut()
            .zip(v.iter().zip(&sum))
            .for_each(|(o, (x, s))| *o += f64::from(x - s));
        n += 1;
    }
    let offset = offset
        .iter()
        .map(|o| (o / n.max(1) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    Some(offset)
}

fn shape(
    modality: Modality,
    rows: &[&Row],
    views: &[Option<Vec<f32>>],
    held_out: Option<&[ConceptSet]>,
) -> Option<Geometry> {
    let of = |want: &dyn Fn(&Row) -> bool| {
        centroid(
            (0..rows.len())
                .filter(|&i| want(rows[i]))
                .filter_map(|i| views[i].as_deref()),
        )
    };
    let mut names: Vec<String> = rows
        .iter()
        .filter(|r| r.concepts.len() == 1)
        .map(|r| r.concepts[0].clone())
        .collect();
    names.sort();
    names.dedup();
    let concept: Vec<(String, Vec<f32>)> = names
        .into_iter()
        .filter_map(|c| {
            let v = of(&|r: &Row| r.concepts.len() == 1 && r.concepts[0] == c)?;
            Some((c, v))
        })
        .collect();
    let find = |c: &str| concept.iter().find(|(n, _)| n == c).map(|(_, v)| v);
    let sum_of = |set: &ConceptSet| -> Option<Vec<f32>> {
        let (a, b) = (find(&set[0])?, find(&set[1])?);
        Some(normalized(
            &a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>(),
        ))
    };
    let pairs = pair_sets(rows);
    let (mut all, mut seen, mut held) = (Vec::new(), Vec::new(), Vec::new());
    for set in &pairs {
        let (Some(sum), Some(c)) = (sum_of(set), of(&|r: &Row| &concept_set(r) == set)) else {
            continue;
        };
        let cos = f64::from(dot(&c, &sum));
        all.push(cos);
        match held_out.map(|h| h.contains(set)) {
            Some(true) => held.push(cos),
            Some(false) => seen.push(cos),
            None => {}
        }
    }
    let mut between = Vec::new();
    for (i, (_, a)) in concept.iter().enumerate() {
        for (_, b) in &concept[i + 1..] {
            between.push(f64::from(dot(a, b)));
        }
    }
    let offset = two_object_offset(rows, views, &sum_of)?;
    Some(Geometry {
        modality,
        pair_vs_sum: mean(&all)?,
        pair_vs_sum_seen: mean(&seen),
        pair_vs_sum_held_out: mean(&held),
        concept_cosine: mean(&between)?,
        two_object_offset: offset,
        pair_vs_sum_centred: f64::NAN,
        pair_vs_sum_centred_held_out: None,
        concept_cosine_centred: f64::NAN,
    })
}
