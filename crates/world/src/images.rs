//! The three registered image views: colour camera, depth sensor, thermal camera.

use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage};

use crate::IMAGE_SIZE;
use crate::objects::ObjectInstance;
use crate::util::{Rng, Waves, hsv};

const N: usize = IMAGE_SIZE as usize;

/// A 16-bit single-channel image (depth in millimetres).
pub type DepthImage = ImageBuffer<Luma<u16>, Vec<u16>>;

/// Object indices from farthest to nearest (painter's order; ties by index).
pub(crate) fn far_to_near(objects: &[ObjectInstance]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..objects.len()).collect();
    order.sort_by(|&a, &b| {
        objects[b]
            .distance_mm
            .total_cmp(&objects[a].distance_mm)
            .then(a.cmp(&b))
    });
    order
}

/// Which object each pixel shows (0 = background, k + 1 = `objects[k]`): the nearest object
/// covering at least half of the pixel.
pub(crate) fn object_map(objects: &[ObjectInstance]) -> Vec<u8> {
    let mut map = vec![0u8; N * N];
    for k in far_to_near(objects) {
        let o = &objects[k];
        let (x0, y0, x1, y1) = o.bbox();
        for py in y0..y1 {
            for px in x0..x1 {
                if o.coverage(px, py).0 >= 0.5 {
                    map[py * N + px] = (k + 1) as u8;
                }
            }
        }
    }
    map
}

/// Distance from point p to segment a–b.
fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((p.0 - a.0 - t * dx).powi(2) + (p.1 - a.1 - t * dy).powi(2)).sqrt()
}

/// The colour image: a textured two-region background, distractor strokes and blobs (any hue),
/// then the objects (far to near) with directional shading and texture noise, then sensor noise.
pub(crate) fn render_vision(
    objects: &[ObjectInstance],
    rng: &mut Rng,
) -> (RgbImage, BackgroundInfo) {
    let mut px = vec![[0f32; 3]; N * N];
    let background = paint_background(&mut px, rng);
    paint_distractors(&mut px, rng);
    paint_objects(&mut px, objects, rng);
    let mut img = RgbImage::new(IMAGE_SIZE, IMAGE_SIZE);
    for (i, p) in img.pixels_mut().enumerate() {
        let mut rgb = [0u8; 3];
        for c in 0..3 {
            rgb[c] = to_u8(px[i][c] + 0.012 * rng.gauss());
        }
        *p = Rgb(rgb);
    }
    (img, background)
}

/// Background: a wall and a floor of related muted colours, a smooth texture, grain.
fn paint_background(px: &mut [[f32; 3]], rng: &mut Rng) -> BackgroundInfo {
    let bg_hue = rng.uni(0.0, 360.0);
    let bg_sat = rng.uni(0.05, 0.35);
    let bg_val = rng.uni(0.3, 0.7);
    let floor_hue = bg_hue + rng.uni(-40.0, 40.0);
    let floor_val = (bg_val + rng.uni(-0.2, 0.2)).clamp(0.15, 0.85);
    let horizon = rng.uni(30.0, 75.0);
    let texture = Waves::new(rng, 4, 6.0, 40.0, 0.07);
    let wall = hsv(bg_hue, bg_sat, bg_val);
    let floor = hsv(floor_hue, bg_sat, floor_val);
    for y in 0..N {
        for x in 0..N {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let base = if fy < horizon { wall } else { floor };
            let t = texture.at(fx, fy);
            for c in 0..3 {
                px[y * N + x][c] = base[c] + t + 0.03 * rng.gauss();
            }
        }
    }
    BackgroundInfo {
        hue: bg_hue,
        saturation: bg_sat,
        value: bg_val,
    }
}

