//! CLIP's byte-level BPE, as ImageBind's `SimpleTokenizer` runs it.
//!
//! This module owns the vocabulary (built from `bpe_simple_vocab_16e6.txt.gz`), the
//! pre-tokenising regex and the merge loop. It works on text that is already cleaned;
//! [`crate::text`] does the cleaning (ftfy, HTML unescape, whitespace, lower-case) and
//! the fixed-length `tokenize` on top of it.
//!
//! Symbols are kept as vocabulary ids rather than strings during merging: every merge
//! result is itself a vocabulary entry, so merging `(id_a, id_b)` can be looked up in one
//! hash map and yields an id directly. That is equivalent to the string-based reference
//! because the reference also ends by mapping each symbol string to its id.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Read;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

use crate::{Error, Result};

/// Number of merge lines ImageBind uses: `merges[1 : 49152 - 256 - 2 + 1]`.
const NUM_MERGES: usize = 49152 - 256 - 2;
/// The start-of-text marker, as it appears in the vocabulary and in raw text.
pub const SOT_TOKEN: &str = "<|startoftext|>";
/// The end-of-text marker, as it appears in the vocabulary and in raw text.
pub const EOT_TOKEN: &str = "<|endoftext|>";
/// Suffix the vocabulary uses to mark the last symbol of a word.
const END_OF_WORD: &str = "</w>";
/// Entries beyond this are dropped from the word cache, so a long-running process that
/// tokenises endless distinct words does not grow without bound.
const CACHE_LIMIT: usize = 100_000;

