//! The audio view: 16 kHz mono, 2.0–2.5 s; each object's sound normalised to a loudness that
//! falls with distance, mixed, with room noise, peak-limited and quantised to 16 bits.

use std::f64::consts::TAU;

use crate::SAMPLE_RATE;
use crate::concepts::Sound;
use crate::objects::ObjectInstance;
use crate::util::Rng;

const SR: f32 = SAMPLE_RATE as f32;

/// sin(2π·phase) for a phase in cycles: range reduction then an odd Taylor polynomial of
/// degree 11 on [-π/2, π/2] (error < 1e-7). Faster than libm, and the same bits everywhere.
fn osc(phase: f64) -> f32 {
    let mut r = phase - (phase as i64) as f64; // in (-1, 1)
    if r >= 0.5 {
        r -= 1.0;
    } else if r < -0.5 {
        r += 1.0;
    }
    // Fold [-0.5, 0.5] onto [-0.25, 0.25] (sin(π - θ) = sin θ).
    if r > 0.25 {
        r = 0.5 - r;
    } else if r < -0.25 {
        r = -0.5 - r;
    }
    let x = (TAU * r) as f32;
    let x2 = x * x;
    x * (1.0
        + x2 * (-1.0 / 6.0
            + x2 * (1.0 / 120.0
                + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362_880.0 + x2 * (-1.0 / 39_916_800.0))))))
}

/// A phase accumulator (cycles).
struct Phase(f64);

impl Phase {
    /// Advances by one sample at `freq` Hz and returns the phase before the step.
    fn step(&mut self, freq: f32) -> f64 {
        let p = self.0;
        self.0 += freq as f64 / SR as f64;
        if self.0 >= 1.0 {
            self.0 -= self.0.floor();
        }
        p
    }
}

/// Sum of harmonics `(multiple, amplitude)` at a phase.
fn harmonics(phase: f64, partials: &[(f64, f32)]) -> f32 {
    partials.iter().map(|&(m, a)| a * osc(phase * m)).sum()
}

/// One-pole low-pass filter state.
struct OnePole {
    y: f32,
    a: f32,
}

impl OnePole {
    fn new(cutoff_hz: f32) -> OnePole {
        OnePole {
            y: 0.0,
            a: 1.0 - (-std::f32::consts::TAU * cutoff_hz / SR).exp(),
        }
    }
    fn step(&mut self, x: f32) -> f32 {
        self.y += self.a * (x - self.y);
        self.y
    }
}

/// Event times of a rhythm at `rate` Hz with a random phase, covering `[0, seconds)`.
fn events(rng: &mut Rng, rate: f32, seconds: f32) -> Vec<f32> {
    let period = 1.0 / rate;
    let mut t = rng.uni(0.0, period);
    let mut out = Vec::new();
    while t < seconds {
        out.push(t);
        t += period * rng.uni(0.96, 1.04);
    }
    out
}

/// Index of the most recent event at or before `t` (events sorted), if any.
fn last_event(times: &[f32], t: f32, cursor: &mut usize) -> Option<usize> {
    while *cursor < times.len() && times[*cursor] <= t {
        *cursor += 1;
    }
    cursor.checked_sub(1)
}

/// What one object's sound is built from: its pitch and rhythm, and its oscillators' random
/// starting phases (drawn for every sound, in this order, whether its pattern uses them or not).
struct Voice {
    /// Pitch in Hz.
    f: f32,
    /// Pulse rate in Hz.
    rate: f32,
    /// Length of the sound in seconds.
    seconds: f32,
    ph: Phase,
    ph2: Phase,
    /// Phase (cycles) of the slow modulation at the pulse rate.
    am_phase: f64,
}

/// Renders one object's sound (before loudness), `n` samples.
fn synth(o: &ObjectInstance, n: usize, rng: &mut Rng) -> Vec<f32> {
    // Fields are evaluated in the order written, so the draws keep this order.
    let mut voice = Voice {
        f: o.pitch_hz,
        rate: o.pulse_hz(),
        seconds: n as f32 / SR,
        ph: Phase(rng.uni(0.0, 1.0) as f64),
        ph2: Phase(rng.uni(0.0, 1.0) as f64),
        am_phase: rng.uni(0.0, 1.0) as f64,
    };
    let mut out = vec![0f32; n];
    match o.concept().sound {
        Sound::Strikes => voice.strikes(&mut out, rng),
        Sound::Hits => voice.hits(&mut out, rng),
        Sound::Hum => voice.hum(&mut out, rng),
        Sound::Whistle => voice.whistle(&mut out, rng),
        Sound::Chirps => voice.chirps(&mut out, rng),
        Sound::Honks => voice.honks(&mut out, rng),
        Sound::Ticks => voice.ticks(&mut out, rng),
        Sound::Rumble => voice.rumble(&mut out, rng),
        Sound::Ring => voice.ring(&mut out, rng),
        Sound::Buzz => voice.buzz(&mut out),
        Sound::Swell => voice.swell(&mut out, rng),
        Sound::Drone => voice.drone(&mut out, rng),
    }
    out
}

