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
use std::io::{Read, Seek, SeekFrom};

/// symphonia's probe scans this far from where it starts (and again after each tag) for a
/// format's or a tag's marker.
const PROBE_WINDOW: u64 = 1 << 20;

/// Walks every ID3v2 tag the probe of `file` could read; the reason the first bad frame is
/// refused, if any. A file that cannot be read further is left to the decoder to report.
pub(super) fn check_tags(file: &mut File) -> std::result::Result<(), String> {
    let mut pos = 0u64;
    let mut window = Vec::new();
    loop {
        if file.seek(SeekFrom::Start(pos)).is_err() {
            return Ok(());
        }
        window.clear();
        if (&mut *file)
            .take(PROBE_WINDOW + 2)
            .read_to_end(&mut window)
            .is_err()
        {
            return Ok(());
        }
        let Some(found) = window.windows(3).position(|w| w == b"ID3") else {
            return Ok(());
        };
        let at = pos + found as u64;
        pos = match read_tag(file, at)? {
            Some(end) => end,
            // Not a tag symphonia reads (it fails there, before allocating anything).
            None => at + 1,
        };
    }
}

/// Checks the tag whose header starts at `at`; where it ends, or `None` when its header is
/// not one symphonia accepts.
fn read_tag(file: &mut File, at: u64) -> std::result::Result<Option<u64>, String> {
    let mut header = [0u8; 10];
    if file.seek(SeekFrom::Start(at)).is_err() || file.read_exact(&mut header).is_err() {
        return Ok(None);
    }
    let (major, minor, flags) = (header[3], header[4], header[5]);
    if !(2..=4).contains(&major) || minor == 0xFF || (major == 2 && flags & 0x40 != 0) {
        return Ok(None);
    }
    let size = syncsafe(&header[6..10]);
    // What the file holds of the tag (symphonia reads a cut-off tag too, until it ends).
    let mut raw = Vec::new();
    if (&mut *file)
        .take(u64::from(size))
        .read_to_end(&mut raw)
        .is_err()
    {
        return Ok(None);
    }
    // Below v2.4 the unsynchronisation flag covers the whole tag, frame sizes included.
    let body = if flags & 0x80 != 0 && major < 4 {
        resync(&raw)
    } else {
        raw
    };
    check_frames(&body, major, flags & 0x40 != 0 && major >= 3)?;
    Ok(Some(at + 10 + u64::from(size)))
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
