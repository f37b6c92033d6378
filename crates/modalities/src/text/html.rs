//! HTML character references: Python's `html.unescape`, and ftfy's own stricter unescaper.

use super::entities::ENTITIES;
use super::fix::CP1252_HIGH;

/// Longest entity name Python's `html.unescape` looks at.
const MAX_ENTITY_NAME: usize = 32;
/// Longest entity body ftfy's own unescaper matches (`&#?[0-9A-Za-z]{1,24};`).
const MAX_FTFY_ENTITY: usize = 24;

/// Python's `html.unescape`: decimal and hex references (with or without `;`, Python's
/// replacements for invalid code points) and named entities, including the legacy names
/// that may omit `;` and may be followed directly by other letters ("&ampx" -> "&x").
pub fn html_unescape(text: &str) -> String {
    replace_references(text, unescape_reference)
}

/// `text` with every `&` that `reference` decodes (given what follows the `&`, it returns the
/// replacement and the bytes it used) replaced; other `&`s stay literal.
fn replace_references(text: &str, reference: impl Fn(&str) -> Option<(String, usize)>) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match reference(after) {
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
pub(super) fn ftfy_unescape_html(text: &str) -> String {
    replace_references(text, ftfy_entity)
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
