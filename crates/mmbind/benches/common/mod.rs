//! Set-up shared by the benchmarks.

use std::path::PathBuf;

use mmbind_world::{WorldConfig, generate};

/// Whether `--quick` was passed.
#[allow(dead_code)]
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
}

/// `--seconds S`: how long each measurement runs, when given.
#[allow(dead_code)]
pub fn seconds() -> Option<f64> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == "--seconds")
        .and_then(|w| w[1].parse().ok())
}

/// Whether a measurement named `name` was asked for (`--only SUBSTRING`, repeatable; all when
/// none is given).
#[allow(dead_code)]
pub fn selected(name: &str) -> bool {
    let args: Vec<String> = std::env::args().collect();
    let wanted: Vec<&String> = args
        .windows(2)
        .filter(|w| w[0] == "--only")
        .map(|w| &w[1])
        .collect();
    wanted.is_empty() || wanted.iter().any(|w| name.contains(w.as_str()))
}

/// A freshly generated world of `scenes` scenes (seed 0) in a temporary directory, which
/// lives as long as the returned guard.
#[allow(dead_code)]
pub fn world(scenes: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let world = dir.path().join("world");
    generate(
        &world,
        &WorldConfig {
            scenes,
            seed: 0,
            ..WorldConfig::default()
        },
        &mut |_, _| {},
    )
    .expect("world");
    (dir, world)
}

/// The wgpu device, named with its adapter, or `None` (with a note) when there is none.
/// Ask for it only after the ndarray measurements: a started wgpu runtime keeps a server
/// thread waking every 150 µs, which slowed ndarray training on 2 cores by 12–20%.
#[allow(dead_code)] // not every benchmark compares backends
pub fn wgpu_device() -> Option<(String, burn::tensor::Device)> {
    match mmbind::backend::select(mmbind::backend::BackendChoice::Wgpu) {
        Ok(c) => Some((
            format!("wgpu ({})", c.adapter.unwrap_or_default()),
            c.device,
        )),
        Err(e) => {
            eprintln!("wgpu skipped: {e}");
            None
        }
    }
}
