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

use std::fs::File;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use ndarray::{Array4, s};

use crate::fbank::{FbankOptions, FbankPlan};
use crate::resample::Resampler;
use crate::{Error, Result};

mod id3;
mod ogg;

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

/// Sample ranges `[start, end)` of the clips for `num_samples` samples at `cfg.sample_rate`.
///
/// pytorchvideo's `ConstantClipsPerVideoSampler`: with `d = num_samples / sr` (a float),
/// clip `i` starts at `i · max(d - clip, 0) / max(clips - 1, 1)` and lasts `clip` seconds,
/// computed with exact `Fraction`s of the floats; ImageBind slices `int(start·sr):int(end·sr)`.
/// The ranges are *not* clamped: a 1.2 s input gives `(0, 32000)` three times, and Python's
/// slicing then stops at the end of the signal ([`preprocess`] clamps the same way).
pub fn clip_ranges(num_samples: usize, cfg: &AudioPreprocess) -> Vec<(usize, usize)> {
    let sr = cfg.sample_rate;
    if sr == 0 {
        return vec![(0, 0); cfg.clips_per_input];
    }
    let duration = num_samples as f64 / sr as f64;
    let max_start = (duration - cfg.clip_duration_s).max(0.0);
    let divisor = cfg.clips_per_input.saturating_sub(1).max(1);
    (0..cfg.clips_per_input)
        .map(|i| {
            exact_clip_range(max_start, cfg.clip_duration_s, i, divisor, sr)
                .unwrap_or_else(|| float_clip_range(max_start, cfg.clip_duration_s, i, divisor, sr))
        })
        .collect()
}

/// The container kind decided from the file's first bytes (or its extension).
enum Container {
    Wav,
    /// A FLAC stream starting at byte `at` (after an ID3v2 tag, if any).
    Flac {
        at: u64,
    },
    /// Anything else symphonia reads: its probe is given this format only (MP3 when none).
    Other(Option<&'static str>),
}

/// Refuses a FLAC file whose Vorbis comment or picture block declares a string or a picture
/// longer than the block. symphonia 0.5 allocates each declared length (up to 4 GB) before
/// reading it: a 100-byte file could ask for 4 GB (found by `fuzz/`: the comment block first,
/// the picture block in a later run; mostly virtual memory, but an abort where the system does
/// not overcommit). Other blocks are skipped; a file that ends before its blocks do is left
/// to symphonia to report, once the blocks it holds are checked.
fn check_flac_metadata(path: &Path, at: u64) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    const COMMENT: u8 = 4;
    const PICTURE: u8 = 6;
    let Ok(mut file) = File::open(path) else {
        return Ok(());
    };
    if file.seek(SeekFrom::Start(at)).is_err() {
        return Ok(());
    }
    let mut f = std::io::BufReader::new(file);
    let mut header = [0u8; 4];
    if f.read_exact(&mut header).is_err() {
        return Ok(());
    }
    // Every block, however many: symphonia reads up to the one marked last (a cap here let
    // 4,096 empty blocks hide a bad one). Each takes at least 4 bytes of a bounded file.
    loop {
        if f.read_exact(&mut header).is_err() {
            return Ok(());
        }
        let (last, kind) = (header[0] & 0x80 != 0, header[0] & 0x7F);
        let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
        if kind == COMMENT || kind == PICTURE {
            // What the file holds of the block: symphonia reads a cut-off block too.
            let mut block = Vec::with_capacity(len);
            if (&mut f).take(len as u64).read_to_end(&mut block).is_err() {
                return Ok(());
            }
            let (what, fits) = if kind == COMMENT {
                ("comment", vorbis_comment_fits(&block))
            } else {
                ("picture", picture_fits(&block))
            };
            if let Err(reason) = fits {
                return Err(Error::decode(
                    path,
                    format!("malformed FLAC {what} block: {reason}"),
                ));
            }
        } else if f.seek_relative(len as i64).is_err() {
            return Ok(());
        }
        if last {
            return Ok(());
        }
    }
}

/// Takes a 32-bit length (little- or big-endian) from the front of `rest`.
fn take_len(rest: &mut &[u8], big_endian: bool) -> std::result::Result<usize, String> {
    let (n, tail) = rest
        .split_first_chunk::<4>()
        .ok_or("it ends inside a length field")?;
    *rest = tail;
    Ok(if big_endian {
        u32::from_be_bytes(*n)
    } else {
        u32::from_le_bytes(*n)
    } as usize)
}

