//! Image input: decoding to 8-bit RGB and ImageBind's exact preprocessing.
//!
//! ImageBind opens images with Pillow, which decodes JPEG with libjpeg-turbo. Other JPEG
//! decoders (the image crate's zune-jpeg among them) round the inverse DCT, the chroma
//! upsampling and the colour conversion differently and move a quarter of the samples by
//! up to four levels, so JPEG goes through [`jpeg`], a decoder that does those steps the
//! way libjpeg-turbo's defaults do and matches it sample for sample. Every other format,
//! and any JPEG that decoder does not cover, is decoded by the image crate.
//!
//! ImageBind resizes with torchvision on a PIL image, so the numbers it sees come from
//! Pillow's uint8 bicubic resampler. [`resize_shorter_side`] re-implements that resampler
//! bit for bit (same filter, same support, same 22-bit fixed-point rounding, same pass
//! order), because a float resize would move pixels by a level or two and the embeddings
//! with them. The crop uses torchvision's rounding and the normalisation is done in `f32`
//! in the same order as `ToTensor` + `Normalize`.

use std::io::Cursor;
use std::path::Path;

use image::{
    DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage, RgbaImage,
    metadata::Orientation,
};
use ndarray::Array3;

use crate::{Error, Result};

/// How an image is fitted to the vision encoder.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VisionPreprocess {
    /// Side of the square the encoder takes; also the target of the shorter side.
    pub image_size: usize,
    /// Per-channel mean subtracted after scaling to [0, 1] (RGB order).
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by after subtracting the mean.
    pub std: [f32; 3],
}

impl Default for VisionPreprocess {
    /// ImageBind's: 224 pixels and CLIP's normalisation constants.
    // Written digit for digit as in ImageBind; the f32 rounding is the same as torch's.
    #[allow(clippy::excessive_precision)]
    fn default() -> Self {
        VisionPreprocess {
            image_size: 224,
            mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
            std: [0.268_629_54, 0.261_302_58, 0.275_777_11],
        }
    }
}

/// Decodes, resizes, crops and normalises an image file into a `[3, size, size]` array.
pub fn load_image(path: &Path, cfg: &VisionPreprocess) -> Result<Array3<f32>> {
    let img = decode_image(path)?;
    if cfg.image_size == 0 {
        return Err(Error::invalid(path, "image_size must be positive"));
    }
    Ok(preprocess(&img, cfg))
}

/// Resize (shorter side), centre crop, normalise: ImageBind's vision transform.
pub fn preprocess(img: &RgbImage, cfg: &VisionPreprocess) -> Array3<f32> {
    let resized = resize_shorter_side(img, cfg.image_size);
    let cropped = center_crop(&resized, cfg.image_size);
    normalize(&cropped, cfg)
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// Reads and decodes an image file to 8-bit RGB (see [`decode_image_bytes`]).
pub fn decode_image(path: &Path) -> Result<RgbImage> {
    let bytes = crate::Limits::current().read_file(path)?;
    decode_image_bytes(&bytes, path)
}

/// Decodes PNG, JPEG, WebP, BMP, GIF (first frame) or TIFF bytes to 8-bit RGB.
///
/// The format is sniffed from the content (so a mis-named file still decodes), falling
/// back to the extension of `path`, which is otherwise only used in error messages.
/// Huffman-coded 8-bit JPEG (baseline or progressive, grey, YCbCr or RGB) decodes to
/// exactly the samples Pillow gets from libjpeg-turbo; other JPEG variants (arithmetic
/// coding, CMYK, 12-bit, ...) and all other formats use the image crate's decoders.
/// EXIF orientation is applied so the picture is upright as viewers show it. Transparent pixels are composited on white,
/// because dropping alpha would expose whatever colour the encoder left under them
/// (often black), which is not what the image looks like. Grayscale is expanded to RGB
/// and 16-bit samples are rounded to 8 bits. The size the header declares is checked
/// against [`crate::Limits`] (pixels, aspect ratio) before any decoder allocates, so a
/// decompression bomb is one error line, not an exhausted machine.
pub fn decode_image_bytes(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::decode(path, "empty file, not an image"));
    }
    let sniffed = image::guess_format(bytes).ok();
    let Some(format) = sniffed.or_else(|| ImageFormat::from_path(path).ok()) else {
        return Err(Error::decode(
            path,
            "not a recognised image format (PNG, JPEG, WebP, BMP, GIF or TIFF)",
        ));
    };
    let decode_error = |err| match sniffed {
        Some(_) => describe_decode_error(path, err),
        // Only the extension said what this is, and its content disagrees.
        None => {
            let name = format!("{format:?}").to_uppercase();
            Error::decode(path, format!("content is not a valid {name} image: {err}"))
        }
    };
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    crate::Limits::current().check_image(path, width.into(), height.into())?;
    // A broken EXIF block should not make an otherwise good image unusable.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let exact = match format {
        ImageFormat::Jpeg => decode_jpeg_like_libjpeg(bytes),
        _ => None,
    };
    let mut img = match exact {
        Some(img) => img,
        None => DynamicImage::from_decoder(decoder).map_err(decode_error)?,
    };
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::invalid(
            path,
            format!("image has no pixels ({}x{})", img.width(), img.height()),
        ));
    }
    Ok(to_rgb8(img))
}