/// Distractors: thin strokes and small blobs of random colour, under the objects.
fn paint_distractors(px: &mut [[f32; 3]], rng: &mut Rng) {
    let strokes = rng.int(2, 5);
    for _ in 0..strokes {
        let a = (rng.uni(-10.0, 90.0), rng.uni(-10.0, 90.0));
        let b = (rng.uni(-10.0, 90.0), rng.uni(-10.0, 90.0));
        let width = rng.uni(0.8, 2.2);
        let colour = hsv(rng.uni(0.0, 360.0), rng.uni(0.2, 0.9), rng.uni(0.2, 0.95));
        for y in 0..N {
            for x in 0..N {
                let d = segment_distance((x as f32 + 0.5, y as f32 + 0.5), a, b);
                let cov = (width / 2.0 + 0.5 - d).clamp(0.0, 1.0);
                if cov > 0.0 {
                    blend(&mut px[y * N + x], colour, cov);
                }
            }
        }
    }
    let blobs = rng.int(0, 2);
    for _ in 0..blobs {
        let (cx, cy, r) = (rng.uni(0.0, 80.0), rng.uni(0.0, 80.0), rng.uni(1.5, 3.5));
        let colour = hsv(rng.uni(0.0, 360.0), rng.uni(0.2, 0.9), rng.uni(0.2, 0.95));
        for y in 0..N {
            for x in 0..N {
                let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                let cov = (r + 0.5 - d).clamp(0.0, 1.0);
                if cov > 0.0 {
                    blend(&mut px[y * N + x], colour, cov);
                }
            }
        }
    }
}

/// Objects, lit from one direction.
fn paint_objects(px: &mut [[f32; 3]], objects: &[ObjectInstance], rng: &mut Rng) {
    let light = rng.uni(0.0, std::f32::consts::TAU);
    let (lx, ly) = (light.cos(), light.sin());
    for k in far_to_near(objects) {
        let o = &objects[k];
        let (x0, y0, x1, y1) = o.bbox();
        for y in y0..y1 {
            for x in x0..x1 {
                let (cov, _, _) = o.coverage(x, y);
                if cov <= 0.0 {
                    continue;
                }
                let dx = (x as f32 + 0.5 - o.x) / o.radius_px;
                let dy = (y as f32 + 0.5 - o.y) / o.radius_px;
                let (u, v) = o.local(x as f32 + 0.5, y as f32 + 0.5);
                let shade = (1.0 + 0.22 * (lx * dx + ly * dy)).clamp(0.6, 1.3)
                    * (1.0 + 0.2 * o.surface_at(u, v));
                let hue = if v < 0.0 { o.hue } else { o.hue2 };
                let mut colour = hsv(hue, o.saturation, (o.value * shade).min(1.0));
                for c in colour.iter_mut() {
                    *c += 0.025 * rng.gauss();
                }
                blend(&mut px[y * N + x], colour, cov);
            }
        }
    }
}

/// The colour of the background wall (captions may mention it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BackgroundInfo {
    pub hue: f32,
    pub saturation: f32,
    pub value: f32,
}

fn blend(p: &mut [f32; 3], colour: [f32; 3], alpha: f32) {
    for c in 0..3 {
        p[c] = p[c] * (1.0 - alpha) + colour[c] * alpha;
    }
}

