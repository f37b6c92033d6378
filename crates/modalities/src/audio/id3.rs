//! ID3v2 tags, checked before symphonia reads them.
//!
//! symphonia 0.5 allocates each ID3v2 frame at its declared size before it reads the frame
//! (`read_boxed_slice_exact`): up to 4 GB for a v2.3 frame, 256 MB in v2.4, 16 MB in v2.2,
//! whatever the tag or the file holds. A 1 KB MP3 asked for 1.9 GB (the FLAC blocks' bug,
//! fuzz/FINDINGS.md findings 1 and 8, at the site that finding 8 named). Any file symphonia
//! reads may carry such tags: its probe reads every ID3v2 tag it meets before the stream.
//!
//! So every tag the probe could reach is walked here first, and a frame that claims more than
//! what is left of its tag is refused. The walk reads frames exactly as symphonia does
//! (header, extended header, unsynchronisation, frame-ID validity ending the frames).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

/// symphonia's probe scans this far from where it starts (and again after each tag) for a
/// format's or a tag's marker.
const PROBE_WINDOW: u64 = 1 << 20;

/// Walks every ID3v2 tag the probe of `file` could read; the reason the first bad frame is
/// refused, if any. Like the probe, it reads the file once, front to back: a byte at most
/// once in the scan, a tag's bytes once. A file that cannot be read further, or a tag header
/// symphonia refuses (it then fails before allocating anything), ends the walk.
pub(super) fn check_tags(file: &mut File) -> std::result::Result<(), String> {
    if file.seek(SeekFrom::Start(0)).is_err() {
        return Ok(());
    }
    let mut r = BufReader::new(file);
    let (mut last, mut scanned) = ([0u8; 3], 0u64);
    let mut byte = [0u8];
    while scanned < PROBE_WINDOW && r.read_exact(&mut byte).is_ok() {
        scanned += 1;
        last = [last[1], last[2], byte[0]];
        if &last != b"ID3" {
            continue;
        }
        let mut header = [0u8; 7];
        if r.read_exact(&mut header).is_err() {
            return Ok(());
        }
        let Some(tag) = Tag::parse(&header) else {
            return Ok(());
        };
        // What the file holds of the tag (symphonia reads a cut-off tag too, until it ends).
        let mut raw = Vec::new();
        if (&mut r)
            .take(u64::from(tag.size))
            .read_to_end(&mut raw)
            .is_err()
        {
            return Ok(());
        }
        // Below v2.4 the unsynchronisation flag covers the whole tag, frame sizes included.
        let body = if tag.unsynchronised && tag.major < 4 {
            resync(&raw)
        } else {
            raw
        };
        check_frames(&body, tag.major, tag.extended)?;
        (last, scanned) = ([0; 3], 0);
    }
    Ok(())
}

/// An ID3v2 tag header as symphonia accepts it.
struct Tag {
    major: u8,
    unsynchronised: bool,
    extended: bool,
    /// The tag's length after its 10-byte header.
    size: u32,
}

impl Tag {
    /// The 7 bytes after "ID3": version (2), flags, size.
    fn parse(h: &[u8; 7]) -> Option<Tag> {
        let (major, minor, flags) = (h[0], h[1], h[2]);
        if !(2..=4).contains(&major) || minor == 0xFF || (major == 2 && flags & 0x40 != 0) {
            return None;
        }
        Some(Tag {
            major,
            unsynchronised: flags & 0x80 != 0,
            extended: flags & 0x40 != 0 && major >= 3,
            size: syncsafe(&h[3..7]),
        })
    }
}

/// Walks the frames of a tag body (what the file holds of it) as symphonia reads them.
fn check_frames(body: &[u8], major: u8, extended: bool) -> std::result::Result<(), String> {
    let mut at = if extended {
        match extended_header_len(body, major) {
            Some(n) => n,
            None => return Ok(()),
        }
    } else {
        0
    };
    let (id_len, header_len) = if major == 2 { (3, 6) } else { (4, 10) };
    loop {
        let Some(h) = body.get(at..at + header_len) else {
            return Ok(());
        };
        let id = &h[..id_len];
        if !id
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            return Ok(()); // padding: symphonia stops here
        }
        let size = match major {
            2 => u32::from_be_bytes([0, h[3], h[4], h[5]]),
            3 => u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            _ => syncsafe(&h[4..8]),
        } as usize;
        at += header_len;
        // Bytes the tag declares but the file does not hold cannot be read either.
        let left = body.len() - at;
        if size > left {
            return Err(format!(
                "malformed ID3v2 tag: frame {} claims {size} bytes of the {left} left in the tag",
                String::from_utf8_lossy(id)
            ));
        }
        at += size;
    }
}

