//! The caption: one of several templates, naming every object (by its name, sometimes a
//! synonym), with adjectives drawn from the instance (colour, size/nearness, sound, loudness)
//! and sometimes its position or the background colour.

use crate::IMAGE_SIZE;
use crate::images::BackgroundInfo;
use crate::objects::ObjectInstance;
use crate::util::Rng;

/// The ordinary colour word for a hue (degrees).
pub(crate) fn hue_word(hue: f32) -> &'static str {
    match hue.rem_euclid(360.0) {
        h if h < 15.0 => "red",
        h if h < 40.0 => "orange",
        h if h < 68.0 => "yellow",
        h if h < 150.0 => "green",
        h if h < 205.0 => "teal",
        h if h < 255.0 => "blue",
        h if h < 290.0 => "purple",
        h if h < 335.0 => "magenta",
        _ => "red",
    }
}

fn colour_phrase(o: &ObjectInstance, rng: &mut Rng) -> String {
    let (a, b) = (hue_word(o.hue), hue_word(o.hue2));
    let hue = if a == b {
        a.to_string()
    } else {
        format!("{a} and {b}")
    };
    if o.value < 0.65 && rng.chance(0.5) {
        format!("dark {hue}")
    } else if o.saturation < 0.65 && rng.chance(0.5) {
        format!("pale {hue}")
    } else if o.value > 0.85 && rng.chance(0.4) {
        format!("bright {hue}")
    } else {
        hue.to_string()
    }
}

fn size_word(o: &ObjectInstance, rng: &mut Rng) -> Option<&'static str> {
    if o.radius_px >= 17.0 {
        Some(*rng.pick(&["large", "big", "nearby"]))
    } else if o.radius_px <= 11.0 {
        Some(*rng.pick(&["small", "little", "distant"]))
    } else {
        None
    }
}

fn loudness_word(o: &ObjectInstance) -> Option<&'static str> {
    if o.loudness >= 0.8 {
        Some("loud")
    } else if o.loudness <= 0.5 {
        Some("quiet")
    } else {
        None
    }
}

/// Where an object sits in the frame.
fn position_phrase(o: &ObjectInstance) -> &'static str {
    let third = IMAGE_SIZE as f32 / 3.0;
    if o.x < third {
        "on the left"
    } else if o.x > 2.0 * third {
        "on the right"
    } else if o.y < third {
        "at the top"
    } else if o.y > 2.0 * third {
        "at the bottom"
    } else {
        "in the middle"
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// "a small dark red drum", "a ringing bell", "a telephone"...
fn noun_phrase(o: &ObjectInstance, rng: &mut Rng) -> String {
    let c = o.concept();
    let noun = if !c.synonyms.is_empty() && rng.chance(0.2) {
        *rng.pick(c.synonyms)
    } else {
        c.name
    };
    let mut adjectives: Vec<String> = Vec::new();
    // At most one of size / loudness, then colour and/or a sound word.
    match rng.int(0, 3) {
        0 => adjectives.extend(size_word(o, rng).map(str::to_string)),
        1 => adjectives.extend(loudness_word(o).map(str::to_string)),
        _ => {}
    }
    if rng.chance(0.3) {
        adjectives.push((*rng.pick(c.verbs)).to_string());
    }
    if rng.chance(0.65) {
        adjectives.push(colour_phrase(o, rng));
    }
    let body = if adjectives.is_empty() {
        noun.to_string()
    } else {
        format!("{} {noun}", adjectives.join(" "))
    };
    format!("{} {body}", article(&body))
}

fn background_phrase(bg: &BackgroundInfo) -> String {
    if bg.saturation < 0.15 {
        if bg.value < 0.45 {
            "a dark grey".into()
        } else {
            "a grey".into()
        }
    } else {
        let shade = if bg.value < 0.45 { "dark " } else { "" };
        let w = hue_word(bg.hue);
        format!(
            "{} {shade}{w}",
            article(if shade.is_empty() { w } else { shade })
        )
    }
}

/// The objects of a caption: one noun phrase, or two joined (either may come first), each
/// sometimes with where it sits.
fn subject(objects: &[ObjectInstance], rng: &mut Rng) -> String {
    let phrase = |o: &ObjectInstance, rng: &mut Rng| {
        let np = noun_phrase(o, rng);
        if rng.chance(0.25) {
            format!("{np} {}", position_phrase(o))
        } else {
            np
        }
    };
    match objects {
        [o] => phrase(o, rng),
        [first, second, ..] => {
            let (a, b) = if rng.chance(0.5) {
                (first, second)
            } else {
                (second, first)
            };
            let (na, nb) = (phrase(a, rng), phrase(b, rng));
            let join = *rng.pick(&["and", "next to", "beside", "with"]);
            format!("{na} {join} {nb}")
        }
        [] => "an empty scene".to_string(),
    }
}

/// Writes the caption of a scene; `objects[0]` is the labelled object. One- and two-object
/// scenes share every frame (background, close-up, ...): a frame used only for one object
/// would teach the encoders a "one object" direction, and `A + B` would then miss the scene
/// holding both.
pub(crate) fn caption(objects: &[ObjectInstance], bg: &BackgroundInfo, rng: &mut Rng) -> String {
    let s = subject(objects, rng);
    match rng.int(0, 6) {
        0 => s,
        1 => format!("a photo of {s}"),
        2 => format!("a picture of {s}"),
        3 => format!("there is {s}"),
        4 => format!("{s} in front of {} wall", background_phrase(bg)),
        5 => format!("{s} against {} background", background_phrase(bg)),
        _ => format!("a close-up of {s}"),
    }
}
