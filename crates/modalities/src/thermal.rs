//! Thermal input: a grayscale image, resized and centre-cropped to `[1, S, S]`.
//!
//! ImageBind ships no thermal loader. The community one (issue #37, PR #73) opens the file
//! with PIL, converts it to 8-bit "L", resizes the shorter side to 224 with bicubic
//! interpolation, centre-crops 224 and calls `ToTensor`. PR #73 also applied
//! `Normalize(0.5, 0.5)`, but a reproduction on LLVIP scored 62.4 % without it against
//! 55.2 % with it (closer to the paper's 63.4 %), so by default we do **not** normalise:
//! values stay in `[0, 1]`. A preset may set a mean and std.
//!
//! Accepted files (format rules, also quoted in the README and `--help`):
//! - PNG, JPEG, TIFF (or any other format the `image` crate decodes) holding one channel,
//!   8-bit (divided by 255) or 16-bit (divided by 65535), so values are in `[0, 1]`;
//! - a gray+alpha image: the alpha channel is ignored;
//! - an RGB(A) image whose three channels are equal (within 2/255, for JPEG rounding),
//!   such as a grayscale picture saved as a colour JPEG: the mean of the channels is used;
//! - a real colour image (a false-colour palette rendering, a photo) is refused, because
//!   its colours cannot be mapped back to temperatures.
//!
//! Differences from PR #73: 16-bit files keep their full range (PIL's conversion to "L"
//! would clip them at 255), and resizing is done in `f32` without PIL's rounding to 8 bits.

use std::path::Path;

use image::DynamicImage;
use ndarray::{Array2, Array3, Axis};

use crate::map::{Filter, decode_image, describe_color, resize_shorter_and_crop};
use crate::{Error, Result, read_file};

/// Geometry of the thermal input. [`Default`] is ImageBind's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThermalPreprocess {
    /// Side of the square the encoder takes; also the target of the shorter side.
    pub image_size: usize,
    /// `(x - mean) / std` after resizing; 0 and 1 (none) for ImageBind (see the module doc).
    #[serde(default)]
    pub mean: f32,
    #[serde(default = "crate::unit_std")]
    pub std: f32,
}

impl Default for ThermalPreprocess {
    /// ImageBind's thermal encoder takes `[1, 224, 224]`, not normalised.
    fn default() -> Self {
        ThermalPreprocess {
            image_size: 224,
            mean: 0.0,
            std: 1.0,
        }
    }
}

/// Largest channel difference (as a fraction of full scale) for which an RGB pixel still
/// counts as gray. JPEG encoders round the colour conversion, so a grayscale picture saved
/// as colour JPEG can come back with channels a level apart.
const GRAY_TOLERANCE: f32 = 2.0 / 255.0;

/// Decodes, resizes and crops a thermal image into `[1, size, size]` with values in `[0, 1]`.
pub fn load_thermal(path: &Path, cfg: &ThermalPreprocess) -> Result<Array3<f32>> {
    Ok(preprocess(&decode_thermal(path)?, cfg))
}

/// Reads a grayscale thermal image as `[H, W]` intensities in `[0, 1]` (see the module doc
/// for what is accepted).
pub fn decode_thermal(path: &Path) -> Result<Array2<f32>> {
    let bytes = read_file(path)?;
    let img = decode_image(path, &bytes)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Err(Error::invalid(path, "the image has no pixels"));
    }
    let values = gray_values(&img).map_err(|reason| Error::invalid(path, reason))?;
    Array2::from_shape_vec((h, w), values).map_err(|e| Error::invalid(path, e))
}

/// Resizes the shorter side to `image_size` (bicubic, as PR #73) and centre-crops, giving
/// `[1, S, S]`. Bicubic overshoots at sharp edges, so the result is clamped back to
/// `[0, 1]`, as PIL's 8-bit resampler does; then `(x - mean) / std` (none by default, see
/// the module doc).
pub fn preprocess(t: &Array2<f32>, cfg: &ThermalPreprocess) -> Array3<f32> {
    resize_shorter_and_crop(t, cfg.image_size, Filter::Bicubic)
        .mapv(|v| (v.clamp(0.0, 1.0) - cfg.mean) / cfg.std)
        .insert_axis(Axis(0))
}

/// Turns any supported pixel layout into row-major intensities in `[0, 1]`, or says why the
/// image is not a thermal image.
fn gray_values(img: &DynamicImage) -> std::result::Result<Vec<f32>, String> {
    const U8: f32 = u8::MAX as f32;
    const U16: f32 = u16::MAX as f32;
    let width = img.width() as usize;
    match img {
        DynamicImage::ImageLuma8(b) => Ok(b.as_raw().iter().map(|&v| f32::from(v) / U8).collect()),
        DynamicImage::ImageLumaA8(b) => Ok(first_channel(b.as_raw(), 2, U8)),
        DynamicImage::ImageLuma16(b) => {
            Ok(b.as_raw().iter().map(|&v| f32::from(v) / U16).collect())
        }
        DynamicImage::ImageLumaA16(b) => Ok(first_channel(b.as_raw(), 2, U16)),
        DynamicImage::ImageRgb8(b) => gray_from_rgb(b.as_raw(), 3, U8, width),
        DynamicImage::ImageRgba8(b) => gray_from_rgb(b.as_raw(), 4, U8, width),
        DynamicImage::ImageRgb16(b) => gray_from_rgb(b.as_raw(), 3, U16, width),
        DynamicImage::ImageRgba16(b) => gray_from_rgb(b.as_raw(), 4, U16, width),
        other => Err(format!(
            "a thermal image must be 8- or 16-bit grayscale; got {}",
            describe_color(other.color())
        )),
    }
}

/// Channel 0 of interleaved samples, scaled to `[0, 1]` (drops alpha from gray+alpha).
fn first_channel<T: Copy + Into<f32>>(samples: &[T], channels: usize, max: f32) -> Vec<f32> {
    samples
        .chunks_exact(channels)
        .map(|p| p[0].into() / max)
        .collect()
}

/// Mean of R, G, B scaled to `[0, 1]`, provided every pixel is gray within
/// [`GRAY_TOLERANCE`]; otherwise names the most colourful pixel so the user can check.
fn gray_from_rgb<T: Copy + Into<f32>>(
    samples: &[T],
    channels: usize,
    max: f32,
    width: usize,
) -> std::result::Result<Vec<f32>, String> {
    let mut out = Vec::with_capacity(samples.len() / channels);
    let mut worst = (0.0f32, 0usize);
    for (i, p) in samples.chunks_exact(channels).enumerate() {
        let (r, g, b) = (p[0].into() / max, p[1].into() / max, p[2].into() / max);
        let spread = r.max(g).max(b) - r.min(g).min(b);
        if spread > worst.0 {
            worst = (spread, i);
        }
        out.push((r + g + b) / 3.0);
    }
    if worst.0 > GRAY_TOLERANCE {
        let (x, y) = (worst.1 % width.max(1), worst.1 / width.max(1));
        return Err(format!(
            "a thermal image must be grayscale, but this {}-channel image has colour \
             (channels differ by {:.0}/255 at pixel x={x}, y={y}); \
             save the raw single-channel thermal frame instead of a false-colour rendering",
            channels,
            worst.0 * 255.0
        ));
    }
    Ok(out)
}
