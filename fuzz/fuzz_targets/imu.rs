//! IMU: CSV (6 or 7 columns, optional header, comments) or a `[6, T]` / `[T, 6]` `.npy`, then
//! crop / pad to `[6, length]`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmbind_modalities::imu::{self, ImuPreprocess};

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let path = mmbind_fuzz::scratch_file("input", data);
    let cfg = ImuPreprocess::default();
    let r = imu::load_imu(&path, &cfg);
    mmbind_fuzz::verbose("imu", &r);
    if let Ok(out) = r {
        assert_eq!(out.shape(), [6, cfg.length]);
    }
});
