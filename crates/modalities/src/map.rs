//! One-channel maps, what depth and thermal inputs have in common: decoding an image file
//! as stored (bit depth and channels kept) and the float resize + centre crop that follows
//! torchvision's `Resize(S)` + `CenterCrop(S)` on a single channel.

use std::io::Cursor;
use std::path::Path;

use image::{ColorType, DynamicImage, ImageDecoder, ImageReader};
use ndarray::{Array2, ArrayView2, s};

use crate::{Error, Result};

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
            Filter::Bicubic => crate::vision::bicubic(x),
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
