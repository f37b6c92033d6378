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
//!
//! This module also holds the helpers shared with [`crate::depth`] and [`crate::imu`]:
//! reading a file, decoding an image, and the single-channel float resize + centre crop.

use std::io::Cursor;
use std::path::Path;

use image::{ColorType, DynamicImage, ImageDecoder, ImageReader};
use ndarray::{Array2, Array3, ArrayView2, Axis, s};

use crate::{Error, Result};

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

// ---------------------------------------------------------------------------------------
// Helpers shared by the sensor modalities (depth, thermal, IMU)
// ---------------------------------------------------------------------------------------

/// Reads a whole input file; an unreadable or empty file is a decode error naming the file.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = crate::Limits::current().read_file(path)?;
    if bytes.is_empty() {
        return Err(Error::decode(path, "the file is empty (0 bytes)"));
    }
    Ok(bytes)
}

/// Decodes image bytes, keeping the stored bit depth and channels (no conversion), so the
/// callers can insist on 16-bit or single-channel data. The format is sniffed from the
/// content, so the extension does not matter; the declared size is checked against
/// [`crate::Limits`] before anything is decoded.
pub(crate) fn decode_image(path: &Path, bytes: &[u8]) -> Result<DynamicImage> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::decode(path, format!("cannot read file: {e}")))?;
    if reader.format().is_none() {
        return Err(Error::decode(
            path,
            "not an image this program can decode (unknown format)",
        ));
    }
    let cannot = |e| Error::decode(path, format!("cannot decode image: {e}"));
    let decoder = reader.into_decoder().map_err(cannot)?;
    let (width, height) = decoder.dimensions();
    crate::Limits::current().check_image(path, width.into(), height.into())?;
    DynamicImage::from_decoder(decoder).map_err(cannot)
}

/// Human wording of a pixel layout, e.g. "3-channel 8-bit", for error messages.
pub(crate) fn describe_color(color: ColorType) -> String {
    let channels = color.channel_count();
    let bits = match color {
        ColorType::Rgb32F | ColorType::Rgba32F => "32-bit float".to_string(),
        _ => format!(
            "{}-bit",
            color.bits_per_pixel() / u16::from(channels.max(1))
        ),
    };
    format!("{channels}-channel {bits}")
}

/// Interpolation kernels of [`resize_shorter_and_crop`], defined as Pillow defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    /// Triangle kernel: linear interpolation, an area average when shrinking.
    Bilinear,
    /// Keys cubic with a = -0.5 (Pillow's and torchvision's BICUBIC).
    Bicubic,
}