/// Skips `n` bytes of `rest`, which must hold them.
fn skip(rest: &mut &[u8], n: usize, what: &str, block: usize) -> std::result::Result<(), String> {
    *rest = rest
        .get(n..)
        .ok_or_else(|| format!("{what} claims {n} bytes of {block}"))?;
    Ok(())
}

/// Whether every length in a Vorbis comment block (vendor string, count, comments) fits in it.
fn vorbis_comment_fits(block: &[u8]) -> std::result::Result<(), String> {
    let mut rest = block;
    let vendor = take_len(&mut rest, false)?;
    skip(&mut rest, vendor, "the vendor string", block.len())?;
    let count = take_len(&mut rest, false)?;
    for i in 0..count {
        let n = take_len(&mut rest, false)?;
        skip(&mut rest, n, &format!("comment {i}"), block.len())?;
    }
    Ok(())
}

/// Whether every length in a picture block (MIME type, description, picture data) fits in it.
fn picture_fits(block: &[u8]) -> std::result::Result<(), String> {
    let mut rest = block;
    take_len(&mut rest, true)?; // picture type
    let mime = take_len(&mut rest, true)?;
    skip(&mut rest, mime, "the MIME type", block.len())?;
    let description = take_len(&mut rest, true)?;
    skip(&mut rest, description, "the description", block.len())?;
    for _ in 0..4 {
        take_len(&mut rest, true)?; // width, height, depth, colours
    }
    let data = take_len(&mut rest, true)?;
    skip(&mut rest, data, "the picture", block.len())
}

/// Where a FLAC stream starts behind the ID3v2 tag that `head` begins with, if one does.
fn flac_after_id3(file: &mut File, head: &[u8]) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    if !head.starts_with(b"ID3") || head.len() < 10 {
        return None;
    }
    // Size: four 7-bit bytes, after the 10-byte header; a footer adds 10 more.
    let size = head[6..10]
        .iter()
        .fold(0u64, |n, &b| (n << 7) | u64::from(b & 0x7F));
    let at = 10 + size + if head[5] & 0x10 != 0 { 10 } else { 0 };
    let mut magic = [0u8; 4];
    file.seek(SeekFrom::Start(at)).ok()?;
    file.read_exact(&mut magic).ok()?;
    (&magic == b"fLaC").then_some(at)
}

/// Looks at the magic bytes; checks the file exists, is readable and is not empty.
fn sniff(path: &Path) -> Result<Container> {
    let mut file =
        File::open(path).map_err(|e| Error::decode(path, format!("cannot open: {e}")))?;
    let mut head = [0u8; 12];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::decode(path, format!("cannot read: {e}"))),
        }
    }
    if got == 0 {
        return Err(Error::decode(path, "empty file"));
    }
    let head = &head[..got];
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WAVE") {
        return Ok(Container::Wav);
    }
    if head.starts_with(b"fLaC") {
        return Ok(Container::Flac { at: 0 });
    }
    // A FLAC stream behind an ID3v2 tag (some taggers write one): checked where it starts.
    if let Some(at) = flac_after_id3(&mut file, head) {
        return Ok(Container::Flac { at });
    }
    if head.starts_with(b"OggS") {
        return Ok(Container::Other(Some("ogg")));
    }
    if head.starts_with(b"ID3") || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        return Ok(Container::Other(Some("mp3")));
    }
    match ext.as_deref() {
        Some("wav" | "wave") => Err(Error::decode(path, "not a WAV file: no RIFF/WAVE header")),
        Some("flac") => Err(Error::decode(path, "not a FLAC file: no fLaC header")),
        Some("ogg" | "oga") => Err(Error::decode(path, "not an OGG file: no OggS header")),
        // MP3 has no mandatory header; let the probe look for frame sync further in.
        Some("mp3") => Ok(Container::Other(Some("mp3"))),
        _ => Ok(Container::Other(None)),
    }
}

