//! Shared test helpers: fixture paths, reference tensors, tolerances.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use burn::tensor::{Device, Tensor};
use mmbind::backend::{self, BackendChoice};
use safetensors::{Dtype, SafeTensors};

/// A fixture file's path. Large fixtures are stored gzipped (`NAME.gz`, to keep the repository
/// small) and unpacked once per test process into cargo's scratch directory for tests.
pub fn fixture(name: &str) -> PathBuf {
    let stored = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let gz = stored.join(format!("{name}.gz"));
    if !gz.is_file() {
        return stored.join(name);
    }
    static UNPACKED: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut unpacked = UNPACKED.lock().unwrap_or_else(|e| e.into_inner());
    unpacked
        .entry(name.to_string())
        .or_insert_with(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
            std::fs::create_dir_all(&dir).unwrap();
            let out = dir.join(name);
            // Written aside and renamed: another test process may be reading the old copy.
            let tmp = dir.join(format!("{name}.{}", std::process::id()));
            let mut reader = flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap());
            std::io::copy(&mut reader, &mut std::fs::File::create(&tmp).unwrap()).unwrap();
            std::fs::rename(&tmp, &out).unwrap();
            out
        })
        .clone()
}

/// A reference tensor from the fixtures.
#[derive(Debug, Clone)]
pub struct Reference {
    pub shape: Vec<usize>,
    pub f32: Vec<f32>,
    pub i64: Vec<i64>,
}

/// Every tensor of a fixture safetensors file.
pub fn references(name: &str) -> BTreeMap<String, Reference> {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            let b = v.data();
            let (f32, i64) = match v.dtype() {
                Dtype::F32 => (
                    b.chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                    vec![],
                ),
                Dtype::I64 => (
                    vec![],
                    b.chunks_exact(8)
                        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                ),
                Dtype::U8 => (b.iter().map(|&x| x as f32).collect(), vec![]),
                other => panic!("unexpected dtype {other:?}"),
            };
            (
                k,
                Reference {
                    shape: v.shape().to_vec(),
                    f32,
                    i64,
                },
            )
        })
        .collect()
}

pub fn inputs_outputs() -> &'static BTreeMap<String, Reference> {
    static R: OnceLock<BTreeMap<String, Reference>> = OnceLock::new();
    R.get_or_init(|| references("inputs_outputs.safetensors"))
}

/// max |ours − theirs| / max |theirs|.
pub fn relative_max_error(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len(), "length differs");
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = ours
        .iter()
        .zip(theirs)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    if ours.iter().any(|v| !v.is_finite()) {
        return f32::INFINITY;
    }
    err / scale
}

pub fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    mmbind::weights::host_values(t.clone())
}

/// The devices parity runs on: ndarray always; wgpu when an adapter exists. With
/// `MMBIND_REQUIRE_WGPU=1` (CI sets it) a missing adapter fails the test instead of being
/// skipped, so CI cannot go green without having exercised wgpu.
pub fn devices() -> Vec<(&'static str, Device, f32)> {
    let mut out = vec![("ndarray", mmbind::backend::ndarray_device(), 2e-6)];
    match backend::select(BackendChoice::Wgpu) {
        Ok(c) => out.push(("wgpu", c.device, 1e-5)),
        Err(e) => {
            assert!(
                std::env::var("MMBIND_REQUIRE_WGPU").is_err(),
                "MMBIND_REQUIRE_WGPU is set but wgpu is unavailable: {e}"
            );
            eprintln!("note: wgpu parity skipped: {e}");
        }
    }
    out
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
