//! Crash safety and writer exclusion, with real processes: this test binary re-runs itself
//! (`--exact child_... --ignored`) as the writer child, and the parent SIGKILLs it at random
//! moments.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use mmbind_index::synth::Rng;
use mmbind_index::*;

const DIM: usize = 24;

fn model() -> ModelInfo {
    ModelInfo::new("crash-test-model-0123456789", "crash", DIM)
}

fn child(test: &str, envs: &[(&str, String)]) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in envs {
        c.env(k, v);
    }
    c
}

fn modality_of(p: &str) -> &'static str {
    if p.ends_with(".txt") {
        "text"
    } else {
        "vision"
    }
}

/// One `path\thash` line in one write: a kill between the pieces of a formatted write would
/// glue the next process's first line onto a torn one.
fn log_version(log: &mut std::fs::File, path: &Path, content: &[u8]) {
    let line = format!(
        "{}\t{}\n",
        path.display(),
        ContentHash::of_bytes(content).hex()
    );
    log.write_all(line.as_bytes()).unwrap();
}

/// Child: mutate the file tree and index it, round after round (forever unless
/// CRASH_ROUNDS is set). Every content version is logged before it is written.
#[test]
#[ignore = "child process of crash_kill_at_random_moments"]
fn child_writer() {
    let Ok(root) = std::env::var("CRASH_ROOT") else {
        return;
    };
    let root = PathBuf::from(root);
    let seed: u64 = std::env::var("CRASH_SEED").unwrap().parse().unwrap();
    let rounds: Option<usize> = std::env::var("CRASH_ROUNDS")
        .ok()
        .map(|s| s.parse().unwrap());
    let files = root.join("files");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("versions.log"))
        .unwrap();
    let mut r = Rng::new(seed);
    let mut ix = Index::create_or_open(&root.join("idx"), &model()).unwrap();
    ix.set_approx_min_items(0); // build the HNSW graph every time, to crash it too
    let mut round = 0;
    loop {
        if rounds.is_some_and(|n| round >= n) {
            break;
        }
        round += 1;
        // Mutate: rewrite, create, delete, rename (content kept), copy (duplicate).
        let existing = stats_of(&files, modality_of);
        // Files change atomically (temp outside the tree + rename), so that a kill never
        // leaves a torn file whose content was never logged.
        let staging = root.join("staging");
        let write = |path: &Path, content: Vec<u8>, log: &mut std::fs::File| {
            log_version(log, path, &content);
            let tmp = staging.join("w");
            write_file(&tmp, &content);
            let f = std::fs::File::options().write(true).open(&tmp).unwrap();
            f.set_modified(SystemTime::now()).unwrap();
            drop(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        };
        for _ in 0..(3 + r.below(12)) {
            let id = r.below(60);
            let ext = if id.is_multiple_of(4) { "txt" } else { "png" };
            let p = files.join(format!("d{}/f{id}.{ext}", id % 3));
            let content = format!("{} #{}", p.display(), r.next_u64()).into_bytes();
            write(&p, content, &mut log);
        }
        if !existing.is_empty() {
            for _ in 0..r.below(4) {
                let s = &existing[r.below(existing.len() as u64) as usize];
                let _ = std::fs::remove_file(&s.path);
            }
            for _ in 0..r.below(3) {
                let s = &existing[r.below(existing.len() as u64) as usize];
                let ext = if s.path.ends_with(".txt") {
                    "txt"
                } else {
                    "png"
                };
                let to = files.join(format!("moved/m{}.{ext}", r.below(1000)));
                if let Ok(bytes) = std::fs::read(&s.path) {
                    if r.below(2) == 0 {
                        log_version(&mut log, &to, &bytes);
                        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                        let _ = std::fs::rename(&s.path, &to);
                    } else {
                        write(&to, bytes, &mut log);
                    }
                }
            }
        }
        // Index.
        let mut w = ix.writer(Some(Duration::from_secs(60))).unwrap();
        let plan = w.plan(&stats_of(&files, modality_of)).unwrap();
        for chunk in plan.embed.chunks(5) {
            let vecs: Vec<Vec<f32>> = chunk
                .iter()
                .map(|p| vector_for(&p.hash, &p.stat.modality, DIM))
                .collect();
            let items: Vec<(&PlannedFile, &[f32])> = chunk
                .iter()
                .zip(&vecs)
                .map(|(p, v)| (p, v.as_slice()))
                .collect();
            w.commit_batch(&items).unwrap();
        }
        w.finish(&plan).unwrap();
    }
}