/// Reads a RIFF/WAVE file: hound parses the header, and the PCM data is converted straight from
/// the bytes (hound's per-sample reader is several times slower for the same result). Encodings
/// or headers hound rejects (A-law, float64, odd fmt chunks...) get a second chance with
/// symphonia; if that fails too, hound's reason is reported.
fn decode_wav(path: &Path) -> Result<Waveform> {
    let bytes = crate::Limits::current().read_file(path)?;
    let reader = match hound::WavReader::new(std::io::Cursor::new(bytes.as_slice())) {
        Ok(r) => r,
        Err(e) => {
            return decode_with_symphonia(path, Some("wav"))
                .map_err(|_| Error::decode(path, format!("invalid WAV file: {e}")));
        }
    };
    let spec = reader.spec();
    let num_samples = reader.len() as usize;
    // hound leaves the cursor on the first data byte, right after the chunk's u32 length.
    let start = reader.into_inner().position() as usize;
    let data_len = match bytes.get(start.saturating_sub(4)..start) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => return Err(Error::decode(path, "invalid WAV file: no data chunk")),
    };
    if num_samples == 0 {
        return Ok(Waveform {
            sample_rate: spec.sample_rate,
            channels: vec![Vec::new(); spec.channels as usize],
        });
    }
    let width = data_len / num_samples;
    let Some(convert) = pcm_converter(spec.sample_format, width, spec.bits_per_sample) else {
        return decode_with_symphonia(path, Some("wav"));
    };
    let n_channels = spec.channels as usize;
    let frame_bytes = width * n_channels;
    let available = bytes.len().saturating_sub(start);
    if data_len > available {
        return Err(Error::decode(
            path,
            format!(
                "truncated WAV: header announces {} frames, file holds {}",
                data_len / frame_bytes,
                available / frame_bytes
            ),
        ));
    }
    let num_frames = (data_len / frame_bytes) as u64;
    crate::Limits::current().check_audio(path, num_frames, spec.sample_rate, n_channels)?;
    // A trailing partial frame (a malformed but seen-in-the-wild file) is dropped.
    let frames = bytes[start..start + data_len].chunks_exact(frame_bytes);
    let channels = (0..n_channels)
        .map(|c| {
            frames
                .clone()
                .map(|f| convert(&f[c * width..(c + 1) * width]))
                .collect()
        })
        .collect();
    Ok(Waveform {
        sample_rate: spec.sample_rate,
        channels,
    })
}

