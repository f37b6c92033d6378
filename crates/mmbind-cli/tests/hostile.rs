//! Hostile and careless input through the binary: the reproductions of the hardening report
//! (forged files, batch streams with bad lines, absurd top-k, NaN and swapped weights,
//! datasets that climb out of their directory, eval's skipped inputs, Ctrl-C in train).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use mmbind::weights::ModelDir;
use mmbind_world::{WorldConfig, generate};

use crate::cli::import_tiny;
use crate::util::{fixture, tempdir};

/// The binary as a plain process (these tests pipe stdin and send signals).
fn mmbind() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mmbind"));
    cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    cmd
}

fn model(dir: &Path) -> PathBuf {
    let out = dir.join("tiny");
    import_tiny(&out);
    out
}

/// The fixture JPEG with its frame header claiming 65500×65500 (the report's 32 KB bomb).
fn jpeg_bomb(dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(fixture("image_320x240.jpg")).unwrap();
    let sof = (0..bytes.len() - 9)
        .find(|&i| bytes[i] == 0xFF && matches!(bytes[i + 1], 0xC0..=0xC2))
        .unwrap();
    bytes[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xDC, 0xFF, 0xDC]);
    let p = dir.join("bomb.jpg");
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs `cmd` with `input` on its stdin; its output.
fn with_stdin(mut cmd: std::process::Command, input: &[u8]) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_jpeg_bomb_is_one_line_and_the_rest_is_embedded() {
    let dir = tempdir();
    let m = model(dir.path());
    let bomb = jpeg_bomb(dir.path());
    let out = mmbind()
        .args(["embed", "--backend", "ndarray", "--model"])
        .arg(&m)
        .arg("--vision")
        .arg(&bomb)
        .arg(fixture("image_320x240.jpg"))
        .args(["--text", "a dog"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let bad: Vec<&str> = stderr.lines().filter(|l| l.contains("bomb.jpg")).collect();
    assert_eq!(bad.len(), 1, "{stderr}");
    assert!(
        bad[0].contains("65500x65500") && bad[0].contains("--limit pixels=N"),
        "{stderr}"
    );
    assert_eq!(lines(&out.stdout).len(), 2, "the good inputs are embedded");

    // The flag moves the bound both ways: lowered, the ordinary fixture is refused too.
    let out = mmbind()
        .args([
            "embed",
            "--backend",
            "ndarray",
            "--limit",
            "pixels=1000",
            "--model",
        ])
        .arg(&m)
        .arg("--vision")
        .arg(fixture("image_320x240.jpg"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("over the limit of 1000"), "{stderr}");
    // A misspelt limit is a usage error before any work.
    let out = mmbind()
        .args(["embed", "--limit", "pixles=5", "--model"])
        .arg(&m)
        .args(["--text", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no limit called \"pixles\""));
}

/// One line of invalid UTF-8 or one over-long line used to end `batch` (exit 2, later
/// requests unanswered); an absurd top-k aborted it inside the HNSW library.
#[test]
fn batch_answers_bad_lines_and_goes_on() {
    let dir = tempdir();
    let m = model(dir.path());
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::copy(fixture("image_320x240.jpg"), files.join("a.jpg")).unwrap();
    std::fs::copy(fixture("image_200x300.png"), files.join("b.png")).unwrap();
    let index = dir.path().join("ix");
    let st = mmbind()
        .args(["index", "--backend", "ndarray", "--quiet", "--model"])
        .arg(&m)
        .arg("--index")
        .arg(&index)
        .arg(&files)
        .status()
        .unwrap();
    assert!(st.success());

    let mut input = Vec::new();
    input.extend(b"{\"id\": 1, \"op\": \"embed\", \"inputs\": [{\"text\": \"caf\xe9\"}]}\n");
    input.extend(format!("{{\"id\": 2, \"text\": \"{}\"}}\n", "x".repeat(300)).as_bytes());
    input.extend(b"{\"id\": 3, \"op\": \"query\", \"input\": {\"text\": \"a dog\"}, \"top_k\": 18446744073709551615}\n");
    input.extend(b"{\"id\": 4, \"op\": \"query\", \"input\": {\"text\": \"a dog\"}, \"top_k\": 100000, \"approx\": true}\n");
    input.extend(b"{\"id\": 5, \"op\": \"embed\", \"inputs\": [{\"text\": \"a dog\"}]}\n");
    let mut cmd = mmbind();
    cmd.args([
        "batch",
        "--backend",
        "ndarray",
        "--limit",
        "request-bytes=200",
        "--index",
    ])
    .arg(&index);
    let out = with_stdin(cmd, &input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let resp = lines(&out.stdout);
    assert_eq!(resp.len(), 5, "every line answered: {resp:?}\n{stderr}");
    assert_eq!(resp[0]["ok"], false);
    assert!(
        resp[0]["error"].as_str().unwrap().contains("not UTF-8"),
        "{:?}",
        resp[0]
    );
    assert_eq!(resp[1]["ok"], false);
    assert!(
        resp[1]["error"]
            .as_str()
            .unwrap()
            .contains("--limit request-bytes=N")
    );
    assert_eq!(resp[2]["id"], 3);
    assert!(
        resp[2]["error"]
            .as_str()
            .unwrap()
            .contains("--limit top-k=N"),
        "{:?}",
        resp[2]
    );
    // At the limit, a top-k past the index's size is fine (or an approximate search the
    // index has no graph for is a clear error); the process lives on either way.
    assert_eq!(resp[3]["id"], 4);
    assert_eq!(resp[4]["id"], 5);
    assert_eq!(resp[4]["ok"], true, "{:?}", resp[4]);
    assert_eq!(out.status.code(), Some(1), "some requests failed: exit 1");

    let out = mmbind()
        .args([
            "query",
            "--backend",
            "ndarray",
            "--top-k",
            "18446744073709551615",
            "--index",
        ])
        .arg(&index)
        .args(["--text", "a dog"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--limit top-k=N"));
}

/// Weights whose values are NaN (with a manifest that matches them) gave `null` embeddings
/// and exit 0; a weights file swapped in from another model was used under the first's
/// identity.
#[test]
fn nan_and_swapped_weights_are_refused() {
    let dir = tempdir();
    let m = model(dir.path());
    let md = ModelDir::new(&m);
    let manifest = md.manifest().unwrap();
    let mut tensors = md.tensors().unwrap();

    // A second model: the same one with one value changed.
    let other = dir.path().join("other");
    let mut changed = tensors.clone();
    let (_, t) = changed.0.iter_mut().next().unwrap();
    t.data[0] += 1.0;
    ModelDir::new(&other)
        .write(&manifest.config, &changed, manifest.provenance.clone())
        .unwrap();
    // Loading once writes the verification note; the swap must defeat it.
    let ok = mmbind()
        .args(["embed", "--backend", "ndarray", "--model"])
        .arg(&m)
        .args(["--text", "x"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    std::fs::copy(
        other.join("weights.safetensors"),
        m.join("weights.safetensors"),
    )
    .unwrap();
    let out = mmbind()
        .args(["embed", "--backend", "ndarray", "--model"])
        .arg(&m)
        .args(["--text", "x"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("weights.safetensors is not the model model.json describes"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // NaN weights under a manifest that describes them: each embedding fails by name.
    let nan = dir.path().join("nan");
    for t in tensors.0.values_mut() {
        t.data.iter_mut().for_each(|v| *v = f32::NAN);
    }
    ModelDir::new(&nan)
        .write(&manifest.config, &tensors, manifest.provenance.clone())
        .unwrap();
    let out = mmbind()
        .args(["embed", "--backend", "ndarray", "--model"])
        .arg(&nan)
        .args(["--text", "a dog"])
        .arg("--vision")
        .arg(fixture("image_320x240.jpg"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("non-finite embedding").count(),
        2,
        "{stderr}"
    );
    assert!(lines(&out.stdout).is_empty());
    let mut cmd = mmbind();
    cmd.args(["batch", "--backend", "ndarray", "--model"])
        .arg(&nan);
    let out = with_stdin(
        cmd,
        b"{\"op\": \"embed\", \"inputs\": [{\"text\": \"a dog\"}]}\n",
    );
    let resp = lines(&out.stdout);
    assert_eq!(resp[0]["ok"], false);
    let row = &resp[0]["embeddings"][0];
    assert!(
        row["error"].as_str().unwrap().contains("non-finite"),
        "{row}"
    );
    assert!(row.get("embedding").is_none());
}

fn small_world(dir: &Path) -> PathBuf {
    let w = dir.join("world");
    let cfg = WorldConfig {
        scenes: 40,
        seed: 3,
        ..WorldConfig::default()
    };
    generate(&w, &cfg, &mut |_, _| {}).unwrap();
    w
}

/// `pairs.jsonl` rows naming `/proc/self/environ`, `../` paths or symlinks out of the
/// dataset were read (and cached) by `train`; they are refused unless `--allow-outside`.
#[test]
fn datasets_stay_inside_their_directory() {
    let dir = tempdir();
    let w = small_world(dir.path());
    let pairs = std::fs::read_to_string(w.join("pairs.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(pairs.lines().next().unwrap()).unwrap();
    let vision = first["vision"].as_str().unwrap().to_string();
    std::fs::copy(w.join(&vision), dir.path().join("outside.png")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.png"), w.join("link.png")).unwrap();
    for (bad, says) in [
        ("/proc/self/environ", "leaves the dataset directory"),
        ("../outside.png", "leaves the dataset directory"),
        ("link.png", "outside the dataset directory"),
    ] {
        let row = format!("{{\"id\": \"evil\", \"vision\": \"{bad}\", \"text\": \"a cat\"}}\n");
        std::fs::write(w.join("pairs.jsonl"), format!("{pairs}{row}")).unwrap();
        let err = mmbind::dataset::Dataset::open(&w).unwrap_err().to_string();
        assert!(
            err.contains(says) && err.contains("--allow-outside"),
            "{bad}: {err}"
        );
        let out = mmbind()
            .args(["train", "--backend", "ndarray", "--epochs", "1", "--data"])
            .arg(&w)
            .arg("--model")
            .arg(dir.path().join(format!("m-{}", bad.len())))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        if bad != "/proc/self/environ" {
            let ds = mmbind::dataset::Dataset::open_with(&w, true).unwrap();
            assert_eq!(ds.rows.last().unwrap().id, "evil");
        }
    }
}

/// `eval` skipped inputs it could not load without saying so.
#[test]
fn eval_names_the_inputs_it_skips() {
    let dir = tempdir();
    let w = small_world(dir.path());
    let m = model(dir.path());
    let ds = mmbind::dataset::Dataset::open(&w).unwrap();
    let test_rows = ds.split(mmbind::dataset::Split::Test);
    let victim = test_rows
        .iter()
        .find_map(|r| match r.views.get(&mmbind::Modality::Audio) {
            Some(mmbind_modalities::Source::File(p)) => Some(p.clone()),
            _ => None,
        })
        .expect("a test row with audio");
    std::fs::write(&victim, b"not audio").unwrap();
    let out = mmbind()
        .args(["eval", "--backend", "ndarray", "--json", "--data"])
        .arg(&w)
        .arg("--model")
        .arg(&m)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let name = victim.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("skipped: ") && l.contains(&name)),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].as_str().unwrap().contains(&name));
}

/// Ctrl-C during `train` exited 1 (as a partial failure) instead of 130 (interrupted).
#[test]
fn ctrl_c_in_train_exits_130_and_resumes() {
    let dir = tempdir();
    let w = small_world(dir.path());
    let m = dir.path().join("model");
    let child = mmbind()
        .args(["train", "--backend", "ndarray", "--epochs", "200"])
        .arg("--data")
        .arg(&w)
        .arg("--model")
        .arg(&m)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The handler is installed before training starts, and training starts by making the
    // model directory.
    let start = std::time::Instant::now();
    while !m.exists() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
}

/// Found by `fuzz/` (checkpoint): a 524-byte `.pth` whose tensor is a view repeating its
/// storage (stride 0) made `import` gather 4 GiB (8.4 GB of memory, 37 s).
#[test]
fn a_checkpoint_view_larger_than_its_file_is_refused() {
    let dir = tempdir();
    let forged = fixture("hostile/expand-4gib.pth");
    // The refusal comes from the declared shape, before anything is read.
    let err = mmbind::weights::read_checkpoint(&forged)
        .unwrap_err()
        .to_string();
    assert!(err.contains("larger than the whole checkpoint"), "{err}");
    // Many such views, each smaller than the file (2 KB, 60 views of 1.6 KB: written by
    // `fuzz/make_seeds.py`'s many_expanded_views(n=60, elements=400)), are bounded together.
    let many = fixture("hostile/many-views.pth");
    let err = mmbind::weights::read_checkpoint(&many)
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than twice the file"), "{err}");
    let out = mmbind()
        .args(["import", "imagebind", "--checkpoint"])
        .arg(&forged)
        .arg("--out")
        .arg(dir.path().join("m"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("expand-4gib.pth") && stderr.contains("larger than the whole"),
        "{stderr}"
    );
}
