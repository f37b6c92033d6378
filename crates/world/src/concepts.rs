//! The concept table: what each concept looks, reads, sounds, measures, radiates and moves like.
//!
//! Every signature is built from two or more features, and each single feature is shared by at
//! least two concepts (four concepts per hue, two per surface, several per temperature level,
//! flat or round profiles for several silhouettes...), so that no one pixel value or one number
//! gives a concept away: a model has to combine the two colours of one object, colour with
//! surface and shape, pitch with rhythm, and so on.
//!
//! Design note (measured with the tiny preset): a ViT trained from scratch on a 2-core budget
//! learns "which colours does this object have" in a few hundred steps, but shape and
//! surface texture only over thousands. With one hue family per pair of concepts (version 1),
//! zero-shot vision stalled at 0.50-0.54 (colour known, shape not) after 450 steps; with
//! two-colour objects (version 2) the same 450 steps reach 0.75. Version 3 makes objects
//! larger (8–22 px radius on the 80 px image before, 12.5–26 now), so that a silhouette spans
//! several 8 px patches of the tiny encoders: in the demo, zero-shot vision went from 0.83 to
//! 0.95, thermal from 0.59 to 0.79 and depth from 0.37 to 0.47.

mod table;

pub(crate) use table::CONCEPTS;

/// Silhouette of an object, in its local frame (unit radius, `v` pointing down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A filled disc.
    Disc,
    /// An annulus (inner radius 0.55).
    Ring,
    /// A filled square.
    Square,
    /// A square outline.
    Frame,
    /// An equilateral triangle.
    Triangle,
    /// A five-pointed star.
    Star,
    /// A plus sign.
    Cross,
    /// A 3:1 rectangle.
    Bar,
    /// A thick V.
    Chevron,
    /// Two discs joined by a thin bar.
    Dumbbell,
    /// A disc with its lower part cut off (a dome).
    HalfDisc,
    /// Three parallel teeth joined at one end.
    Comb,
}

/// Depth relief of an object: how far each point of its silhouette stands out toward the camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relief {
    /// A flat plate facing the camera.
    Plate,
    /// A hemisphere.
    Dome,
    /// A cone, apex toward the camera.
    Cone,
    /// A flat disc with a protruding hub in the middle.
    Hub,
    /// A rounded ridge along the object's middle line.
    Ridge,
    /// Two levels: one half raised.
    Step,
    /// A raised rim (torus section).
    Rim,
    /// Two spheres, one on each lobe.
    Lobes,
    /// A plane tilted about the object's vertical axis.
    Wedge,
    /// A bowl: the centre recessed, the edge nearest.
    Bowl,
    /// Parallel rounded ribs.
    Ribs,
    /// A box with bevelled edges.
    Plateau,
}

/// Surface structure of an object: fine ribs, dimples, panels... It shows in all three image
/// views at once (brightness in the colour image, a ripple of a few centimetres in depth, a
/// temperature ripple in thermal), like the texture of a real material. Each surface is shared
/// by two concepts, one hotter than 140 and one cooler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// Smooth.
    Plain,
    /// Parallel ribs (period about 5 px).
    Stripes,
    /// A grid of round dimples (period about 6 px).
    Dots,
    /// Square panels (about 4 px).
    Checker,
    /// Concentric grooves around the object's centre (period about 5 px).
    Rings,
    /// Thin ribs in both directions (period about 6 px).
    Grid,
}

/// Temperature pattern of an object in the thermal view, on top of its base level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HeatPattern {
    /// The same level everywhere.
    Uniform,
    /// Hotter toward the outline (by the given number of levels).
    HotRim(f32),
    /// A hot spot in the middle (by the given number of levels).
    HotCentre(f32),
    /// Hotter toward the base (the cut side of a dome), cooler on top.
    Gradient(f32),
    /// One end hotter.
    HotEnd(f32),
    /// Both lobes hotter.
    HotLobes(f32),
    /// Alternating hot and cool stripes.
    Stripes(f32),
}