/// JPEG decoded as libjpeg-turbo (and so Pillow) decodes it, or `None` where [`jpeg`]
/// does not cover the file; the image crate then decodes it, or says what is wrong.
pub(crate) fn decode_jpeg_like_libjpeg(bytes: &[u8]) -> Option<DynamicImage> {
    let decoded = crate::jpeg::decode(bytes).ok()?;
    let (w, h) = (decoded.width, decoded.height);
    match decoded.channels {
        1 => image::GrayImage::from_raw(w, h, decoded.pixels).map(DynamicImage::ImageLuma8),
        _ => RgbImage::from_raw(w, h, decoded.pixels).map(DynamicImage::ImageRgb8),
    }
}

/// Names the failure the way a user can act on it.
fn describe_decode_error(path: &Path, err: image::ImageError) -> Error {
    match err {
        image::ImageError::Unsupported(e) => Error::decode(path, format!("unsupported image: {e}")),
        image::ImageError::Limits(e) => {
            Error::invalid(path, format!("image too large to decode: {e}"))
        }
        other => Error::decode(path, format!("corrupt or truncated image: {other}")),
    }
}

/// 8-bit RGB, with any alpha composited on white.
fn to_rgb8(img: DynamicImage) -> RgbImage {
    if img.color().has_alpha() {
        composite_on_white(&img.to_rgba8())
    } else {
        img.to_rgb8()
    }
}

