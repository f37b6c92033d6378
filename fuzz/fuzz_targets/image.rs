//! Vision: PNG, JPEG (our libjpeg-exact decoder and the image crate's), WebP, GIF, TIFF, BMP,
//! sniffed from the content, then ImageBind's resize / crop / normalise.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mmbind_modalities::vision::{self, VisionPreprocess};

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    // `decode_image(path)` is the limits-checked read plus this bytes entry point.
    // No extension: only the content decides the format (the extension is a fallback).
    let r = vision::decode_image_bytes(data, Path::new("fuzz-input"));
    mmbind_fuzz::verbose("image", &r);
    let Ok(img) = r else {
        return;
    };
    // Preprocessing (a bicubic resize of the shorter side to 224, up to 224 x 22400 at the
    // aspect limit) takes most of the time; `MMBIND_FUZZ_DECODE_ONLY=1` skips it to spend a
    // campaign on the decoders.
    if mmbind_fuzz::decode_only() {
        return;
    }
    let cfg = VisionPreprocess::default();
    let out = vision::preprocess(&img, &cfg);
    assert_eq!(out.shape(), [3, cfg.image_size, cfg.image_size]);
});