/// Everything the index holds must be a complete, consistent version of some file.
fn verify(root: &Path) -> CheckReport {
    let log = std::fs::read_to_string(root.join("versions.log")).unwrap_or_default();
    let versions: HashSet<(String, String)> = log
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(p, h)| (p.to_string(), h.to_string()))
        .collect();
    let ix = Index::open(&root.join("idx")).expect("index opens after a kill");
    let rep = ix.check().expect("the check runs after a kill");
    assert!(
        rep.is_clean(),
        "index passes the integrity check after a kill: {rep:?}"
    );
    for (path, modality) in ix.paths().unwrap() {
        let rec = ix.get(&path).unwrap().unwrap();
        assert_eq!(rec.modality, modality);
        assert_eq!(rec.modality, modality_of(&path));
        // The vector is exactly the one embedded for the stored content (old or new, never
        // half of one or another file's).
        assert_eq!(
            rec.vector,
            vector_for(&rec.hash, &modality, DIM),
            "vector of {path}"
        );
        assert!(
            versions.contains(&(path.clone(), rec.hash.hex())),
            "{path} holds content it never had"
        );
        // Searching for its vector finds a file with that exact vector.
        let hit = &ix.search(&rec.vector, 1, &Filter::default()).unwrap()[0];
        assert!(
            (hit.score - 1.0).abs() < 1e-5,
            "searching {path}'s vector: best hit {} scores {} (norm² {}), report {rep:?}",
            hit.path,
            hit.score,
            rec.vector.iter().map(|x| x * x).sum::<f32>()
        );
        assert_eq!(ix.get(&hit.path).unwrap().unwrap().vector, rec.vector);
        if rep.approx == FileState::Fresh && rep.files > 0 {
            let hits = ix
                .search_approx(&rec.vector, 1, &Filter::default(), Some(64))
                .unwrap();
            let hit = &hits[0];
            if (hit.score - 1.0).abs() >= 1e-5 {
                let h5 = ix
                    .search_approx(&rec.vector, 5, &Filter::default(), Some(200))
                    .unwrap();
                panic!(
                    "approx search for {path}: {:?}; top5 ef200 {:?}; report {rep:?}",
                    hits.iter().map(|h| (&h.path, h.score)).collect::<Vec<_>>(),
                    h5.iter().map(|h| (&h.path, h.score)).collect::<Vec<_>>()
                );
            }
        }
    }
    rep
}

