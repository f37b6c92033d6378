//! Audio: WAV (hound, then symphonia for other encodings), FLAC, OGG/Vorbis, MP3, sniffed from
//! the first bytes (the scratch file has no extension), then resampling and Kaldi fbanks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmbind_modalities::audio::{self, AudioPreprocess};

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let path = mmbind_fuzz::scratch_file("input", data);
    let cfg = AudioPreprocess::default();
    let r = audio::load_audio(&path, &cfg);
    mmbind_fuzz::verbose("audio", &r);
    if let Ok(out) = r {
        assert_eq!(out.shape()[0], cfg.clips_per_input);
        assert!(out.iter().all(|x| x.is_finite()), "non-finite fbank value");
    }
});
