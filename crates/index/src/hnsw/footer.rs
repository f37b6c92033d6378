//! The graph file's footer: what follows usearch's serialisation and the trailer (stamp,
//! parameters, section lengths, the checksum table's hash), and how it is written and parsed.

use super::{HNSW_FILE, HnswParams};
use crate::integrity::{self, Load, SUM};
use crate::matrix::Stamp;

const MAGIC: &[u8; 8] = b"MMBXHNS1";
const FORMAT: u32 = 5;
pub(super) const FOOTER: usize = 4096;
/// Bytes of the footer covered by its checksum (the rest: the checksum).
const FOOTER_SUMMED: usize = FOOTER - SUM;

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

pub(super) struct Footer {
    pub dim: usize,
    pub count: usize,
    pub rows: usize,
    pub stamp: Stamp,
    pub params: HnswParams,
    pub tombstones: usize,
    pub payload_len: usize,
    pub keys_off: usize,
    pub stranded: usize,
    /// Hash of the checksum table (set when writing).
    pub table_sum: [u8; SUM],
}

impl Footer {
    /// Where the checksum table starts: the end of the checksummed body.
    pub fn table_off(&self) -> usize {
        self.keys_off + self.rows * 16 + self.stranded * 8
    }
}

pub(super) fn footer_bytes(f: &Footer) -> Vec<u8> {
    let mut h = vec![0u8; FOOTER];
    h[0..8].copy_from_slice(MAGIC);
    put_u32(&mut h, 8, FORMAT);
    put_u32(&mut h, 12, f.dim as u32);
    put_u64(&mut h, 16, f.count as u64);
    put_u64(&mut h, 24, f.stamp.generation);
    h[32..48].copy_from_slice(&f.stamp.uid);
    put_u64(&mut h, 48, f.params.m as u64);
    put_u64(&mut h, 56, f.params.ef_construction as u64);
    put_u64(&mut h, 64, f.params.ef_search as u64);
    put_u64(&mut h, 72, f.tombstones as u64);
    put_u64(&mut h, 80, f.payload_len as u64);
    put_u64(&mut h, 88, f.keys_off as u64);
    put_u64(&mut h, 96, f.rows as u64);
    put_u64(&mut h, 104, f.stranded as u64);
    put_u64(&mut h, 112, integrity::BLOCK as u64);
    h[128..144].copy_from_slice(&f.table_sum);
    let c = integrity::sum(&h[..FOOTER_SUMMED]);
    h[FOOTER_SUMMED..FOOTER_SUMMED + SUM].copy_from_slice(&c);
    h
}

/// Parses the footer `h` (the last `FOOTER` bytes of a file of `len` bytes).
pub(super) fn parse_footer_at(h: &[u8], len: usize) -> Load<Footer> {
    let damaged = |what: &str| Load::Damaged(format!("{HNSW_FILE}: {what}"));
    if len < FOOTER || h.len() != FOOTER || &h[0..8] != MAGIC {
        return damaged(&format!("not a graph file ({len} bytes)"));
    }
    let format = get_u32(h, 8);
    if format < FORMAT && blake3::hash(&h[..128]).as_bytes()[..8] == h[128..136] {
        return Load::Old;
    }
    if integrity::sum(&h[..FOOTER_SUMMED])[..] != h[FOOTER_SUMMED..FOOTER_SUMMED + SUM] {
        return damaged("its footer does not match its checksum");
    }
    if format != FORMAT || get_u64(h, 112) as usize != integrity::BLOCK {
        return damaged(&format!("unknown format {format}"));
    }
    let f = read_fields(h);
    // Checked: the lengths come from the file.
    let body = (f.rows.checked_mul(16))
        .zip(f.stranded.checked_mul(8))
        .and_then(|(k, s)| k.checked_add(s)?.checked_add(f.keys_off));
    let end = body.and_then(|b| {
        b.checked_add(integrity::blocks(b).checked_mul(integrity::BLOCK_SUM)?)?
            .checked_add(FOOTER)
    });
    if f.keys_off < f.payload_len || end != Some(len) || !f.keys_off.is_multiple_of(8) {
        return damaged(&format!(
            "its sections do not add up to its {len} bytes (truncated?)"
        ));
    }
    Load::Ok(f)
}

