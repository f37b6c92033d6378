//! Writing a world into its directory: the directory checked and prepared, every scene's files
//! written on worker threads, then stale files removed and `pairs.jsonl` written last.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use mmbind_schema::{PairsRow, Split};

use crate::encode::{imu_csv, png, wav_bytes};
use crate::plan::SceneSpec;
use crate::rows::{ScenePaths, rows_of};
use crate::scene::{render_spec, scene_id};
use crate::{GENERATOR_NAME, WorldConfig, WorldError, WorldSummary, concepts, io_err};

const SUBDIRS: [&str; 5] = ["vision", "audio", "depth", "thermal", "imu"];
const PAIRS: &str = "pairs.jsonl";
pub(crate) const WORLD: &str = "world.json";

/// Whether `dir/world.json` was written by this generator.
fn is_previous_world(dir: &Path) -> Result<(), String> {
    let path = dir.join(WORLD);
    let text =
        fs::read_to_string(&path).map_err(|_| "it has no readable world.json".to_string())?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| "its world.json is not JSON".to_string())?;
    if value.get("generator").and_then(|g| g.as_str()) == Some(GENERATOR_NAME) {
        Ok(())
    } else {
        Err(format!(
            "its world.json was not written by {GENERATOR_NAME}"
        ))
    }
}

/// Makes `out` ready: creates it, or checks that it is empty or a previous world (whose
/// `pairs.jsonl` is removed first, so no dataset points at files being rewritten).
pub(crate) fn prepare(out: &Path) -> Result<(), WorldError> {
    if out.exists() {
        if !out.is_dir() {
            return Err(WorldError::NotAWorld {
                path: out.to_path_buf(),
                reason: "it is not a directory".into(),
            });
        }
        let non_empty = fs::read_dir(out).map_err(io_err(out))?.next().is_some();
        if non_empty {
            is_previous_world(out).map_err(|reason| WorldError::NotAWorld {
                path: out.to_path_buf(),
                reason,
            })?;
            let pairs = out.join(PAIRS);
            if pairs.exists() {
                fs::remove_file(&pairs).map_err(io_err(&pairs))?;
            }
        }
    } else {
        fs::create_dir_all(out).map_err(io_err(out))?;
    }
    for sub in SUBDIRS {
        let dir = out.join(sub);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    }
    Ok(())
}

/// Writes `bytes` to `dir/name` atomically (fsynced, renamed, the directory fsynced).
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), WorldError> {
    let path = dir.join(name);
    mmbind_schema::write_atomic(&path, bytes).map_err(io_err(&path))
}

/// Removes files of a previous, larger world that this one did not rewrite (only names this
/// generator writes: `sNNNN.png|wav|csv` in the view folders).
fn remove_stale(out: &Path, written: &BTreeSet<String>) -> Result<(), WorldError> {
    for (sub, ext) in [
        ("vision", "png"),
        ("audio", "wav"),
        ("depth", "png"),
        ("thermal", "png"),
        ("imu", "csv"),
    ] {
        let dir = out.join(sub);
        let mut stale = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name
                .strip_prefix('s')
                .and_then(|r| r.strip_suffix(&format!(".{ext}")))
                .is_some_and(|digits| {
                    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                });
            if ours && !written.contains(&format!("{sub}/{name}")) {
                stale.push(entry.path());
            }
        }
        stale.sort();
        for path in stale {
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// Renders scene `index`, writes its five files, and returns its rows.
fn write_scene(
    out: &Path,
    cfg: &WorldConfig,
    index: usize,
    spec: &SceneSpec,
) -> Result<Vec<PairsRow>, WorldError> {
    let scene = render_spec(cfg, index, spec);
    let p = ScenePaths::new(&scene.id);
    let files: [(&String, Vec<u8>); 5] = [
        (&p.vision, png(&scene.vision, &out.join(&p.vision))?),
        (&p.audio, wav_bytes(&scene.audio)),
        (&p.depth, png(&scene.depth, &out.join(&p.depth))?),
        (&p.thermal, png(&scene.thermal, &out.join(&p.thermal))?),
        (&p.imu, imu_csv(&scene.imu).into_bytes()),
    ];
    for (rel, bytes) in files {
        let path = out.join(rel);
        fs::write(&path, bytes).map_err(io_err(&path))?;
    }
    Ok(rows_of(&scene))
}

/// Renders and writes every scene on `threads` workers (clamped to 1–8, and at most one per
/// scene), and returns each scene's rows in scene order. `progress(done, total)` is called from
/// the calling thread after each scene; after a failure the workers stop taking new scenes and
/// the first error is returned.
pub(crate) fn write_scenes(
    out: &Path,
    cfg: &WorldConfig,
    specs: &[SceneSpec],
    threads: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<PairsRow>>, WorldError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;

    let total = specs.len();
    let workers = threads.clamp(1, 8).min(total);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut rows: Vec<Option<Vec<PairsRow>>> = vec![None; total];
    let mut first_error: Option<WorldError> = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, failed) = (&next, &failed);
            s.spawn(move || {
                while !failed.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        break;
                    }
                    let result = write_scene(out, cfg, index, &specs[index]);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if tx.send((index, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (index, result) in rx {
            match result {
                Ok(r) => {
                    rows[index] = Some(r);
                    done += 1;
                    progress(done, total);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(rows
        .into_iter()
        .map(|r| r.expect("every scene was rendered"))
        .collect())
}

/// Tallies what was written, removes stale files of a previous larger world, and writes
/// `pairs.jsonl` (the rows of every scene, in scene order) last.
pub(crate) fn finish(
    out: &Path,
    specs: &[SceneSpec],
    rows: Vec<Vec<PairsRow>>,
) -> Result<WorldSummary, WorldError> {
    let total = specs.len();
    let mut summary = WorldSummary {
        scenes: total,
        train_rows: 0,
        val_scenes: 0,
        test_scenes: 0,
        concepts: concepts().iter().map(|c| c.name.to_string()).collect(),
        files: 2 + 5 * total,
    };
    let mut pairs = String::new();
    let mut written = BTreeSet::new();
    for (index, scene_rows) in rows.into_iter().enumerate() {
        let p = ScenePaths::new(&scene_id(index, total));
        written.extend([p.vision, p.audio, p.depth, p.thermal, p.imu]);
        match specs[index].split {
            Split::Train => summary.train_rows += scene_rows.len(),
            Split::Val => summary.val_scenes += 1,
            Split::Test => summary.test_scenes += 1,
        }
        for row in scene_rows {
            pairs.push_str(&serde_json::to_string(&row).expect("JSON of plain values"));
            pairs.push('\n');
        }
    }
    remove_stale(out, &written)?;
    write_atomic(out, PAIRS, pairs.as_bytes())?;
    Ok(summary)
}
