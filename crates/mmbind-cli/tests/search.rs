//! `index`, `query`, `add` and `batch` end to end, with the imported tiny fixture model:
//! results against a brute-force ranking of `embed`'s vectors, incremental updates by
//! count, a real SIGKILL mid-update, a second writer, bad files.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mmbind_index::Index;
use predicates::str::contains;
use serde_json::Value;

use crate::cli::{import_tiny, mmbind};
use crate::util::{fixture, tempdir};

/// The imported tiny fixture model, once per test run.
pub(crate) fn model() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempdir();
        let model = dir.path().join("tiny");
        import_tiny(&model);
        (dir, model)
    })
    .1
}

fn run_json(cmd: &mut assert_cmd::Command) -> (Vec<Value>, String, Option<i32>) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let values = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (
        values,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

fn index_cmd(index: &Path, paths: &[&Path]) -> assert_cmd::Command {
    let mut cmd = mmbind();
    cmd.args([
        "index",
        "--backend",
        "ndarray",
        "--format",
        "json",
        "--model",
    ])
    .arg(model())
    .arg("--index")
    .arg(index)
    .args(paths);
    cmd
}

/// `mmbind query --backend ndarray --format FORMAT --index IX --text TEXT`.
fn query_cmd(ix: &Path, format: &str, text: &str) -> assert_cmd::Command {
    let mut cmd = mmbind();
    cmd.args([
        "query",
        "--backend",
        "ndarray",
        "--format",
        format,
        "--index",
    ])
    .arg(ix)
    .args(["--text", text]);
    cmd
}

/// [`query_cmd`] in JSON with `extra` flags: the JSON lines, stderr and the exit code.
pub(crate) fn query_json(
    ix: &Path,
    text: &str,
    extra: &[&str],
) -> (Vec<Value>, String, Option<i32>) {
    run_json(query_cmd(ix, "json", text).args(extra))
}

/// Runs `mmbind index` and returns its JSON summary, asserting the exit code.
pub(crate) fn index(index: &Path, paths: &[&Path], code: i32) -> Value {
    let (v, stderr, status) = run_json(&mut index_cmd(index, paths));
    assert_eq!(status, Some(code), "{stderr}");
    v.into_iter().next().expect("a summary")
}

pub(crate) fn write_texts(dir: &Path, n: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let p = dir.join(format!("note{i:04}.txt"));
            std::fs::write(
                &p,
                format!(
                    "note number {i}: a {} {}",
                    ["red", "green", "blue", "grey"][i % 4],
                    ["dog", "cat", "car", "bell", "fan"][i % 5]
                ),
            )
            .unwrap();
            p
        })
        .collect()
}

