//! RIFF/WAVE: hound reads the header, the PCM samples are converted here.

use std::path::Path;

use super::Waveform;
use super::with_symphonia::decode_with_symphonia;
use crate::{Error, Result};

/// Reads a RIFF/WAVE file: hound parses the header, and the PCM data is converted straight from
/// the bytes (hound's per-sample reader is several times slower for the same result). Encodings
/// or headers hound rejects (A-law, float64, odd fmt chunks...) get a second chance with
/// symphonia; if that fails too, hound's reason is reported.
pub(super) fn decode_wav(path: &Path) -> Result<Waveform> {
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
