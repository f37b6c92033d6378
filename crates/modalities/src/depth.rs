//! Depth input: a metric depth map turned into disparity, resized and centre-cropped to
//! `[1, S, S]`.
//!
//! ImageBind ships no depth loader. Its depth encoder was trained, like Omnivore's, on
//! *disparity* (`baseline · focal / depth`), not on depth; the conversion we follow is the one
//! Omnivore's author posted for SUN RGB-D (omnivore#12, cited in ImageBind #69/#134), with
//! the Kinect v1 constants of NYU-D as the default (baseline 0.075 m, focal 518.8579 px).
//! The per-pixel rule is:
//!
//! ```text
//! disparity = disparity_scale / clamp(depth_m, min_depth_m, max_depth_m)   if depth_m > 0
//! disparity = 0                                                            if depth_m = 0
//! ```
//!
//! One deliberate difference from Omnivore: a depth of 0 means "no reading" in Kinect-style
//! maps, and Omnivore's clip turned those holes into the largest disparity in the image
//! (as if an object touched the lens); we give them disparity 0 (infinitely far), which is
//! what an absent return looks like to a stereo sensor. By default no mean/std normalisation
//! is applied (the values reported in ImageBind #107 are not official); a preset may set one.
//!
//! Accepted files (format rules, also quoted in the README and `--help`):
//! - a single-channel 16-bit PNG (or 16-bit TIFF) in millimetres, 0 = no reading — the
//!   NYU-D / SUN RGB-D / Kinect convention; 8-bit or colour images are refused, because
//!   their values cannot be metric depth;
//! - a `.npy` array of float32 or float64 depths in metres, shaped `[H, W]` or `[1, H, W]`;
//!   values must be finite and ≥ 0 (0 = no reading).
//!
//! The kind of file is recognised by its content (the `.npy` magic bytes), not its name.
//! A map with no valid reading at all (every pixel 0) is refused: it carries no information.

use std::path::Path;

use image::DynamicImage;
use ndarray::{Array2, Array3, Axis, Ix2};

use crate::map::{Filter, decode_image, describe_color, resize_shorter_and_crop};
use crate::npy::{NPY_MAGIC, read_float_npy};
use crate::read_file;
use crate::{Error, Result};

/// Geometry and depth→disparity conversion of the depth input. [`Default`] is ImageBind's
/// geometry with NYU-D's (Kinect v1) camera constants.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DepthPreprocess {
    /// Side of the square the encoder takes; also the target of the shorter side.
    pub image_size: usize,
    /// Stereo baseline × focal length, in metre·pixels: `disparity = scale / depth`.
    pub disparity_scale: f32,
    /// Depths below this (but above 0) are raised to it, bounding the disparity.
    pub min_depth_m: f32,
    /// Depths beyond this are lowered to it (sensor range; farther readings are noise).
    pub max_depth_m: f32,
    /// `(disparity - mean) / std` after resizing; 0 and 1 (none) for ImageBind.
    #[serde(default)]
    pub mean: f32,
    #[serde(default = "crate::unit_std")]
    pub std: f32,
}

impl Default for DepthPreprocess {
    /// 224 pixels; Kinect v1 baseline 0.075 m × focal 518.8579 px (NYU-D); depth clipped to
    /// [0.01 m, 10 m] (Omnivore's lower bound; 10 m is the usual indoor bound of NYU-D).
    fn default() -> Self {
        DepthPreprocess {
            image_size: 224,
            disparity_scale: 0.075 * 518.8579,
            min_depth_m: 0.01,
            max_depth_m: 10.0,
            mean: 0.0,
            std: 1.0,
        }
    }
}

/// Decodes a depth file, converts it to disparity, resizes and crops it to `[1, S, S]`.
pub fn load_depth(path: &Path, cfg: &DepthPreprocess) -> Result<Array3<f32>> {
    Ok(preprocess(&decode_depth(path)?, cfg))
}

/// Reads a depth map as `[H, W]` metres, 0 meaning "no reading" (see the module doc for the
/// accepted files).
pub fn decode_depth(path: &Path) -> Result<Array2<f32>> {
    let bytes = read_file(path)?;
    let depth = if bytes.starts_with(NPY_MAGIC) {
        depth_from_npy(path, &bytes)?
    } else {
        depth_from_image(path, &decode_image(path, &bytes)?)?
    };
    if depth.is_empty() {
        return Err(Error::invalid(path, "the depth map has no pixels"));
    }
    if depth.iter().all(|&d| d == 0.0) {
        return Err(Error::invalid(
            path,
            "the depth map has no valid reading (every pixel is 0)",
        ));
    }
    Ok(depth)
}

