//! `--files-from FILE|-` and `--shard I/N`: a list of inputs from a file, and the stable
//! share of it one of N workers takes.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use mmbind::embed::Item;
use mmbind_modalities::Modality;
use mmbind_modalities::prepare::modality_of_extension;

/// Longest line taken (a path is at most 4 KiB on Linux; a text file's line is not a path).
const MAX_LINE: usize = 64 * 1024;

/// The items a list names: one per line, `PATH` (the modality from its extension, as
/// `mmbind index` picks it) or `MODALITY<TAB>PATH`; empty lines are skipped. Lines that name
/// no modality come back as messages, and the rest are used.
pub fn read(list: &Path) -> anyhow::Result<(Vec<Item>, Vec<BadLine>)> {
    let name = || {
        if list == Path::new("-") {
            "standard input".to_string()
        } else {
            list.display().to_string()
        }
    };
    let reader: Box<dyn BufRead> = if list == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(list).with_context(|| format!("cannot read {}", name()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line.with_context(|| format!("cannot read {}", name()))?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        anyhow::ensure!(
            line.len() <= MAX_LINE,
            "{} line {}: longer than {MAX_LINE} bytes; give one path per line",
            name(),
            n + 1
        );
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(item) => items.push(item),
            Err(why) => errors.push(BadLine {
                message: format!("{} line {}: {why}", name(), n + 1),
                line: line.to_vec(),
            }),
        }
    }
    Ok((items, errors))
}

/// A line of the list that names no input, and why.
pub struct BadLine {
    pub line: Vec<u8>,
    pub message: String,
}

fn parse_line(line: &[u8]) -> Result<Item, String> {
    let text = std::str::from_utf8(line);
    if let Ok(Some((m, path))) = text.map(|t| t.split_once('\t')) {
        let m: Modality = m
            .parse()
            .map_err(|e: mmbind_modalities::UnknownModality| e.to_string())?;
        return Ok(Item::file(m, path));
    }
    let path = bytes_path(line);
    match modality_of_extension(&path) {
        Some(m) => Ok(Item::file(m, path)),
        None => Err(format!(
            "{}: no modality for this extension; write MODALITY<TAB>PATH",
            path.display()
        )),
    }
}

/// A path from a line's bytes, exact on Unix whatever the encoding.
fn bytes_path(b: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(b))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(b).into_owned())
    }
}

/// `I/N`: worker I (from 0) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("'{s}': write I/N, 0 <= I < N (worker I of N, counting from 0)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether this shard takes `item`: by a hash of its modality and its path (or text), so
    /// that the N shards cover a list exactly once, whatever its order, and an item stays in
    /// its shard when the list grows. BLAKE3's first 8 bytes, little-endian, modulo N.
    pub fn takes(&self, item: &Item) -> bool {
        let mut h = blake3::Hasher::new();
        h.update(item.modality.name().as_bytes());
        h.update(b"\0");
        match &item.source {
            mmbind_modalities::Source::File(p) => h.update(p.as_os_str().as_encoded_bytes()),
            mmbind_modalities::Source::Text(t) => h.update(t.as_bytes()),
        };
        self.owns(h)
    }

    /// Whether this shard reports a bad line of the list (one shard does, not all N).
    pub fn takes_line(&self, line: &BadLine) -> bool {
        let mut h = blake3::Hasher::new();
        h.update(&line.line);
        self.owns(h)
    }

    fn owns(&self, h: blake3::Hasher) -> bool {
        let first: [u8; 8] = h.finalize().as_bytes()[..8].try_into().expect("32 bytes");
        u64::from_le_bytes(first) % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_a_list_exactly_once_and_lines_name_their_modality() {
        let items: Vec<Item> = (0..1000)
            .map(|i| Item::file(Modality::Vision, format!("/d/{i}.png")))
            .collect();
        let shards: Vec<Shard> = (0..7).map(|i| format!("{i}/7").parse().unwrap()).collect();
        let mut sizes = [0usize; 7];
        for item in &items {
            let owners: Vec<_> = (0..7).filter(|&s| shards[s].takes(item)).collect();
            assert_eq!(owners.len(), 1);
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| (100..190).contains(&n)), "{sizes:?}");
        for bad in ["7/7", "1/0", "x/3", "3", "-1/2"] {
            assert!(
                bad.parse::<Shard>().unwrap_err().contains("0 <= I < N"),
                "{bad}"
            );
        }
        assert_eq!(parse_line(b"a/b.WAV").unwrap().modality, Modality::Audio);
        assert_eq!(
            parse_line(b"depth\tx/y.png").unwrap().modality,
            Modality::Depth
        );
        assert!(
            parse_line(b"x.bin")
                .unwrap_err()
                .contains("MODALITY<TAB>PATH")
        );
        assert!(parse_line(b"smell\tx.bin").is_err());
    }
}
