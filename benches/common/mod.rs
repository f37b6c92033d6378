//! Set-up shared by the benchmarks.

use std::path::PathBuf;

use mmbind_world::{WorldConfig, generate};

/// Whether `--quick` was passed.
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
}

/// A freshly generated world of `scenes` scenes (seed 0) in a temporary directory, which
/// lives as long as the returned guard.
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
