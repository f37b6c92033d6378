//! Paired datasets: a directory with `pairs.jsonl`, one pairing per line, paths relative to
//! the directory, `text` inline (see README, "Paired datasets").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mmbind_modalities::{Modality, Source};
use serde::Deserialize;

use crate::embed::Item;
use crate::{Error, Result};

/// Which part of the data a row belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

/// One line of `pairs.jsonl`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    /// Rows of one scene share it (defaults to `id`); retrieval counts a hit by scene.
    pub scene: String,
    pub split: Split,
    pub views: BTreeMap<Modality, Source>,
    pub label: Option<String>,
    /// Every concept in the scene (defaults to `[label]`).
    pub concepts: Vec<String>,
}

impl Row {
    pub fn item(&self, m: Modality) -> Option<Item> {
        self.views.get(&m).map(|s| Item {
            modality: m,
            source: s.clone(),
        })
    }
}

#[derive(Deserialize)]
struct RawRow {
    id: String,
    scene: Option<String>,
    split: Option<Split>,
    label: Option<String>,
    #[serde(default)]
    concepts: Vec<String>,
    vision: Option<String>,
    text: Option<String>,
    audio: Option<String>,
    depth: Option<String>,
    thermal: Option<String>,
    imu: Option<String>,
}

/// A dataset directory.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub rows: Vec<Row>,
}

/// The split of a row without one: a stable hash of its id, so the same rows always land
/// in the same split (85 % train, 5 % val, 10 % test).
fn default_split(id: &str, seed: u64) -> Split {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64 ^ seed, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    match h % 100 {
        0..85 => Split::Train,
        85..90 => Split::Val,
        _ => Split::Test,
    }
}

impl Dataset {
    pub fn open(root: &Path) -> Result<Self> {
        let path = root.join("pairs.jsonl");
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let mut rows = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| Error::Input {
                name: format!("{}:{}", path.display(), n + 1),
                reason,
            };
            let raw: RawRow = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
            let mut views = BTreeMap::new();
            let file = |p: &Option<String>| p.as_ref().map(|p| Source::File(root.join(p)));
            for (m, v) in [
                (Modality::Vision, file(&raw.vision)),
                (Modality::Audio, file(&raw.audio)),
                (Modality::Depth, file(&raw.depth)),
                (Modality::Thermal, file(&raw.thermal)),
                (Modality::Imu, file(&raw.imu)),
                (Modality::Text, raw.text.clone().map(Source::Text)),
            ] {
                if let Some(v) = v {
                    views.insert(m, v);
                }
            }
            if views.len() < 2 {
                return Err(bad("a pairing needs at least two modalities".into()));
            }
            let concepts = if raw.concepts.is_empty() {
                raw.label.iter().cloned().collect()
            } else {
                raw.concepts
            };
            rows.push(Row {
                scene: raw.scene.unwrap_or_else(|| raw.id.clone()),
                split: raw.split.unwrap_or_else(|| default_split(&raw.id, 0)),
                id: raw.id,
                views,
                label: raw.label,
                concepts,
            });
        }
        if rows.is_empty() {
            return Err(Error::Input {
                name: path.display().to_string(),
                reason: "no rows".into(),
            });
        }
        Ok(Self {
            root: root.to_path_buf(),
            rows,
        })
    }

    /// Rows of `split` that hold both `a` and `b`.
    pub fn pairs(&self, split: Split, a: Modality, b: Modality) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.split == split && r.views.contains_key(&a) && r.views.contains_key(&b))
            .collect()
    }

    pub fn split(&self, split: Split) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.split == split).collect()
    }

    /// Every concept named by a label or a concept list, sorted.
    pub fn concepts(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .rows
            .iter()
            .flat_map(|r| r.concepts.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}