/// `c·a + 255·(1 − a)` per channel, rounded to the nearest level.
fn composite_on_white(rgba: &RgbaImage) -> RgbImage {
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend = |c: u8| {
            let (c, a) = (u32::from(c), u32::from(a));
            ((c * a + 255 * (255 - a) + 127) / 255) as u8
        };
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

// ---------------------------------------------------------------------------------------
// Pillow's bicubic resampler
// ---------------------------------------------------------------------------------------

/// Fixed-point precision of Pillow's 8-bit resampler (`32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;
/// Support of the bicubic kernel in source pixels at scale 1.
const BICUBIC_SUPPORT: f64 = 2.0;

/// torchvision `Resize(size)` on a PIL image: the shorter side becomes `size`, the longer
/// `int(size * long / short)`, resampled with Pillow's uint8 bicubic filter.
pub fn resize_shorter_side(img: &RgbImage, size: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 || size == 0 {
        return RgbImage::new(0, 0);
    }
    let scaled_long =
        |long: usize, short: usize| (size as f64 * long as f64 / short as f64) as usize;
    let (out_w, out_h) = if w <= h {
        (size, scaled_long(h, w))
    } else {
        (scaled_long(w, h), size)
    };
    resize_bicubic(img, out_w, out_h)
}

/// Pillow's `Image.resize((out_w, out_h), BICUBIC)` for RGB: horizontal pass, then
/// vertical, each skipped when that dimension does not change.
fn resize_bicubic(img: &RgbImage, out_w: usize, out_h: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut data = img.as_raw().clone();
    let mut cur_w = w;
    if out_w != w {
        data = resample_horizontal(&data, w, h, &Kernel::new(w, out_w));
        cur_w = out_w;
    }
    if out_h != h {
        data = resample_vertical(&data, cur_w, h, &Kernel::new(h, out_h));
    }
    // The buffer length is out_w * out_h * 3 by construction.
    RgbImage::from_raw(out_w as u32, out_h as u32, data)
        .unwrap_or_else(|| RgbImage::new(out_w as u32, out_h as u32))
}

/// Per-output-pixel source window and fixed-point weights (Pillow's `precompute_coeffs`
/// followed by `normalize_coeffs_8bpc`).
struct Kernel {
    /// Weights per output pixel, `size` entries each (only the first `len` are used).
    size: usize,
    /// `(first source index, number of taps)` per output pixel.
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

impl Kernel {
    fn new(in_size: usize, out_size: usize) -> Self {
        let scale = in_size as f64 / out_size as f64;
        // Downscaling widens the filter so every source pixel contributes (antialiasing).
        let filter_scale = scale.max(1.0);
        let support = BICUBIC_SUPPORT * filter_scale;
        // Pillow multiplies by the reciprocal; dividing would round differently.
        let inv_scale = 1.0 / filter_scale;
        let size = support.ceil() as usize * 2 + 1;
        let mut bounds = Vec::with_capacity(out_size);
        let mut weights = vec![0i32; out_size * size];
        let mut taps = vec![0f64; size];
        for (xx, row) in weights.chunks_exact_mut(size).enumerate() {
            let center = (xx as f64 + 0.5) * scale;
            // C's `(int)` truncates toward zero; negatives clamp to 0 either way.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let len = xmax.saturating_sub(xmin);
            let mut total = 0.0;
            for (x, tap) in taps[..len].iter_mut().enumerate() {
                *tap = bicubic(((x + xmin) as f64 - center + 0.5) * inv_scale);
                total += *tap;
            }
            for (w, &tap) in row.iter_mut().zip(&taps[..len]) {
                let tap = if total != 0.0 { tap / total } else { tap };
                *w = to_fixed(tap);
            }
            bounds.push((xmin, len));
        }
        Kernel {
            size,
            bounds,
            weights,
        }
    }

    fn taps(&self, out_index: usize) -> (usize, &[i32]) {
        let (start, len) = self.bounds[out_index];
        let offset = out_index * self.size;
        (start, &self.weights[offset..offset + len])
    }
}

/// Pillow's bicubic kernel with a = -0.5 (Keys' cubic convolution).
pub(crate) fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// A normalised weight in 22-bit fixed point, rounded half away from zero as Pillow does.
fn to_fixed(weight: f64) -> i32 {
    let scaled = weight * f64::from(1u32 << PRECISION_BITS);
    if weight < 0.0 {
        (scaled - 0.5) as i32
    } else {
        (scaled + 0.5) as i32
    }
}

/// Rounds a fixed-point accumulator (which starts at one half) to a clipped 8-bit level.
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resamples every row of an interleaved RGB buffer to `kernel.bounds.len()` pixels.
fn resample_horizontal(src: &[u8], w: usize, h: usize, kernel: &Kernel) -> Vec<u8> {
    let out_w = kernel.bounds.len();
    let mut out = vec![0u8; out_w * h * 3];
    for (src_row, out_row) in src.chunks_exact(w * 3).zip(out.chunks_exact_mut(out_w * 3)) {
        for (xx, px) in out_row.chunks_exact_mut(3).enumerate() {
            let (start, weights) = kernel.taps(xx);
            let mut acc = [1i64 << (PRECISION_BITS - 1); 3];
            for (i, &k) in weights.iter().enumerate() {
                let s = &src_row[(start + i) * 3..(start + i) * 3 + 3];
                for c in 0..3 {
                    acc[c] += i64::from(s[c]) * i64::from(k);
                }
            }
            for c in 0..3 {
                px[c] = clip8(acc[c]);
            }
        }
    }
    out
}

/// Resamples every column of an interleaved RGB buffer to `kernel.bounds.len()` rows.
fn resample_vertical(src: &[u8], w: usize, h: usize, kernel: &Kernel) -> Vec<u8> {
    debug_assert_eq!(src.len(), w * h * 3);
    let row_len = w * 3;
    let out_h = kernel.bounds.len();
    let mut out = vec![0u8; row_len * out_h];
    let mut acc = vec![0i64; row_len];
    for (yy, out_row) in out.chunks_exact_mut(row_len).enumerate() {
        let (start, weights) = kernel.taps(yy);
        acc.fill(1i64 << (PRECISION_BITS - 1));
        for (i, &k) in weights.iter().enumerate() {
            let src_row = &src[(start + i) * row_len..(start + i + 1) * row_len];
            for (a, &s) in acc.iter_mut().zip(src_row) {
                *a += i64::from(s) * i64::from(k);
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Crop and normalisation
// ---------------------------------------------------------------------------------------

/// torchvision `CenterCrop(size)`: offsets `round((h - size) / 2)` and
/// `round((w - size) / 2)` with Python's round-half-to-even. An image smaller than `size`
/// is first zero-padded, split as torchvision does (the extra pixel goes right/bottom).
pub fn center_crop(img: &RgbImage, size: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let img = if w < size || h < size {
        pad_to(img, size.max(w), size.max(h))
    } else {
        img.clone()
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    let top = half_round_even(h - size);
    let left = half_round_even(w - size);
    image::imageops::crop_imm(&img, left as u32, top as u32, size as u32, size as u32).to_image()
}

/// `round(d / 2.0)` in Python: exact halves go to the even neighbour.
fn half_round_even(d: usize) -> usize {
    let half = d / 2;
    if d % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

/// Zero-pads to `w × h`, left/top getting `floor(extra / 2)`.
fn pad_to(img: &RgbImage, w: usize, h: usize) -> RgbImage {
    let left = (w - img.width() as usize) / 2;
    let top = (h - img.height() as usize) / 2;
    let mut out = RgbImage::new(w as u32, h as u32);
    image::imageops::replace(&mut out, img, left as i64, top as i64);
    out
}

/// `ToTensor` then `Normalize`: `[3, H, W]`, `(x / 255 - mean) / std`, all in `f32` and in
/// that order so results match PyTorch to the last bit.
pub fn normalize(img: &RgbImage, cfg: &VisionPreprocess) -> Array3<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = Array3::<f32>::zeros((3, h, w));
    for (x, y, px) in img.enumerate_pixels() {
        for c in 0..3 {
            let v = f32::from(px.0[c]) / 255.0;
            out[[c, y as usize, x as usize]] = (v - cfg.mean[c]) / cfg.std[c];
        }
    }
    out
}
