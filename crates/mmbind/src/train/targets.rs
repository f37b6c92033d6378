//! What the vision+text phase counts as a match: CLIP's one-hot targets (each image with its
//! own caption only) or graded ones, where an image and a caption match in proportion to the
//! content they share.
//!
//! Why graded targets exist: ImageBind never trains its anchor; it inherits OpenCLIP, whose
//! captions come from the web, where "a dog and a ball" rarely meets near-misses in a batch.
//! A small dataset is the opposite (few concepts, every batch full of partial overlaps), and
//! one-hot InfoNCE then drives each set of concepts to its own direction: a scene holding A
//! and B stops being anywhere near A + B. With targets graded by overlap, the optimum is
//! additive instead (see the tests), so embeddings compose.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dataset::Row;
use mmbind_modalities::{Modality, Source};

/// The targets of the vision+text (anchor) phase. Every other phase binds to the frozen
/// vision encoder with ImageBind's one-hot InfoNCE either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Targets {
    Clip,
    /// Graded by shared content (see [`Sets`]).
    Graded,
}

impl crate::Choice for Targets {
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Clip,
            "clip",
            "One-hot: each image matches its own caption only (CLIP, ImageBind)",
        ),
        (
            Self::Graded,
            "graded",
            "Graded by shared content: row-softmax(scale · κ), κ = |Sᵢ ∩ Sⱼ| / √(|Sᵢ|·|Sⱼ|) \
             over the content sets of the two pairs",
        ),
    ];
}

impl Targets {
    /// Runs saved before this option existed trained with one-hot targets.
    pub fn clip() -> Self {
        Targets::Clip
    }
}

/// Where graded targets take each pair's content set from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sets {
    Auto,
    Concepts,
    Words,
}

impl crate::Choice for Sets {
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Auto,
            "auto",
            "The rows' `concepts` when every training pair has them, else the caption's words",
        ),
        (
            Self::Concepts,
            "concepts",
            "The rows' `concepts` (an error if a training pair has none)",
        ),
        (
            Self::Words,
            "words",
            "The content words of the caption: lower-cased, stop words and caption frames \
             (\"a photo of\", \"there is\") dropped",
        ),
    ];
}

impl Sets {
    pub fn auto() -> Self {
        Sets::Auto
    }
}

/// Function words and the frames captions are written in: words that say nothing about what
/// is in the picture.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "this", "that", "these", "those", "of", "and", "or", "with", "without", "in",
    "on", "at", "to", "from", "by", "for", "into", "onto", "over", "under", "near", "next",
    "beside", "besides", "behind", "between", "against", "front", "is", "are", "was", "were", "be",
    "been", "being", "there", "here", "it", "its", "some", "one", "two", "photo", "picture",
    "image", "close", "up", "closeup", "shot", "view", "scene", "showing", "shows",
];

/// The content words of a caption, sorted and without repeats.
pub fn content_words(caption: &str) -> Vec<String> {
    let mut words: Vec<String> = caption
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect();
    words.sort();
    words.dedup();
    words
}

/// The content set of every training pair, as sorted ids.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentSets {
    sets: Vec<Vec<u32>>,
    /// Where they came from: `concepts` or `words`.
    pub source: Sets,
}

impl ContentSets {
    /// The sets of `rows` (the pairs of the phase, in order), from `source`. Concepts need
    /// every row to have them; words, every row to have a caption.
    pub fn of(rows: &[&Row], source: Sets) -> Result<Self, String> {
        let all_have_concepts = rows.iter().all(|r| !r.concepts.is_empty());
        let source = match source {
            Sets::Auto if all_have_concepts => Sets::Concepts,
            Sets::Auto => Sets::Words,
            Sets::Concepts if !all_have_concepts => {
                let row = rows.iter().find(|r| r.concepts.is_empty()).expect("one");
                return Err(format!(
                    "graded targets from concepts: training row '{}' has no \"concepts\" (or \
                     \"label\"); use --graded-sets words to take them from the captions",
                    row.id
                ));
            }
            s => s,
        };
        let mut ids: BTreeMap<String, u32> = BTreeMap::new();
        let mut sets = Vec::with_capacity(rows.len());
        for row in rows {
            let words = match source {
                Sets::Concepts => {
                    let mut c = row.concepts.clone();
                    c.sort();
                    c.dedup();
                    c
                }
                _ => match row.views.get(&Modality::Text) {
                    Some(Source::Text(t)) => content_words(t),
                    _ => return Err(format!("training row '{}' has no caption", row.id)),
                },
            };
            let mut set: Vec<u32> = words
                .into_iter()
                .map(|w| {
                    let next = ids.len() as u32;
                    *ids.entry(w).or_insert(next)
                })
                .collect();
            set.sort();
            sets.push(set);
        }
        Ok(Self { sets, source })
    }

