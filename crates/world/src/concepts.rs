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

/// Hue families (degrees).
const RED: f32 = 0.0;
const YELLOW: f32 = 55.0;
const GREEN: f32 = 120.0;
const TEAL: f32 = 180.0;
const BLUE: f32 = 242.0;
const MAGENTA: f32 = 305.0;

pub(crate) static CONCEPTS: [Concept; 12] = [
    Concept {
        name: "bell",
        synonyms: &[],
        verbs: &["ringing", "chiming"],
        hues: [YELLOW, RED],
        shape: Shape::Triangle,
        surface: Surface::Dots,
        relief: Relief::Cone,
        heat: 100.0,
        heat_pattern: HeatPattern::HotRim(45.0),
        pitch_hz: 880.0,
        pulse_hz: 1.2,
        sound: Sound::Strikes,
        motion: Motion::Swing,
        signature: Signature {
            vision: "dimpled yellow and red triangle",
            text: "'bell'; ringing, chiming",
            audio: "880 Hz struck inharmonic partials (1, 2.76, 5.4), ~1.2 strikes/s, 0.35 s decay",
            depth: "cone, apex toward the camera",
            thermal: "near ambient (~100) with a hotter rim",
            imu: "pendulum swing about x at half the strike rate, a shock at each strike",
        },
    },
    Concept {
        name: "drum",
        synonyms: &[],
        verbs: &["pounding", "booming"],
        hues: [RED, BLUE],
        shape: Shape::Disc,
        surface: Surface::Plain,
        relief: Relief::Plate,
        heat: 110.0,
        heat_pattern: HeatPattern::Uniform,
        pitch_hz: 110.0,
        pulse_hz: 3.0,
        sound: Sound::Hits,
        motion: Motion::Thumps,
        signature: Signature {
            vision: "smooth red and blue disc",
            text: "'drum'; pounding, booming",
            audio: "110 Hz hits with a falling pitch and a noise burst, ~3 hits/s",
            depth: "flat plate facing the camera",
            thermal: "uniform, mildly warm (~110)",
            imu: "vertical (z) shocks, ~3/s, in time with the hits",
        },
    },
    Concept {
        name: "fan",
        synonyms: &[],
        verbs: &["humming", "whirring"],
        hues: [TEAL, MAGENTA],
        shape: Shape::Cross,
        surface: Surface::Grid,
        relief: Relief::Hub,
        heat: 125.0,
        heat_pattern: HeatPattern::HotCentre(70.0),
        pitch_hz: 150.0,
        pulse_hz: 12.0,
        sound: Sound::Hum,
        motion: Motion::Orbit,
        signature: Signature {
            vision: "grid-ribbed teal and magenta plus sign",
            text: "'fan'; humming, whirring",
            audio: "150 Hz harmonic hum amplitude-modulated at ~12 Hz, low-passed noise",
            depth: "flat blades with a protruding hub",
            thermal: "warm (~125) with a hot centre (motor)",
            imu: "circular x/y vibration at ~12 Hz, slow yaw oscillation",
        },
    },
    Concept {
        name: "kettle",
        synonyms: &["teakettle"],
        verbs: &["whistling", "steaming"],
        hues: [BLUE, GREEN],
        shape: Shape::HalfDisc,
        surface: Surface::Dots,
        relief: Relief::Dome,
        heat: 215.0,
        heat_pattern: HeatPattern::Gradient(50.0),
        pitch_hz: 2200.0,
        pulse_hz: 5.0,
        sound: Sound::Whistle,
        motion: Motion::Pour,
        signature: Signature {
            vision: "dimpled blue and green dome (disc with the bottom cut off)",
            text: "'kettle' or 'teakettle'; whistling, steaming",
            audio: "2200 Hz whistle gliding up ~12%, ~5 Hz vibrato, breath noise",
            depth: "hemisphere",
            thermal: "hot (~215), hottest at the base",
            imu: "one slow tilt-and-return about y (pouring), small ~5 Hz jitter",
        },
    },
    Concept {
        name: "bird",
        synonyms: &["songbird"],
        verbs: &["chirping", "singing"],
        hues: [GREEN, YELLOW],
        shape: Shape::Chevron,
        surface: Surface::Plain,
        relief: Relief::Ridge,
        heat: 165.0,
        heat_pattern: HeatPattern::Uniform,
        pitch_hz: 3200.0,
        pulse_hz: 5.0,
        sound: Sound::Chirps,
        motion: Motion::Flap,
        signature: Signature {
            vision: "smooth green and yellow chevron (thick V)",
            text: "'bird' or 'songbird'; chirping, singing",
            audio: "3200 Hz upward chirps (±15% sweep, 70 ms), ~5/s, some skipped",
            depth: "rounded ridge along the middle line",
            thermal: "uniform, warm body (~165)",
            imu: "flapping bursts at ~5 Hz on z and x-rotation, sudden yaw turns",
        },
    },
    Concept {
        name: "car",
        synonyms: &["automobile"],
        verbs: &["honking", "beeping"],
        hues: [RED, GREEN],
        shape: Shape::Bar,
        surface: Surface::Checker,
        relief: Relief::Step,
        heat: 150.0,
        heat_pattern: HeatPattern::HotEnd(60.0),
        pitch_hz: 420.0,
        pulse_hz: 1.6,
        sound: Sound::Honks,
        motion: Motion::Drive,
        signature: Signature {
            vision: "panelled red and green 3:1 bar",
            text: "'car' or 'automobile'; honking, beeping",
            audio: "420 Hz square-ish two-tone horn honks, ~1.6/s",
            depth: "two levels (one half raised, a cabin)",
            thermal: "warm (~150) with one hot end (engine)",
            imu: "acceleration/braking on x, ~1.6 Hz road bumps on z, slow turn",
        },
    },
    Concept {
        name: "clock",
        synonyms: &[],
        verbs: &["ticking"],
        hues: [BLUE, MAGENTA],
        shape: Shape::Ring,
        surface: Surface::Rings,
        relief: Relief::Rim,
        heat: 85.0,
        heat_pattern: HeatPattern::Uniform,
        pitch_hz: 1600.0,
        pulse_hz: 2.0,
        sound: Sound::Ticks,
        motion: Motion::Ticks,
        signature: Signature {
            vision: "ring-grooved blue and magenta ring",
            text: "'clock'; ticking",
            audio: "1600 Hz resonant tick/tock clicks, ~2/s",
            depth: "raised rim (torus section)",
            thermal: "uniform, barely above ambient (~85)",
            imu: "tiny x shocks at each tick (~2/s), otherwise still",
        },
    },
    Concept {
        name: "engine",
        synonyms: &["motor"],
        verbs: &["roaring", "rumbling"],
        hues: [MAGENTA, RED],
        shape: Shape::Dumbbell,
        surface: Surface::Grid,
        relief: Relief::Lobes,
        heat: 230.0,
        heat_pattern: HeatPattern::HotLobes(25.0),
        pitch_hz: 55.0,
        pulse_hz: 9.0,
        sound: Sound::Rumble,
        motion: Motion::Vibrate,
        signature: Signature {
            vision: "grid-ribbed magenta and red dumbbell",
            text: "'engine' or 'motor'; roaring, rumbling",
            audio: "55 Hz sawtooth rumble amplitude-modulated at ~9 Hz, low noise",
            depth: "a sphere on each lobe",
            thermal: "very hot (~230), hottest on the lobes",
            imu: "strong z vibration at ~25 Hz and y vibration at ~9 Hz",
        },
    },
    Concept {
        name: "phone",
        synonyms: &["telephone"],
        verbs: &["ringing", "buzzing"],
        hues: [TEAL, BLUE],
        shape: Shape::Frame,
        surface: Surface::Checker,
        relief: Relief::Wedge,
        heat: 118.0,
        heat_pattern: HeatPattern::Uniform,
        pitch_hz: 1200.0,
        pulse_hz: 1.67,
        sound: Sound::Ring,
        motion: Motion::Buzz,
        signature: Signature {
            vision: "panelled teal and blue square outline",
            text: "'phone' or 'telephone'; ringing, buzzing",
            audio: "1200 Hz tone trilled at 20 Hz, in ring bursts ~1.67/s (2/3 on)",
            depth: "tilted plane (wedge)",
            thermal: "uniform, mildly warm (~118)",
            imu: "40 Hz vibration bursts on x in the ring rhythm",
        },
    },
    Concept {
        name: "lamp",
        synonyms: &[],
        verbs: &["glowing", "shining"],
        hues: [YELLOW, TEAL],
        shape: Shape::Star,
        surface: Surface::Rings,
        relief: Relief::Bowl,
        heat: 200.0,
        heat_pattern: HeatPattern::HotCentre(55.0),
        pitch_hz: 240.0,
        pulse_hz: 2.0,
        sound: Sound::Buzz,
        motion: Motion::Sway,
        signature: Signature {
            vision: "ring-grooved yellow and teal five-pointed star",
            text: "'lamp'; glowing, shining",
            audio: "240 Hz odd-harmonic electrical buzz, slight ~2 Hz flicker",
            depth: "bowl (centre recessed, edge nearest)",
            thermal: "hot (~200) with a very hot centre (bulb)",
            imu: "nearly still, a slow small sway",
        },
    },
    Concept {
        name: "heater",
        synonyms: &["radiator"],
        verbs: &["glowing", "warm"],
        hues: [MAGENTA, YELLOW],
        shape: Shape::Comb,
        surface: Surface::Stripes,
        relief: Relief::Ribs,
        heat: 238.0,
        heat_pattern: HeatPattern::Stripes(18.0),
        pitch_hz: 330.0,
        pulse_hz: 1.5,
        sound: Sound::Swell,
        motion: Motion::Clicks,
        signature: Signature {
            vision: "ribbed magenta and yellow comb (three teeth)",
            text: "'heater' or 'radiator'; glowing, warm",
            audio: "330 Hz harmonic tone swelling at ~1.5 Hz, random crackles",
            depth: "parallel rounded ribs",
            thermal: "hottest object (~238), striped along the ribs",
            imu: "isolated clicks on y (~0.75/s), slow drift on z",
        },
    },
    Concept {
        name: "fridge",
        synonyms: &["refrigerator"],
        verbs: &["humming", "cold"],
        hues: [GREEN, TEAL],
        shape: Shape::Square,
        surface: Surface::Stripes,
        relief: Relief::Plateau,
        heat: 12.0,
        heat_pattern: HeatPattern::Uniform,
        pitch_hz: 75.0,
        pulse_hz: 0.3,
        sound: Sound::Drone,
        motion: Motion::Hum,
        signature: Signature {
            vision: "ribbed green and teal square",
            text: "'fridge' or 'refrigerator'; humming, cold",
            audio: "75 Hz steady compressor drone with harmonics, slow pitch wander, noise",
            depth: "box with bevelled edges",
            thermal: "uniform and cold (~12, below the background)",
            imu: "constant 30 Hz hum on y and one door-like yaw bump",
        },
    },
];

/// Looks a concept up by name.
pub fn concept_index(name: &str) -> Option<usize> {
    CONCEPTS.iter().position(|c| c.name == name)
}
