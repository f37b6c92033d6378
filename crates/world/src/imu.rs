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

/// One object's motion: its rhythm and the random draws its pattern may use (all drawn for
/// every object, in the order of the fields, whether its pattern uses them or not).
struct Movement {
    /// The object's pulse rate in Hz.
    rate: f32,
    /// Amplitude: the object's vigour, randomly scaled.
    a: f32,
    phase: f32,
    /// Time of the first event of a shock train.
    first: f32,
    // Pattern-specific random event times.
    event: f32,
    burst_offset: f32,
    yaw_turns: Vec<(f32, f32)>,
    vigour: f32,
}

/// Length of a recording in seconds.
const SECONDS: f32 = IMU_ROWS as f32 / IMU_RATE_HZ as f32;

/// One object's contribution `[ax, ay, az, gx, gy, gz]` for every sample.
fn motion(o: &ObjectInstance, rng: &mut Rng) -> Vec<[f32; 6]> {
    let rate = o.pulse_hz();
    // Fields are evaluated in the order written, so the draws keep this order.
    let movement = Movement {
        rate,
        a: o.vigour * rng.uni(0.85, 1.15),
        phase: rng.uni(0.0, TAU),
        first: rng.uni(0.0, 1.0 / rate.max(0.25)),
        event: rng.uni(0.6, SECONDS - 0.6),
        burst_offset: rng.uni(0.0, 1.0),
        yaw_turns: (0..rng.int(1, 3))
            .map(|_| (rng.uni(0.0, SECONDS), rng.uni(-1.5, 1.5)))
            .collect(),
        vigour: o.vigour,
    };
    let pattern = o.concept().motion;
    (0..IMU_ROWS)
        .map(|i| movement.at(pattern, i as f32 / IMU_RATE_HZ as f32))
        .collect()
}

impl Movement {
    /// The contribution `[ax, ay, az, gx, gy, gz]` of `pattern` at time `t`.
    fn at(&self, pattern: Motion, t: f32) -> [f32; 6] {
        let (rate, a, phase, first) = (self.rate, self.a, self.phase, self.first);
        let mut m = [0f32; 6];
        match pattern {
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
            Motion::Pour => self.pour(t, &mut m),
            Motion::Flap => self.flap(t, &mut m),
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
                let on = ((t + self.burst_offset * period) % period) < period * 2.0 / 3.0;
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
                m[2] = 0.1 * a * (t / SECONDS - 0.5);
            }
            Motion::Hum => {
                m[1] = 0.3 * a * (TAU * 30.0 * t + phase).sin();
                m[5] = 1.2 * a * (-((t - self.event) / 0.3).powi(2)).exp();
            }
        }
        m
    }

    /// [`Motion::Pour`]: one slow tilt and return about y, centred on `event`, with jitter.
    fn pour(&self, t: f32, m: &mut [f32; 6]) {
        let (rate, a, phase) = (self.rate, self.a, self.phase);
        // Tilt angle: a smooth raised-cosine bump of 1.2 s centred on `event`.
        let x = (t - self.event) / 0.6;
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

    /// [`Motion::Flap`]: flapping bursts on z and x-rotation, with sudden yaw turns.
    fn flap(&self, t: f32, m: &mut [f32; 6]) {
        let (rate, a, phase) = (self.rate, self.a, self.phase);
        let period = 0.8 / self.vigour;
        let on = ((t + self.burst_offset) % period) < 0.5 * period;
        let env = if on { 1.0 } else { 0.0 };
        let w = TAU * rate * t + phase;
        m[2] = 3.0 * a * env * w.sin();
        m[3] = 1.0 * a * env * w.cos();
        m[5] = self
            .yaw_turns
            .iter()
            .map(|&(at, amp)| amp * (-((t - at) / 0.08).powi(2)).exp())
            .sum();
    }
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
