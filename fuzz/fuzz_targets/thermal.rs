//! Thermal: any single-channel (or gray RGB) image the image crate decodes, then resize and
//! crop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmbind_modalities::thermal::{self, ThermalPreprocess};

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let path = mmbind_fuzz::scratch_file("input", data);
    let r = thermal::load_thermal(&path, &ThermalPreprocess::default());
    mmbind_fuzz::verbose("thermal", &r);
});