#[test]
fn crash_kill_at_random_moments() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    std::fs::create_dir_all(root.join("files")).unwrap();
    let mut r = Rng::new(2024);
    let mut states = Vec::new();
    // Whether a kill lands mid-update is timing: keep killing (up to 24 times) until one has,
    // so that the assertion below checks the code rather than the host's speed.
    let mid_update = |s: &CheckReport| {
        s.matrix != FileState::Fresh || s.orphan_vectors > 0 || s.approx == FileState::Stale
    };
    for kill in 0..24u64 {
        if kill >= 8 && states.iter().any(mid_update) {
            break;
        }
        let mut c = child(
            "child_writer",
            &[
                ("CRASH_ROOT", root.display().to_string()),
                ("CRASH_SEED", kill.to_string()),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let delay = Duration::from_millis(150 + r.below(1200));
        std::thread::sleep(delay);
        if let Ok(Some(status)) = c.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(c.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("child exited early ({status}): {err}");
        }
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
        let rep = verify(&root);
        eprintln!("kill {kill} after {delay:?}: {rep:?}");
        states.push(rep);
    }
    // The kills must have hit a growing, changing index, and at least one mid-update.
    assert!(states.iter().any(|s| s.files > 0));
    assert!(
        states
            .windows(2)
            .any(|w| w[0].generation != w[1].generation)
    );
    assert!(states.iter().any(mid_update), "{states:?}");

    // A final complete run makes the index match the file tree exactly.
    let out = child(
        "child_writer",
        &[
            ("CRASH_ROOT", root.display().to_string()),
            ("CRASH_SEED", "99".into()),
            ("CRASH_ROUNDS", "1".into()),
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rep = verify(&root);
    assert!(
        rep.matrix == FileState::Fresh && rep.orphan_vectors == 0 && rep.approx == FileState::Fresh,
        "{rep:?}"
    );
    let on_disk = stats_of(&root.join("files"), modality_of);
    let ix = Index::open(&root.join("idx")).unwrap();
    let indexed: Vec<String> = {
        let mut v: Vec<String> = ix.paths().unwrap().into_iter().map(|p| p.0).collect();
        v.sort();
        v
    };
    assert_eq!(
        indexed,
        on_disk.iter().map(|s| s.path.clone()).collect::<Vec<_>>()
    );
    for s in &on_disk {
        assert_eq!(
            ix.get(&s.path).unwrap().unwrap().hash,
            hash_file(s.path.as_ref()).unwrap()
        );
    }
}

/// Child: try to become the writer, waiting TRY_WAIT_MS; print the outcome.
#[test]
#[ignore = "child process of second_writer_waits_or_refuses"]
fn child_try_writer() {
    let Ok(dir) = std::env::var("TRY_DIR") else {
        return;
    };
    let wait = Duration::from_millis(std::env::var("TRY_WAIT_MS").unwrap().parse().unwrap());
    let mut ix = Index::create_or_open(Path::new(&dir), &model()).unwrap();
    let t = Instant::now();
    match ix.writer(Some(wait)) {
        Ok(_) => println!("RESULT OK after {}ms", t.elapsed().as_millis()),
        Err(e) => println!("RESULT ERR {e}"),
    }
}

fn result_line(stdout: &str) -> String {
    let l = stdout
        .lines()
        .find_map(|l| l.find("RESULT").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no result: {stdout}"));
    l.to_string()
}

#[test]
fn second_writer_waits_or_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut ix = Index::create_or_open(&dir, &model()).unwrap();
    let mut other = Index::open(&dir).unwrap();
    let w = ix.writer(None).unwrap();
    let me = std::process::id();

    // In-process, a second handle is refused at once.
    let e = other.writer(None).unwrap_err();
    assert!(
        matches!(e, Error::Busy { pid: Some(p), .. } if p == me),
        "{e}"
    );

    // Another process waits, then refuses with the holder's pid.
    let out = child(
        "child_try_writer",
        &[
            ("TRY_DIR", dir.display().to_string()),
            ("TRY_WAIT_MS", "300".into()),
        ],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = result_line(&stdout);
    assert!(
        line.contains(&format!("is being updated by another process (pid {me})")),
        "{line}"
    );
    assert!(line.contains("; waited "), "{line}");

    // One that waits long enough gets the lock once the first writer is done.
    let c = child(
        "child_try_writer",
        &[
            ("TRY_DIR", dir.display().to_string()),
            ("TRY_WAIT_MS", "20000".into()),
        ],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    drop(w);
    let out = c.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = result_line(&stdout);
    assert!(line.starts_with("RESULT OK"), "{line}");
    let ms: u64 = line
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches("ms")
        .parse()
        .unwrap();
    assert!(
        ms >= 200,
        "the child should have waited for the lock: {line}"
    );

    // A killed writer leaves no lock behind.
    std::fs::create_dir_all(tmp.path().join("files")).unwrap();
    let mut c = child(
        "child_writer",
        &[
            ("CRASH_ROOT", tmp.path().display().to_string()),
            ("CRASH_SEED", "1".into()),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    c.kill().unwrap();
    c.wait().unwrap();
    other
        .writer(None)
        .expect("lock released by the kernel when the holder died");
}
