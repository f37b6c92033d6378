//! What the scale-out tier stands on, end to end: `--files-from` and `--shard`, Parquet out
//! and back in (`embed --out x.parquet`, `export`, `index --from-parquet`), `add --vector`,
//! `backends` and `--adapter`. The Ray and LanceDB side is tested in python/tests.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::cli::mmbind;
use crate::search::{model, query_json};
use crate::util::tempdir;

fn world(dir: &Path) -> std::path::PathBuf {
    let w = dir.join("world");
    let cfg = mmbind_world::WorldConfig {
        scenes: 12,
        seed: 8,
        ..mmbind_world::WorldConfig::default()
    };
    mmbind_world::generate(&w, &cfg, &mut |_, _| {}).unwrap();
    w
}

/// `embed`'s JSON lines: input → embedding.
fn embedded(args: &[&str]) -> BTreeMap<String, Vec<f64>> {
    let out = mmbind()
        .args(["--backend", "ndarray", "embed", "--quiet", "--model"])
        .arg(model())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let e = v["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap());
            (v["input"].as_str().unwrap().to_string(), e.collect())
        })
        .collect()
}

#[test]
fn shards_of_a_list_cover_it_exactly_once_with_the_vectors_of_one_run() {
    let dir = tempdir();
    let w = world(dir.path());
    let mut lines = Vec::new();
    for sub in ["vision", "audio", "thermal"] {
        for e in std::fs::read_dir(w.join(sub)).unwrap() {
            let p = e.unwrap().path().display().to_string();
            lines.push(if sub == "thermal" {
                format!("thermal\t{p}")
            } else {
                p
            });
        }
    }
    lines.push(String::new());
    let list = dir.path().join("list.txt");
    std::fs::write(&list, lines.join("\n")).unwrap();
    let list = list.to_str().unwrap();
    let whole = embedded(&["--files-from", list]);
    assert_eq!(whole.len(), 36);
    let mut union = BTreeMap::new();
    for i in 0..3 {
        let shard = embedded(&["--files-from", list, "--shard", &format!("{i}/3")]);
        assert!(!shard.is_empty() && shard.len() < 36);
        for (k, v) in shard {
            assert!(union.insert(k, v).is_none(), "an input in two shards");
        }
    }
    assert_eq!(union, whole);

    let out = mmbind()
        .args(["embed", "--model"])
        .arg(model())
        .args(["--files-from", list, "--shard", "3/3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 <= I < N"));
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "x.unknown\nsmell\ty.bin\n").unwrap();
    let out = mmbind()
        .args(["--backend", "ndarray", "embed", "--model"])
        .arg(model())
        .arg("--files-from")
        .arg(&bad)
        .args(["--text", "a"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "bad.txt line 1: x.unknown: no modality for this extension; write MODALITY<TAB>PATH"
        ),
        "{err}"
    );
    assert!(err.contains("bad.txt line 2: unknown modality"), "{err}");
}

#[test]
fn an_index_exported_to_parquet_and_indexed_again_answers_the_same() {
    let dir = tempdir();
    let w = world(dir.path());
    let (a, b, pq) = (
        dir.path().join("a.idx"),
        dir.path().join("b.idx"),
        dir.path().join("a.parquet"),
    );
    crate::search::index(&a, &[&w.join("vision"), &w.join("audio")], 0);
    let out = mmbind()
        .args(["export", "--index"])
        .arg(&a)
        .arg("--out")
        .arg(&pq)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = from_parquet(&b, &pq);
    assert_eq!(
        (summary["files"].as_u64(), summary["added"].as_u64()),
        (Some(24), Some(24))
    );
    for text in ["a bell", "a fan"] {
        let (x, _, _) = query_json(&a, text, &["--exact", "--top-k", "24"]);
        let (y, _, _) = query_json(&b, text, &["--exact", "--top-k", "24"]);
        assert_eq!(x, y);
    }
    // The same file again changes nothing; a .npy is not Parquet.
    assert_eq!(from_parquet(&b, &pq)["files"].as_u64(), Some(24));
    let npy = dir.path().join("x.npy");
    std::fs::write(&npy, b"\x93NUMPY").unwrap();
    let out = mmbind()
        .args(["index", "--model"])
        .arg(model())
        .arg("--index")
        .arg(dir.path().join("c.idx"))
        .arg("--from-parquet")
        .arg(&npy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("x.npy: not a Parquet file"));
    assert!(!dir.path().join("c.idx").exists());
}

/// `mmbind index --index IX --from-parquet FILE` in JSON, asserted to succeed: its summary.
fn from_parquet(ix: &Path, file: &Path) -> Value {
    let out = mmbind()
        .args(["index", "--format", "json", "--model"])
        .arg(model())
        .arg("--index")
        .arg(ix)
        .arg("--from-parquet")
        .arg(file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn add_prints_the_vector_it_would_search_for() {
    let dir = tempdir();
    let w = world(dir.path());
    let ix = dir.path().join("ix");
    crate::search::index(&ix, &[&w.join("vision")], 0);
    let out = mmbind()
        .args(["--backend", "ndarray", "add", "--vector", "--model"])
        .arg(model())
        .args(["--text", "a bell", "--minus-text", "0.5:a drum"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let vector: Vec<f32> = v["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!((v["dim"].as_u64(), vector.len()), (Some(32), 32));
    assert_eq!(v["terms"][1]["weight"].as_f64(), Some(-0.5));
    let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    // The index's top hit for that vector is `add`'s.
    let index = mmbind_index::Index::open(&ix).unwrap();
    assert_eq!(v["model_hash"].as_str(), Some(index.model_id()));
    let hits = index
        .search(&vector, 3, &mmbind_index::Filter::default())
        .unwrap();
    let out = mmbind()
        .args([
            "--backend",
            "ndarray",
            "add",
            "--format",
            "json",
            "--exact",
            "--top-k",
            "3",
            "--index",
        ])
        .arg(&ix)
        .args(["--text", "a bell", "--minus-text", "0.5:a drum"])
        .output()
        .unwrap();
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths: Vec<_> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    let mine: Vec<_> = hits.iter().map(|h| h.path.clone()).collect();
    assert_eq!(paths, mine);
}

#[test]
fn backends_lists_the_adapters_and_adapter_names_one() {
    let out = mmbind()
        .args(["backends", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let adapters = v["adapters"].as_array().unwrap();
    for (i, a) in adapters.iter().enumerate() {
        assert_eq!(a["index"].as_u64(), Some(i as u64));
        assert!(a["name"].as_str().is_some_and(|n| !n.is_empty()));
    }
    let n = adapters.len();
    // `mmbind FLAGS embed --text "a bell" --model M`.
    let embed = |flags: &[&str]| {
        let mut cmd = mmbind();
        cmd.args(flags)
            .args(["embed", "--text", "a bell", "--model"]);
        cmd.arg(model()).output().unwrap()
    };
    let out = embed(&["--adapter", &n.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let no_such = format!("--adapter {n}: no such adapter");
    assert!(err.contains(&no_such), "{err}");
    let out = embed(&["--adapter", "0", "--backend", "ndarray"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot be combined with --backend ndarray"),
        "{err}"
    );
    if std::env::var_os("MMBIND_REQUIRE_WGPU").is_some() {
        assert!(n >= 1, "no wgpu adapter listed");
        let out = embed(&["-v", "--adapter", "0"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let name = adapters[0]["name"].as_str().unwrap();
        assert!(err.contains(&format!("backend: wgpu on {name}")), "{err}");
    }
}
