//! Integrity of the derived files: per-block checksums, and what loading one found.
//!
//! The search matrix and the HNSW graph are split into blocks of [`BLOCK`] bytes; each block's
//! CRC-32 goes into a table at the end of the file, and the file's header or footer (itself
//! checksummed with BLAKE3) holds the BLAKE3 hash of that table. Loading a file verifies every
//! block — in parallel — before anything is read from it, so that a damaged graph never
//! reaches usearch (which trusts its neighbour lists) and a damaged matrix never answers a
//! query.
//!
//! Why CRC-32 for the blocks: they guard against accidental damage (bit rot, torn or stray
//! writes, a flipped byte), which a 32-bit CRC per MiB detects with certainty for any error
//! burst up to 32 bits and with probability 1 − 2⁻³² otherwise; `crc32fast` (PCLMULQDQ)
//! runs at ~15 GB/s on one core here against ~3 GB/s for BLAKE3, so verifying a 4 GB matrix
//! costs about what one exact scan of it does (measured in the README). The small
//! headers and the checksum table use BLAKE3 (truncated to [`SUM`] bytes).

use rayon::prelude::*;

/// Bytes per checksummed block.
pub(crate) const BLOCK: usize = 1 << 20;
/// Bytes of a header's or table's checksum (a truncated BLAKE3 hash).
pub(crate) const SUM: usize = 16;
/// Bytes of a block's checksum (CRC-32, little-endian).
pub(crate) const BLOCK_SUM: usize = 4;

/// What loading a derived file found.
pub(crate) enum Load<T> {
    /// No such file.
    Missing,
    /// Written by an older mmbind (another format): rebuilt silently, it is derived data.
    Old,
    /// Built from another state of the database (an update was interrupted, or another
    /// process has moved on).
    Stale,
    /// Present but not intact: what is wrong, for messages.
    Damaged(String),
    Ok(T),
}

impl<T> Load<T> {
    pub fn ok(self) -> Option<T> {
        match self {
            Load::Ok(t) => Some(t),
            _ => None,
        }
    }
}

pub(crate) fn sum(data: &[u8]) -> [u8; SUM] {
    let mut out = [0u8; SUM];
    out.copy_from_slice(&blake3::hash(data).as_bytes()[..SUM]);
    out
}

fn block_sum(block: &[u8]) -> [u8; BLOCK_SUM] {
    crc32fast::hash(block).to_le_bytes()
}

/// The checksum table of `data`: one [`BLOCK_SUM`]-byte CRC per [`BLOCK`] bytes (the last
/// block may be shorter).
pub(crate) fn block_sums(data: &[u8]) -> Vec<u8> {
    let sums: Vec<[u8; BLOCK_SUM]> = data.par_chunks(BLOCK).map(block_sum).collect();
    sums.concat()
}

/// Number of blocks of `len` bytes.
pub(crate) fn blocks(len: usize) -> usize {
    len.div_ceil(BLOCK)
}

/// Verifies `data` (which starts at byte `base` of `file`) against `table`; on a mismatch,
/// says which block (the first one found) and where it lies in the file.
pub(crate) fn verify(file: &str, base: usize, data: &[u8], table: &[u8]) -> Result<(), String> {
    let n = blocks(data.len());
    if table.len() != n * BLOCK_SUM {
        return Err(format!(
            "{file}: its checksum table has {} entries for {n} blocks",
            table.len() / BLOCK_SUM
        ));
    }
    let bad = data
        .par_chunks(BLOCK)
        .zip(table.par_chunks(BLOCK_SUM))
        .enumerate()
        .find_first(|(_, (block, s))| block_sum(block) != **s)
        .map(|(i, _)| i);
    match bad {
        None => Ok(()),
        Some(i) => Err(format!(
            "{file}: block {} of {n} (bytes {}..{}) does not match its checksum",
            i + 1,
            base + i * BLOCK,
            base + ((i + 1) * BLOCK).min(data.len())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flipped_bit_is_found_in_its_block() {
        let data: Vec<u8> = (0..(2 * BLOCK + 1000))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let table = block_sums(&data);
        assert_eq!(table.len(), 3 * BLOCK_SUM);
        assert!(verify("f", 0, &data, &table).is_ok());
        for (at, block) in [(0, 1), (BLOCK - 1, 1), (BLOCK, 2), (2 * BLOCK + 999, 3)] {
            let mut d = data.clone();
            d[at] ^= 0x10;
            let e = verify("f", 0, &d, &table).unwrap_err();
            assert!(e.contains(&format!("block {block} of 3")), "{e}");
        }
        let mut t = table.clone();
        t[5] ^= 1;
        assert!(verify("f", 0, &data, &t).is_err());
        assert!(verify("f", 0, &data, &table[..BLOCK_SUM]).is_err());
        assert!(verify("f", 0, &[], &[]).is_ok());
    }
}
