//! Audio: decode a file, then reproduce ImageBind's `load_and_transform_audio_data`.
//!
//! ImageBind loads with `torchaudio.load` (floats, not rescaled), resamples every channel to
//! 16 kHz, cuts 3 clips of 2 s with pytorchvideo's `ConstantClipsPerVideoSampler`, and turns
//! channel 0 of each clip into a `[128, 204]` Kaldi log-mel spectrogram normalised with
//! `(x + 4.268) / 9.138`. Two quirks of the original are reproduced on purpose, because the
//! checkpoint was trained with them:
//! - clip start times use exact `Fraction` arithmetic on the float duration, so for 3.3 s the
//!   second clip starts at sample 10399, not 10400;
//! - each clip's mean is subtracted *in place* from the shared resampled waveform (the clip is
//!   a tensor view), so overlapping later clips see an already shifted signal.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use ndarray::Array4;

use crate::{Error, Result};

mod clips;
mod container;
mod flac;
mod id3;
mod ogg;
mod transform;
mod wav;
mod with_symphonia;

pub use clips::clip_ranges;
use container::{Container, sniff};
use flac::check_flac_metadata;
use transform::preprocess_wave;
use wav::decode_wav;
use with_symphonia::decode_with_symphonia;

/// Geometry and normalisation of the audio input. [`Default`] is ImageBind's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AudioPreprocess {
    /// Rate everything is resampled to before clipping, in Hz.
    pub sample_rate: u32,
    /// Length of each clip in seconds.
    pub clip_duration_s: f64,
    /// Number of clips per input, spread evenly so the last one ends at the end of the audio.
    pub clips_per_input: usize,
    /// Number of mel filters (rows of each spectrogram).
    pub mel_bins: usize,
    /// Spectrogram width in frames: shorter clips are zero-padded, longer ones cut.
    pub target_frames: usize,
    /// Normalisation: `(x - mean) / std`, applied after padding.
    pub mean: f32,
    pub std: f32,
}

impl Default for AudioPreprocess {
    fn default() -> Self {
        AudioPreprocess {
            sample_rate: 16_000,
            clip_duration_s: 2.0,
            clips_per_input: 3,
            mel_bins: 128,
            target_frames: 204,
            mean: -4.268,
            std: 9.138,
        }
    }
}

/// Decoded audio, channels first, samples as `torchaudio.load` returns them: integer PCM
/// divided by 2^(bits-1) (int16 / 32768, ...), float PCM unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    pub sample_rate: u32,
    pub channels: Vec<Vec<f32>>,
}

impl Waveform {
    /// Samples per channel (0 when there is no channel).
    pub fn num_frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }
}

/// Decodes an audio file.
///
/// WAV (8/16/24/32-bit integer and 32-bit float PCM, any rate and channel count) is parsed with
/// hound; other WAV encodings, FLAC, OGG/Vorbis and MP3 go through symphonia (MP3 with encoder
/// delay/padding trimmed where the stream records it, as ffmpeg does; Vorbis demuxed here and
/// cut to the samples libsndfile/libvorbis give, see `audio/ogg.rs`). The container is
/// recognised from the first bytes, falling back to the extension. Errors name the file and
/// say why: unreadable, unknown format, truncated, no samples, NaN or infinite samples.
pub fn decode_audio(path: &Path) -> Result<Waveform> {
    crate::limits::regular_file(path)?;
    let wave = match sniff(path)? {
        Container::Wav => decode_wav(path)?,
        Container::Other(Some("ogg")) => decode_ogg(path)?,
        Container::Flac { at } => {
            check_flac_metadata(path, at)?;
            decode_with_symphonia(path, Some("flac"))?
        }
        Container::Other(hint) => decode_with_symphonia(path, hint)?,
    };
    check_waveform(&wave).map_err(|reason| Error::invalid(path, reason))?;
    Ok(wave)
}

/// Decodes `path` and preprocesses it: `[clips, 1, mel_bins, target_frames]`.
pub fn load_audio(path: &Path, cfg: &AudioPreprocess) -> Result<Array4<f32>> {
    let wave = decode_audio(path)?;
    preprocess_wave(&wave, cfg).map_err(|reason| Error::invalid(path, reason))
}

/// ImageBind's audio transform on decoded samples: `[clips, 1, mel_bins, target_frames]`.
///
/// Resamples all channels to `cfg.sample_rate`, then for each clip from [`clip_ranges`]
/// (clamped to the signal) subtracts the clip mean over all channels in place from the shared
/// waveform, takes the Kaldi fbank of channel 0, transposes it to `[mel, frames]`, zero-pads or
/// cuts it to `target_frames` and only then normalises with `(x - mean) / std`.
///
/// Errors (named `<waveform>`, as there is no file) for an unusable config, an empty or ragged
/// waveform, non-finite samples, or audio shorter than one 25 ms fbank frame (where ImageBind
/// itself crashes with a division by zero).
pub fn preprocess(w: &Waveform, cfg: &AudioPreprocess) -> Result<Array4<f32>> {
    preprocess_wave(w, cfg).map_err(|reason| Error::invalid(PathBuf::from("<waveform>"), reason))
}

/// Ogg: Vorbis is demuxed and trimmed here as libvorbis does it ([`ogg`]); an Ogg file whose
/// first link holds no Vorbis stream (FLAC, Opus...) is left to symphonia.
fn decode_ogg(path: &Path) -> Result<Waveform> {
    let bytes = crate::Limits::current().read_file(path)?;
    match catch_unwind(AssertUnwindSafe(|| ogg::decode_vorbis(&bytes, path))) {
        Ok(Ok(Some(wave))) => Ok(wave),
        Ok(Ok(None)) => decode_with_symphonia(path, Some("ogg")),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::decode(
            path,
            "the decoder crashed on this file (malformed stream?)",
        )),
    }
}

/// What every usable waveform satisfies; the reason otherwise.
fn check_waveform(w: &Waveform) -> std::result::Result<(), String> {
    if w.sample_rate == 0 {
        return Err("sample rate is 0".into());
    }
    let n = w.num_frames();
    if w.channels.is_empty() || n == 0 {
        return Err("no audio samples".into());
    }
    if let Some(c) = w.channels.iter().position(|ch| ch.len() != n) {
        return Err(format!(
            "channel {c} has {} samples but channel 0 has {n}",
            w.channels[c].len()
        ));
    }
    for (c, ch) in w.channels.iter().enumerate() {
        if let Some(i) = ch.iter().position(|v| !v.is_finite()) {
            let what = if ch[i].is_nan() { "NaN" } else { "infinite" };
            return Err(format!("sample {i} of channel {c} is {what}"));
        }
    }
    Ok(())
}
