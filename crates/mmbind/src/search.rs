//! Cross-modal search on top of `mmbind-index`: which model an index belongs to, unit
//! vectors, weighted sums of embeddings, and one search call with the CLI's choices.
//!
//! Every vector that goes into an index or serves as a query is L2-normalised here, so a
//! score is a cosine similarity whatever scale an encoder's postprocessor applies (audio's
//! embeddings are 20× unit length, vision's 1×).

use std::path::Path;

pub use mmbind_index::{Filter, Hit, Index, ModelInfo, SearchMethod};
use serde::Serialize;

use crate::vector::unit;
use crate::weights::ModelManifest;

/// The identity an index records for a model: its content hash (the index refuses any
/// other), and its directory as the name, so `query` can find the model by itself.
pub fn model_info(dir: &Path, manifest: &ModelManifest) -> ModelInfo {
    let name = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    ModelInfo::new(
        manifest.content_hash.clone(),
        name.to_string_lossy(),
        manifest.config.out_dim,
    )
}

/// Embedding arithmetic: `Σ wᵢ · unit(eᵢ)`, renormalised. Unit vectors first so that no
/// modality outweighs another by its encoder's scale; the weights alone decide.
pub fn combine(terms: &[(f32, &[f32])]) -> Result<Vec<f32>, String> {
    let dim = terms.first().ok_or("nothing to add")?.1.len();
    let mut sum = vec![0f32; dim];
    for (w, e) in terms {
        if e.len() != dim {
            return Err(format!("embeddings of length {} and {dim}", e.len()));
        }
        if !w.is_finite() {
            return Err(format!("weight {w} is not a number"));
        }
        let u = unit(e).ok_or("an input's embedding is zero")?;
        sum.iter_mut().zip(u).for_each(|(s, x)| *s += w * x);
    }
    unit(&sum).ok_or_else(|| "the weighted sum is zero (the terms cancel out)".to_string())
}

/// Splits an optional `W:` weight prefix off an input: `"0.5:dog.wav"` → `(0.5, "dog.wav")`,
/// `"dog.wav"` → `(1, "dog.wav")`. Only a plain decimal number counts as a weight, so
/// `C:\x.wav` or `"a dog: portrait"` stay whole; write `1:3:30 pm` for text that itself
/// starts with a number and a colon.
pub fn split_weight(s: &str) -> (f32, &str) {
    if let Some((w, rest)) = s.split_once(':') {
        let numeric = !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-'))
            && w.chars().any(|c| c.is_ascii_digit());
        if numeric && let Ok(w) = w.parse::<f32>() {
            return (w, rest);
        }
    }
    (1.0, s)
}

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Exact below [`mmbind_index::AUTO_APPROX_MIN_ITEMS`] files, the HNSW graph above.
    #[default]
    Auto,
    Exact,
    /// Exact, from a scan of int8 copies of the vectors with the candidates re-scored
    /// (`Index::search_compressed`): the same hits as `Exact`, a quarter of the bytes read.
    Compressed,
    /// The HNSW graph with this candidate-list size (`None`: the index's default).
    Approx {
        ef: Option<usize>,
    },
}

/// Top-`k` of a unit query. Damage the index found and dealt with on the way (a search file
/// that did not verify and was rebuilt, a damaged graph searched around, stored vectors left
/// out) is printed on stderr, one `warning:` line each, the first time it is seen.
pub fn search(
    index: &Index,
    query: &[f32],
    k: usize,
    filter: &Filter,
    method: Method,
) -> mmbind_index::Result<(Vec<Hit>, SearchMethod)> {
    let r = search_quiet(index, query, k, filter, method);
    for w in index.take_warnings() {
        eprintln!("warning: {w}");
    }
    r
}

fn search_quiet(
    index: &Index,
    query: &[f32],
    k: usize,
    filter: &Filter,
    method: Method,
) -> mmbind_index::Result<(Vec<Hit>, SearchMethod)> {
    match method {
        Method::Auto => index.search_auto(query, k, filter),
        Method::Exact => Ok((index.search(query, k, filter)?, SearchMethod::Exact)),
        Method::Compressed => Ok((
            index.search_compressed(query, k, filter)?,
            SearchMethod::Exact,
        )),
        Method::Approx { ef } => {
            let hits = index.search_approx(query, k, filter, ef)?;
            let ef = ef.unwrap_or_else(|| index.hnsw_params().ef_for(index.len()));
            Ok((hits, SearchMethod::Approx { ef }))
        }
    }
}

/// A result as JSON output shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked<'a> {
    pub rank: usize,
    pub score: f32,
    pub modality: &'a str,
    /// A name that is not UTF-8 shows each such byte as `\xNN` (`path_text::display`).
    pub path: std::borrow::Cow<'a, str>,
}

pub fn ranked(hits: &[Hit]) -> Vec<Ranked<'_>> {
    hits.iter()
        .enumerate()
        .map(|(i, h)| Ranked {
            rank: i + 1,
            score: h.score,
            modality: &h.modality,
            path: mmbind_index::path_text::display(&h.path),
        })
        .collect()
}

/// `"exact"` or `"approx"` plus its `ef`, as JSON output shows it.
pub fn method_json(m: SearchMethod) -> serde_json::Value {
    match m {
        SearchMethod::Exact => serde_json::json!({"method": "exact"}),
        SearchMethod::Approx { ef } => serde_json::json!({"method": "approx", "ef": ef}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_a_numeric_prefix_only() {
        assert_eq!(split_weight("0.5:dog.wav"), (0.5, "dog.wav"));
        assert_eq!(split_weight("-2:x"), (-2.0, "x"));
        assert_eq!(split_weight("dog.wav"), (1.0, "dog.wav"));
        assert_eq!(split_weight("C:\\x.wav"), (1.0, "C:\\x.wav"));
        assert_eq!(split_weight("a dog: portrait"), (1.0, "a dog: portrait"));
        assert_eq!(split_weight("1:3:30 pm"), (1.0, "3:30 pm"));
        assert_eq!(split_weight("-:x"), (1.0, "-:x"));
    }

    #[test]
    fn combine_weighs_unit_vectors_and_renormalises() {
        let a = [3.0, 0.0];
        let b = [0.0, 20.0];
        let s = combine(&[(1.0, &a), (1.0, &b)]).unwrap();
        let h = 1.0 / 2f32.sqrt();
        assert!((s[0] - h).abs() < 1e-6 && (s[1] - h).abs() < 1e-6);
        let d = combine(&[(1.0, &a), (-0.5, &b)]).unwrap();
        assert!(d[0] > 0.0 && d[1] < 0.0);
        assert!((d[0] * d[0] + d[1] * d[1] - 1.0).abs() < 1e-6);
        assert!(
            combine(&[(1.0, &a), (-1.0, &a)])
                .unwrap_err()
                .contains("cancel")
        );
        assert!(combine(&[]).is_err());
        assert!(combine(&[(1.0, &[0.0, 0.0])]).is_err());
    }
}
