//! Object instances: the latent variables one object shares across all six views, and the
//! geometry (silhouette, relief, heat pattern) evaluated in its local frame.
//!
//! The camera, depth sensor and thermal camera are registered (same viewpoint and field of
//! view), so an object's silhouette is the same in all three images. One latent variable
//! touches several views, which is what makes retrieval instance-aware:
//! - distance: image size (with the physical size), depth value, loudness, caption size words;
//! - vigour: the rhythm of audio and IMU (both scale by it), IMU amplitude, temperature;
//! - position: image, depth and thermal placement, caption position words;
//! - hue/saturation/value: image colour, caption colour words.

use crate::concepts::{CONCEPTS, Concept, HeatPattern, Relief, Shape, Surface};
use crate::util::{Rng, smoothstep};
use crate::{FOCAL_PX, IMAGE_SIZE};

/// One object in one scene, with every instance-level variable that its views use.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectInstance {
    /// Index into [`crate::concepts()`].
    pub concept: usize,
    /// Centre in pixels (x right, y down), on the 80×80 image grid.
    pub x: f32,
    pub y: f32,
    /// Radius of the silhouette's bounding circle in pixels (`FOCAL_PX · size_mm / distance_mm`).
    pub radius_px: f32,
    /// Rotation of the silhouette in radians.
    pub rotation: f32,
    /// Distance from the camera to the object's base plane, in millimetres (1000–2000).
    pub distance_mm: f32,
    /// Physical radius in millimetres (160–220).
    pub size_mm: f32,
    /// Colour: the hues in degrees of the object's two halves (`v < 0` and `v ≥ 0` in its
    /// local frame), saturation and value in [0, 1].
    pub hue: f32,
    pub hue2: f32,
    pub saturation: f32,
    pub value: f32,
    /// Activity level (0.8–1.25): scales the audio and IMU rhythm, IMU amplitude and heat.
    pub vigour: f32,
    /// Dominant audio frequency of this instance (concept pitch ±3%).
    pub pitch_hz: f32,
    /// Linear loudness (higher when nearer).
    pub loudness: f32,
    /// Base thermal level of this instance on the 0–255 scale.
    pub heat: f32,
    /// Scale of the surface structure of this instance (0.85–1.15 × the concept's period).
    pub grain: f32,
}