    /// Row-stochastic `[n, n]` targets for the rows `batch` (places in the phase's rows):
    /// row i is softmax over j of `scale · κᵢⱼ`. κ is symmetric, so its transpose is the
    /// column-stochastic target of the other direction. An empty set matches only itself.
    pub fn targets(&self, batch: &[usize], scale: f32) -> Vec<f32> {
        let n = batch.len();
        let mut q = vec![0f32; n * n];
        for (i, &a) in batch.iter().enumerate() {
            let row = &mut q[i * n..(i + 1) * n];
            for (j, &b) in batch.iter().enumerate() {
                row[j] = scale * overlap(&self.sets[a], &self.sets[b], a == b);
            }
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for x in row.iter_mut() {
                *x = (*x - max).exp();
                sum += *x;
            }
            for x in row.iter_mut() {
                *x /= sum;
            }
        }
        q
    }
}

/// κ: shared elements over the geometric mean of the sizes (the cosine of the two sets'
/// indicator vectors); 1 for a pair with itself.
fn overlap(a: &[u32], b: &[u32], same: bool) -> f32 {
    if same {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared as f32 / ((a.len() * b.len()) as f32).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Split;

    fn row(id: &str, caption: Option<&str>, concepts: &[&str]) -> Row {
        Row {
            id: id.into(),
            scene: id.into(),
            split: Split::Train,
            views: caption
                .map(|c| (Modality::Text, Source::Text(c.into())))
                .into_iter()
                .collect(),
            label: None,
            concepts: concepts.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn content_words_drop_frames_and_function_words() {
        assert_eq!(
            content_words("A photo of a small red Drum next to a bell."),
            ["bell", "drum", "red", "small"]
        );
        assert_eq!(
            content_words("there is a close-up of the kettle"),
            ["kettle"]
        );
        assert!(content_words("a photo of").is_empty());
    }

    #[test]
    fn sets_come_from_concepts_when_every_row_has_them_else_from_words() {
        let rows = [
            row("r0", Some("a drum"), &["drum"]),
            row("r1", Some("a red drum and a bell"), &["drum", "bell"]),
            row("r2", Some("a bell"), &["bell"]),
        ];
        let refs: Vec<&Row> = rows.iter().collect();
        let sets = ContentSets::of(&refs, Sets::Auto).unwrap();
        assert_eq!(sets.source, Sets::Concepts);
        // κ(r0, r1) = 1/√2: the drum image and the drum-and-bell caption share half of it.
        let q = sets.targets(&[0, 1, 2], 1.0);
        let expected = |k: [f32; 3]| {
            let z: f32 = k.iter().map(|x| x.exp()).sum();
            k.map(|x| x.exp() / z)
        };
        let s = std::f32::consts::FRAC_1_SQRT_2;
        for (got, want) in q[..3].iter().zip(expected([1.0, s, 0.0])) {
            assert!((got - want).abs() < 1e-6, "{q:?}");
        }
        for (got, want) in q[3..6].iter().zip(expected([s, 1.0, s])) {
            assert!((got - want).abs() < 1e-6, "{q:?}");
        }
        // Words: "red" makes r1's set three words, so κ(r0, r1) = 1/√3.
        let words = ContentSets::of(&refs, Sets::Words).unwrap();
        let q = words.targets(&[0, 1], 1.0);
        let k = 1.0 / 3f32.sqrt();
        assert!(
            (q[1] - k.exp() / (1f32.exp() + k.exp())).abs() < 1e-6,
            "{q:?}"
        );

        // A row without concepts: auto falls back to words; concepts is refused by name.
        let mixed = [rows[0].clone(), row("bare", Some("a fan"), &[])];
        let refs: Vec<&Row> = mixed.iter().collect();
        assert_eq!(
            ContentSets::of(&refs, Sets::Auto).unwrap().source,
            Sets::Words
        );
        let err = ContentSets::of(&refs, Sets::Concepts).unwrap_err();
        assert!(
            err.contains("'bare'") && err.contains("--graded-sets words"),
            "{err}"
        );
        // Words need captions.
        let silent = [row("mute", None, &[])];
        let refs: Vec<&Row> = silent.iter().collect();
        let err = ContentSets::of(&refs, Sets::Words).unwrap_err();
        assert!(err.contains("'mute' has no caption"), "{err}");
    }
}
