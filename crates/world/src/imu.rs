//! The IMU view: `IMU_ROWS` samples at `IMU_RATE_HZ`, accelerometer in m/s² (gravity on z,
//! with a small random device tilt) and gyroscope in rad/s; each object adds its motion pattern
//! (rhythm scaled by its vigour, amplitude by vigour and chance), then sensor noise.

use std::f32::consts::{PI, TAU};

use crate::concepts::Motion;
use crate::objects::ObjectInstance;
use crate::util::Rng;
use crate::{IMU_RATE_HZ, IMU_ROWS};

const G: f32 = 9.81;

/// A decaying shock: 0 before the event, then `exp(-age/tau)`.
fn shock(age: f32, tau: f32) -> f32 {
    if age >= 0.0 { (-age / tau).exp() } else { 0.0 }
}

/// Sum of shocks at regular events of `rate` Hz starting at `first`.
fn shock_train(t: f32, first: f32, rate: f32, tau: f32) -> f32 {
    if t < first {
        return 0.0;
    }
    let period = 1.0 / rate;
    let age = (t - first) % period;
    // The previous shock may still ring.
    shock(age, tau)
        + if t - first >= period {
            shock(age + period, tau)
        } else {
            0.0
        }
}

/// One object's contribution `[ax, ay, az, gx, gy, gz]` for every sample.
fn motion(o: &ObjectInstance, rng: &mut Rng) -> Vec<[f32; 6]> {
    let rate = o.pulse_hz();
    let a = o.vigour * rng.uni(0.85, 1.15);
    let phase = rng.uni(0.0, TAU);
    let first = rng.uni(0.0, 1.0 / rate.max(0.25));
    let seconds = IMU_ROWS as f32 / IMU_RATE_HZ as f32;
    // Pattern-specific random event times.
    let event = rng.uni(0.6, seconds - 0.6);
    let burst_offset = rng.uni(0.0, 1.0);
    let yaw_turns: Vec<(f32, f32)> = (0..rng.int(1, 3))
        .map(|_| (rng.uni(0.0, seconds), rng.uni(-1.5, 1.5)))
        .collect();
    (0..IMU_ROWS)
        .map(|i| {
            let t = i as f32 / IMU_RATE_HZ as f32;
            let mut m = [0f32; 6];
            match o.concept().motion {
                Motion::Swing => {
                    let w = TAU * rate / 2.0 * t + phase;
                    m[3] = 1.2 * a * w.sin();
                    m[1] = 1.5 * a * w.cos();
                    m[0] = 2.0 * a * shock_train(t, first, rate, 0.04);
                }
                Motion::Thumps => {
                    let s = shock_train(t, first, rate, 0.03);
                    m[2] = 6.0 * a * s * (TAU * 15.0 * t).cos();
                    m[4] = 0.3 * a * s;
                }
                Motion::Orbit => {
                    let w = TAU * rate * t + phase;
                    m[0] = 0.6 * a * w.cos();
                    m[1] = 0.6 * a * w.sin();
                    m[5] = 0.5 * a * (TAU * 0.25 * t + phase).sin();
                }
                Motion::Pour => {
                    // Tilt angle: a smooth raised-cosine bump of 1.2 s centred on `event`.
                    let x = (t - event) / 0.6;
                    let (angle, rate_of) = if x.abs() < 1.0 {
                        let amp = 0.8 * a;
                        (
                            amp * 0.5 * (1.0 + (PI * x).cos()),
                            -amp * 0.5 * PI / 0.6 * (PI * x).sin(),
                        )
                    } else {
                        (0.0, 0.0)
                    };
                    m[4] = rate_of;
                    m[0] = G * angle.sin();
                    m[2] = G * (angle.cos() - 1.0);
                    m[2] += 0.15 * a * (TAU * rate * t + phase).sin();
                }
                Motion::Flap => {
                    let period = 0.8 / o.vigour;
                    let on = ((t + burst_offset) % period) < 0.5 * period;
                    let env = if on { 1.0 } else { 0.0 };
                    let w = TAU * rate * t + phase;
                    m[2] = 3.0 * a * env * w.sin();
                    m[3] = 1.0 * a * env * w.cos();
                    m[5] = yaw_turns
                        .iter()
                        .map(|&(at, amp)| amp * (-((t - at) / 0.08).powi(2)).exp())
                        .sum();
                }
                Motion::Drive => {
                    m[0] = 2.0 * a * (TAU * 0.25 * t + phase).sin();
                    m[2] = 0.8 * a * (TAU * rate * t).sin();
                    m[5] = 0.3 * a * (TAU * 0.2 * t + phase).sin();
                }
                Motion::Ticks => {
                    m[0] = 0.4 * a * shock_train(t, first, rate, 0.02);
                }
                Motion::Vibrate => {
                    m[2] = 2.0 * a * (TAU * 2.75 * rate * t + phase).sin();
                    m[1] = 1.0 * a * (TAU * rate * t).sin();
                    m[3] = 0.1 * a * (TAU * 2.75 * rate * t).cos();
                }
                Motion::Buzz => {
                    let period = 1.0 / rate;
                    let on = ((t + burst_offset * period) % period) < period * 2.0 / 3.0;
                    if on {
                        m[0] = 1.5 * a * (TAU * 40.0 * t + phase).sin();
                        m[5] = 0.05 * a * (TAU * 40.0 * t).cos();
                    }
                }
                Motion::Sway => {
                    let w = TAU * rate / 5.0 * t + phase;
                    m[3] = 0.15 * a * w.sin();
                    m[1] = 0.1 * a * w.cos();
                }
                Motion::Clicks => {
                    m[1] = 0.8 * a * shock_train(t, first, rate / 2.0, 0.05);
                    m[2] = 0.1 * a * (t / seconds - 0.5);
                }
                Motion::Hum => {
                    m[1] = 0.3 * a * (TAU * 30.0 * t + phase).sin();
                    m[5] = 1.2 * a * (-((t - event) / 0.3).powi(2)).exp();
                }
            }
            m
        })
        .collect()
}

/// Renders the IMU rows `[t, ax, ay, az, gx, gy, gz]`.
pub(crate) fn render_imu(objects: &[ObjectInstance], rng: &mut Rng) -> Vec<[f32; 7]> {
    let tilt = rng.uni(0.0, 8f32.to_radians());
    let dir = rng.uni(0.0, TAU);
    let gravity = [
        G * tilt.sin() * dir.cos(),
        G * tilt.sin() * dir.sin(),
        G * tilt.cos(),
    ];
    let mut rows: Vec<[f32; 7]> = (0..IMU_ROWS)
        .map(|i| {
            let t = i as f32 / IMU_RATE_HZ as f32;
            [t, gravity[0], gravity[1], gravity[2], 0.0, 0.0, 0.0]
        })
        .collect();
    for o in objects {
        for (row, m) in rows.iter_mut().zip(motion(o, rng)) {
            for c in 0..6 {
                row[c + 1] += m[c];
            }
        }
    }
    let acc_noise = rng.uni(0.03, 0.08);
    let gyro_noise = rng.uni(0.005, 0.015);
    for row in rows.iter_mut() {
        for v in &mut row[1..=3] {
            *v += acc_noise * rng.gauss();
        }
        for v in &mut row[4..=6] {
            *v += gyro_noise * rng.gauss();
        }
    }
    rows
}