impl ObjectInstance {
    pub fn concept(&self) -> &'static Concept {
        &CONCEPTS[self.concept]
    }

    /// The rhythm of this instance (concept pulse × vigour), in Hz.
    pub fn pulse_hz(&self) -> f32 {
        self.concept().pulse_hz * self.vigour
    }

    /// Pixel (x, y) → local frame (u, v), in units of `radius_px`.
    pub(crate) fn local(&self, x: f32, y: f32) -> (f32, f32) {
        let (s, c) = self.rotation.sin_cos();
        let dx = (x - self.x) / self.radius_px;
        let dy = (y - self.y) / self.radius_px;
        (dx * c + dy * s, -dx * s + dy * c)
    }

    /// Whether a point (pixel coordinates) lies inside the silhouette.
    pub(crate) fn contains(&self, x: f32, y: f32) -> bool {
        let (u, v) = self.local(x, y);
        inside(self.concept().shape, u, v)
    }

    /// Fraction of the pixel (px, py) covered (4 sub-samples), and the pixel centre's local frame.
    pub(crate) fn coverage(&self, px: usize, py: usize) -> (f32, f32, f32) {
        let (x, y) = (px as f32 + 0.5, py as f32 + 0.5);
        let mut hits = 0;
        for (ox, oy) in [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)] {
            if self.contains(x + ox, y + oy) {
                hits += 1;
            }
        }
        let (u, v) = self.local(x, y);
        (hits as f32 / 4.0, u, v)
    }

    /// Pixel bounding box `(x0, y0, x1, y1)` (exclusive ends), clipped to the image.
    pub(crate) fn bbox(&self) -> (usize, usize, usize, usize) {
        let reach = self.radius_px * 1.3 + 1.0;
        let n = IMAGE_SIZE as f32;
        let clip = |v: f32| v.clamp(0.0, n) as usize;
        (
            clip((self.x - reach).floor()),
            clip((self.y - reach).floor()),
            clip((self.x + reach).ceil()),
            clip((self.y + reach).ceil()),
        )
    }

    /// How far (in mm) the surface at local (u, v) stands out of the base plane.
    pub(crate) fn relief_mm(&self, u: f32, v: f32) -> f32 {
        0.6 * self.size_mm * relief(self.concept().relief, u, v) + 35.0 * self.surface_at(u, v)
    }

    /// The surface structure at local (u, v), about −1…1. Its period is in pixels, not in
    /// object radii, as a material's texture would be.
    pub(crate) fn surface_at(&self, u: f32, v: f32) -> f32 {
        let scale = self.radius_px / self.grain;
        let (pu, pv) = (u * scale, v * scale);
        let wave = |x: f32, period: f32| (std::f32::consts::TAU * x / period).cos();
        match self.concept().surface {
            Surface::Plain => 0.0,
            Surface::Stripes => wave(pu, 5.0),
            Surface::Dots => {
                let cell = |x: f32| (x / 6.0).rem_euclid(1.0) - 0.5;
                let d2 = 36.0 * (cell(pu).powi(2) + cell(pv).powi(2));
                2.0 * (-d2 / (2.0 * 1.4 * 1.4)).exp() - 0.6
            }
            Surface::Checker => {
                let q = (std::f32::consts::TAU * pu / 8.0).sin()
                    * (std::f32::consts::TAU * pv / 8.0).sin();
                (4.0 * q).tanh()
            }
            Surface::Rings => wave((pu * pu + pv * pv).sqrt(), 5.0),
            Surface::Grid => 2.0 * smoothstep(0.4, 0.9, wave(pu, 6.0).max(wave(pv, 6.0))) - 1.0,
        }
    }

    /// Thermal level at local (u, v).
    pub(crate) fn heat_at(&self, u: f32, v: f32) -> f32 {
        let r = (u * u + v * v).sqrt();
        self.heat
            + 12.0 * self.surface_at(u, v)
            + match self.concept().heat_pattern {
                HeatPattern::Uniform => 0.0,
                HeatPattern::HotRim(d) => d * smoothstep(0.5, 0.95, r),
                HeatPattern::HotCentre(d) => d * (-r * r / 0.08).exp(),
                HeatPattern::Gradient(d) => -d * ((0.25 - v) / 1.25).clamp(0.0, 1.0),
                HeatPattern::HotEnd(d) => d * smoothstep(0.3, 0.85, u),
                HeatPattern::HotLobes(d) => d * lobes(u, v),
                HeatPattern::Stripes(d) => d * (std::f32::consts::TAU * u / 0.62).cos(),
            }
    }
}

/// Samples one object of `concept` for a scene, away from the objects already placed.
pub(crate) fn sample_object(
    rng: &mut Rng,
    concept: usize,
    placed: &[ObjectInstance],
) -> ObjectInstance {
    let c = &CONCEPTS[concept];
    let distance_mm = rng.uni(1000.0, 1600.0);
    let size_mm = rng.uni(200.0, 260.0);
    let radius_px = FOCAL_PX * size_mm / distance_mm;
    let n = IMAGE_SIZE as f32;
    let margin = 0.8 * radius_px;
    let (mut x, mut y) = (0.0, 0.0);
    for _ in 0..40 {
        x = rng.uni(margin, n - margin);
        y = rng.uni(margin, n - margin);
        let clear = placed.iter().all(|o| {
            let d = ((o.x - x).powi(2) + (o.y - y).powi(2)).sqrt();
            d >= 0.9 * (o.radius_px + radius_px)
        });
        if clear {
            break;
        }
    }
    let vigour = rng.uni(0.8, 1.25);
    let first = rng.int(0, 1);
    ObjectInstance {
        concept,
        x,
        y,
        radius_px,
        rotation: rng.uni(0.0, std::f32::consts::TAU),
        distance_mm,
        size_mm,
        hue: (c.hues[first] + rng.uni(-12.0, 12.0)).rem_euclid(360.0),
        hue2: (c.hues[1 - first] + rng.uni(-12.0, 12.0)).rem_euclid(360.0),
        saturation: rng.uni(0.55, 0.95),
        value: rng.uni(0.55, 0.95),
        vigour,
        pitch_hz: c.pitch_hz * rng.uni(0.97, 1.03),
        loudness: 1000.0 / distance_mm * rng.uni(0.8, 1.1),
        heat: c.heat + 50.0 * (vigour - 1.0) + rng.uni(-8.0, 8.0),
        grain: rng.uni(0.85, 1.15),
    }
}

