//! The bytes of the file views: PNG images, WAV audio and IMU CSV.

use std::io::Cursor;
use std::path::Path;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};

use crate::{SAMPLE_RATE, WorldError};

/// PNG bytes of an image buffer (deterministic encoder settings).
pub(crate) fn png<P, C>(img: &image::ImageBuffer<P, C>, path: &Path) -> Result<Vec<u8>, WorldError>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    let mut bytes = Vec::new();
    img.write_with_encoder(PngEncoder::new_with_quality(
        &mut bytes,
        CompressionType::Fast,
        FilterType::Adaptive,
    ))
    .map_err(|e| WorldError::Encode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(bytes)
}

/// WAV bytes (16 kHz mono 16-bit PCM).
pub fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::with_capacity(44 + 2 * samples.len()));
    {
        let mut w =
            hound::WavWriter::new(&mut cursor, spec).expect("writing to memory cannot fail");
        let mut w16 = w.get_i16_writer(samples.len() as u32);
        for &s in samples {
            w16.write_sample(s);
        }
        w16.flush().expect("writing to memory cannot fail");
        w.finalize().expect("writing to memory cannot fail");
    }
    cursor.into_inner()
}

/// CSV text of IMU rows.
pub fn imu_csv(rows: &[[f32; 7]]) -> String {
    let mut s = String::with_capacity(16 + rows.len() * 60);
    s.push_str("t,ax,ay,az,gx,gy,gz\n");
    for r in rows {
        s.push_str(&format!(
            "{:.2},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}\n",
            r[0], r[1], r[2], r[3], r[4], r[5], r[6]
        ));
    }
    s
}
