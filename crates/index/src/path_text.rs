//! File names that are not UTF-8, kept exactly.
//!
//! The index names a file by a `String` (its identity, the text a caller stores and shows).
//! On Unix a name is any bytes but NUL; one that is not UTF-8 (an old archive's Latin-1
//! `café.png`) has no exact `String`, and a lossy one would name another file. So the text
//! form of a path is its UTF-8 as is, with every byte that is not part of valid UTF-8
//! written as NUL and two hex digits. No real path holds a NUL, so the form is exact both
//! ways and leaves every UTF-8 name unchanged (indexes written before read the same).
//!
//! SQLite documents strings with embedded NULs as undefined in expressions, so such a path
//! goes into the database as a BLOB of its raw bytes ([`SqlPath`]); a BLOB never equals a
//! TEXT, so the `files.path` column stays unique. To show one, [`display`] writes each byte
//! as `\xNN`.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

const ESCAPE: char = '\0';

/// The text form of raw name bytes.
fn of_bytes(b: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(b) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push(ESCAPE);
            out.push_str(&format!("{byte:02x}"));
        }
    }
    Cow::Owned(out)
}

/// The raw bytes a text form names (`None`: not a form [`encode`] writes: a NUL not followed
/// by two lower-case hex digits, or bytes that are UTF-8 after all).
fn to_bytes(s: &str) -> Option<Cow<'_, [u8]>> {
    if !s.contains(ESCAPE) {
        return Some(Cow::Borrowed(s.as_bytes()));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut parts = s.split(ESCAPE);
    out.extend_from_slice(parts.next().unwrap_or_default().as_bytes());
    for part in parts {
        let hex = (part.get(..2))
            .filter(|h| h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))?;
        out.push(u8::from_str_radix(hex, 16).ok()?);
        out.extend_from_slice(&part.as_bytes()[2..]);
    }
    std::str::from_utf8(&out)
        .is_err()
        .then_some(Cow::Owned(out))
}

/// The text form of `path`: itself when it is UTF-8.
pub fn encode(path: &Path) -> Cow<'_, str> {
    of_bytes(path.as_os_str().as_bytes())
}

/// The path a text form names (a string that is not one is taken as it is).
pub fn decode(text: &str) -> Cow<'_, Path> {
    match to_bytes(text) {
        Some(Cow::Borrowed(b)) => Cow::Borrowed(Path::new(OsStr::from_bytes(b))),
        Some(Cow::Owned(b)) => Cow::Owned(PathBuf::from(std::ffi::OsString::from_vec(b))),
        None => Cow::Borrowed(Path::new(text)),
    }
}

/// A text form for people: each byte that is not UTF-8 as `\xNN`.
pub fn display(text: &str) -> Cow<'_, str> {
    if !text.contains(ESCAPE) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace(ESCAPE, "\\x"))
}

/// Raw name bytes for people (messages about stored rows).
pub(crate) fn display_bytes(b: &[u8]) -> String {
    display(&of_bytes(b)).into_owned()
}

/// A path's text form as SQLite stores it: TEXT when it is UTF-8, else a BLOB of its bytes.
pub(crate) struct SqlPath<'a>(pub &'a str);

impl ToSql for SqlPath<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match to_bytes(self.0) {
            Some(Cow::Owned(b)) => ToSqlOutput::from(b),
            _ => ToSqlOutput::from(self.0),
        })
    }
}

/// A path column read back into its text form.
pub(crate) struct PathText(pub String);

impl FromSql for PathText {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        match v {
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|s| PathText(s.to_owned()))
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            ValueRef::Blob(b) => Ok(PathText(of_bytes(b).into_owned())),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_utf8_names_are_unchanged() {
        let names: [&[u8]; 6] = [
            b"/photos/caf\xc3\xa9.png",
            b"/photos/caf\xe9.png",
            b"/x/\xff\xfe\x80/\xc3",
            b"/plain",
            b"\xe9",
            b"/a\\x41/b", // looks like an escape, is text
        ];
        for n in names {
            let p = Path::new(OsStr::from_bytes(n));
            let t = encode(p);
            assert_eq!(decode(&t).as_os_str().as_bytes(), n, "{t:?}");
            assert_eq!(to_bytes(&t).unwrap().as_ref(), n);
            if let Ok(s) = std::str::from_utf8(n) {
                assert_eq!(t, s, "UTF-8 names are their own text form");
            }
        }
        let latin1 = encode(Path::new(OsStr::from_bytes(b"/photos/caf\xe9.png")));
        assert_eq!(latin1, "/photos/caf\0e9.png");
        assert_eq!(display(&latin1), "/photos/caf\\xe9.png");
        // Distinct names, distinct forms: the escape can never come from a real name.
        let a = encode(Path::new(OsStr::from_bytes(b"/a\xe9")));
        assert_ne!(a, encode(Path::new("/a\\xe9")));
        assert_ne!(a, encode(Path::new("/a\u{e9}")));
        // Random names (any bytes but NUL, as on Unix): exact both ways, and distinct.
        let mut x = 7u64;
        let mut seen = std::collections::HashMap::new();
        for _ in 0..20_000 {
            let len = (x % 9) as usize;
            let n: Vec<u8> = (0..len)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    // Mostly the bytes around UTF-8's edges, some ASCII.
                    [b'a', 0x5c, 0x7f, 0x80, 0xbf, 0xc3, 0xe9, 0xff][(x >> 60) as usize % 8]
                })
                .collect();
            let t = encode(Path::new(OsStr::from_bytes(&n))).into_owned();
            assert_eq!(decode(&t).as_os_str().as_bytes(), n.as_slice());
            assert_eq!(seen.insert(t, n.clone()).unwrap_or(n.clone()), n);
        }
        // Not forms `encode` writes (upper-case hex, bytes that are UTF-8): taken as they are.
        assert!(to_bytes("a\0E9").is_none() && to_bytes("a\0c3\0a9").is_none());
        // Not a text form (a NUL without two hex digits): taken as it is.
        assert_eq!(decode("a\0zz").as_os_str().as_bytes(), b"a\0zz");
    }
}
