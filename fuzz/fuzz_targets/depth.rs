//! Depth: 16-bit PNG/TIFF millimetres or a float32/float64 `.npy` in metres, then disparity,
//! resize and crop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmbind_modalities::depth::{self, DepthPreprocess};

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let path = mmbind_fuzz::scratch_file("input", data);
    let r = depth::load_depth(&path, &DepthPreprocess::default());
    mmbind_fuzz::verbose("depth", &r);
});