/// Temporal/timbral pattern of an object's sound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sound {
    /// Struck inharmonic partials with a slow decay (at the pulse rate).
    Strikes,
    /// Short low hits with a falling pitch and a noise burst (at the pulse rate).
    Hits,
    /// A steady harmonic hum, amplitude-modulated at the pulse rate, with low noise.
    Hum,
    /// A pure whistle gliding upward, with vibrato at the pulse rate and breath noise.
    Whistle,
    /// Short upward chirps (at the pulse rate).
    Chirps,
    /// Square-ish two-tone honks (at the pulse rate).
    Honks,
    /// Resonant clicks alternating tick/tock (at the pulse rate).
    Ticks,
    /// A sawtooth rumble, amplitude-modulated at the pulse rate, with low noise.
    Rumble,
    /// A trilled tone in ring bursts (at the pulse rate).
    Ring,
    /// A steady odd-harmonic buzz with a slight flicker at the pulse rate.
    Buzz,
    /// A harmonic tone swelling at the pulse rate, with random crackles.
    Swell,
    /// A steady low drone with a slow pitch wander at the pulse rate.
    Drone,
}

/// Motion pattern of an object in the IMU view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Motion {
    /// A pendulum swing about x at half the pulse rate, with a shock at each extreme.
    Swing,
    /// Vertical shocks (z) at the pulse rate.
    Thumps,
    /// A circular vibration in x/y at the pulse rate, with a slow yaw oscillation.
    Orbit,
    /// One slow tilt-and-return about y (pouring), with small jitter at the pulse rate.
    Pour,
    /// Flapping bursts on z and x-rotation at the pulse rate, with sudden yaw turns.
    Flap,
    /// Forward acceleration and braking on x, road bumps on z at the pulse rate, a slow turn.
    Drive,
    /// Tiny shocks on x at the pulse rate, otherwise still.
    Ticks,
    /// Strong vibration on z at 2.75× the pulse rate and on y at the pulse rate.
    Vibrate,
    /// 40 Hz buzz bursts on x, in the ring rhythm (the pulse rate).
    Buzz,
    /// Nearly still: a slow, small sway.
    Sway,
    /// Isolated clicks on y at half the pulse rate and a slow drift on z.
    Clicks,
    /// A constant 30 Hz hum on y and one door-like yaw bump.
    Hum,
}

/// One-line description of a concept's signature in each modality (written to `world.json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    pub vision: &'static str,
    pub text: &'static str,
    pub audio: &'static str,
    pub depth: &'static str,
    pub thermal: &'static str,
    pub imu: &'static str,
}

/// A concept of the synthetic world and its signature in every modality.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Concept {
    /// A single ordinary English word (used in captions and zero-shot prompts).
    pub name: &'static str,
    /// Other words a caption may use for it (the name itself is used most of the time).
    pub synonyms: &'static [&'static str],
    /// Sound/activity adjectives a caption may use for it.
    pub verbs: &'static [&'static str],
    /// The hues in degrees of the object's two halves (each instance jitters both by ±12° and
    /// picks which half gets which). Every pair of non-complementary hue families is one
    /// concept's, so each hue is shared by four concepts: one colour never names a concept,
    /// the two colours of one object do, and a two-object scene's four colours have to be
    /// grouped by object.
    pub hues: [f32; 2],
    pub shape: Shape,
    pub surface: Surface,
    pub relief: Relief,
    /// Base thermal level on the 0–255 scale (backgrounds are 40–70).
    pub heat: f32,
    pub heat_pattern: HeatPattern,
    /// Dominant audio frequency in Hz (instances jitter ±3%).
    pub pitch_hz: f32,
    /// Rate in Hz of the concept's rhythm, shared by its audio and IMU patterns (instances scale
    /// it by their vigour, 0.8–1.25).
    pub pulse_hz: f32,
    pub sound: Sound,
    pub motion: Motion,
    pub signature: Signature,
}

/// Looks a concept up by name.
pub fn concept_index(name: &str) -> Option<usize> {
    CONCEPTS.iter().position(|c| c.name == name)
}