/// The bytes symphonia reads as the extended header (v2.3: 10, or 14 with a CRC; v2.4: its
/// flags' fields); `None` where symphonia refuses it (before allocating anything).
fn extended_header_len(body: &[u8], major: u8) -> Option<usize> {
    if major == 3 {
        let size = u32::from_be_bytes(body.get(..4)?.try_into().ok()?);
        let crc = size == 10 && body.get(4)? & 0x80 != 0;
        return match size {
            6 | 10 => Some(if crc { 14 } else { 10 }),
            _ => None,
        };
    }
    if *body.get(4)? != 1 {
        return None;
    }
    let flags = *body.get(5)?;
    let fields = [(0x40, 2), (0x20, 6), (0x10, 2)];
    Some(
        6 + fields
            .iter()
            .filter(|(f, _)| flags & f != 0)
            .map(|(_, n)| n)
            .sum::<usize>(),
    )
}

/// A 28-bit "syncsafe" integer: four bytes of 7 bits (symphonia ignores each top bit).
fn syncsafe(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |n, &x| (n << 7) | u32::from(x & 0x7F))
}

/// Undoes unsynchronisation: every 0xFF 0x00 is read as 0xFF.
fn resync(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut after_ff = false;
    for &b in raw {
        if !(after_ff && b == 0) {
            out.push(b);
        }
        after_ff = b == 0xFF;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame3(id: &[u8; 4], data: &[u8]) -> Vec<u8> {
        [
            id.as_slice(),
            &(data.len() as u32).to_be_bytes(),
            &[0, 0],
            data,
        ]
        .concat()
    }

    #[test]
    fn frames_that_fit_pass_and_one_too_long_is_named() {
        let body = [frame3(b"TIT2", b"\x03ab"), frame3(b"TPE1", b"\x03cd")].concat();
        assert_eq!(check_frames(&body, 3, false), Ok(()));
        // Padding after the frames ends the walk, as in symphonia.
        let padded = [body.clone(), vec![0; 64]].concat();
        assert_eq!(check_frames(&padded, 3, false), Ok(()));
        let mut long = body.clone();
        long[4..8].copy_from_slice(&100u32.to_be_bytes());
        let e = check_frames(&long, 3, false).unwrap_err();
        assert_eq!(
            e,
            "malformed ID3v2 tag: frame TIT2 claims 100 bytes of the 16 left in the tag"
        );
    }

    #[test]
    fn unsynchronisation_is_undone_before_frames_are_read() {
        assert_eq!(
            resync(&[0xFF, 0x00, 0xE0, 0xFF, 0x00, 0x00]),
            [0xFF, 0xE0, 0xFF, 0x00]
        );
        // A frame whose data holds a stuffed 0xFF 0x00: its size counts the data as read.
        let data = [3u8, 0xFF, 0x41];
        let stuffed = [
            b"TIT2".as_slice(),
            &[0, 0, 0, 3, 0, 0],
            &[3, 0xFF, 0x00, 0x41],
        ]
        .concat();
        assert_eq!(resync(&stuffed), frame3(b"TIT2", &data));
    }

    #[test]
    fn every_tag_the_probe_reaches_is_walked_once() {
        let path = std::env::temp_dir().join(format!("mmbind-id3-{}.mp3", std::process::id()));
        let empty = *b"ID3\x03\x00\x00\x00\x00\x00\x00";
        let bad = [&empty[..6], &[0, 0, 0, 10], b"TIT2\x70\x00\x00\x00\x00\x00"].concat();
        let check = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            check_tags(&mut File::open(&path).unwrap())
        };
        // 100,000 empty tags (1 MB) in a row, then a bad one: each tag starts a new window.
        let mut chain = empty.repeat(100_000);
        chain.extend(&bad);
        assert!(
            check(&chain)
                .unwrap_err()
                .contains("frame TIT2 claims 1879048192")
        );
        // Junk before a tag: the probe scans up to 1 MiB for it, and no further.
        let near = [vec![7u8; 1000], bad.clone()].concat();
        assert!(check(&near).is_err());
        let far = [vec![7u8; (PROBE_WINDOW + 10) as usize], bad.clone()].concat();
        assert_eq!(check(&far), Ok(()));
        // A header symphonia refuses ends the walk (symphonia fails there by itself).
        let refused = [b"ID3\x05\x00\x00\x00\x00\x00\x00".as_slice(), &bad].concat();
        assert_eq!(check(&refused), Ok(()));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn an_extended_header_is_skipped_as_symphonia_reads_it() {
        let frames = frame3(b"TIT2", b"\x03ab");
        let v3 = [&[0, 0, 0, 6, 0, 0, 0, 0, 0, 0][..], &frames].concat();
        assert_eq!(extended_header_len(&v3, 3), Some(10));
        assert_eq!(check_frames(&v3, 3, true), Ok(()));
        let v4 = [0, 0, 0, 6, 1, 0x20, 5, 0, 0, 0, 0, 0];
        assert_eq!(extended_header_len(&v4, 4), Some(12));
        assert_eq!(
            extended_header_len(&[0, 0, 0, 7, 0, 0, 0, 0, 0, 0], 3),
            None
        );
    }
}
