//! A guard for FLAC metadata that symphonia would trust: every length in a Vorbis comment or
//! picture block must fit in the block.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// Refuses a FLAC file whose Vorbis comment or picture block declares a string or a picture
/// longer than the block. symphonia 0.5 allocates each declared length (up to 4 GB) before
/// reading it: a 100-byte file could ask for 4 GB (found by `fuzz/`: the comment block first,
/// the picture block in a later run; mostly virtual memory, but an abort where the system does
/// not overcommit). Other blocks are skipped; a file that ends before its blocks do is left
/// to symphonia to report, once the blocks it holds are checked.
pub(super) fn check_flac_metadata(path: &Path, at: u64) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    const COMMENT: u8 = 4;
    const PICTURE: u8 = 6;
    let Ok(mut file) = File::open(path) else {
        return Ok(());
    };
    if file.seek(SeekFrom::Start(at)).is_err() {
        return Ok(());
    }
    let mut f = std::io::BufReader::new(file);
    let mut header = [0u8; 4];
    if f.read_exact(&mut header).is_err() {
        return Ok(());
    }
    // Every block, however many: symphonia reads up to the one marked last (a cap here let
    // 4,096 empty blocks hide a bad one). Each takes at least 4 bytes of a bounded file.
    loop {
        if f.read_exact(&mut header).is_err() {
            return Ok(());
        }
        let (last, kind) = (header[0] & 0x80 != 0, header[0] & 0x7F);
        let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
        if kind == COMMENT || kind == PICTURE {
            // What the file holds of the block: symphonia reads a cut-off block too.
            let mut block = Vec::with_capacity(len);
            if (&mut f).take(len as u64).read_to_end(&mut block).is_err() {
                return Ok(());
            }
            let (what, fits) = if kind == COMMENT {
                ("comment", vorbis_comment_fits(&block))
            } else {
                ("picture", picture_fits(&block))
            };
            if let Err(reason) = fits {
                return Err(Error::decode(
                    path,
                    format!("malformed FLAC {what} block: {reason}"),
                ));
            }
        } else if f.seek_relative(len as i64).is_err() {
            return Ok(());
        }
        if last {
            return Ok(());
        }
    }
}

/// Takes a 32-bit length (little- or big-endian) from the front of `rest`.
fn take_len(rest: &mut &[u8], big_endian: bool) -> std::result::Result<usize, String> {
    let (n, tail) = rest
        .split_first_chunk::<4>()
        .ok_or("it ends inside a length field")?;
    *rest = tail;
    Ok(if big_endian {
        u32::from_be_bytes(*n)
    } else {
        u32::from_le_bytes(*n)
    } as usize)
}

/// Skips `n` bytes of `rest`, which must hold them.
fn skip(rest: &mut &[u8], n: usize, what: &str, block: usize) -> std::result::Result<(), String> {
    *rest = rest
        .get(n..)
        .ok_or_else(|| format!("{what} claims {n} bytes of {block}"))?;
    Ok(())
}

/// Whether every length in a Vorbis comment block (vendor string, count, comments) fits in it.
fn vorbis_comment_fits(block: &[u8]) -> std::result::Result<(), String> {
    let mut rest = block;
    let vendor = take_len(&mut rest, false)?;
    skip(&mut rest, vendor, "the vendor string", block.len())?;
    let count = take_len(&mut rest, false)?;
    for i in 0..count {
        let n = take_len(&mut rest, false)?;
        skip(&mut rest, n, &format!("comment {i}"), block.len())?;
    }
    Ok(())
}

/// Whether every length in a picture block (MIME type, description, picture data) fits in it.
fn picture_fits(block: &[u8]) -> std::result::Result<(), String> {
    let mut rest = block;
    take_len(&mut rest, true)?; // picture type
    let mime = take_len(&mut rest, true)?;
    skip(&mut rest, mime, "the MIME type", block.len())?;
    let description = take_len(&mut rest, true)?;
    skip(&mut rest, description, "the description", block.len())?;
    for _ in 0..4 {
        take_len(&mut rest, true)?; // width, height, depth, colours
    }
    let data = take_len(&mut rest, true)?;
    skip(&mut rest, data, "the picture", block.len())
}