/// The sound patterns (see [`Sound`]), each writing its samples into `out`.
impl Voice {
    fn strikes(&mut self, out: &mut [f32], rng: &mut Rng) {
        // Struck partials: each has an envelope that jumps at a strike and decays.
        let partials = [
            (1.0f32, 1.0f32, 0.35f32),
            (2.76, 0.5, 0.2),
            (5.4, 0.25, 0.1),
        ];
        let strikes = events(rng, self.rate, self.seconds);
        let mut env = [0f32; 3];
        let decay: Vec<f32> = partials.iter().map(|p| (-1.0 / (p.2 * SR)).exp()).collect();
        let mut next = 0;
        let mut phases: Vec<Phase> = (0..3).map(|_| Phase(rng.uni(0.0, 1.0) as f64)).collect();
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            while next < strikes.len() && strikes[next] <= t {
                let hit = rng.uni(0.8, 1.0);
                for e in env.iter_mut() {
                    *e += hit;
                }
                next += 1;
            }
            let mut v = 0.0;
            for k in 0..3 {
                v += partials[k].1 * env[k] * osc(phases[k].step(self.f * partials[k].0));
                env[k] *= decay[k];
            }
            *s = v;
        }
    }

    fn hits(&mut self, out: &mut [f32], rng: &mut Rng) {
        let hits = events(rng, self.rate, self.seconds);
        let mut cursor = 0;
        let mut current = usize::MAX;
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            let Some(h) = last_event(&hits, t, &mut cursor) else {
                continue;
            };
            if h != current {
                current = h;
                self.ph.0 = 0.0;
            }
            let age = t - hits[h];
            let freq = self.f * (1.0 + 0.6 * (-age / 0.015).exp());
            *s = (-age / 0.12).exp() * osc(self.ph.step(freq))
                + 0.4 * (-age / 0.012).exp() * rng.gauss();
        }
    }

    fn hum(&mut self, out: &mut [f32], rng: &mut Rng) {
        let mut lp = OnePole::new(300.0);
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            let am = 1.0 + 0.5 * osc(self.rate as f64 * t as f64 + self.am_phase);
            *s =
                am * harmonics(
                    self.ph.step(self.f),
                    &[(1.0, 1.0), (2.0, 0.35), (3.0, 0.15)],
                ) + 1.2 * lp.step(rng.gauss());
        }
    }

    fn whistle(&mut self, out: &mut [f32], rng: &mut Rng) {
        let mut lp = OnePole::new(2000.0);
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            let freq = self.f
                * (1.0 + 0.12 * t / self.seconds)
                * (1.0 + 0.008 * osc(self.rate as f64 * t as f64 + self.am_phase));
            let onset = 1.0 - (-t / 0.3).exp();
            let x = rng.gauss();
            let breath = x - lp.step(x);
            *s = onset * harmonics(self.ph.step(freq), &[(1.0, 1.0), (2.0, 0.15)]) + 0.15 * breath;
        }
    }

    fn chirps(&mut self, out: &mut [f32], rng: &mut Rng) {
        let dur = 0.07;
        let chirps: Vec<f32> = events(rng, self.rate, self.seconds)
            .into_iter()
            .filter(|_| rng.chance(0.8))
            .collect();
        let mut cursor = 0;
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            let Some(c) = last_event(&chirps, t, &mut cursor) else {
                continue;
            };
            let age = t - chirps[c];
            if age < dur {
                let x = age / dur;
                let freq = self.f * (0.85 + 0.3 * x);
                let env = (std::f32::consts::PI * x).sin().powi(2);
                *s = env * harmonics(self.ph.step(freq), &[(1.0, 1.0), (2.0, 0.2)]);
            }
        }
    }

    fn honks(&mut self, out: &mut [f32], rng: &mut Rng) {
        let period = 1.0 / self.rate;
        let offset = rng.uni(0.0, period);
        let edge = 0.015;
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            let x = (t + offset) % period;
            let on = period * 0.6;
            let env = if x < on {
                (x / edge).min(1.0).min((on - x) / edge)
            } else {
                0.0
            };
            let tone = harmonics(self.ph.step(self.f), &[(1.0, 1.0), (3.0, 0.33), (5.0, 0.2)]);
            let second = harmonics(self.ph2.step(self.f * 1.26), &[(1.0, 0.55), (3.0, 0.18)]);
            *s = env * (tone + second);
        }
    }

    fn ticks(&mut self, out: &mut [f32], rng: &mut Rng) {
        let ticks = events(rng, self.rate, self.seconds);
        let mut cursor = 0;
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            let (p, p2) = (self.ph.step(self.f), self.ph2.step(2.3 * self.f));
            let Some(k) = last_event(&ticks, t, &mut cursor) else {
                continue;
            };
            let age = t - ticks[k];
            let amp = if k % 2 == 0 { 1.0 } else { 0.65 };
            *s = amp
                * ((-age / 0.012).exp() * (osc(p) + 0.3 * osc(p2))
                    + 0.3 * (-age / 0.002).exp() * rng.gauss());
        }
    }

    fn rumble(&mut self, out: &mut [f32], rng: &mut Rng) {
        let mut lp = OnePole::new(200.0);
        let saw: Vec<(f64, f32)> = (1..=8).map(|k| (k as f64, 1.0 / k as f32)).collect();
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            let am = 1.0 + 0.6 * osc(self.rate as f64 * t as f64 + self.am_phase);
            *s = am * harmonics(self.ph.step(self.f), &saw) + 0.8 * lp.step(rng.gauss());
        }
    }

    fn ring(&mut self, out: &mut [f32], rng: &mut Rng) {
        let period = 1.0 / self.rate;
        let offset = rng.uni(0.0, period);
        let edge = 0.01;
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            let x = (t + offset) % period;
            let on = period * 2.0 / 3.0;
            let env = if x < on {
                (x / edge).min(1.0).min((on - x) / edge)
            } else {
                0.0
            };
            let trill = 0.5 + 0.5 * (4.0 * osc(20.0 * t as f64)).tanh();
            *s = env * trill * harmonics(self.ph.step(self.f), &[(1.0, 1.0), (2.0, 0.25)]);
        }
    }

    fn buzz(&mut self, out: &mut [f32]) {
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            let flicker = 1.0 + 0.2 * osc(self.rate as f64 * t as f64 + self.am_phase);
            *s = flicker
                * harmonics(
                    self.ph.step(self.f),
                    &[(1.0, 1.0), (3.0, 0.5), (5.0, 0.3), (7.0, 0.2)],
                );
        }
    }

    fn swell(&mut self, out: &mut [f32], rng: &mut Rng) {
        let crackles: Vec<f32> = {
            let mut t = 0.0;
            let mut v = Vec::new();
            loop {
                t += -rng.uni(1e-4, 1.0).ln() / 3.0;
                if t >= self.seconds {
                    break v;
                }
                v.push(t);
            }
        };
        let mut cursor = 0;
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            let swell = 0.3 + 0.7 * (0.5 + 0.5 * osc(self.rate as f64 * t as f64 + self.am_phase));
            let mut v =
                swell * harmonics(self.ph.step(self.f), &[(1.0, 1.0), (2.0, 0.4), (3.0, 0.15)]);
            if let Some(c) = last_event(&crackles, t, &mut cursor) {
                v += 0.6 * (-(t - crackles[c]) / 0.003).exp() * rng.gauss();
            }
            *s = v;
        }
    }

    fn drone(&mut self, out: &mut [f32], rng: &mut Rng) {
        let mut lp = OnePole::new(400.0);
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / SR;
            let freq = self.f * (1.0 + 0.01 * osc(self.rate as f64 * t as f64 + self.am_phase));
            *s = harmonics(self.ph.step(freq), &[(1.0, 1.0), (2.0, 0.6), (3.0, 0.25)])
                + 0.5 * lp.step(rng.gauss());
        }
    }
}

