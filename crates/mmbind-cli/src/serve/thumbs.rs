//! Small PNG previews of indexed files, one per modality, decoded by the same bounded
//! decoders as embedding: images scaled down; depth and thermal maps in colour palettes
//! (near is warm, hot is bright); audio as the log-mel spectrogram the encoder takes; IMU
//! as its six traces. Text has none (the page shows the text itself).

use std::io::Cursor;
use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};
use mmbind_modalities::audio::{AudioPreprocess, load_audio};
use mmbind_modalities::{Modality, depth, imu, thermal, vision};
use ndarray::Array2;

/// The longer side of a preview.
pub const SIZE: u32 = 256;

/// The PNG preview of the file at `path`, read as modality `m`.
pub fn render(path: &Path, m: Modality) -> Result<Vec<u8>, String> {
    let err = |e: mmbind_modalities::Error| e.to_string();
    let img = match m {
        Modality::Vision => {
            let img = vision::decode_image(path).map_err(err)?;
            image::imageops::thumbnail(&img, SIZE.min(img.width()), fit(&img, SIZE))
        }
        Modality::Depth => {
            // Disparity-like: nearer is larger, so it takes the warm end; holes stay black.
            let d = depth::decode_depth(path).map_err(err)?;
            scaled(&d.mapv(|v| if v > 0.0 { 1.0 / v } else { f32::NAN }), TURBO)
        }
        Modality::Thermal => scaled(&thermal::decode_thermal(path).map_err(err)?, INFERNO),
        Modality::Audio => {
            let mel = load_audio(path, &AudioPreprocess::default()).map_err(err)?;
            // The first clip, low frequencies at the bottom.
            let clip = mel.slice(ndarray::s![0, 0, ..;-1, ..]).to_owned();
            scaled(&clip, INFERNO)
        }
        Modality::Imu => traces(&imu::decode_imu(path).map_err(err)?),
        Modality::Text => return Err("text files have no preview".into()),
    };
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(png)
}

/// The height that keeps `img`'s aspect ratio at width `min(size, width)`.
fn fit(img: &RgbImage, size: u32) -> u32 {
    let w = size.min(img.width()).max(1);
    ((u64::from(img.height()) * u64::from(w) / u64::from(img.width().max(1))) as u32).max(1)
}

/// A palette as colour stops from low to high.
type Palette = &'static [[u8; 3]];

/// Google's Turbo, in eight stops.
const TURBO: Palette = &[
    [48, 18, 59],
    [70, 107, 227],
    [40, 187, 236],
    [49, 242, 153],
    [162, 252, 60],
    [237, 208, 58],
    [251, 128, 34],
    [122, 4, 3],
];

/// Matplotlib's Inferno, in six stops.
const INFERNO: Palette = &[
    [0, 0, 4],
    [66, 10, 104],
    [147, 38, 103],
    [221, 81, 58],
    [252, 165, 10],
    [252, 255, 164],
];

fn colour(p: Palette, t: f32) -> Rgb<u8> {
    let x = t.clamp(0.0, 1.0) * (p.len() - 1) as f32;
    let (i, f) = (x.floor() as usize, x.fract());
    let (a, b) = (p[i], p[(i + 1).min(p.len() - 1)]);
    Rgb(std::array::from_fn(|c| {
        (f32::from(a[c]) + (f32::from(b[c]) - f32::from(a[c])) * f).round() as u8
    }))
}

/// `values` (`[rows, cols]`) in `palette`, stretched between their 2nd and 98th percentile,
/// resampled (nearest) so that the longer side is [`SIZE`]; NaN is black.
fn scaled(values: &Array2<f32>, palette: Palette) -> RgbImage {
    let (rows, cols) = values.dim();
    let mut finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    finite.sort_by(f32::total_cmp);
    let at = |q: f32| {
        finite
            .get(((finite.len() as f32 - 1.0) * q) as usize)
            .copied()
    };
    let (lo, hi) = (at(0.02).unwrap_or(0.0), at(0.98).unwrap_or(1.0));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let scale = SIZE as f32 / rows.max(cols).max(1) as f32;
    let (w, h) = (
        ((cols as f32 * scale) as u32).max(1),
        ((rows as f32 * scale) as u32).max(1),
    );
    RgbImage::from_fn(w, h, |x, y| {
        let r = ((y as f32 / scale) as usize).min(rows - 1);
        let c = ((x as f32 / scale) as usize).min(cols - 1);
        let v = values[[r, c]];
        if v.is_finite() {
            colour(palette, (v - lo) / span)
        } else {
            Rgb([0, 0, 0])
        }
    })
}

