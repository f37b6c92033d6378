//! ftfy's `fix_text`: the fixers of ftfy 6's default pipeline, applied line by line until
//! the text is stable.

use unicode_normalization::UnicodeNormalization;

use super::html::ftfy_unescape_html;

/// Safety net for the fix-until-stable loop; real text settles in two or three rounds.
const MAX_FIX_ROUNDS: usize = 16;

/// ftfy's default `fix_text`. Works line by line like ftfy; once a line contains `<`, HTML
/// unescaping is switched off for it and every later line (ftfy's "auto" mode, which
/// assumes such text is real HTML/XML).
pub fn fix_text(text: &str) -> String {
    let mut unescape = true;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if unescape && line.contains('<') {
            unescape = false;
        }
        out.push_str(&fix_line(line, unescape));
    }
    out
}

/// ftfy's `fix_and_explain`: applies every fixer in order until nothing changes.
fn fix_line(line: &str, unescape: bool) -> String {
    let mut text = line.to_owned();
    for _ in 0..MAX_FIX_ROUNDS {
        let before = text.clone();
        if unescape {
            text = ftfy_unescape_html(&text);
        }
        text = fix_mojibake(&text);
        text = fix_c1_controls(&text);
        text = fix_latin_ligatures(&text);
        text = fix_character_width(&text);
        text = uncurl_quotes(&text);
        text = fix_line_breaks(&text);
        text = remove_terminal_escapes(&text);
        text = remove_control_chars(&text);
        text = text.nfc().collect();
        if text == before {
            break;
        }
    }
    text
}

/// Windows-1252 for bytes 0x80..0x9F, "sloppy" like ftfy: the five undefined bytes map to
/// the C1 control with the same number.
pub(super) const CP1252_HIGH: [char; 32] = [
    '\u{20ac}', '\u{0081}', '\u{201a}', '\u{0192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02c6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008d}', '\u{017d}', '\u{008f}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02dc}', '\u{2122}', '\u{0161}', '\u{203a}', '\u{0153}', '\u{009d}', '\u{017e}', '\u{0178}',
];

/// The byte `c` would be in sloppy Windows-1252 or Latin-1, the two encodings a UTF-8
/// byte stream is most often mis-decoded with. C1 controls count as their own byte so
/// that Latin-1 mojibake is covered too.
fn single_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    if code <= 0xFF {
        return u8::try_from(code).ok();
    }
    CP1252_HIGH
        .iter()
        .position(|&h| h == c)
        .map(|i| 0x80 + i as u8)
}

/// Punctuation that legitimately follows an accented letter ("café…”"). A candidate
/// sequence whose trailing characters are all from this set is left alone unless its
/// first character is Â or Ã, which real text practically never puts before them.
const PLAUSIBLE_AFTER_LETTER: &[char] = &[
    '\u{2026}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2013}', '\u{2014}', '\u{2022}',
    '\u{2122}', '\u{ab}', '\u{bb}', '\u{a1}', '\u{bf}', '\u{a0}', '\u{b7}', '\u{b0}',
];

