//! The command line end to end: real processes, JSON parsed rather than matched.

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

use crate::util::{fixture, inputs_outputs, references, relative_max_error, tempdir};

pub fn mmbind() -> Command {
    let mut cmd = Command::cargo_bin("mmbind").unwrap();
    cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    cmd
}

pub fn import_tiny(out: &std::path::Path) -> serde_json::Value {
    let output = mmbind()
        .args(["import", "imagebind", "--json", "--checkpoint"])
        .arg(fixture("tiny_imagebind.pth"))
        .arg("--config")
        .arg(fixture("tiny_kwargs.json"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn import_then_embed_raw_tensors_matches_pytorch() {
    let dir = tempdir();
    let model = dir.path().join("tiny");
    let summary = import_tiny(&model);
    assert_eq!(summary["parameters"], 3_708_718);
    assert_eq!(summary["modalities"].as_array().unwrap().len(), 6);
    assert_eq!(summary["content_hash"].as_str().unwrap().len(), 64);

    let out = dir.path().join("emb.safetensors");
    mmbind()
        .args(["embed", "--backend", "ndarray", "--model"])
        .arg(&model)
        .arg("--tensors")
        .arg(fixture("inputs_outputs.safetensors"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    assert_official_embeddings(&out, 2e-6);
}

/// The six embeddings written to `out` match the official PyTorch outputs within `tol`.
fn assert_official_embeddings(out: &std::path::Path, tol: f32) {
    let ours = references(out.to_str().unwrap());
    let theirs = inputs_outputs();
    for m in ["vision", "text", "audio", "depth", "thermal", "imu"] {
        let key = format!("{m}.embedding");
        let err = relative_max_error(&ours[&key].f32, &theirs[&key].f32);
        assert!(err <= tol, "{key}: {err:.3e}");
    }
}

/// `auto` never computes on a software rasterizer: it runs on ndarray and says why, or on a
/// hardware adapter. Either way the embeddings are ImageBind's.
#[test]
fn auto_runs_on_ndarray_with_a_reason_or_on_a_hardware_gpu() {
    let dir = tempdir();
    let model = dir.path().join("tiny");
    import_tiny(&model);
    let out = dir.path().join("emb.safetensors");
    let run = mmbind()
        .args(["--backend", "auto", "-v", "embed", "--model"])
        .arg(&model)
        .arg("--tensors")
        .arg(fixture("inputs_outputs.safetensors"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let on_ndarray = stderr.contains("backend: ndarray\n");
    if on_ndarray {
        let software = "note: wgpu found only a software adapter (";
        let none = "note: no GPU adapter found; using the ndarray CPU backend";
        assert!(
            stderr.contains(software) || stderr.contains(none),
            "no reason given: {stderr}"
        );
    } else {
        let line = stderr.lines().find(|l| l.starts_with("backend: wgpu on "));
        assert!(
            line.is_some_and(|l| !l.ends_with("Cpu)")),
            "not a hardware adapter: {stderr}"
        );
    }
    assert_official_embeddings(&out, if on_ndarray { 2e-6 } else { 1e-5 });
}

#[test]
fn bad_checkpoint_exits_2_naming_the_file() {
    let dir = tempdir();
    let bad = dir.path().join("broken.pth");
    std::fs::write(&bad, b"PK\x03\x04 not really a zip").unwrap();
    mmbind()
        .args(["import", "imagebind", "--checkpoint"])
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("m"))
        .assert()
        .code(2)
        .stderr(contains("broken.pth"))
        .stderr(contains("panicked").not());
}

#[test]
fn typo_in_kwargs_is_reported() {
    let dir = tempdir();
    let kwargs = dir.path().join("kwargs.json");
    std::fs::write(&kwargs, r#"{"vision_embed_dims": 64}"#).unwrap();
    mmbind()
        .args(["import", "imagebind", "--checkpoint"])
        .arg(fixture("tiny_imagebind.pth"))
        .arg("--config")
        .arg(&kwargs)
        .arg("--out")
        .arg(dir.path().join("m"))
        .assert()
        .code(2)
        .stderr(contains("vision_embed_dims"));
}

#[test]
fn embed_refuses_a_wrongly_shaped_input() {
    let dir = tempdir();
    let model = dir.path().join("tiny");
    import_tiny(&model);
    let bad = dir.path().join("bad.safetensors");
    let data = vec![0u8; 2 * 6 * 100 * 4];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 6, 100], &data)
            .unwrap();
    safetensors::serialize_to_file([("imu.input", view)], None, &bad).unwrap();
    mmbind()
        .args(["embed", "--backend", "ndarray", "--model"])
        .arg(&model)
        .arg("--tensors")
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("o.safetensors"))
        .assert()
        .code(2)
        .stderr(contains("imu input"))
        .stderr(contains("6, 2000]"));
}

#[test]
fn embed_without_a_model_dir_explains() {
    let dir = tempdir();
    mmbind()
        .args(["embed", "--backend", "ndarray", "--model"])
        .arg(dir.path())
        .arg("--tensors")
        .arg(fixture("inputs_outputs.safetensors"))
        .arg("--out")
        .arg(dir.path().join("o.safetensors"))
        .assert()
        .code(2)
        .stderr(contains("no model.json"));
}

#[test]
fn world_and_train_refuse_bad_shares_and_batch_sizes() {
    let dir = tempdir();
    mmbind()
        .args(["world", "--scenes", "10", "--two-objects", "1.5", "--out"])
        .arg(dir.path().join("w"))
        .assert()
        .code(2)
        .stderr(contains("'1.5' is not a fraction between 0 and 1"));
    mmbind()
        .args(["world", "--scenes", "10", "--holdout-pairs", "19", "--out"])
        .arg(dir.path().join("w"))
        .assert()
        .code(2)
        .stderr(contains("holdout_pairs must be at most 18"));
    for (flag, value, error) in [
        ("--batch-size", "32,depth=1", "'1' is not a batch size"),
        ("--graded-scale", "0", "'0' is not a scale"),
        (
            "--targets",
            "soft",
            "invalid value 'soft' for '--targets <TARGETS>'",
        ),
        ("--jobs", "0", "invalid value '0' for '--jobs <N>'"),
        (
            "--negatives",
            "some",
            "invalid value 'some' for '--negatives <NEGATIVES>'",
        ),
        (
            "--augment",
            "sideways",
            "invalid value 'sideways' for '--augment <AUGMENT>'",
        ),
    ] {
        mmbind()
            .args(["train", flag, value, "--data"])
            .arg(dir.path())
            .arg("--model")
            .arg(dir.path().join("m"))
            .assert()
            .code(2)
            .stderr(contains(error));
    }
    assert!(!dir.path().join("w").exists() && !dir.path().join("m").exists());
}

#[test]
fn help_teaches_the_commands() {
    mmbind()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("import"))
        .stdout(contains("Exit codes"));
    mmbind()
        .args(["import", "--help"])
        .assert()
        .success()
        .stdout(contains("imagebind_huge.pth"));
    mmbind()
        .args(["embed", "--help"])
        .assert()
        .success()
        .stdout(contains("[B,6,2000]"));
    mmbind()
        .args(["index", "--help"])
        .assert()
        .success()
        .stdout(contains("--modality-of <GLOB=MODALITY>"))
        .stdout(contains(
            "reuses the vector of a renamed or duplicated file",
        ));
    mmbind()
        .args(["batch", "--help"])
        .assert()
        .success()
        .stdout(contains("\"op\": \"classify\""));
}
