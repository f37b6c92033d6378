//! Text input: the cleaning ImageBind applies before BPE, and fixed-length tokenisation.
//!
//! ImageBind's `SimpleTokenizer` (CLIP's) cleans text with `ftfy.fix_text`, then
//! `html.unescape` twice, then collapses whitespace and lower-cases. The ids depend on every
//! one of those steps, so each is re-implemented here:
//!
//! * [`fix_text`] follows ftfy 6's default pipeline: line by line, repeated until stable,
//!   HTML unescaping (only while no `<` has been seen), mojibake repair, C1 controls,
//!   Latin ligatures, character width, curly quotes, line breaks, terminal escapes,
//!   control characters and NFC. Mojibake repair is a focused subset of ftfy's
//!   heuristics: UTF-8 that was decoded as Windows-1252 / Latin-1 (possibly several times).
//!   Other code pages (1250/1251/1253/MacRoman/cp437) are not attempted.
//! * [`html_unescape`] follows Python's `html.unescape` for numeric references and for the
//!   named entities in [`ENTITIES`] (all legacy HTML4 names plus common HTML5 ones), not
//!   the full 2231-name HTML5 table.

use std::path::Path;

use unicode_normalization::UnicodeNormalization;

pub use crate::bpe::Tokenizer;
use crate::{Error, Result};

/// How text is turned into the model's fixed-length id sequence.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TextPreprocess {
    /// Sequence length the text encoder takes, SOT and EOT included (77 for ImageBind).
    pub context_length: usize,
}

impl Default for TextPreprocess {
    fn default() -> Self {
        TextPreprocess { context_length: 77 }
    }
}

impl TextPreprocess {
    /// Tokenises with the ImageBind vocabulary at this context length.
    pub fn tokenize(&self, text: &str) -> Vec<i64> {
        Tokenizer::imagebind().tokenize(text, self.context_length)
    }
}

impl Tokenizer {
    /// BPE ids of `text` after [`clean`], without SOT/EOT and without truncation.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encode_cleaned(&clean(text))
    }

    /// The model input: `[SOT] + bpe`, cut so that it leaves room for EOT within
    /// `context_length`, then EOT, then zero padding. Cutting before appending EOT (rather
    /// than after) keeps EOT, where the text head pools, in every sequence.
    /// A `context_length` of 0 gives an empty vector.
    pub fn tokenize(&self, text: &str, context_length: usize) -> Vec<i64> {
        if context_length == 0 {
            return Vec::new();
        }
        let mut ids: Vec<i64> = Vec::with_capacity(context_length);
        ids.push(i64::from(self.sot_id()));
        // Only the first `context_length - 1` ids survive the cut, so words past them are
        // never merged: the work is bounded by the context, not by the text.
        let kept = self.encode_cleaned_at_most(&clean(text), context_length);
        ids.extend(kept.into_iter().map(i64::from));
        ids.truncate(context_length - 1);
        ids.push(i64::from(self.eot_id()));
        ids.resize(context_length, 0);
        ids
    }
}