/// The fields of a footer whose format and checksum were checked (lengths not yet).
fn read_fields(h: &[u8]) -> Footer {
    let mut uid = [0u8; 16];
    uid.copy_from_slice(&h[32..48]);
    let mut table_sum = [0u8; SUM];
    table_sum.copy_from_slice(&h[128..144]);
    Footer {
        dim: get_u32(h, 12) as usize,
        count: get_u64(h, 16) as usize,
        stamp: Stamp {
            uid,
            generation: get_u64(h, 24),
        },
        params: HnswParams {
            m: get_u64(h, 48) as usize,
            ef_construction: get_u64(h, 56) as usize,
            ef_search: get_u64(h, 64) as usize,
        },
        tombstones: get_u64(h, 72) as usize,
        payload_len: get_u64(h, 80) as usize,
        keys_off: get_u64(h, 88) as usize,
        rows: get_u64(h, 96) as usize,
        stranded: get_u64(h, 104) as usize,
        table_sum,
    }
}

pub(super) fn parse_footer(b: &[u8]) -> Load<Footer> {
    if b.len() < FOOTER {
        return parse_footer_at(&[], b.len());
    }
    parse_footer_at(&b[b.len() - FOOTER..], b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer(stranded: usize) -> Footer {
        Footer {
            dim: 4,
            count: 1,
            rows: 1,
            stamp: Stamp {
                uid: [7; 16],
                generation: 3,
            },
            params: HnswParams::default(),
            tombstones: 0,
            payload_len: 8,
            keys_off: 8,
            stranded,
            table_sum: [0; SUM],
        }
    }

    /// A file of `footer`: 8 payload bytes, one key row, `stranded_bytes`, a one-block
    /// checksum table, the footer.
    fn file(footer: &Footer, stranded_bytes: usize) -> Vec<u8> {
        let mut b = vec![0u8; 8 + 16 + stranded_bytes + integrity::BLOCK_SUM];
        b.extend(footer_bytes(footer));
        b
    }

    fn damaged(l: Load<Footer>) -> bool {
        matches!(l, Load::Damaged(_))
    }

    #[test]
    fn a_footer_whose_sections_do_not_add_up_is_refused() {
        let ok = parse_footer(&file(&footer(2), 16))
            .ok()
            .expect("consistent");
        assert_eq!((ok.stranded, ok.rows, ok.stamp.generation), (2, 1, 3));
        assert!(damaged(parse_footer(&file(&footer(3), 16))));
        // A count whose byte length overflows is refused: wrapped, 2 + 2^61 entries would
        // take the 16 bytes there are.
        assert!(damaged(parse_footer(&file(&footer(2 + (1 << 61)), 16))));
        // Every bit of the footer's checksummed part counts.
        let good = file(&footer(2), 16);
        let at = good.len() - FOOTER;
        for byte in (0..FOOTER).step_by(7) {
            let mut b = good.clone();
            b[at + byte] ^= 0x20;
            assert!(damaged(parse_footer(&b)), "flip at footer byte {byte}");
        }
        assert!(damaged(parse_footer(b"short")));
    }

    #[test]
    fn a_graph_of_an_older_format_reads_as_old() {
        // Format 4's footer: its first 128 bytes hashed into bytes 128..136.
        let mut old = file(&footer(0), 0);
        let at = old.len() - FOOTER;
        put_u32(&mut old[at..], 8, 4);
        let hash = blake3::hash(&old[at..at + 128]);
        old[at + 128..at + 136].copy_from_slice(&hash.as_bytes()[..8]);
        assert!(matches!(parse_footer(&old), Load::Old));
        // With a wrong old checksum it is damage, not an old file.
        old[at + 130] ^= 1;
        assert!(damaged(parse_footer(&old)));
    }
}
