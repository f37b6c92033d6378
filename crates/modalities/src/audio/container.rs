//! Recognising the container from a file's first bytes (or its extension).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// The container kind decided from the file's first bytes (or its extension).
pub(super) enum Container {
    Wav,
    /// A FLAC stream starting at byte `at` (after an ID3v2 tag, if any).
    Flac {
        at: u64,
    },
    /// Anything else symphonia reads: its probe is given this format only (MP3 when none).
    Other(Option<&'static str>),
}

/// Where a FLAC stream starts behind the ID3v2 tag that `head` begins with, if one does.
fn flac_after_id3(file: &mut File, head: &[u8]) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    if !head.starts_with(b"ID3") || head.len() < 10 {
        return None;
    }
    // Size: four 7-bit bytes, after the 10-byte header; a footer adds 10 more.
    let size = head[6..10]
        .iter()
        .fold(0u64, |n, &b| (n << 7) | u64::from(b & 0x7F));
    let at = 10 + size + if head[5] & 0x10 != 0 { 10 } else { 0 };
    let mut magic = [0u8; 4];
    file.seek(SeekFrom::Start(at)).ok()?;
    file.read_exact(&mut magic).ok()?;
    (&magic == b"fLaC").then_some(at)
}

/// Looks at the magic bytes; checks the file exists, is readable and is not empty.
pub(super) fn sniff(path: &Path) -> Result<Container> {
    let mut file =
        File::open(path).map_err(|e| Error::decode(path, format!("cannot open: {e}")))?;
    let mut head = [0u8; 12];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::decode(path, format!("cannot read: {e}"))),
        }
    }
    if got == 0 {
        return Err(Error::decode(path, "empty file"));
    }
    let head = &head[..got];
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WAVE") {
        return Ok(Container::Wav);
    }
    if head.starts_with(b"fLaC") {
        return Ok(Container::Flac { at: 0 });
    }
    // A FLAC stream behind an ID3v2 tag (some taggers write one): checked where it starts.
    if let Some(at) = flac_after_id3(&mut file, head) {
        return Ok(Container::Flac { at });
    }
    if head.starts_with(b"OggS") {
        return Ok(Container::Other(Some("ogg")));
    }
    if head.starts_with(b"ID3") || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        return Ok(Container::Other(Some("mp3")));
    }
    match ext.as_deref() {
        Some("wav" | "wave") => Err(Error::decode(path, "not a WAV file: no RIFF/WAVE header")),
        Some("flac") => Err(Error::decode(path, "not a FLAC file: no fLaC header")),
        Some("ogg" | "oga") => Err(Error::decode(path, "not an OGG file: no OggS header")),
        // MP3 has no mandatory header; let the probe look for frame sync further in.
        Some("mp3") => Ok(Container::Other(Some("mp3"))),
        _ => Ok(Container::Other(None)),
    }
}