/// The pre-tokenising pattern of CLIP's tokenizer. The reference compiles it with
/// IGNORECASE, but it only ever sees lower-cased text, so case folding is limited to the
/// literal contractions here; folding the `\p{L}` classes would pull in a few non-letters
/// (e.g. U+0345) that fold to letters.
const PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|(?i:'s|'t|'re|'ve|'m|'ll|'d)|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+";

/// The embedded vocabulary ImageBind ships.
static IMAGEBIND_VOCAB: &[u8] = include_bytes!("../assets/bpe_simple_vocab_16e6.txt.gz");

/// CLIP's byte-level BPE tokenizer (vocabulary of 49408 ids).
pub struct Tokenizer {
    /// Id -> symbol string (the reference's `decoder`).
    decoder: Vec<String>,
    merges: MergeTable,
    /// Printable character -> the byte it stands for (see [`bytes_to_unicode`]).
    byte_decoder: HashMap<char, u8>,
    /// For each byte, the id of its character without and with `</w>`.
    byte_ids: [(u32, u32); 256],
    pattern: Regex,
    sot: u32,
    eot: u32,
    cache: Mutex<HashMap<String, Vec<u32>>>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.decoder.len())
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Parses a gzip-compressed CLIP merges file (`bpe_simple_vocab_16e6.txt.gz`).
    pub fn from_gz_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse_gz(bytes).map_err(|reason| Error::decode("<bpe vocab>", reason))
    }

    /// Reads and parses a gzip-compressed CLIP merges file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::decode(path, format!("cannot read BPE vocabulary: {e}")))?;
        Self::parse_gz(&bytes).map_err(|reason| Error::decode(path, reason))
    }

    /// The tokenizer ImageBind uses, built once from the vocabulary embedded in the binary.
    pub fn imagebind() -> &'static Tokenizer {
        static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
        TOKENIZER.get_or_init(|| {
            // The asset is compiled in and covered by tests, so failure is a build defect.
            Self::parse_gz(IMAGEBIND_VOCAB).expect("embedded BPE vocabulary is valid")
        })
    }

    /// Number of ids (49408 for the ImageBind vocabulary).
    pub fn vocab_size(&self) -> usize {
        self.decoder.len()
    }

    /// Id of `<|startoftext|>` (49406).
    pub fn sot_id(&self) -> u32 {
        self.sot
    }

    /// Id of `<|endoftext|>` (49407).
    pub fn eot_id(&self) -> u32 {
        self.eot
    }

    /// Turns ids back into text the way the reference does: concatenate symbols, map the
    /// byte characters back to bytes, decode UTF-8 lossily, and turn `</w>` into a space.
    /// Ids outside the vocabulary are skipped.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for symbol in ids.iter().filter_map(|&id| self.decoder.get(id as usize)) {
            for c in symbol.chars() {
                // Every vocabulary character is a byte character; the guard is for safety only.
                if let Some(&b) = self.byte_decoder.get(&c) {
                    bytes.push(b);
                }
            }
        }
        String::from_utf8_lossy(&bytes).replace(END_OF_WORD, " ")
    }

    /// BPE ids of text that has already been cleaned (see [`crate::text::clean`]).
    pub fn encode_cleaned(&self, cleaned: &str) -> Vec<u32> {
        self.encode_cleaned_at_most(cleaned, usize::MAX)
    }

    /// The first ids of [`Tokenizer::encode_cleaned`], at least `max` of them where the
    /// text has that many: pre-tokens after the `max`-th id are not encoded at all.
    pub fn encode_cleaned_at_most(&self, cleaned: &str, max: usize) -> Vec<u32> {
        let mut ids = Vec::new();
        for piece in self.pattern.find_iter(cleaned) {
            if ids.len() >= max {
                break;
            }
            ids.extend(self.encode_piece(piece.as_str()));
        }
        ids
    }

    /// BPE ids of one pre-token, served from the cache when possible.
    fn encode_piece(&self, piece: &str) -> Vec<u32> {
        match piece {
            SOT_TOKEN => return vec![self.sot],
            EOT_TOKEN => return vec![self.eot],
            _ => {}
        }
        if let Some(ids) = self.lock_cache().get(piece) {
            return ids.clone();
        }
        let ids = self.bpe(piece.as_bytes());
        let mut cache = self.lock_cache();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(piece.to_owned(), ids.clone());
        ids
    }

    /// The cache only memoises a pure function, so a poisoned lock is still usable.
    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u32>>> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Merges the byte symbols of one word, lowest rank first, until no pair has a rank.
    ///
    /// The reference rescans the whole word for its lowest-ranked pair after every merge,
    /// which is quadratic in the word's length (a 300 KB word took 40 s). This does the
    /// same merges in the same order with a heap of candidate pairs over a linked list of
    /// symbols: each round pops every occurrence of the lowest rank left to right (as the
    /// reference's pass does), and only after the round are the pairs around the merged
    /// symbols offered, so a new pair never jumps ahead of the round it was made in.
    fn bpe(&self, bytes: &[u8]) -> Vec<u32> {
        const NONE: usize = usize::MAX;
        let Some((&last, rest)) = bytes.split_last() else {
            return Vec::new();
        };
        let mut ids: Vec<u32> = rest.iter().map(|&b| self.byte_ids[b as usize].0).collect();
        ids.push(self.byte_ids[last as usize].1);
        let n = ids.len();
        let mut next: Vec<usize> = (1..=n).map(|i| if i == n { NONE } else { i }).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.checked_sub(1).unwrap_or(NONE)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        let offer =
            |heap: &mut BinaryHeap<Reverse<(u32, usize)>>, ids: &[u32], a: usize, b: usize| {
                if let Some(&(rank, _)) = self.merges.get(&(ids[a], ids[b])) {
                    heap.push(Reverse((rank, a)));
                }
            };
        for i in 1..n {
            offer(&mut heap, &ids, i - 1, i);
        }
        let mut merged_at = Vec::new();
        while let Some(&Reverse((round, _))) = heap.peek() {
            while let Some(&Reverse((rank, pos))) = heap.peek() {
                if rank != round {
                    break;
                }
                heap.pop();
                let right = next[pos];
                if !alive[pos] || right == NONE {
                    continue;
                }
                match self.merges.get(&(ids[pos], ids[right])) {
                    Some(&(r, merged)) if r == round => {
                        ids[pos] = merged;
                        alive[right] = false;
                        next[pos] = next[right];
                        if next[right] != NONE {
                            prev[next[right]] = pos;
                        }
                        merged_at.push(pos);
                    }
                    _ => {}
                }
            }
            for pos in merged_at.drain(..) {
                if !alive[pos] {
                    continue;
                }
                if prev[pos] != NONE {
                    offer(&mut heap, &ids, prev[pos], pos);
                }
                if next[pos] != NONE {
                    offer(&mut heap, &ids, pos, next[pos]);
                }
            }
        }
        (0..n).filter(|&i| alive[i]).map(|i| ids[i]).collect()
    }

    /// The reference's loop, kept as the oracle of [`Tokenizer::bpe`]'s tests.
    #[cfg(test)]
    fn bpe_rescanning(&self, bytes: &[u8]) -> Vec<u32> {
        let Some((&last, rest)) = bytes.split_last() else {
            return Vec::new();
        };
        let mut word: Vec<u32> = rest.iter().map(|&b| self.byte_ids[b as usize].0).collect();
        word.push(self.byte_ids[last as usize].1);
        while word.len() > 1 {
            let best = word
                .windows(2)
                .filter_map(|pair| {
                    self.merges
                        .get(&(pair[0], pair[1]))
                        .map(|&(rank, merged)| (rank, pair[0], pair[1], merged))
                })
                .min_by_key(|&(rank, ..)| rank);
            let Some((_, left, right, merged)) = best else {
                break;
            };
            word = merge_pair(&word, left, right, merged);
        }
        word
    }

    /// Builds the vocabulary from gzip bytes; the error is a reason without a path.
    fn parse_gz(bytes: &[u8]) -> std::result::Result<Self, String> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .map_err(|e| format!("not a gzip-compressed UTF-8 BPE merges file: {e}"))?;
        Self::from_merges_text(&text)
    }

    /// Builds the vocabulary from the decompressed merges text.
    fn from_merges_text(text: &str) -> std::result::Result<Self, String> {
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() < NUM_MERGES + 1 {
            return Err(format!(
                "BPE merges file has {} lines, expected at least {}",
                lines.len(),
                NUM_MERGES + 1
            ));
        }
        let mut merge_pairs = Vec::with_capacity(NUM_MERGES);
        for (i, line) in lines[1..=NUM_MERGES].iter().enumerate() {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => merge_pairs.push((a, b)),
                _ => {
                    return Err(format!(
                        "BPE merges line {} is not a pair of symbols: {line:?}",
                        i + 2
                    ));
                }
            }
        }

        let byte_table = bytes_to_unicode();
        let mut decoder: Vec<String> = byte_table.iter().map(|(_, c)| c.to_string()).collect();
        decoder.extend(byte_table.iter().map(|(_, c)| format!("{c}{END_OF_WORD}")));
        decoder.extend(merge_pairs.iter().map(|(a, b)| format!("{a}{b}")));
        decoder.push(SOT_TOKEN.to_owned());
        decoder.push(EOT_TOKEN.to_owned());

        // Later duplicates win, as in the reference's `dict(zip(vocab, range(len(vocab))))`.
        let encoder: HashMap<String, u32> = decoder
            .iter()
            .enumerate()
            .map(|(id, s)| (s.clone(), id as u32))
            .collect();
        let merges = build_merge_table(&merge_pairs, &encoder)?;

        let mut byte_ids = [(0, 0); 256];
        for &(b, c) in &byte_table {
            byte_ids[b as usize] = (
                encoder[&c.to_string()],
                encoder[&format!("{c}{END_OF_WORD}")],
            );
        }
        let byte_decoder = byte_table.iter().map(|&(b, c)| (c, b)).collect();
        let pattern = Regex::new(PATTERN).map_err(|e| format!("pre-tokenising pattern: {e}"))?;
        Ok(Tokenizer {
            sot: encoder[SOT_TOKEN],
            eot: encoder[EOT_TOKEN],
            decoder,
            merges,
            byte_decoder,
            byte_ids,
            pattern,
            cache: Mutex::new(HashMap::new()),
        })
    }
}

