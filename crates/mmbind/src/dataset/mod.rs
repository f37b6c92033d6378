//! Paired datasets: a directory with `pairs.jsonl`, one pairing per line, paths relative to
//! the directory, `text` inline (see README, "Datasets: pairs.jsonl").

mod row;

use std::path::{Path, PathBuf};

use mmbind_modalities::Modality;

use crate::embed::Item;
use crate::{Error, Result};

pub use row::{Row, Split};

/// A dataset directory.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub rows: Vec<Row>,
}

impl Row {
    pub fn item(&self, m: Modality) -> Option<Item> {
        self.views.get(&m).map(|s| Item {
            modality: m,
            source: s.clone(),
        })
    }
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
            let row =
                row::parse(line, root, canonical_root.as_deref(), allow_outside).map_err(bad)?;
            rows.push(row);
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