/// Depth → disparity (see the module doc), then shorter-side resize to `image_size` and
/// centre crop, giving `[1, S, S]`.
///
/// Resizing is bilinear, antialiased when shrinking (an area-weighted average, as
/// torchvision's `antialias=True`), and is done on disparity, which is what the encoder sees.
/// Holes (disparity 0) are averaged with their neighbours like any other pixel, so their
/// edges soften; a 224×224 map is not resampled at all.
pub fn preprocess(depth_m: &Array2<f32>, cfg: &DepthPreprocess) -> Array3<f32> {
    let disparity = depth_m.mapv(|d| to_disparity(d, cfg));
    resize_shorter_and_crop(&disparity, cfg.image_size, Filter::Bilinear)
        .mapv(|v| (v - cfg.mean) / cfg.std)
        .insert_axis(Axis(0))
}

/// One pixel's disparity. `max`/`min` instead of `clamp`, which would panic on a
/// configuration with `min_depth_m > max_depth_m`; anything not > 0 (including NaN) is
/// treated as no reading.
fn to_disparity(depth_m: f32, cfg: &DepthPreprocess) -> f32 {
    if depth_m > 0.0 {
        cfg.disparity_scale / depth_m.max(cfg.min_depth_m).min(cfg.max_depth_m)
    } else {
        0.0
    }
}

/// Millimetres from a 16-bit single-channel image, in metres.
fn depth_from_image(path: &Path, img: &DynamicImage) -> Result<Array2<f32>> {
    let DynamicImage::ImageLuma16(buf) = img else {
        return Err(Error::invalid(
            path,
            format!(
                "a depth map must be a single-channel 16-bit PNG in millimetres or a .npy in metres; got {}",
                describe_color(img.color())
            ),
        ));
    };
    let (w, h) = (buf.width() as usize, buf.height() as usize);
    let metres = buf
        .as_raw()
        .iter()
        .map(|&mm| f32::from(mm) / 1000.0)
        .collect();
    Array2::from_shape_vec((h, w), metres).map_err(|e| Error::invalid(path, e))
}

/// Metres from a float `.npy` shaped `[H, W]` or `[1, H, W]`, all finite and ≥ 0.
fn depth_from_npy(path: &Path, bytes: &[u8]) -> Result<Array2<f32>> {
    let array = read_float_npy(path, bytes)?;
    let shape = array.shape().to_vec();
    let squeezed = match shape.as_slice() {
        [_, _] => array,
        [1, _, _] => array.index_axis_move(Axis(0), 0),
        _ => {
            return Err(Error::invalid(
                path,
                format!("a depth .npy must be shaped [H, W] or [1, H, W]; got {shape:?}"),
            ));
        }
    };
    let (h, w) = (squeezed.shape()[0] as u64, squeezed.shape()[1] as u64);
    crate::Limits::current().check_image(path, w, h)?;
    let non_finite = squeezed.iter().filter(|v| !v.is_finite()).count();
    let negative = squeezed.iter().filter(|&&v| v < 0.0).count();
    if non_finite + negative > 0 {
        return Err(Error::invalid(
            path,
            format!(
                "depth must be finite metres ≥ 0 (0 = no reading); found {non_finite} NaN or \
                 infinite and {negative} negative values"
            ),
        ));
    }
    squeezed
        .into_dimensionality::<Ix2>()
        .map_err(|e| Error::invalid(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disparity_rule() {
        let cfg = DepthPreprocess::default();
        assert_eq!(to_disparity(0.0, &cfg), 0.0);
        assert_eq!(to_disparity(f32::NAN, &cfg), 0.0);
        assert!((to_disparity(2.0, &cfg) - 0.075 * 518.8579 / 2.0).abs() < 1e-5);
        assert!((to_disparity(50.0, &cfg) - 0.075 * 518.8579 / 10.0).abs() < 1e-5);
        assert!((to_disparity(0.001, &cfg) - 0.075 * 518.8579 / 0.01).abs() < 1e-3);
    }

    #[test]
    fn inverted_clip_bounds_do_not_panic() {
        let cfg = DepthPreprocess {
            min_depth_m: 5.0,
            max_depth_m: 1.0,
            ..Default::default()
        };
        assert!(to_disparity(3.0, &cfg).is_finite());
    }
}