/// The six channels (`[6, T]`) as traces in six bands, each scaled to its own range:
/// accelerometer x, y, z in warm colours, gyroscope in cool ones.
fn traces(x: &Array2<f32>) -> RgbImage {
    const COLOURS: [[u8; 3]; 6] = [
        [230, 80, 60],
        [240, 160, 40],
        [200, 200, 60],
        [60, 160, 230],
        [90, 110, 240],
        [160, 90, 230],
    ];
    let (w, band) = (SIZE, SIZE / 8);
    let (channels, steps) = x.dim();
    let mut img = RgbImage::from_pixel(w, band * channels.max(1) as u32, Rgb([20, 20, 28]));
    for (ch, row) in x.outer_iter().enumerate() {
        let (lo, hi) = row
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let span = if hi > lo { hi - lo } else { 1.0 };
        let top = ch as u32 * band;
        let mut last: Option<(i64, i64)> = None;
        for px in 0..w {
            let i = (px as usize * steps / w as usize).min(steps.saturating_sub(1));
            let Some(&v) = row.get(i).filter(|v| v.is_finite()) else {
                continue;
            };
            let y = top as i64 + (band as f32 - 2.0 - (v - lo) / span * (band as f32 - 4.0)) as i64;
            let point = (i64::from(px), y);
            line(&mut img, last.unwrap_or(point), point, Rgb(COLOURS[ch % 6]));
            last = Some(point);
        }
    }
    img
}

/// A straight line (Bresenham), clipped to the image.
fn line(img: &mut RgbImage, (mut x0, mut y0): (i64, i64), (x1, y1): (i64, i64), c: Rgb<u8>) {
    let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
    let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
    let mut e = dx + dy;
    loop {
        if x0 >= 0 && y0 >= 0 && (x0 as u32) < img.width() && (y0 as u32) < img.height() {
            img.put_pixel(x0 as u32, y0 as u32, c);
        }
        if x0 == x1 && y0 == y1 {
            return;
        }
        let e2 = 2 * e;
        if e2 >= dy {
            e += dy;
            x0 += sx;
        }
        if e2 <= dx {
            e += dx;
            y0 += sy;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palettes_run_from_their_first_stop_to_their_last_and_nan_is_black() {
        assert_eq!(colour(TURBO, 0.0), Rgb(TURBO[0]));
        assert_eq!(colour(TURBO, 1.0), Rgb(TURBO[7]));
        assert_eq!(colour(INFERNO, 2.0), Rgb(INFERNO[5]));
        let v = Array2::from_shape_fn((4, 8), |(r, c)| {
            if r == 0 && c == 0 {
                f32::NAN
            } else {
                (r * 8 + c) as f32
            }
        });
        let img = scaled(&v, INFERNO);
        assert_eq!((img.width(), img.height()), (SIZE, SIZE / 2));
        assert_eq!(*img.get_pixel(0, 0), Rgb([0, 0, 0]));
        assert_eq!(*img.get_pixel(SIZE - 1, SIZE / 2 - 1), Rgb(INFERNO[5]));
    }

    #[test]
    fn six_traces_in_six_bands() {
        let x = Array2::from_shape_fn((6, 500), |(ch, t)| ((t as f32) / 20.0 + ch as f32).sin());
        let img = traces(&x);
        assert_eq!((img.width(), img.height()), (SIZE, 6 * (SIZE / 8)));
        for band in 0..6u32 {
            let drawn = (band * SIZE / 8..(band + 1) * SIZE / 8)
                .flat_map(|y| (0..SIZE).map(move |x| (x, y)))
                .filter(|&(x, y)| *img.get_pixel(x, y) != Rgb([20, 20, 28]))
                .count();
            assert!(drawn >= SIZE as usize, "band {band}: {drawn} pixels");
        }
    }
}
