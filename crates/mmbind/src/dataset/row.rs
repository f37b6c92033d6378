//! One line of `pairs.jsonl`: its types and its parsing, including the rule that a row's
//! files stay inside the dataset directory.
//!
//! Nothing here depends on burn or on the rest of the crate (only serde_json, `mmbind-schema` and
//! `mmbind-modalities`), so the fuzzer compiles this very file (`fuzz/fuzz_targets/
//! pairs_row.rs`) without the model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mmbind_modalities::{Modality, Source};
use mmbind_schema::PairsRow;
pub use mmbind_schema::Split;

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

/// Parses one line of the dataset at `root` (`canonical_root`: the same, resolved, when it
/// could be); the reason otherwise. Unless `allow_outside`, a file must stay in the root.
pub fn parse(
    line: &str,
    root: &Path,
    canonical_root: Option<&Path>,
    allow_outside: bool,
) -> Result<Row, String> {
    let raw: PairsRow = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let mut views = BTreeMap::new();
    for (m, v) in raw.views.present() {
        let source = match m {
            Modality::Text => Source::Text(v.clone()),
            _ if allow_outside => Source::File(root.join(v)),
            _ => Source::File(inside(root, canonical_root, v)?),
        };
        views.insert(m, source);
    }
    if views.len() < 2 {
        return Err("a pairing needs at least two modalities".into());
    }
    let concepts = match raw.concepts {
        Some(c) if !c.is_empty() => c,
        _ => raw.label.iter().cloned().collect(),
    };
    Ok(Row {
        scene: raw.scene.unwrap_or_else(|| raw.id.clone()),
        split: raw.split.unwrap_or_else(|| default_split(&raw.id, 0)),
        id: raw.id,
        views,
        label: raw.label,
        concepts,
    })
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