impl Filter {
    /// Half-width of the kernel in input pixels, before scaling for downsampling.
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Filter::Bilinear => (1.0 - x).max(0.0),
            Filter::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// Resizes a single-channel float image so its shorter side is `size`, then takes the
/// central `size × size` square — torchvision's `Resize(size)` + `CenterCrop(size)`.
///
/// - Output size: the longer side becomes `floor(size · long / short)`, as torchvision.
/// - Resampling: Pillow's separable convolution (horizontal pass, then vertical). When
///   shrinking, the kernel is widened by the scale factor, so the result is antialiased
///   (an area-weighted average, the same as torchvision's `antialias=True`); when
///   enlarging it is plain interpolation with pixel centres aligned (`align_corners=False`).
///   Weights are renormalised at the borders, so edges are not darkened.
/// - Crop offsets: `round((h - size) / 2)` with Python's round-half-to-even, as torchvision.
///
/// An empty input (or `size == 0`) gives a zero `size × size` array rather than panicking.
pub(crate) fn resize_shorter_and_crop(x: &Array2<f32>, size: usize, filter: Filter) -> Array2<f32> {
    let (h, w) = x.dim();
    if h == 0 || w == 0 || size == 0 {
        return Array2::zeros((size, size));
    }
    let (new_h, new_w) = shorter_side_target(h, w, size);
    let mut resized = x.to_owned();
    if new_w != w {
        resized = resize_rows(resized.view(), new_w, filter);
    }
    if new_h != h {
        resized = resize_rows(resized.t(), new_h, filter).reversed_axes();
    }
    center_crop(&resized, size)
}

/// `(height, width)` after torchvision's shorter-side resize.
fn shorter_side_target(h: usize, w: usize, size: usize) -> (usize, usize) {
    // Python: int(size * long / short); size * long is exact in f64 for any real image.
    let long_side = |long: usize, short: usize| ((size * long) as f64 / short as f64) as usize;
    if w <= h {
        (long_side(h, w), size)
    } else {
        (size, long_side(w, h))
    }
}

/// Central `size × size` window; the input must be at least that large on both sides.
fn center_crop(x: &Array2<f32>, size: usize) -> Array2<f32> {
    let (h, w) = x.dim();
    let offset = |len: usize| (len.saturating_sub(size) as f64 / 2.0).round_ties_even() as usize;
    let (top, left) = (offset(h), offset(w));
    x.slice(s![top..top + size, left..left + size]).to_owned()
}

/// The input pixels one output pixel reads: first index and normalised weights.
struct Taps {
    start: usize,
    weights: Vec<f64>,
}

/// Pillow's `precompute_coeffs`: for each output pixel, the input window under the
/// (scaled) kernel centred on it, with weights summing to one.
fn taps(in_len: usize, out_len: usize, filter: Filter) -> Vec<Taps> {
    let scale = in_len as f64 / out_len as f64;
    let filter_scale = scale.max(1.0);
    let support = filter.support() * filter_scale;
    (0..out_len)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            // `as i64` truncates toward zero, like the C casts in Pillow.
            let first = ((center - support + 0.5) as i64).max(0) as usize;
            let end = ((center + support + 0.5) as i64).clamp(0, in_len as i64) as usize;
            let mut weights: Vec<f64> = (first..end)
                .map(|j| filter.weight((j as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            }
            Taps {
                start: first,
                weights,
            }
        })
        .collect()
}

/// Resamples every row of `x` to `out_len` columns.
fn resize_rows(x: ArrayView2<f32>, out_len: usize, filter: Filter) -> Array2<f32> {
    let (rows, in_len) = x.dim();
    let taps = taps(in_len, out_len, filter);
    let mut out = Array2::zeros((rows, out_len));
    for (src, mut dst) in x.outer_iter().zip(out.outer_iter_mut()) {
        for (d, tap) in dst.iter_mut().zip(&taps) {
            let window = src.slice(s![tap.start..tap.start + tap.weights.len()]);
            let sum: f64 = window
                .iter()
                .zip(&tap.weights)
                .map(|(&v, &w)| f64::from(v) * w)
                .sum();
            *d = sum as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_size_follows_torchvision() {
        assert_eq!(shorter_side_target(480, 640, 224), (224, 298));
        assert_eq!(shorter_side_target(640, 480, 224), (298, 224));
        assert_eq!(shorter_side_target(100, 100, 224), (224, 224));
    }

    #[test]
    fn crop_offset_rounds_half_to_even() {
        // 229 - 224 = 5 → 2.5 → 2 (Python round); 231 - 224 = 7 → 3.5 → 4.
        let x = Array2::from_shape_fn((229, 231), |(r, c)| (r * 1000 + c) as f32);
        let c = center_crop(&x, 224);
        assert_eq!(c[[0, 0]], (2 * 1000 + 4) as f32);
    }

    #[test]
    fn constant_image_stays_constant() {
        let x = Array2::from_elem((37, 91), 0.25f32);
        for filter in [Filter::Bilinear, Filter::Bicubic] {
            let y = resize_shorter_and_crop(&x, 16, filter);
            assert_eq!(y.dim(), (16, 16));
            assert!(y.iter().all(|&v| (v - 0.25).abs() < 1e-6));
        }
    }

    #[test]
    fn halving_with_bilinear_averages_pairs() {
        // Shrinking 2× with the widened triangle kernel averages each pair with its
        // neighbours' halves: weights 1/8, 3/8, 3/8, 1/8 away from the borders.
        let x = Array2::from_shape_fn((1, 8), |(_, c)| c as f32);
        let y = resize_rows(x.view(), 4, Filter::Bilinear);
        assert!((y[[0, 1]] - 2.5).abs() < 1e-6, "{y:?}");
    }

    #[test]
    fn same_size_is_identity() {
        let x = Array2::from_shape_fn((5, 5), |(r, c)| (r * 5 + c) as f32);
        assert_eq!(resize_shorter_and_crop(&x, 5, Filter::Bicubic), x);
    }
}