/// Repairs UTF-8 sequences that were decoded one byte per character: "Ã©" becomes "é",
/// "â€™" becomes "’". Each candidate must re-encode to one well-formed UTF-8 character;
/// double-encoded text is repaired by the caller's repeat-until-stable loop.
fn fix_mojibake(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        match mojibake_at(&chars[i..]) {
            Some((fixed, len)) => {
                out.push(fixed);
                i += len;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

/// If `chars` starts with a mis-decoded UTF-8 character, returns it and how many
/// characters it spans.
fn mojibake_at(chars: &[char]) -> Option<(char, usize)> {
    let lead = single_byte(*chars.first()?)?;
    let len = match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let tail = chars.get(1..len)?;
    let mut bytes = [lead, 0, 0, 0];
    for (slot, &c) in bytes[1..len].iter_mut().zip(tail) {
        *slot = single_byte(c).filter(|b| (0x80..=0xBF).contains(b))?;
    }
    let fixed = std::str::from_utf8(&bytes[..len]).ok()?.chars().next()?;
    let plausible_text =
        !matches!(lead, 0xC2 | 0xC3) && tail.iter().all(|c| PLAUSIBLE_AFTER_LETTER.contains(c));
    (!plausible_text).then_some((fixed, len))
}

/// ftfy's `fix_c1_controls`: stray C1 controls are Windows-1252 bytes decoded as Latin-1.
fn fix_c1_controls(text: &str) -> String {
    text.chars()
        .map(|c| match u32::from(c) {
            code @ 0x80..=0x9F => CP1252_HIGH[(code - 0x80) as usize],
            _ => c,
        })
        .collect()
}

/// ftfy's `fix_latin_ligatures`: typographic ligatures and digraph letters, spelled out.
fn fix_latin_ligatures(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            'Ĳ' => out.push_str("IJ"),
            'ĳ' => out.push_str("ij"),
            'ŉ' => out.push_str("ʼn"),
            'Ǳ' => out.push_str("DZ"),
            'ǲ' => out.push_str("Dz"),
            'ǳ' => out.push_str("dz"),
            'Ǆ' => out.push_str("DŽ"),
            'ǅ' => out.push_str("Dž"),
            'ǆ' => out.push_str("dž"),
            'Ǉ' => out.push_str("LJ"),
            'ǈ' => out.push_str("Lj"),
            'ǉ' => out.push_str("lj"),
            'Ǌ' => out.push_str("NJ"),
            'ǋ' => out.push_str("Nj"),
            'ǌ' => out.push_str("nj"),
            'ﬀ' => out.push_str("ff"),
            'ﬁ' => out.push_str("fi"),
            'ﬂ' => out.push_str("fl"),
            'ﬃ' => out.push_str("ffi"),
            'ﬄ' => out.push_str("ffl"),
            'ﬅ' => out.push_str("ſt"),
            'ﬆ' => out.push_str("st"),
            _ => out.push(c),
        }
    }
    out
}

/// ftfy's `fix_character_width`: full-width ASCII and half-width kana/hangul become their
/// normal-width forms (their NFKC), and the ideographic space a plain space.
fn fix_character_width(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{3000}' => out.push(' '),
            '\u{FF01}'..='\u{FFEF}' => out.extend(std::iter::once(c).nfkc()),
            _ => out.push(c),
        }
    }
    out
}

/// ftfy's `uncurl_quotes`: U+2018..U+201B and U+02BC become `'`, U+201C..U+201F `"`.
fn uncurl_quotes(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{02BC}' | '\u{2018}'..='\u{201B}' => '\'',
            '\u{201C}'..='\u{201F}' => '"',
            _ => c,
        })
        .collect()
}

/// ftfy's `fix_line_breaks`: CRLF, CR, U+2028, U+2029 and U+0085 become `\n`.
fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{0085}'], "\n")
}

/// ftfy's `remove_terminal_escapes`: ANSI sequences `ESC [ digits-and-semicolons letter`.
fn remove_terminal_escapes(text: &str) -> String {
    if !text.contains('\u{1b}') {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\u{1b}' && chars.get(i + 1) == Some(&'[') {
            let params = chars[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || **c == ';')
                .count();
            let end = i + 2 + params;
            if chars.get(end).is_some_and(|c| c.is_ascii_alphabetic()) {
                i = end + 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// ftfy's `remove_control_chars`: ASCII controls other than tab, LF, FF and CR, DEL, the
/// deprecated Arabic format controls, the byte-order mark and interlinear annotations.
fn remove_control_chars(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            !matches!(c,
                '\u{00}'..='\u{08}' | '\u{0B}' | '\u{0E}'..='\u{1F}' | '\u{7F}'
                | '\u{206A}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFC}')
        })
        .collect()
}