fn unit(v: &[f64]) -> Vec<f64> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// `mmbind embed` of files and texts: (label, unit embedding) in input order.
fn embed(args: &[&str]) -> Vec<(String, Vec<f64>)> {
    let (v, stderr, status) = run_json(
        mmbind()
            .args(["embed", "--backend", "ndarray", "--model"])
            .arg(model())
            .args(args),
    );
    assert_eq!(status, Some(0), "{stderr}");
    v.iter()
        .map(|l| {
            (
                l["input"].as_str().unwrap().to_string(),
                unit(&floats(&l["embedding"])),
            )
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn query_and_add_return_the_brute_force_ranking() {
    let dir = tempdir();
    let files = dir.path().join("files");
    write_texts(&files, 40);
    std::fs::copy(fixture("image_200x300.png"), files.join("photo.png")).unwrap();
    std::fs::copy(fixture("image_320x240.jpg"), files.join("photo.jpg")).unwrap();
    std::fs::copy(fixture("audio_sine_16k_mono.wav"), files.join("tone.wav")).unwrap();
    let ix = dir.path().join("ix");
    let summary = index(&ix, &[&files], 0);
    assert_eq!(summary["embedded"], 43);
    assert_eq!(summary["files"], 43);

    // Brute force over what `embed` gives for the same files.
    let mut stored = embed(&["--text-file", files.to_str().unwrap()]);
    stored.extend(embed(&["--vision", files.to_str().unwrap()]));
    stored.extend(embed(&["--audio", files.to_str().unwrap()]));
    assert_eq!(stored.len(), 43);
    let q = embed(&["--text", "a blue car"]).remove(0).1;
    let mut expected: Vec<(f64, &str)> = stored
        .iter()
        .map(|(p, e)| (dot(&q, e), p.as_str()))
        .collect();
    expected.sort_by(|a, b| b.0.total_cmp(&a.0));

    let (v, stderr, status) = query_json(&ix, "a blue car", &["--top-k", "7"]);
    assert_eq!(status, Some(0), "{stderr}");
    let results = v[0]["results"].as_array().unwrap();
    assert_eq!(v[0]["method"], "exact");
    assert_eq!(results.len(), 7);
    for (r, (score, path)) in results.iter().zip(&expected) {
        let got = r["score"].as_f64().unwrap();
        assert!((got - score).abs() < 1e-4, "{r} vs {score} {path}");
        // Ties within float noise may swap; otherwise the order is the brute force's.
        if r["path"] != *path {
            let theirs = expected.iter().find(|(_, p)| *p == r["path"]).unwrap().0;
            assert!(
                (theirs - score).abs() < 1e-5,
                "{r} where {path} ({score}) was expected"
            );
        }
    }

    // Filters: modality and threshold.
    let (v, _, _) = query_json(&ix, "a blue car", &["--modality", "vision"]);
    let results = v[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r["modality"] == "vision"));
    let bar = (expected[3].0 + expected[4].0) / 2.0;
    let (v, _, _) = query_json(&ix, "a blue car", &["--threshold", &bar.to_string()]);
    assert_eq!(v[0]["results"].as_array().unwrap().len(), 4);

    // add: 1·unit(a) − 0.5·unit(b), renormalised.
    let a = &stored[0];
    let b = embed(&["--text", "a grey fan"]).remove(0).1;
    let sum = unit(
        &a.1.iter()
            .zip(&b)
            .map(|(x, y)| x - 0.5 * y)
            .collect::<Vec<_>>(),
    );
    let best = stored
        .iter()
        .max_by(|x, y| dot(&sum, &x.1).total_cmp(&dot(&sum, &y.1)))
        .unwrap();
    let (v, stderr, status) = run_json(
        mmbind()
            .args([
                "add",
                "--backend",
                "ndarray",
                "--format",
                "json",
                "--top-k",
                "1",
                "--index",
            ])
            .arg(&ix)
            .args(["--minus-text", "0.5:a grey fan", "--text"])
            .arg(std::fs::read_to_string(&a.0).unwrap()),
    );
    assert_eq!(status, Some(0), "{stderr}");
    let top = &v[0]["results"][0];
    assert_eq!(top["path"], best.0.as_str());
    assert!((top["score"].as_f64().unwrap() - dot(&sum, &best.1)).abs() < 1e-4);
    assert_eq!(v[0]["query"]["terms"][1]["weight"], -0.5);
    // A negative weight written as the value of a plain flag (`--text -0.5:...`, as
    // `add --help` shows it) is the same term, not an unknown flag.
    let (w, stderr, status) = run_json(
        mmbind()
            .args(["add", "--backend", "ndarray", "--format", "json"])
            .args(["--top-k", "1", "--index"])
            .arg(&ix)
            .args(["--text", "-0.5:a grey fan", "--text"])
            .arg(std::fs::read_to_string(&a.0).unwrap()),
    );
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(w[0]["results"], v[0]["results"]);
    assert_eq!(w[0]["query"]["terms"][0]["weight"], -0.5);

    // Paths and table formats.
    query_cmd(&ix, "paths", "a blue car")
        .args(["--top-k", "2"])
        .assert()
        .success()
        .stdout(predicates::function::function(|s: &str| {
            s.lines().count() == 2 && s.lines().all(|l| Path::new(l).is_absolute())
        }));
    mmbind()
        .args(["query", "--backend", "ndarray", "--top-k", "3", "--index"])
        .arg(&ix)
        .args(["--text", "a blue car"])
        .assert()
        .success()
        .stdout(contains("a blue car (text)"))
        .stdout(contains("  1  "));
}

#[test]
fn reindexing_1000_files_embeds_only_what_changed() {
    let dir = tempdir();
    let files = dir.path().join("notes");
    let paths = write_texts(&files, 1000);
    let ix = dir.path().join("ix");
    let first = index(&ix, &[&files], 0);
    assert_eq!(
        (first["embedded"].as_u64(), first["files"].as_u64()),
        (Some(1000), Some(1000))
    );

    let again = index(&ix, &[&files], 0);
    assert_eq!(again["embedded"], 0);
    assert_eq!(again["unchanged"], 1000);

    std::fs::write(&paths[17], "a completely different note").unwrap();
    let changed = index(&ix, &[&files], 0);
    assert_eq!(changed["embedded"], 1, "{changed}");
    assert_eq!(changed["files"], 1000);

    // A rename reuses the vector; a deletion drops the entry; a copy reuses too.
    std::fs::rename(&paths[3], files.join("renamed.txt")).unwrap();
    std::fs::remove_file(&paths[4]).unwrap();
    std::fs::copy(&paths[5], files.join("copy.txt")).unwrap();
    let moved = index(&ix, &[&files], 0);
    assert_eq!(moved["embedded"], 0, "{moved}");
    assert_eq!(moved["reused"], 2, "{moved}");
    assert_eq!(moved["removed"], 2, "{moved}");
    assert_eq!(moved["files"], 1000);
    let ix = Index::open(&ix).unwrap();
    let renamed = ix
        .get(files.join("renamed.txt").to_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(renamed.modality, "text");
    assert!(ix.get(paths[3].to_str().unwrap()).unwrap().is_none());
    ix.check().unwrap();
}

#[test]
fn exclude_hidden_and_modality_rules_pick_the_files() {
    let dir = tempdir();
    let root = dir.path().join("data");
    write_texts(&root.join("keep"), 3);
    write_texts(&root.join("skip"), 2);
    write_texts(&root.join(".hidden"), 2);
    std::fs::write(root.join("keep/readme.md"), "not indexable").unwrap();
    std::fs::write(root.join("keep/caption.note"), "a note").unwrap();
    let ix = dir.path().join("ix");
    let mut cmd = index_cmd(&ix, &[&root]);
    cmd.args(["--exclude", "skip/**", "--modality-of", "keep/*.note=text"]);
    let (v, stderr, status) = run_json(&mut cmd);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(v[0]["files"], 4, "{}", v[0]);
    assert_eq!(v[0]["ignored"], 1);
    let ix_open = Index::open(&ix).unwrap();
    let note = ix_open
        .get(root.join("keep/caption.note").to_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(note.modality, "text");

    let mut cmd = index_cmd(&ix, &[&root]);
    cmd.args([
        "--exclude",
        "skip/**",
        "--include-hidden",
        "--modality-of",
        "keep/*.note=text",
    ]);
    let (v, _, _) = run_json(&mut cmd);
    assert_eq!(v[0]["files"], 6);
    // The hidden notes have the same text as two indexed ones: their vectors are reused.
    assert_eq!(
        (v[0]["embedded"].as_u64(), v[0]["reused"].as_u64()),
        (Some(0), Some(2))
    );

    mmbind()
        .args(["index", "--model"])
        .arg(model())
        .arg("--index")
        .arg(&ix)
        .arg(&root)
        .args(["--modality-of", "*.png=smell"])
        .assert()
        .code(2)
        .stderr(contains("unknown modality 'smell'"));
    mmbind()
        .args(["index", "--model"])
        .arg(model())
        .arg("--index")
        .arg(&ix)
        .arg(dir.path().join("nowhere"))
        .assert()
        .code(2)
        .stderr(contains("nowhere"));
}

#[test]
fn bad_files_are_named_and_the_rest_indexed() {
    let dir = tempdir();
    let files = dir.path().join("mixed");
    write_texts(&files, 5);
    std::fs::write(files.join("empty.png"), b"").unwrap();
    let png = std::fs::read(fixture("image_200x300.png")).unwrap();
    std::fs::write(files.join("truncated.png"), &png[..png.len() / 3]).unwrap();
    std::fs::write(files.join("silence.wav"), hound_header(0)).unwrap();
    let mut lying = hound_header(16000);
    lying.truncate(44 + 100);
    std::fs::write(files.join("lying.wav"), lying).unwrap();
    std::fs::write(files.join("five.csv"), "1,2,3,4,5\n1,2,3,4,5\n").unwrap();
    let ix = dir.path().join("ix");
    let (v, stderr, status) = run_json(&mut index_cmd(&ix, &[&files]));
    assert_eq!(status, Some(1), "partial: {stderr}");
    assert_eq!(v[0]["files"], 5, "{}", v[0]);
    assert_eq!(v[0]["failed"], 5);
    for bad in [
        "empty.png",
        "truncated.png",
        "silence.wav",
        "lying.wav",
        "five.csv",
    ] {
        let lines = stderr.lines().filter(|l| l.contains(bad)).count();
        assert_eq!(lines, 1, "{bad} named once:\n{stderr}");
    }
    // Failed files are retried (not remembered as done), and still fail alone.
    let (v, _, status) = run_json(&mut index_cmd(&ix, &[&files]));
    assert_eq!(status, Some(1));
    assert_eq!(v[0]["embedded"], 0);
    assert_eq!(v[0]["unchanged"], 5);
}

/// A 16-bit mono WAV header claiming `samples` samples (no data written).
fn hound_header(samples: u32) -> Vec<u8> {
    let data = samples * 2;
    let mut h = Vec::new();
    h.extend(b"RIFF");
    h.extend((36 + data).to_le_bytes());
    h.extend(b"WAVEfmt ");
    h.extend(16u32.to_le_bytes());
    h.extend(1u16.to_le_bytes());
    h.extend(1u16.to_le_bytes());
    h.extend(16000u32.to_le_bytes());
    h.extend(32000u32.to_le_bytes());
    h.extend(2u16.to_le_bytes());
    h.extend(16u16.to_le_bytes());
    h.extend(b"data");
    h.extend(data.to_le_bytes());
    h.extend(vec![0u8; data.min(100) as usize]);
    h
}

#[test]
fn another_model_and_a_second_writer_are_refused() {
    let dir = tempdir();
    let files = dir.path().join("notes");
    write_texts(&files, 3);
    let ix = dir.path().join("ix");
    index(&ix, &[&files], 0);

    // Another model: the same configuration with one weight changed.
    let other = dir.path().join("other");
    let mdir = mmbind::weights::ModelDir::new(model());
    let manifest = mdir.manifest().unwrap();
    let mut tensors = mdir.tensors().unwrap();
    let key = tensors.0.keys().next().unwrap().clone();
    let mut t = tensors.0[&key].clone();
    t.data[0] += 1.0;
    tensors.insert(key, t);
    mmbind::weights::ModelDir::new(&other)
        .write(&manifest.config, &tensors, manifest.provenance.clone())
        .unwrap();
    mmbind()
        .args(["index", "--backend", "ndarray", "--model"])
        .arg(&other)
        .arg("--index")
        .arg(&ix)
        .arg(&files)
        .assert()
        .code(2)
        .stderr(contains("was built with model"));
    mmbind()
        .args(["query", "--backend", "ndarray", "--text", "x", "--model"])
        .arg(&other)
        .arg("--index")
        .arg(&ix)
        .assert()
        .code(2)
        .stderr(contains("was built with model"));

    // A second writer while this test holds the lock.
    let mut open = Index::open(&ix).unwrap();
    let _writer = open.writer(None).unwrap();
    std::fs::write(files.join("new.txt"), "new").unwrap();
    mmbind()
        .args(["index", "--backend", "ndarray", "--model"])
        .arg(model())
        .arg("--index")
        .arg(&ix)
        .arg(&files)
        .assert()
        .code(2)
        .stderr(contains("is being updated by another process"));
}

#[test]
fn sigkill_mid_update_leaves_an_index_that_opens_and_finishes() {
    let dir = tempdir();
    let files = dir.path().join("notes");
    let paths = write_texts(&files, 600);
    let ix = dir.path().join("ix");
    let bin = assert_cmd::cargo::cargo_bin("mmbind");
    for round in 0..3 {
        let mut child = std::process::Command::new(&bin)
            .args([
                "index",
                "--backend",
                "ndarray",
                "--batch-size",
                "8",
                "--model",
            ])
            .arg(model())
            .arg("--index")
            .arg(&ix)
            .arg(&files)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill once some batches are committed (or after a while, wherever it is).
        let start = Instant::now();
        let before = Index::open(&ix).map(|i| i.len()).unwrap_or(0);
        while start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50 + 40 * round));
            if Index::open(&ix).map(|i| i.len()).unwrap_or(0) > before {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let opened = Index::open(&ix).unwrap();
        let report = opened.check().unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert!(report.files <= 600);
        // Whatever is stored is a file's complete entry with its own vector.
        for (path, modality) in opened.paths().unwrap() {
            assert_eq!(modality, "text");
            let rec = opened.get(&path).unwrap().unwrap();
            assert_eq!(rec.vector.len(), opened.dim());
        }
    }
    let done = index(&ix, &[&files], 0);
    assert_eq!(done["files"], 600);
    assert!(
        done["embedded"].as_u64().unwrap() < 600,
        "earlier rounds kept their work: {done}"
    );
    let opened = Index::open(&ix).unwrap();
    assert!(opened.check().unwrap().is_clean());
    // And the vectors are the ones a clean run stores.
    let clean = dir.path().join("clean");
    index(&clean, &[&files], 0);
    let clean = Index::open(&clean).unwrap();
    for p in paths.iter().step_by(97) {
        let p = p.to_str().unwrap();
        let (a, b) = (
            opened.get(p).unwrap().unwrap().vector,
            clean.get(p).unwrap().unwrap().vector,
        );
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "{p}: {diff}");
    }
}

#[test]
fn batch_answers_every_line_in_order() {
    let dir = tempdir();
    let files = dir.path().join("notes");
    write_texts(&files, 10);
    let ix = dir.path().join("ix");
    index(&ix, &[&files], 0);
    let requests = [
        r#"{"id": 1, "op": "embed", "inputs": [{"text": "a dog"}, {"audio": "/no/such.wav"}]}"#,
        r#"{"id": "q", "op": "query", "input": {"text": "a blue car"}, "top_k": 3}"#,
        r#"not json"#,
        r#"{"id": 4, "op": "fly"}"#,
        r#"{"id": 5, "op": "add", "inputs": [{"text": "a dog"}, {"text": "red", "weight": -0.5}], "top_k": 2, "modality": ["text"]}"#,
        "",
        r#"{"id": 6, "op": "classify", "input": {"text": "a red dog"}, "labels": ["dog", "car"], "top_k": 1}"#,
        r#"{"id": 7, "op": "query", "input": {"text": "x"}, "topk": 3}"#,
        r#"{"id": 8, "op": "query", "input": {"text": "a blue car"}, "top_k": 3, "compressed": true}"#,
    ]
    .join("\n");
    let out = mmbind()
        .args(["batch", "--backend", "ndarray", "--index"])
        .arg(&ix)
        .write_stdin(requests)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "some requests failed");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    let ids: Vec<&Value> = lines.iter().map(|l| &l["id"]).collect();
    assert_eq!(
        ids,
        [
            &Value::from(1),
            &"q".into(),
            &Value::Null,
            &4.into(),
            &5.into(),
            &6.into(),
            &7.into(),
            &8.into()
        ]
    );
    // The compressed scan answers what the float32 scan does, scores to the bit.
    assert_eq!(lines[7]["ok"], true, "{}", lines[7]);
    assert_eq!(lines[7]["results"], lines[1]["results"]);
    assert_eq!(lines[0]["ok"], false);
    assert_eq!(
        lines[0]["embeddings"][0]["embedding"]
            .as_array()
            .unwrap()
            .len(),
        32
    );
    assert!(
        lines[0]["embeddings"][1]["error"]
            .as_str()
            .unwrap()
            .contains("such.wav")
    );
    assert_eq!(lines[1]["ok"], true);
    assert_eq!(lines[1]["results"].as_array().unwrap().len(), 3);
    assert!(lines[2]["error"].as_str().unwrap().contains("not JSON"));
    assert!(
        lines[3]["error"]
            .as_str()
            .unwrap()
            .contains("unknown op 'fly'")
    );
    assert_eq!(lines[4]["results"].as_array().unwrap().len(), 2);
    assert_eq!(lines[5]["labels"].as_array().unwrap().len(), 1);
    assert!(
        lines[6]["error"].as_str().unwrap().contains("topk"),
        "{}",
        lines[6]
    );

    // The same query through `query` gives the same answer.
    let (v, _, _) = query_json(&ix, "a blue car", &["--top-k", "3"]);
    assert_eq!(v[0]["results"], lines[1]["results"]);

    // Usage errors: one line, exit 2.
    mmbind()
        .args(["query", "--backend", "ndarray", "--index"])
        .arg(&ix)
        .assert()
        .code(2)
        .stderr(contains("nothing to search with"));
    mmbind()
        .args(["add", "--backend", "ndarray", "--index"])
        .arg(&ix)
        .assert()
        .code(2)
        .stderr(contains("nothing to add"));
    mmbind()
        .args([
            "query",
            "--backend",
            "ndarray",
            "--approx",
            "--text",
            "x",
            "--index",
        ])
        .arg(&ix)
        .assert()
        .code(2)
        .stderr(contains("mmbind index --approx"));
}

/// Flips one bit of `path` at `at`.
fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

fn check_cmd(ix: &Path, extra: &[&str]) -> (Value, String, Option<i32>) {
    let (v, stderr, code) = run_json(
        mmbind()
            .args(["index", "--check", "--format", "json", "--index"])
            .arg(ix)
            .args(extra),
    );
    (v.into_iter().next().expect("a report"), stderr, code)
}

#[test]
fn damaged_index_files_are_reported_rebuilt_and_re_embedded() {
    let dir = tempdir();
    let files = dir.path().join("notes");
    let paths = write_texts(&files, 20);
    let ix = dir.path().join("ix");
    let (_, stderr, code) = run_json(index_cmd(&ix, &[&files]).arg("--approx"));
    assert_eq!(code, Some(0), "{stderr}");
    let (report, _, code) = check_cmd(&ix, &[]);
    assert_eq!(
        (code, &report["clean"]),
        (Some(0), &Value::Bool(true)),
        "{report}"
    );
    let query = |extra: &[&str]| query_json(&ix, "a blue car", extra);
    let (before, _, _) = query(&["--exact"]);

    // A damaged graph: a clear error, not a crash, and --check rebuilds it.
    let graph = ix.join("hnsw.usearch");
    flip(&graph, 1000);
    let (_, stderr, code) = query(&["--approx"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("hnsw.usearch")
            && stderr.contains("--check")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    let (report, _, code) = check_cmd(&ix, &[]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report["approx"]["damaged"]
            .as_str()
            .unwrap()
            .contains("block 1")
    );
    assert_eq!(report["repaired"]["approx_rebuilt"], true);
    let (after, stderr, code) = query(&["--approx"]);
    assert_eq!(code, Some(0), "{stderr}");
    // The same files (scores may differ in the last bit: another kernel re-scores them).
    let paths_of = |v: &Value| -> Vec<String> {
        (v["results"].as_array().unwrap().iter())
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(paths_of(&after[0]), paths_of(&before[0]));

    // A damaged matrix: rebuilt by the next search, which says so, and answers right.
    flip(&ix.join("vectors.mat"), 4096 + 64);
    let (after, stderr, code) = query(&["--exact"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("warning:") && stderr.contains("vectors.mat"),
        "{stderr}"
    );
    assert_eq!(after[0]["results"], before[0]["results"]);
    assert_eq!(check_cmd(&ix, &[]).2, Some(0));

    // A bit flipped inside a stored vector, in the database file itself.
    let victim = paths[7].to_str().unwrap();
    let blob: Vec<u8> = {
        let opened = Index::open(&ix).unwrap();
        let v = opened.get(victim).unwrap().unwrap().vector;
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    };
    let damage = || {
        let db = ix.join("index.sqlite");
        let bytes = std::fs::read(&db).unwrap();
        let at = bytes
            .windows(blob.len())
            .position(|w| w == blob.as_slice())
            .expect("stored as is");
        flip(&db, at + 9);
        std::fs::remove_file(ix.join("vectors.mat")).unwrap();
    };
    damage();
    let (report, _, code) = check_cmd(&ix, &[]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["damaged_vectors"][0]["paths"][0], victim, "{report}");
    // The next `index` drops it and embeds it again, in the same run.
    let (v, stderr, code) = run_json(&mut index_cmd(&ix, &[&files]));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("re-embedding 1 file") && stderr.contains(victim),
        "{stderr}"
    );
    assert_eq!(
        (&v[0]["files"], &v[0]["embedded"]),
        (&20.into(), &1.into()),
        "{}",
        v[0]
    );
    assert_eq!(check_cmd(&ix, &[]).2, Some(0));
    // Or `--check --repair` drops it, and `index` embeds it.
    damage();
    let (report, _, code) = check_cmd(&ix, &["--repair"]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["repaired"]["dropped"][0]["path"], victim, "{report}");
    let out = mmbind()
        .args(["index", "--check", "--index"])
        .arg(&ix)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("19 files"));
    let summary = index(&ix, &[&files], 0);
    assert_eq!(
        (&summary["files"], &summary["embedded"]),
        (&20.into(), &1.into())
    );

    // Not an index: the check cannot run (2).
    mmbind()
        .args(["index", "--check", "--index"])
        .arg(dir.path().join("nothing"))
        .assert()
        .code(2)
        .stderr(contains("not an mmbind index"));
}

#[test]
fn the_walk_keeps_what_it_cannot_read_skips_fifos_and_indexes_any_name() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempdir();
    let files = dir.path().join("notes");
    write_texts(&files.join("a"), 4);
    write_texts(&files.join("b"), 3);
    let ix = dir.path().join("ix");
    assert_eq!(index(&ix, &[&files], 0)["files"], 7);

    // A directory that cannot be examined (a link to itself: fails even for root) keeps its
    // files in the index, with a line.
    let b = files.join("b");
    let moved = dir.path().join("b-moved");
    std::fs::rename(&b, &moved).unwrap();
    std::os::unix::fs::symlink(&b, &b).unwrap();
    let (v, stderr, code) = run_json(&mut index_cmd(&ix, &[&files]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("kept"), "{stderr}");
    assert_eq!(
        (&v[0]["files"], &v[0]["removed"]),
        (&7.into(), &0.into()),
        "{}",
        v[0]
    );
    std::fs::remove_file(&b).unwrap();
    std::fs::rename(&moved, &b).unwrap();
    // An unreadable directory likewise (where permissions apply: not for root).
    std::fs::set_permissions(&b, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    if std::fs::read_dir(&b).is_err() {
        let (v, stderr, code) = run_json(&mut index_cmd(&ix, &[&files]));
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("cannot be read"), "{stderr}");
        assert_eq!((&v[0]["files"], &v[0]["removed"]), (&7.into(), &0.into()));
    }
    std::fs::set_permissions(&b, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    // FIFOs (named or found) are skipped at once; a name that is not UTF-8 is indexed as it is.
    let fifo = dir.path().join("pipe.txt");
    for f in [&fifo, &files.join("a/inner.txt")] {
        assert!(
            std::process::Command::new("mkfifo")
                .arg(f)
                .status()
                .unwrap()
                .success()
        );
    }
    let bad = files.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(&bad, "a red bicycle beside a lighthouse").unwrap();
    let started = Instant::now();
    let (v, stderr, code) =
        run_json(index_cmd(&ix, &[&files, &fifo]).timeout(Duration::from_secs(120)));
    assert!(started.elapsed() < Duration::from_secs(120));
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("a FIFO, not a regular file"))
            .count(),
        2,
        "{stderr}"
    );
    assert_eq!(
        (&v[0]["files"], &v[0]["embedded"], &v[0]["failed"]),
        (&8.into(), &1.into(), &2.into()),
        "{}",
        v[0]
    );
    // Found by its content, shown with the byte escaped.
    let shown = format!("{}/caf\\xe9.txt", files.display());
    let (v, stderr, code) = query_json(&ix, "a red bicycle beside a lighthouse", &["--top-k", "1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(v[0]["results"][0]["path"], shown.as_str(), "{}", v[0]);
    // `--format paths` gives the name's own bytes, for scripts.
    let out = query_cmd(&ix, "paths", "a red bicycle beside a lighthouse")
        .args(["--top-k", "1"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, [bad.as_os_str().as_bytes(), b"\n"].concat());
    // The stored name is exact: the next run finds it unchanged, and its removal is seen.
    std::fs::remove_file(&fifo).unwrap();
    std::fs::remove_file(files.join("a/inner.txt")).unwrap();
    let v = index(&ix, &[&files], 0);
    assert_eq!(
        (&v["unchanged"], &v["embedded"]),
        (&8.into(), &0.into()),
        "{v}"
    );
    std::fs::remove_file(&bad).unwrap();
    let v = index(&ix, &[&files], 0);
    assert_eq!((&v["files"], &v["removed"]), (&7.into(), &1.into()), "{v}");
}
