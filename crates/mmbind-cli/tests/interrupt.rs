//! Ctrl-C, as a terminal sends it (SIGINT to the process): training stops after its step and
//! keeps its last checkpoint, a command with nothing to save quits at once, both with 130.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use mmbind::weights::ModelDir;
use mmbind_world::{WorldConfig, generate};

use crate::util::tempdir;

fn sigint(child: &Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    // SAFETY: `kill` only sends a signal, to our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
}

/// Waits for `child` at most `limit`; its exit code and stderr.
fn finish(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("still running {limit:?} after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mmbind() -> Command {
    let mut cmd = Command::cargo_bin("mmbind").unwrap();
    cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn wait_for(path: &Path, child: &mut Child, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "exited before {path:?} appeared"
        );
        assert!(start.elapsed() < limit, "{path:?} did not appear");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_stops_training_after_its_step_and_keeps_the_last_checkpoint() {
    let dir = tempdir();
    let data = dir.path().join("world");
    let cfg = WorldConfig {
        scenes: 60,
        seed: 3,
        ..WorldConfig::default()
    };
    generate(&data, &cfg, &mut |_, _| {}).unwrap();
    let model = dir.path().join("model");
    // Far more epochs than the test waits for: it ends only by Ctrl-C.
    let mut child = mmbind()
        .args(["--backend", "ndarray", "train", "--data"])
        .arg(&data)
        .arg("--model")
        .arg(&model)
        .args([
            "--modalities",
            "text",
            "--epochs",
            "100000",
            "--batch-size",
            "8",
        ])
        .spawn()
        .unwrap();
    wait_for(
        &model.join("checkpoints/LATEST"),
        &mut child,
        Duration::from_secs(120),
    );
    sigint(&child);
    let (code, stderr) = finish(child, Duration::from_secs(60));
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: stopping after this step"),
        "{stderr}"
    );
    // What was trained is there: the model directory loads, and --resume finds its checkpoint.
    assert!(!ModelDir::new(&model).tensors().unwrap().0.is_empty());
    let latest = std::fs::read_to_string(model.join("checkpoints/LATEST")).unwrap();
    assert!(
        model
            .join("checkpoints")
            .join(latest.trim())
            .join("state.json")
            .is_file()
    );
}

#[test]
fn ctrl_c_quits_a_command_with_nothing_to_save_at_once() {
    let dir = tempdir();
    let out = dir.path().join("world");
    // Minutes of work: it ends only by Ctrl-C.
    let mut child = mmbind()
        .args(["world", "--scenes", "500000", "--out"])
        .arg(&out)
        .spawn()
        .unwrap();
    wait_for(&out, &mut child, Duration::from_secs(60));
    sigint(&child);
    let (code, stderr) = finish(child, Duration::from_secs(10));
    assert_eq!(code, Some(130), "{stderr}");
}