/// Reads a UTF-8 `.txt` file (a leading byte-order mark is dropped).
pub fn load_text_file(path: &Path) -> Result<String> {
    let bytes = crate::Limits::current().read_file(path)?;
    crate::Limits::current().check_text(path, bytes.len())?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        Error::decode(
            path,
            format!("not valid UTF-8 text (invalid byte at offset {offset})"),
        )
    })?;
    Ok(match text.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// The text the tokenizer actually splits: `fix_text`, `html.unescape` twice, whitespace
/// runs collapsed to one space, ends stripped, lower-cased.
pub fn clean(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = html_unescape(&html_unescape(&fixed));
    collapse_whitespace(&unescaped).to_lowercase()
}

/// `re.sub(r"\s+", " ", text).strip()`.
fn collapse_whitespace(text: &str) -> String {
    text.split(is_python_space)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Python's `\s`: Unicode whitespace plus the ASCII separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

// ---------------------------------------------------------------------------------------
// ftfy.fix_text
// ---------------------------------------------------------------------------------------

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
const CP1252_HIGH: [char; 32] = [
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

// ---------------------------------------------------------------------------------------
// HTML entities
// ---------------------------------------------------------------------------------------

/// Longest entity name Python's `html.unescape` looks at.
const MAX_ENTITY_NAME: usize = 32;
/// Longest entity body ftfy's own unescaper matches (`&#?[0-9A-Za-z]{1,24};`).
const MAX_FTFY_ENTITY: usize = 24;

/// Python's `html.unescape`: decimal and hex references (with or without `;`, Python's
/// replacements for invalid code points) and named entities, including the legacy names
/// that may omit `;` and may be followed directly by other letters ("&ampx" -> "&x").
pub fn html_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match unescape_reference(after) {
            Some((replacement, consumed)) => {
                out.push_str(&replacement);
                rest = &after[consumed..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes the reference after a `&`; returns the replacement and the bytes consumed, or
/// `None` where Python's pattern does not match (the `&` then stays literal).
fn unescape_reference(after: &str) -> Option<(String, usize)> {
    if let Some(numeric) = after.strip_prefix('#') {
        return unescape_numeric(numeric).map(|(s, used)| (s, used + 1));
    }
    let name_len: usize = after
        .chars()
        .take_while(|c| !matches!(c, '\t' | '\n' | '\x0c' | ' ' | '<' | '&' | '#' | ';'))
        .take(MAX_ENTITY_NAME)
        .map(char::len_utf8)
        .sum();
    if name_len == 0 {
        return None;
    }
    let has_semicolon = after[name_len..].starts_with(';');
    let consumed = name_len + usize::from(has_semicolon);
    let name = &after[..name_len];
    if let Some(value) = lookup_entity(name, has_semicolon) {
        return Some((value.to_owned(), consumed));
    }
    // Python tries ever shorter prefixes (down to two characters) among the legacy names.
    let boundaries: Vec<usize> = name.char_indices().map(|(i, _)| i).skip(2).collect();
    for &cut in boundaries.iter().rev() {
        if let Some(value) = lookup_entity(&name[..cut], false) {
            return Some((format!("{value}{}", &after[cut..consumed]), consumed));
        }
    }
    Some((format!("&{}", &after[..consumed]), consumed))
}

/// `#` references: `[0-9]+;?` or `[xX][0-9a-fA-F]+;?`, decoded as Python does.
fn unescape_numeric(after_hash: &str) -> Option<(String, usize)> {
    let (digits_start, radix) = match after_hash.as_bytes().first() {
        Some(b'x' | b'X') => (1, 16),
        _ => (0, 10),
    };
    let digits = &after_hash[digits_start..];
    let len = digits
        .bytes()
        .take_while(|b| (*b as char).is_digit(radix))
        .count();
    if len == 0 {
        // "&#x" with no hex digit: Python's decimal branch cannot match either.
        return None;
    }
    // Saturate: any value past U+10FFFF gets the same replacement.
    let code = digits[..len]
        .chars()
        .filter_map(|c| c.to_digit(radix))
        .fold(0u32, |acc, d| {
            acc.saturating_mul(radix).saturating_add(d).min(0x11_0000)
        });
    let has_semicolon = digits[len..].starts_with(';');
    Some((
        numeric_char(code),
        digits_start + len + usize::from(has_semicolon),
    ))
}

/// Python's handling of a numeric character reference's code point.
fn numeric_char(code: u32) -> String {
    match code {
        0x00 => "\u{FFFD}".to_owned(),
        0x0D => "\r".to_owned(),
        0x80..=0x9F => CP1252_HIGH[(code - 0x80) as usize].to_string(),
        0xD800..=0xDFFF | 0x11_0000.. => "\u{FFFD}".to_owned(),
        0x01..=0x08 | 0x0B | 0x0E..=0x1F | 0x7F | 0xFDD0..=0xFDEF => String::new(),
        _ if code & 0xFFFE == 0xFFFE => String::new(),
        _ => char::from_u32(code).map(String::from).unwrap_or_default(),
    }
}

/// Looks up `name` in [`ENTITIES`]; without a `;` only the legacy names are valid.
fn lookup_entity(name: &str, has_semicolon: bool) -> Option<&'static str> {
    let index = ENTITIES.binary_search_by(|(n, _, _)| n.cmp(&name)).ok()?;
    let (_, value, legacy) = ENTITIES[index];
    (has_semicolon || legacy).then_some(value)
}

/// ftfy's own `unescape_html`, applied before its other fixes: only `&name;` and `&#...;`
/// forms of at most 24 alphanumerics, plus upper-cased entity names such as `&EACUTE;`
/// (giving the upper-cased character) when that spelling is not an entity itself.
fn ftfy_unescape_html(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match ftfy_entity(after) {
            Some((replacement, consumed)) => {
                out.push_str(&replacement);
                rest = &after[consumed..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Matches `#?[0-9A-Za-z]{1,24};` after a `&` and returns its replacement and length.
fn ftfy_entity(after: &str) -> Option<(String, usize)> {
    let hash = usize::from(after.starts_with('#'));
    let body_len = after[hash..]
        .bytes()
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    if body_len == 0 || body_len > MAX_FTFY_ENTITY || !after[hash + body_len..].starts_with(';') {
        return None;
    }
    let consumed = hash + body_len + 1;
    let whole = &after[..consumed];
    let name = &after[hash..hash + body_len];
    if hash == 1 {
        // Numeric: Python's unescape, unless it left the reference as it was.
        let unescaped = html_unescape(&format!("&{whole}"));
        let replacement = if unescaped.contains(';') {
            format!("&{whole}")
        } else {
            unescaped
        };
        return Some((replacement, consumed));
    }
    let replacement = lookup_entity(name, true)
        .map(str::to_owned)
        .or_else(|| uppercased_entity(name))
        .unwrap_or_else(|| format!("&{whole}"));
    Some((replacement, consumed))
}

/// `&EACUTE;` -> "É": an all-caps spelling of a lower-case entity, accepted only when
/// Python's `html.unescape` would leave it untouched.
fn uppercased_entity(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if name != lower.to_ascii_uppercase() || lower == name {
        return None;
    }
    let value = lookup_entity(&lower, true)?;
    let untouched = html_unescape(&format!("&{name};")) == format!("&{name};");
    untouched.then(|| value.to_uppercase())
}

/// Named entities: (name, value, legacy). Legacy names are the HTML4-era ones Python also
/// accepts without `;`. Generated from Python's `html.entities.html5`; all legacy names,
/// all HTML4 names and common HTML5 additions. Sorted by name for binary search.
static ENTITIES: &[(&str, &str, bool)] = &[
    ("AElig", "\u{c6}", true),
    ("AMP", "&", true),
    ("Aacute", "\u{c1}", true),
    ("Acirc", "\u{c2}", true),
    ("Agrave", "\u{c0}", true),
    ("Alpha", "\u{391}", false),
    ("Aring", "\u{c5}", true),
    ("Atilde", "\u{c3}", true),
    ("Auml", "\u{c4}", true),
    ("Beta", "\u{392}", false),
    ("COPY", "\u{a9}", true),
    ("Ccedil", "\u{c7}", true),
    ("Chi", "\u{3a7}", false),
    ("Dagger", "\u{2021}", false),
    ("Delta", "\u{394}", false),
    ("ETH", "\u{d0}", true),
    ("Eacute", "\u{c9}", true),
    ("Ecirc", "\u{ca}", true),
    ("Egrave", "\u{c8}", true),
    ("Epsilon", "\u{395}", false),
    ("Eta", "\u{397}", false),
    ("Euml", "\u{cb}", true),
    ("GT", ">", true),
    ("Gamma", "\u{393}", false),
    ("Hat", "^", false),
    ("Iacute", "\u{cd}", true),
    ("Icirc", "\u{ce}", true),
    ("Igrave", "\u{cc}", true),
    ("Iota", "\u{399}", false),
    ("Iuml", "\u{cf}", true),
    ("Kappa", "\u{39a}", false),
    ("LT", "<", true),
    ("Lambda", "\u{39b}", false),
    ("LeftArrow", "\u{2190}", false),
    ("Mu", "\u{39c}", false),
    ("NewLine", "\u{a}", false),
    ("NoBreak", "\u{2060}", false),
    ("Ntilde", "\u{d1}", true),
    ("Nu", "\u{39d}", false),
    ("OElig", "\u{152}", false),
    ("Oacute", "\u{d3}", true),
    ("Ocirc", "\u{d4}", true),
    ("Ograve", "\u{d2}", true),
    ("Omega", "\u{3a9}", false),
    ("Omicron", "\u{39f}", false),
    ("Oslash", "\u{d8}", true),
    ("Otilde", "\u{d5}", true),
    ("Ouml", "\u{d6}", true),
    ("Phi", "\u{3a6}", false),
    ("Pi", "\u{3a0}", false),
    ("Prime", "\u{2033}", false),
    ("Psi", "\u{3a8}", false),
    ("QUOT", "\u{22}", true),
    ("REG", "\u{ae}", true),
    ("Rho", "\u{3a1}", false),
    ("RightArrow", "\u{2192}", false),
    ("Scaron", "\u{160}", false),
    ("Sigma", "\u{3a3}", false),
    ("THORN", "\u{de}", true),
    ("TRADE", "\u{2122}", false),
    ("Tab", "\u{9}", false),
    ("Tau", "\u{3a4}", false),
    ("Theta", "\u{398}", false),
    ("Uacute", "\u{da}", true),
    ("Ucirc", "\u{db}", true),
    ("Ugrave", "\u{d9}", true),
    ("Upsilon", "\u{3a5}", false),
    ("Uuml", "\u{dc}", true),
    ("Xi", "\u{39e}", false),
    ("Yacute", "\u{dd}", true),
    ("Yuml", "\u{178}", false),
    ("ZeroWidthSpace", "\u{200b}", false),
    ("Zeta", "\u{396}", false),
    ("aacute", "\u{e1}", true),
    ("acirc", "\u{e2}", true),
    ("acute", "\u{b4}", true),
    ("aelig", "\u{e6}", true),
    ("agrave", "\u{e0}", true),
    ("alefsym", "\u{2135}", false),
    ("aleph", "\u{2135}", false),
    ("alpha", "\u{3b1}", false),
    ("amp", "&", true),
    ("and", "\u{2227}", false),
    ("ang", "\u{2220}", false),
    ("apos", "'", false),
    ("aring", "\u{e5}", true),
    ("ast", "*", false),
    ("asymp", "\u{2248}", false),
    ("atilde", "\u{e3}", true),
    ("auml", "\u{e4}", true),
    ("bdquo", "\u{201e}", false),
    ("beta", "\u{3b2}", false),
    ("blacklozenge", "\u{29eb}", false),
    ("boxh", "\u{2500}", false),
    ("boxv", "\u{2502}", false),
    ("brvbar", "\u{a6}", true),
    ("bsol", "\u{5c}", false),
    ("bull", "\u{2022}", false),
    ("bullet", "\u{2022}", false),
    ("cap", "\u{2229}", false),
    ("ccedil", "\u{e7}", true),
    ("cedil", "\u{b8}", true),
    ("cent", "\u{a2}", true),
    ("centerdot", "\u{b7}", false),
    ("check", "\u{2713}", false),
    ("checkmark", "\u{2713}", false),
    ("chi", "\u{3c7}", false),
    ("cir", "\u{25cb}", false),
    ("circ", "\u{2c6}", false),
    ("clubs", "\u{2663}", false),
    ("colon", ":", false),
    ("comma", ",", false),
    ("cong", "\u{2245}", false),
    ("copy", "\u{a9}", true),
    ("copysr", "\u{2117}", false),
    ("crarr", "\u{21b5}", false),
    ("cross", "\u{2717}", false),
    ("cup", "\u{222a}", false),
    ("curren", "\u{a4}", true),
    ("dArr", "\u{21d3}", false),
    ("dagger", "\u{2020}", false),
    ("darr", "\u{2193}", false),
    ("dash", "\u{2010}", false),
    ("ddagger", "\u{2021}", false),
    ("deg", "\u{b0}", true),
    ("delta", "\u{3b4}", false),
    ("diams", "\u{2666}", false),
    ("divide", "\u{f7}", true),
    ("dollar", "$", false),
    ("downarrow", "\u{2193}", false),
    ("eacute", "\u{e9}", true),
    ("ecirc", "\u{ea}", true),
    ("egrave", "\u{e8}", true),
    ("ell", "\u{2113}", false),
    ("empty", "\u{2205}", false),
    ("emsp", "\u{2003}", false),
    ("ensp", "\u{2002}", false),
    ("epsi", "\u{3b5}", false),
    ("epsilon", "\u{3b5}", false),
    ("epsiv", "\u{3f5}", false),
    ("equals", "=", false),
    ("equiv", "\u{2261}", false),
    ("eta", "\u{3b7}", false),
    ("eth", "\u{f0}", true),
    ("euml", "\u{eb}", true),
    ("euro", "\u{20ac}", false),
    ("excl", "!", false),
    ("exist", "\u{2203}", false),
    ("female", "\u{2640}", false),
    ("flat", "\u{266d}", false),
    ("fnof", "\u{192}", false),
    ("forall", "\u{2200}", false),
    ("frac12", "\u{bd}", true),
    ("frac13", "\u{2153}", false),
    ("frac14", "\u{bc}", true),
    ("frac18", "\u{215b}", false),
    ("frac23", "\u{2154}", false),
    ("frac34", "\u{be}", true),
    ("frasl", "\u{2044}", false),
    ("gamma", "\u{3b3}", false),
    ("ge", "\u{2265}", false),
    ("grave", "`", false),
    ("gt", ">", true),
    ("hArr", "\u{21d4}", false),
    ("hairsp", "\u{200a}", false),
    ("half", "\u{bd}", false),
    ("harr", "\u{2194}", false),
    ("hbar", "\u{210f}", false),
    ("hearts", "\u{2665}", false),
    ("hellip", "\u{2026}", false),
    ("hyphen", "\u{2010}", false),
    ("iacute", "\u{ed}", true),
    ("icirc", "\u{ee}", true),
    ("iexcl", "\u{a1}", true),
    ("igrave", "\u{ec}", true),
    ("image", "\u{2111}", false),
    ("incare", "\u{2105}", false),
    ("infin", "\u{221e}", false),
    ("int", "\u{222b}", false),
    ("iota", "\u{3b9}", false),
    ("iquest", "\u{bf}", true),
    ("isin", "\u{2208}", false),
    ("iuml", "\u{ef}", true),
    ("kappa", "\u{3ba}", false),
    ("lArr", "\u{21d0}", false),
    ("lambda", "\u{3bb}", false),
    ("lang", "\u{27e8}", false),
    ("langle", "\u{27e8}", false),
    ("laquo", "\u{ab}", true),
    ("larr", "\u{2190}", false),
    ("lceil", "\u{2308}", false),
    ("lcub", "{", false),
    ("ldquo", "\u{201c}", false),
    ("ldquor", "\u{201e}", false),
    ("le", "\u{2264}", false),
    ("leftarrow", "\u{2190}", false),
    ("lfloor", "\u{230a}", false),
    ("lowast", "\u{2217}", false),
    ("lowbar", "_", false),
    ("loz", "\u{25ca}", false),
    ("lozenge", "\u{25ca}", false),
    ("lpar", "(", false),
    ("lrm", "\u{200e}", false),
    ("lsaquo", "\u{2039}", false),
    ("lsqb", "[", false),
    ("lsquo", "\u{2018}", false),
    ("lsquor", "\u{201a}", false),
    ("lt", "<", true),
    ("macr", "\u{af}", true),
    ("male", "\u{2642}", false),
    ("mdash", "\u{2014}", false),
    ("micro", "\u{b5}", true),
    ("middot", "\u{b7}", true),
    ("minus", "\u{2212}", false),
    ("mu", "\u{3bc}", false),
    ("nabla", "\u{2207}", false),
    ("natural", "\u{266e}", false),
    ("nbsp", "\u{a0}", true),
    ("ndash", "\u{2013}", false),
    ("ne", "\u{2260}", false),
    ("ni", "\u{220b}", false),
    ("not", "\u{ac}", true),
    ("notin", "\u{2209}", false),
    ("nsub", "\u{2284}", false),
    ("ntilde", "\u{f1}", true),
    ("nu", "\u{3bd}", false),
    ("num", "#", false),
    ("numero", "\u{2116}", false),
    ("numsp", "\u{2007}", false),
    ("oacute", "\u{f3}", true),
    ("ocirc", "\u{f4}", true),
    ("oelig", "\u{153}", false),
    ("ograve", "\u{f2}", true),
    ("oline", "\u{203e}", false),
    ("omega", "\u{3c9}", false),
    ("omicron", "\u{3bf}", false),
    ("oplus", "\u{2295}", false),
    ("or", "\u{2228}", false),
    ("ordf", "\u{aa}", true),
    ("ordm", "\u{ba}", true),
    ("oslash", "\u{f8}", true),
    ("otilde", "\u{f5}", true),
    ("otimes", "\u{2297}", false),
    ("ouml", "\u{f6}", true),
    ("para", "\u{b6}", true),
    ("part", "\u{2202}", false),
    ("percnt", "%", false),
    ("period", ".", false),
    ("permil", "\u{2030}", false),
    ("perp", "\u{22a5}", false),
    ("phi", "\u{3c6}", false),
    ("phiv", "\u{3d5}", false),
    ("phone", "\u{260e}", false),
    ("pi", "\u{3c0}", false),
    ("piv", "\u{3d6}", false),
    ("planck", "\u{210f}", false),
    ("plus", "+", false),
    ("plusmn", "\u{b1}", true),
    ("pound", "\u{a3}", true),
    ("prime", "\u{2032}", false),
    ("prod", "\u{220f}", false),
    ("prop", "\u{221d}", false),
    ("psi", "\u{3c8}", false),
    ("puncsp", "\u{2008}", false),
    ("quest", "?", false),
    ("quot", "\u{22}", true),
    ("rArr", "\u{21d2}", false),
    ("radic", "\u{221a}", false),
    ("rang", "\u{27e9}", false),
    ("rangle", "\u{27e9}", false),
    ("raquo", "\u{bb}", true),
    ("rarr", "\u{2192}", false),
    ("rceil", "\u{2309}", false),
    ("rcub", "}", false),
    ("rdquo", "\u{201d}", false),
    ("rdquor", "\u{201d}", false),
    ("real", "\u{211c}", false),
    ("rect", "\u{25ad}", false),
    ("reg", "\u{ae}", true),
    ("rfloor", "\u{230b}", false),
    ("rho", "\u{3c1}", false),
    ("rightarrow", "\u{2192}", false),
    ("rlm", "\u{200f}", false),
    ("rpar", ")", false),
    ("rsaquo", "\u{203a}", false),
    ("rsqb", "]", false),
    ("rsquo", "\u{2019}", false),
    ("rsquor", "\u{2019}", false),
    ("sbquo", "\u{201a}", false),
    ("scaron", "\u{161}", false),
    ("sdot", "\u{22c5}", false),
    ("sect", "\u{a7}", true),
    ("semi", ";", false),
    ("sharp", "\u{266f}", false),
    ("shy", "\u{ad}", true),
    ("sigma", "\u{3c3}", false),
    ("sigmaf", "\u{3c2}", false),
    ("sim", "\u{223c}", false),
    ("sol", "/", false),
    ("spades", "\u{2660}", false),
    ("squ", "\u{25a1}", false),
    ("square", "\u{25a1}", false),
    ("star", "\u{2606}", false),
    ("starf", "\u{2605}", false),
    ("sub", "\u{2282}", false),
    ("sube", "\u{2286}", false),
    ("sum", "\u{2211}", false),
    ("sup", "\u{2283}", false),
    ("sup1", "\u{b9}", true),
    ("sup2", "\u{b2}", true),
    ("sup3", "\u{b3}", true),
    ("supe", "\u{2287}", false),
    ("szlig", "\u{df}", true),
    ("tau", "\u{3c4}", false),
    ("there4", "\u{2234}", false),
    ("theta", "\u{3b8}", false),
    ("thetasym", "\u{3d1}", false),
    ("thinsp", "\u{2009}", false),
    ("thorn", "\u{fe}", true),
    ("tilde", "\u{2dc}", false),
    ("times", "\u{d7}", true),
    ("trade", "\u{2122}", false),
    ("uArr", "\u{21d1}", false),
    ("uacute", "\u{fa}", true),
    ("uarr", "\u{2191}", false),
    ("ucirc", "\u{fb}", true),
    ("ugrave", "\u{f9}", true),
    ("uml", "\u{a8}", true),
    ("uparrow", "\u{2191}", false),
    ("upsih", "\u{3d2}", false),
    ("upsilon", "\u{3c5}", false),
    ("uuml", "\u{fc}", true),
    ("varepsilon", "\u{3f5}", false),
    ("varphi", "\u{3d5}", false),
    ("verbar", "|", false),
    ("vert", "|", false),
    ("weierp", "\u{2118}", false),
    ("xi", "\u{3be}", false),
    ("yacute", "\u{fd}", true),
    ("yen", "\u{a5}", true),
    ("yuml", "\u{ff}", true),
    ("zeta", "\u{3b6}", false),
    ("zwj", "\u{200d}", false),
    ("zwnj", "\u{200c}", false),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_table_is_sorted_for_binary_search() {
        assert!(ENTITIES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