/// `(left id, right id)` -> `(merge rank, merged id)`.
type MergeTable = HashMap<(u32, u32), (u32, u32)>;

/// Maps each merge rule to its rank and result id. A later rule for the same pair
/// overrides an earlier one, as the reference's dict does.
fn build_merge_table(
    merge_pairs: &[(&str, &str)],
    encoder: &HashMap<String, u32>,
) -> std::result::Result<MergeTable, String> {
    let mut merges = HashMap::with_capacity(merge_pairs.len());
    for (rank, (a, b)) in merge_pairs.iter().enumerate() {
        // A rule whose halves are not symbols can never fire: words only hold symbols.
        let (Some(&left), Some(&right)) = (encoder.get(*a), encoder.get(*b)) else {
            continue;
        };
        let merged = *encoder
            .get(&format!("{a}{b}"))
            .ok_or("merge result missing from vocabulary")?;
        merges.insert((left, right), (rank as u32, merged));
    }
    Ok(merges)
}

/// Replaces every non-overlapping `left, right` occurrence (scanning left to right) by `merged`.
#[cfg(test)]
fn merge_pair(word: &[u32], left: u32, right: u32, merged: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while i < word.len() {
        if i + 1 < word.len() && word[i] == left && word[i + 1] == right {
            out.push(merged);
            i += 2;
        } else {
            out.push(word[i]);
            i += 1;
        }
    }
    out
}