fn to_u8(x: f32) -> u8 {
    (x.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// The depth map in millimetres: a tilted, gently uneven back plane 3–5 m away, the objects'
/// reliefs at 1–2 m (nearest wins), range-dependent noise, and a few 0 holes ("no reading").
pub(crate) fn render_depth(objects: &[ObjectInstance], rng: &mut Rng) -> DepthImage {
    let base = rng.uni(3000.0, 5000.0);
    let (gx, gy) = (rng.uni(-8.0, 8.0), rng.uni(-8.0, 8.0));
    let waves = Waves::new(rng, 3, 15.0, 60.0, 30.0);
    let mut depth = vec![0f32; N * N];
    for y in 0..N {
        for x in 0..N {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            depth[y * N + x] = base + gx * (fx - 40.0) + gy * (fy - 40.0) + waves.at(fx, fy);
        }
    }
    for o in objects {
        let (x0, y0, x1, y1) = o.bbox();
        for y in y0..y1 {
            for x in x0..x1 {
                let (cov, u, v) = o.coverage(x, y);
                if cov >= 0.5 {
                    let d = o.distance_mm - o.relief_mm(u, v);
                    let cell = &mut depth[y * N + x];
                    *cell = cell.min(d);
                }
            }
        }
    }
    let mut img = DepthImage::new(IMAGE_SIZE, IMAGE_SIZE);
    for (i, p) in img.pixels_mut().enumerate() {
        let d = depth[i];
        let noisy = d + (2.0 + 0.001 * d) * rng.gauss();
        *p = Luma([noisy.round().clamp(1.0, 65535.0) as u16]);
    }
    let holes = rng.int(0, 10);
    for _ in 0..holes {
        let (x, y) = (rng.int(0, N - 1), rng.int(0, N - 1));
        img.put_pixel(x as u32, y as u32, Luma([0]));
    }
    img
}

/// The thermal image (0–255): a cool background with a vertical gradient and a smooth texture,
/// sometimes a warm smudge, the objects' heat patterns, optical blur, noise.
pub(crate) fn render_thermal(objects: &[ObjectInstance], rng: &mut Rng) -> GrayImage {
    let base = rng.uni(40.0, 70.0);
    let grad = rng.uni(-0.15, 0.15);
    let waves = Waves::new(rng, 3, 12.0, 50.0, 4.0);
    let smudge = if rng.chance(0.3) {
        Some((
            rng.uni(0.0, 80.0),
            rng.uni(0.0, 80.0),
            rng.uni(4.0, 8.0),
            rng.uni(10.0, 30.0),
        ))
    } else {
        None
    };
    let mut t = vec![0f32; N * N];
    for y in 0..N {
        for x in 0..N {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let mut level = base + grad * (fy - 40.0) + waves.at(fx, fy);
            if let Some((cx, cy, s, a)) = smudge {
                level += a * (-((fx - cx).powi(2) + (fy - cy).powi(2)) / (2.0 * s * s)).exp();
            }
            t[y * N + x] = level;
        }
    }
    for k in far_to_near(objects) {
        let o = &objects[k];
        let (x0, y0, x1, y1) = o.bbox();
        for y in y0..y1 {
            for x in x0..x1 {
                let (cov, u, v) = o.coverage(x, y);
                if cov > 0.0 {
                    let cell = &mut t[y * N + x];
                    *cell = *cell * (1.0 - cov) + o.heat_at(u, v) * cov;
                }
            }
        }
    }
    let t = blur121(&t);
    let mut img = GrayImage::new(IMAGE_SIZE, IMAGE_SIZE);
    for (i, p) in img.pixels_mut().enumerate() {
        *p = Luma([(t[i] + 1.5 * rng.gauss()).round().clamp(0.0, 255.0) as u8]);
    }
    img
}

/// Separable [1 2 1]/4 blur with clamped edges.
fn blur121(src: &[f32]) -> Vec<f32> {
    let at = |v: &[f32], x: isize, y: isize| {
        v[y.clamp(0, N as isize - 1) as usize * N + x.clamp(0, N as isize - 1) as usize]
    };
    let mut h = vec![0f32; N * N];
    for y in 0..N as isize {
        for x in 0..N as isize {
            h[y as usize * N + x as usize] =
                0.25 * at(src, x - 1, y) + 0.5 * at(src, x, y) + 0.25 * at(src, x + 1, y);
        }
    }
    let mut out = vec![0f32; N * N];
    for y in 0..N as isize {
        for x in 0..N as isize {
            out[y as usize * N + x as usize] =
                0.25 * at(&h, x, y - 1) + 0.5 * at(&h, x, y) + 0.25 * at(&h, x, y + 1);
        }
    }
    out
}
