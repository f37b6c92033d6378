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

/// Where a row's file may be: a dataset is a directory, and a row that names
/// `/proc/self/environ`, `../../secret` or a symlink out of it is refused, unless the user
/// said the dataset reaches outside (`--allow-outside`).
fn inside(
    root: &Path,
    canonical_root: Option<&Path>,
    rel: &str,
) -> std::result::Result<PathBuf, String> {
    use std::path::Component;
    let p = Path::new(rel);
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "path {rel:?} leaves the dataset directory (absolute or with '..'); paths are \
             relative to the directory holding pairs.jsonl (--allow-outside permits others)"
        ));
    }
    let full = root.join(p);
    // A file that does not exist fails later with its own message; one that exists must
    // resolve inside the root, symlinks included.
    if let (Some(croot), Ok(real)) = (canonical_root, full.canonicalize())
        && !real.starts_with(croot)
    {
        return Err(format!(
            "path {rel:?} resolves to {}, outside the dataset directory (a symlink out of it; \
             --allow-outside permits it)",
            real.display()
        ));
    }
    Ok(full)
}

impl Dataset {
    /// Opens a dataset whose files all stay inside `root`.
    pub fn open(root: &Path) -> Result<Self> {
        Self::open_with(root, false)
    }

    /// Opens a dataset; with `allow_outside`, rows may name any path (absolute, `..`,
    /// symlinks out of `root`).
    pub fn open_with(root: &Path, allow_outside: bool) -> Result<Self> {
        let path = root.join("pairs.jsonl");
        let canonical_root = root.canonicalize().ok();
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
            let file = |p: &Option<String>| -> Result<Option<Source>> {
                let Some(p) = p else { return Ok(None) };
                let full = match allow_outside {
                    true => root.join(p),
                    false => inside(root, canonical_root.as_deref(), p).map_err(&bad)?,
                };
                Ok(Some(Source::File(full)))
            };
            for (m, v) in [
                (Modality::Vision, file(&raw.vision)?),
                (Modality::Audio, file(&raw.audio)?),
                (Modality::Depth, file(&raw.depth)?),
                (Modality::Thermal, file(&raw.thermal)?),
                (Modality::Imu, file(&raw.imu)?),
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