/// Little-endian PCM bytes to a float as torchaudio gives it: integers divided by
/// 2^(bits-1) (8-bit WAV is unsigned, offset 128), floats unchanged. `None` for layouts hound
/// itself would not read.
fn pcm_converter(format: hound::SampleFormat, width: usize, bits: u16) -> Option<fn(&[u8]) -> f32> {
    use hound::SampleFormat::{Float, Int};
    const I24: f32 = 1.0 / 8_388_608.0;
    Some(match (format, width, bits) {
        (Int, 1, 8) => |b| (b[0] as i32 - 128) as f32 / 128.0,
        (Int, 2, 16) => |b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32_768.0,
        (Int, 3, 24) => |b| (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 * I24,
        // 24 valid bits in a 4-byte container: the low three bytes, as hound reads them.
        (Int, 4, 24) => |b| (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 * I24,
        (Int, 4, 32) => |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0,
        (Float, 4, 32) => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        _ => return None,
    })
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

/// Decodes with symphonia. Third-party decoders may panic on hostile input; a panic is turned
/// into an error so one bad file never takes down a batch.
fn decode_with_symphonia(path: &Path, hint: Option<&str>) -> Result<Waveform> {
    if let Ok(mut file) = File::open(path) {
        id3::check_tags(&mut file).map_err(|reason| Error::decode(path, reason))?;
    }
    match catch_unwind(AssertUnwindSafe(|| symphonia_decode(path, hint))) {
        Ok(result) => result.map_err(|reason| Error::decode(path, reason)),
        Err(_) => Err(Error::decode(
            path,
            "the decoder crashed on this file (malformed stream?)",
        )),
    }
}

fn symphonia_decode(path: &Path, hint: Option<&str>) -> std::result::Result<Waveform, String> {
    use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
    use symphonia::core::errors::Error as SymError;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    use symphonia::core::probe::Probe;
    use symphonia::default::formats::{FlacReader, MpaReader, OggReader, WavReader};

    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    // Only the format the first bytes named: symphonia's default probe scans the first MiB
    // for any format's marker, so a file sniffed as one thing could be read as FLAC past
    // the checks above (`fLaC` after junk or behind an ID3v2 tag).
    let mut probe = Probe::default();
    match hint {
        Some("flac") => probe.register_all::<FlacReader>(),
        Some("ogg") => probe.register_all::<OggReader>(),
        Some("wav") => probe.register_all::<WavReader>(),
        _ => probe.register_all::<MpaReader>(),
    }
    probe.register_all::<symphonia_metadata::id3v2::Id3v2Reader>();
    let mut probe_hint = Hint::new();
    if let Some(ext) = hint {
        probe_hint.with_extension(ext);
    }
    // Gapless trims encoder delay/padding (MP3, Vorbis) like ffmpeg-based torchaudio does.
    let format_opts = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = probe
        .format(
            &probe_hint,
            stream,
            &format_opts,
            &MetadataOptions::default(),
        )
        .map_err(|e| {
            format!("unrecognised audio format (WAV, FLAC, OGG/Vorbis, MP3 supported): {e}")
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or("no audio track")?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| format!("unsupported codec: {e}"))?;

    let mut sample_rate = track.codec_params.sample_rate;
    let mut channels: Vec<Vec<f32>> = Vec::new();
    let (mut good, mut bad) = (0usize, 0usize);
    let mut last_error = String::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(format!("cannot read the stream: {e}")),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A corrupt packet is skipped, as players do; only all-bad streams fail below.
            Err(SymError::DecodeError(e)) => {
                bad += 1;
                last_error = e.to_string();
                continue;
            }
            Err(e) => return Err(format!("decoding failed: {e}")),
        };
        let spec = *decoded.spec();
        let n_channels = spec.channels.count();
        if channels.is_empty() {
            channels = vec![Vec::new(); n_channels];
        } else if channels.len() != n_channels {
            return Err(format!(
                "channel count changes mid-stream ({} -> {n_channels})",
                channels.len()
            ));
        }
        sample_rate.get_or_insert(spec.rate);
        let mut buf = decoded.make_equivalent::<f32>();
        decoded.convert(&mut buf);
        for (c, dst) in channels.iter_mut().enumerate() {
            dst.extend_from_slice(symphonia::core::audio::Signal::chan(&buf, c));
        }
        let frames = channels.first().map_or(0, Vec::len) as u64;
        crate::Limits::current()
            .check_audio(path, frames, spec.rate, n_channels)
            .map_err(|e| e.reason().to_string())?;
        good += 1;
    }
    if good == 0 && bad > 0 {
        return Err(format!(
            "no packet could be decoded ({bad} bad; last error: {last_error})"
        ));
    }
    let sample_rate = sample_rate.ok_or("the stream does not say its sample rate")?;
    Ok(Waveform {
        sample_rate,
        channels,
    })
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

/// Rejects settings that would make the transform meaningless or crash the original.
fn check_config(cfg: &AudioPreprocess) -> std::result::Result<(), String> {
    if cfg.sample_rate == 0 {
        return Err("config: sample_rate must be > 0".into());
    }
    if !(cfg.clip_duration_s.is_finite() && cfg.clip_duration_s > 0.0) {
        return Err(format!(
            "config: clip_duration_s must be > 0, got {}",
            cfg.clip_duration_s
        ));
    }
    if cfg.clips_per_input == 0 || cfg.target_frames == 0 {
        return Err("config: clips_per_input and target_frames must be > 0".into());
    }
    if cfg.mel_bins < 4 {
        return Err(format!(
            "config: mel_bins must be at least 4, got {}",
            cfg.mel_bins
        ));
    }
    if !(cfg.mean.is_finite() && cfg.std.is_finite() && cfg.std != 0.0) {
        return Err(format!(
            "config: need finite mean and non-zero std, got {} / {}",
            cfg.mean, cfg.std
        ));
    }
    Ok(())
}

/// The transform of [`preprocess`], with errors as plain reasons.
fn preprocess_wave(
    w: &Waveform,
    cfg: &AudioPreprocess,
) -> std::result::Result<Array4<f32>, String> {
    check_config(cfg)?;
    check_waveform(w)?;
    let plan = FbankPlan::cached(&FbankOptions::imagebind(
        cfg.sample_rate as f32,
        cfg.mel_bins,
    ))
    .ok_or_else(|| {
        format!(
            "config: no Kaldi fbank for {} Hz / {} mel bins",
            cfg.sample_rate, cfg.mel_bins
        )
    })?;
    let n = resampled_len(w.num_frames(), w.sample_rate, cfg.sample_rate);
    let clips: Vec<(usize, usize)> = clip_ranges(n, cfg)
        .into_iter()
        .map(|(start, end)| (start.min(n), end.min(n)))
        .collect();
    if let Some((clip, (start, end))) = clips
        .iter()
        .enumerate()
        .find(|(_, (s, e))| plan.num_frames(e - s) == 0)
    {
        return Err(format!(
            "audio too short: clip {clip} has {} samples at {} Hz, less than one 25 ms fbank frame",
            end - start,
            cfg.sample_rate
        ));
    }
    let mut segments = resample_segments(w, cfg.sample_rate, &clips);

    let mut out = Array4::<f32>::zeros((cfg.clips_per_input, 1, cfg.mel_bins, cfg.target_frames));
    for (clip, &(start, end)) in clips.iter().enumerate() {
        let seg = segments
            .iter_mut()
            .find(|seg| seg.start <= start && end <= seg.end())
            .ok_or("internal: clip outside the resampled segments")?;
        let local = start - seg.start..end - seg.start;
        subtract_mean_in_place(&mut seg.channels, local.clone());
        let feats = plan.compute(&seg.channels[0][local]);
        write_normalised(&feats, cfg, out.slice_mut(s![clip, 0, .., ..]));
    }
    // Finite samples can still overflow the power spectrum (a float WAV holding 1e30): the
    // log-mel is then infinite, and so would every similarity with this input be.
    if out.iter().any(|v| !v.is_finite()) {
        return Err(
            "the samples are too large for the filterbank (its energies overflow); audio \
             samples should lie within [-1, 1]"
                .into(),
        );
    }
    Ok(out)
}

/// A stretch `[start, start + len)` of the resampled waveform, all channels.
struct Segment {
    start: usize,
    channels: Vec<Vec<f32>>,
}

impl Segment {
    fn end(&self) -> usize {
        self.start + self.channels[0].len()
    }
}

/// Length of the waveform after resampling (torchaudio's `ceil(new · len / orig)`).
fn resampled_len(len: usize, from: u32, to: u32) -> usize {
    match Resampler::cached(from, to) {
        Some(r) if from != to => r.output_len(len),
        _ => len,
    }
}

/// Resamples only what the clips cover: the union of the clip ranges, as disjoint segments.
///
/// Every resampled sample is computed exactly as in a whole-signal resample, and the in-place
/// mean subtraction only ever touches clip ranges, so this equals ImageBind's processing of
/// the full waveform while a long recording costs no more than its clips.
fn resample_segments(w: &Waveform, to: u32, clips: &[(usize, usize)]) -> Vec<Segment> {
    let resampler = Resampler::cached(w.sample_rate, to).filter(|_| w.sample_rate != to);
    merge_ranges(clips)
        .into_iter()
        .map(|(start, end)| Segment {
            start,
            channels: w
                .channels
                .iter()
                .map(|ch| match &resampler {
                    Some(r) => r.process_range(ch, start..end),
                    None => ch[start..end].to_vec(),
                })
                .collect(),
        })
        .collect()
}

/// Sorted union of half-open ranges; overlapping or touching ranges merge.
fn merge_ranges(ranges: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// ImageBind's `waveform -= waveform.mean()` on a view: the mean over all channels of
/// `range`, subtracted (in float32) from the shared signal.
fn subtract_mean_in_place(channels: &mut [Vec<f32>], range: std::ops::Range<usize>) {
    let count = (channels.len() * range.len()) as f64;
    let sum: f64 = channels
        .iter()
        .flat_map(|ch| &ch[range.clone()])
        .map(|&v| v as f64)
        .sum();
    let mean = (sum / count) as f32;
    for ch in channels.iter_mut() {
        ch[range.clone()].iter_mut().for_each(|v| *v -= mean);
    }
}

/// `[frames, mel]` features into `[mel, target]`: transpose, zero-pad or cut, then
/// `(x - mean) / std` (padding first, so padded cells hold `-mean / std`).
fn write_normalised(
    feats: &ndarray::Array2<f32>,
    cfg: &AudioPreprocess,
    mut dst: ndarray::ArrayViewMut2<f32>,
) {
    let frames = feats.nrows().min(cfg.target_frames);
    let padding = (0.0 - cfg.mean) / cfg.std;
    for (mut row, mel) in dst.outer_iter_mut().zip(feats.columns()) {
        for (v, &x) in row.iter_mut().zip(mel.iter().take(frames)) {
            *v = (x - cfg.mean) / cfg.std;
        }
        row.iter_mut().skip(frames).for_each(|v| *v = padding);
    }
}

/// Clip `i` with exact rational arithmetic, as Python's `Fraction` does. `None` if a number
/// outgrows 128 bits (absurd durations or sample rates), where the float fallback is used.
fn exact_clip_range(
    max_start: f64,
    clip: f64,
    i: usize,
    divisor: usize,
    sr: u32,
) -> Option<(usize, usize)> {
    let start = Ratio::from_f64(max_start)?
        .mul_int(i as u128)?
        .div_int(divisor as u128)?;
    let end = start.add(&Ratio::from_f64(clip)?)?;
    let to_sample = |r: Ratio| {
        r.mul_int(sr as u128)
            .map(|r| r.floor())
            .map(|v| v.min(usize::MAX as u128) as usize)
    };
    Some((to_sample(start)?, to_sample(end)?))
}

/// Float approximation of [`exact_clip_range`], only for inputs too large for 128 bits.
fn float_clip_range(
    max_start: f64,
    clip: f64,
    i: usize,
    divisor: usize,
    sr: u32,
) -> (usize, usize) {
    let start = max_start * i as f64 / divisor as f64;
    (
        (start * sr as f64) as usize,
        ((start + clip) * sr as f64) as usize,
    )
}

/// A non-negative fraction with checked 128-bit arithmetic, kept in lowest terms.
#[derive(Debug, Clone, Copy)]
struct Ratio {
    num: u128,
    den: u128,
}

impl Ratio {
    /// The exact value of a finite, non-negative float (`fractions.Fraction(x)`).
    fn from_f64(x: f64) -> Option<Ratio> {
        if !(x.is_finite() && x >= 0.0) {
            return None;
        }
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        let (mut mant, mut exp) = if biased == 0 {
            (frac, -1074)
        } else {
            (frac | 1 << 52, biased - 1075)
        };
        if mant == 0 {
            return Some(Ratio { num: 0, den: 1 });
        }
        let tz = mant.trailing_zeros();
        mant >>= tz;
        exp += tz as i32;
        if exp >= 0 {
            let num = (mant as u128)
                .checked_shl(exp as u32)
                .filter(|v| v >> exp == mant as u128)?;
            Some(Ratio { num, den: 1 })
        } else {
            let den = 1u128.checked_shl((-exp) as u32).filter(|_| -exp < 127)?;
            Some(Ratio {
                num: mant as u128,
                den,
            })
        }
    }

    fn reduced(num: u128, den: u128) -> Ratio {
        let g = gcd_u128(num, den).max(1);
        Ratio {
            num: num / g,
            den: den / g,
        }
    }

    fn mul_int(self, k: u128) -> Option<Ratio> {
        let g = gcd_u128(k, self.den).max(1);
        Some(Ratio::reduced(self.num.checked_mul(k / g)?, self.den / g))
    }

    fn div_int(self, k: u128) -> Option<Ratio> {
        if k == 0 {
            return None;
        }
        let g = gcd_u128(k, self.num).max(1);
        Some(Ratio::reduced(self.num / g, self.den.checked_mul(k / g)?))
    }

    fn add(&self, o: &Ratio) -> Option<Ratio> {
        let g = gcd_u128(self.den, o.den).max(1);
        let den = (self.den / g).checked_mul(o.den)?;
        let num = self
            .num
            .checked_mul(o.den / g)?
            .checked_add(o.num.checked_mul(self.den / g)?)?;
        Some(Ratio::reduced(num, den))
    }

    fn floor(&self) -> u128 {
        self.num / self.den
    }
}

fn gcd_u128(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_the_exact_float() {
        let r = Ratio::from_f64(3.3 - 2.0).expect("finite");
        // Fraction(3.3 - 2) == 1463669878895411/1125899906842624
        assert_eq!(
            (r.num, r.den),
            (1_463_669_878_895_411, 1_125_899_906_842_624)
        );
        let half = Ratio::from_f64(0.5).expect("finite");
        assert_eq!((half.num, half.den), (1, 2));
        assert_eq!(Ratio::from_f64(0.0).map(|r| r.num), Some(0));
        assert!(Ratio::from_f64(f64::NAN).is_none());
    }

    #[test]
    fn single_clip_starts_at_zero() {
        let cfg = AudioPreprocess {
            clips_per_input: 1,
            ..Default::default()
        };
        assert_eq!(clip_ranges(80_000, &cfg), vec![(0, 32_000)]);
    }
}