const TRIANGLE: [(f32, f32); 3] = [(0.0, -1.0), (0.866, 0.5), (-0.866, 0.5)];
const CHEVRON: [(f32, f32); 6] = [
    (-1.0, 0.2),
    (0.0, -0.6),
    (1.0, 0.2),
    (1.0, 0.65),
    (0.0, -0.15),
    (-1.0, 0.65),
];

/// Even-odd point-in-polygon test.
fn in_polygon(poly: &[(f32, f32)], u: f32, v: f32) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (ui, vi) = poly[i];
        let (uj, vj) = poly[j];
        if (vi > v) != (vj > v) && u < (uj - ui) * (v - vi) / (vj - vi) + ui {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// A five-pointed star (outer radius 1, inner 0.45), tested in polar form.
fn in_star(u: f32, v: f32) -> bool {
    let r = (u * u + v * v).sqrt();
    if r > 1.0 {
        return false;
    }
    if r < 0.45 * 0.81 {
        return true;
    }
    // Angle measured from the top point, folded into one half-spike [0, 36°].
    let sector = std::f32::consts::TAU / 5.0;
    let a = (u.atan2(-v)).rem_euclid(sector);
    let a = a.min(sector - a);
    // Edge from the outer point (angle 0, radius 1) to the inner point (angle 36°, radius 0.45).
    let (px, py) = (a.sin() * r, a.cos() * r);
    let (ox, oy) = (0.0, 1.0);
    let half = sector / 2.0;
    let (ix, iy) = (0.45 * half.sin(), 0.45 * half.cos());
    // Inside when the point is on the centre's side of the edge line.
    let cross = |x: f32, y: f32| (ix - ox) * (y - oy) - (iy - oy) * (x - ox);
    cross(px, py).signum() == cross(0.0, 0.0).signum()
}

/// Whether local (u, v) is inside a silhouette of unit radius.
pub(crate) fn inside(shape: Shape, u: f32, v: f32) -> bool {
    let (au, av) = (u.abs(), v.abs());
    let r2 = u * u + v * v;
    match shape {
        Shape::Disc => r2 <= 1.0,
        Shape::Ring => (0.55 * 0.55..=1.0).contains(&r2),
        Shape::Square => au <= 0.78 && av <= 0.78,
        Shape::Frame => (0.48..=0.82).contains(&au.max(av)),
        Shape::Triangle => in_polygon(&TRIANGLE, u, v),
        Shape::Star => in_star(u, v),
        Shape::Cross => (au <= 0.3 && av <= 1.0) || (av <= 0.3 && au <= 1.0),
        Shape::Bar => au <= 1.0 && av <= 0.33,
        Shape::Chevron => in_polygon(&CHEVRON, u, v),
        Shape::Dumbbell => {
            (u - 0.6).powi(2) + v * v <= 0.16
                || (u + 0.6).powi(2) + v * v <= 0.16
                || (au <= 0.6 && av <= 0.13)
        }
        Shape::HalfDisc => r2 <= 1.0 && v <= 0.25,
        Shape::Comb => {
            let tooth = (u + 0.62).abs() <= 0.17 || au <= 0.17 || (u - 0.62).abs() <= 0.17;
            (tooth && (-0.85..=0.85).contains(&v)) || (au <= 0.79 && (-0.85..=-0.55).contains(&v))
        }
    }
}

/// Height of the two lobe spheres (0 outside them).
fn lobes(u: f32, v: f32) -> f32 {
    let a = 1.0 - ((u - 0.6).powi(2) + v * v) / 0.16;
    let b = 1.0 - ((u + 0.6).powi(2) + v * v) / 0.16;
    a.max(b).max(0.0).sqrt()
}

/// Relief in [0, 1] (fraction of the relief height) at local (u, v).
pub(crate) fn relief(kind: Relief, u: f32, v: f32) -> f32 {
    let r = (u * u + v * v).sqrt();
    match kind {
        Relief::Plate => 0.0,
        Relief::Dome => (1.0 - r * r).max(0.0).sqrt(),
        Relief::Cone => (1.0 - r).max(0.0),
        Relief::Hub => {
            if r < 0.3 {
                1.0
            } else {
                0.15
            }
        }
        Relief::Ridge => 0.5 + 0.5 * (std::f32::consts::PI * u.clamp(-1.0, 1.0)).cos(),
        Relief::Step => {
            if u > 0.0 {
                0.9
            } else {
                0.3
            }
        }
        Relief::Rim => (std::f32::consts::PI * ((r - 0.55) / 0.45).clamp(0.0, 1.0)).sin(),
        Relief::Lobes => lobes(u, v),
        Relief::Wedge => ((u + 1.0) / 2.0).clamp(0.0, 1.0),
        Relief::Bowl => (r * r).min(1.0),
        Relief::Ribs => 0.5 + 0.5 * (std::f32::consts::TAU * u / 0.62).cos(),
        Relief::Plateau => ((0.78 - u.abs().max(v.abs())) * 5.0).clamp(0.0, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Shape; 12] = [
        Shape::Disc,
        Shape::Ring,
        Shape::Square,
        Shape::Frame,
        Shape::Triangle,
        Shape::Star,
        Shape::Cross,
        Shape::Bar,
        Shape::Chevron,
        Shape::Dumbbell,
        Shape::HalfDisc,
        Shape::Comb,
    ];

    fn mask(shape: Shape) -> Vec<bool> {
        let n = 64;
        (0..n * n)
            .map(|i| {
                let u = ((i % n) as f32 + 0.5) / n as f32 * 2.6 - 1.3;
                let v = ((i / n) as f32 + 0.5) / n as f32 * 2.6 - 1.3;
                inside(shape, u, v)
            })
            .collect()
    }

    #[test]
    fn silhouettes_are_substantial_bounded_and_distinct() {
        let masks: Vec<Vec<bool>> = ALL.iter().map(|&s| mask(s)).collect();
        for (a, ma) in ALL.iter().zip(&masks) {
            let area = ma.iter().filter(|&&b| b).count() as f32 / ma.len() as f32;
            assert!(area > 0.06, "{a:?} covers {area}");
            // Nothing outside radius 1.2 (the bounding box reaches 1.3).
            for (i, &b) in ma.iter().enumerate() {
                let u = ((i % 64) as f32 + 0.5) / 64.0 * 2.6 - 1.3;
                let v = ((i / 64) as f32 + 0.5) / 64.0 * 2.6 - 1.3;
                assert!(!b || u * u + v * v <= 1.2 * 1.2, "{a:?} reaches ({u}, {v})");
            }
        }
        for i in 0..ALL.len() {
            for j in i + 1..ALL.len() {
                let inter = masks[i]
                    .iter()
                    .zip(&masks[j])
                    .filter(|(a, b)| **a && **b)
                    .count();
                let union = masks[i]
                    .iter()
                    .zip(&masks[j])
                    .filter(|(a, b)| **a || **b)
                    .count();
                let iou = inter as f32 / union as f32;
                assert!(
                    iou < 0.8,
                    "{:?} and {:?} overlap too much ({iou})",
                    ALL[i],
                    ALL[j]
                );
            }
        }
    }
}