/// GPT-2/CLIP's reversible byte -> character table: printable Latin-1 bytes stand for
/// themselves, the rest are shifted to U+0100 onwards, so every byte string becomes a
/// string of visible characters with no whitespace. Returned in the reference's dict
/// order (printable bytes first), because that order fixes the first 256 vocabulary ids.
fn bytes_to_unicode() -> Vec<(u8, char)> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut table: Vec<(u8, char)> = (0..=255u8)
        .filter(|&b| printable(b))
        .map(|b| (b, char::from(b)))
        .collect();
    let shifted = (0..=255u8).filter(|&b| !printable(b)).zip(256u32..);
    table.extend(shifted.map(|(b, code)| (b, char::from_u32(code).unwrap_or('\u{FFFD}'))));
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The heap merge gives the reference's ids on words built to hit ties, overlapping
    /// runs (`aaaa`) and long merge chains, over a few thousand seeded random words.
    #[test]
    fn heap_merge_matches_the_rescanning_reference() {
        let t = Tokenizer::imagebind();
        let alphabet: Vec<char> = "aeinorst lh' éü中0".chars().collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rand = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..3000 {
            let len = 1 + rand(40);
            let word: String = (0..len).map(|_| alphabet[rand(alphabet.len())]).collect();
            let bytes = word.as_bytes();
            assert_eq!(t.bpe(bytes), t.bpe_rescanning(bytes), "{word:?}");
        }
        for word in ["aaaaaaaaa", "ananananas", "mississippi", "thethethe", "x"] {
            assert_eq!(t.bpe(word.as_bytes()), t.bpe_rescanning(word.as_bytes()));
        }
    }

    /// A megabyte-long word: the reference's rescanning loop took 40 s on 300 KB and hung
    /// on 1 MB; the heap merge is n·log n, and `tokenize` keeps the first 75 ids.
    #[test]
    fn a_megabyte_word_tokenizes_to_the_context() {
        let t = Tokenizer::imagebind();
        let word: String = (0..1 << 20)
            .map(|i| ['q', 'x', 'z', 'j'][i * 7 % 4])
            .collect();
        let ids = t.tokenize(&word, 77);
        assert_eq!(ids.len(), 77);
        assert_eq!(ids[0], i64::from(t.sot_id()));
        assert_eq!(ids[76], i64::from(t.eot_id()));
        assert!(ids[1..76].iter().all(|&id| id != 0));
    }
}
