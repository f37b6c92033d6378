//! Zero-shot classification: the input's embedding against text prompts for each label.

use crate::Result;
use crate::embed::{Embedder, Item};
use crate::vector::{dot, norm, normalized};

/// Prompt templates used when none are given; `{}` is replaced by the label. Averaging a
/// few phrasings (CLIP's prompt ensembling) makes the label embedding less sensitive to any
/// one wording.
pub const DEFAULT_TEMPLATES: &[&str] = &["a photo of a {}.", "a {}.", "the {}."];

/// One label's score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scored {
    pub label: String,
    /// `normalize(input) · label_embedding`: cosine similarity times the text scale, as CLIP
    /// and ImageBind form logits.
    pub logit: f32,
    pub probability: f32,
}

/// One embedding per label: the mean of its prompts' unit embeddings, renormalised and
/// given the text encoder's own scale back.
pub fn label_embeddings(
    embedder: &Embedder,
    labels: &[String],
    templates: &[String],
) -> Result<Vec<Vec<f32>>> {
    let items: Vec<Item> = labels
        .iter()
        .flat_map(|l| {
            templates
                .iter()
                .map(move |t| Item::text(t.replace("{}", l)))
        })
        .collect();
    let embedded = embedder
        .embed_all(&items, &mut |_| {})
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Ok(embedded
        .chunks(templates.len())
        .map(|prompts| {
            let scale = prompts.iter().map(|p| norm(p)).sum::<f32>() / prompts.len() as f32;
            let units: Vec<Vec<f32>> = prompts.iter().map(|p| normalized(p)).collect();
            let d = prompts[0].len();
            let mean: Vec<f32> = (0..d)
                .map(|k| units.iter().map(|u| u[k]).sum::<f32>() / prompts.len() as f32)
                .collect();
            normalized(&mean).into_iter().map(|x| x * scale).collect()
        })
        .collect())
}

/// Labels ranked by probability (softmax over the logits).
pub fn rank(input: &[f32], labels: &[String], label_embeddings: &[Vec<f32>]) -> Vec<Scored> {
    let x = normalized(input);
    let logits: Vec<f32> = label_embeddings.iter().map(|l| dot(l, &x)).collect();
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let total: f32 = exp.iter().sum();
    let mut scored: Vec<Scored> = labels
        .iter()
        .zip(logits.iter().zip(&exp))
        .map(|(label, (&logit, &e))| Scored {
            label: label.clone(),
            logit,
            probability: e / total,
        })
        .collect();
    scored.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_is_a_softmax_over_cosine_times_scale() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let embs = vec![vec![10.0, 0.0], vec![0.0, 10.0]];
        let r = rank(&[3.0, 0.0], &labels, &embs);
        assert_eq!(r[0].label, "a");
        assert!((r[0].logit - 10.0).abs() < 1e-6 && r[1].logit.abs() < 1e-6);
        assert!((r[0].probability + r[1].probability - 1.0).abs() < 1e-6);
        assert!((r[0].probability - 1.0 / (1.0 + (-10f32).exp())).abs() < 1e-6);
    }
}