/// Target RMS of a sound at loudness 1 (sparse sounds get less, so their peaks stay in range).
fn target_rms(sound: Sound) -> f32 {
    match sound {
        Sound::Ticks => 0.05,
        Sound::Hits | Sound::Chirps => 0.08,
        Sound::Strikes => 0.1,
        _ => 0.12,
    }
}

/// Renders the scene's audio: `seconds` of 16-bit samples.
pub(crate) fn render_audio(objects: &[ObjectInstance], rng: &mut Rng) -> Vec<i16> {
    let seconds = rng.uni(2.0, 2.5);
    let n = (seconds * SR).round() as usize;
    let mut mix = vec![0f32; n];
    for o in objects {
        let sound = synth(o, n, rng);
        let rms = (sound.iter().map(|x| x * x).sum::<f32>() / n as f32)
            .sqrt()
            .max(1e-9);
        let gain = target_rms(o.concept().sound) * o.loudness / rms;
        for (m, s) in mix.iter_mut().zip(&sound) {
            *m += gain * s;
        }
    }
    // Room noise: white plus a little low rumble.
    let white = rng.uni(0.002, 0.012);
    let mut lp = OnePole::new(80.0);
    let rumble = rng.uni(0.0, 0.02);
    for m in mix.iter_mut() {
        *m += white * rng.gauss() + rumble * lp.step(rng.gauss());
    }
    let peak = mix.iter().fold(0f32, |a, x| a.max(x.abs()));
    let scale = if peak > 0.95 { 0.95 / peak } else { 1.0 };
    mix.iter()
        .map(|x| (x * scale * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc_matches_sin() {
        for i in -2000..2000 {
            let phase = i as f64 * 0.00731;
            let want = (TAU * phase).sin() as f32;
            assert!((osc(phase) - want).abs() < 2e-6, "phase {phase}");
        }
    }
}
