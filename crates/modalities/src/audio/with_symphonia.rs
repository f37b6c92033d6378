//! Decoding with symphonia: FLAC, MP3, the WAV encodings hound does not read and Ogg streams
//! other than Vorbis, each probed as the one format its first bytes named.

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use symphonia::core::audio::AudioBufferRef;
use symphonia::core::formats::FormatReader;

use super::{Waveform, id3};
use crate::{Error, Result};

/// Decodes with symphonia. Third-party decoders may panic on hostile input; a panic is turned
/// into an error so one bad file never takes down a batch.
pub(super) fn decode_with_symphonia(path: &Path, hint: Option<&str>) -> Result<Waveform> {
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

    let mut format = open_format(path, hint)?;
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
        append(&mut channels, decoded)?;
        sample_rate.get_or_insert(spec.rate);
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

/// Opens `path` with a probe that knows only the format `hint` names (MP3 when none).
fn open_format(
    path: &Path,
    hint: Option<&str>,
) -> std::result::Result<Box<dyn FormatReader>, String> {
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
    // the checks of `sniff` (`fLaC` after junk or behind an ID3v2 tag).
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
    Ok(probed.format)
}

/// Appends a decoded packet's samples, as f32, to `channels` (made on the first packet); a
/// stream whose channel count changes is refused.
fn append(
    channels: &mut Vec<Vec<f32>>,
    decoded: AudioBufferRef<'_>,
) -> std::result::Result<(), String> {
    let n_channels = decoded.spec().channels.count();
    if channels.is_empty() {
        *channels = vec![Vec::new(); n_channels];
    } else if channels.len() != n_channels {
        return Err(format!(
            "channel count changes mid-stream ({} -> {n_channels})",
            channels.len()
        ));
    }
    let mut buf = decoded.make_equivalent::<f32>();
    decoded.convert(&mut buf);
    for (c, dst) in channels.iter_mut().enumerate() {
        dst.extend_from_slice(symphonia::core::audio::Signal::chan(&buf, c));
    }
    Ok(())
}
