//! Ogg pages, found and checked as libogg's `ogg_sync_pageseek` does.

pub(super) const BOS: u8 = 2;
pub(super) const EOS: u8 = 4;
pub(super) const CONTINUED: u8 = 1;

/// One Ogg page whose CRC checked.
pub(super) struct Page<'a> {
    pub(super) flags: u8,
    pub(super) granule: i64,
    pub(super) serial: u32,
    pub(super) sequence: u32,
    pub(super) lacing: &'a [u8],
    pub(super) body: &'a [u8],
}

/// The valid pages of a byte stream, in order. Like libogg's `ogg_sync_pageseek`, a page that
/// is cut short or fails its CRC is skipped and the search resumes at the next byte.
pub(super) struct Pages<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Pages<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Pages { data, pos: 0 }
    }
}

impl<'a> Iterator for Pages<'a> {
    type Item = Page<'a>;

    fn next(&mut self) -> Option<Page<'a>> {
        loop {
            let rest = self.data.get(self.pos..)?;
            let start = self.pos + rest.windows(4).position(|w| w == b"OggS")?;
            self.pos = start + 1;
            if let Some((page, len)) = parse_page(&self.data[start..]) {
                self.pos = start + len;
                return Some(page);
            }
        }
    }
}

/// The page at the start of `d` and its length, if it is whole and its CRC matches.
fn parse_page(d: &[u8]) -> Option<(Page<'_>, usize)> {
    let header = d.get(..27)?;
    if header[4] != 0 {
        return None;
    }
    let segments = header[26] as usize;
    let lacing = d.get(27..27 + segments)?;
    let len = 27 + segments + lacing.iter().map(|&v| v as usize).sum::<usize>();
    let page = d.get(..len)?;
    let stored = u32::from_le_bytes([page[22], page[23], page[24], page[25]]);
    let crc = crc32(crc32(crc32(0, &page[..22]), &[0; 4]), &page[26..]);
    if crc != stored {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes([page[i], page[i + 1], page[i + 2], page[i + 3]]);
    Some((
        Page {
            flags: page[5],
            granule: i64::from_le_bytes(page[6..14].try_into().ok()?),
            serial: u32_at(14),
            sequence: u32_at(18),
            lacing,
            body: &page[27 + segments..],
        },
        len,
    ))
}

/// Ogg's CRC-32: polynomial 0x04c11db7, MSB first, no reflection, initial value and final XOR 0.
fn crc32(mut crc: u32, bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut r = (i as u32) << 24;
            let mut bit = 0;
            while bit < 8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04c1_1db7
                } else {
                    r << 1
                };
                bit += 1;
            }
            table[i] = r;
            i += 1;
        }
        table
    };
    for &b in bytes {
        crc = (crc << 8) ^ TABLE[((crc >> 24) as u8 ^ b) as usize];
    }
    crc
}

/// Whether a BOS page opens a Vorbis stream: its first packet is an identification header.
pub(super) fn page_starts_vorbis(page: &Page<'_>) -> bool {
    let mut len = 0;
    for &v in page.lacing {
        len += v as usize;
        if v < 255 {
            break;
        }
    }
    len >= 7 && page.body.starts_with(b"\x01vorbis")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_a_known_page() {
        // CRC-32/POSIX (cksum) checks "123456789" as 0x765e7680; Ogg's CRC is the same
        // without the final inversion.
        assert_eq!(crc32(0, b"123456789"), 0x89a1_897f);
    }
}
