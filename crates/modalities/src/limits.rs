//! What mmbind will spend on one input: every bound on hostile files, in one place.
//!
//! Files are hostile until decoded. A 32 KB JPEG can claim 65500×65500 pixels, a 370-byte PNG
//! 100000×1 (whose shorter side is then scaled up to 224, the longer to 22 million), a
//! 167-byte `.npy` 200000×200000 floats. Each decoder asks this module before it allocates,
//! and a refusal is one line naming the file, the limit and the flag that raises it.
//!
//! The defaults keep the peak memory of embedding any single input under 1 GB (measured:
//! `docs/hardening.md`) while accepting what cameras, recorders and sensors write. A program
//! sets its policy once at start-up ([`Limits::install`]); the library reads it with
//! [`Limits::current`], which is the defaults until something is installed.

use std::io::Read;
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::{Error, Result};

/// Bounds on the work and memory one input may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Decoded pixels of one image, depth or thermal map (width × height).
    pub pixels: u64,
    /// Longer side ÷ shorter side of an image or map. Preprocessing scales the shorter side
    /// to the model's size, so this bounds the resized image too.
    pub aspect: u64,
    /// Bytes of one input file read into memory (images, sensor files, text, WAV).
    pub file_bytes: u64,
    /// Seconds of decoded audio.
    pub audio_seconds: u64,
    /// Elements of one `.npy` array (depth, IMU) or IMU CSV table.
    pub npy_elements: u64,
    /// Bytes of one text (inline or `.txt`) before tokenisation.
    pub text_bytes: u64,
    /// Results of one query.
    pub top_k: u64,
    /// Bytes of one `batch` request line.
    pub request_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pixels: 50_000_000,
            aspect: 100,
            file_bytes: 256 << 20,
            audio_seconds: 600,
            npy_elements: 16 << 20,
            text_bytes: 1 << 20,
            top_k: 100_000,
            request_bytes: 16 << 20,
        }
    }
}

/// One limit's name (as `--limit NAME=N` spells it), meaning, and place in [`Limits`].
pub struct LimitInfo {
    pub name: &'static str,
    pub what: &'static str,
    field: fn(&mut Limits) -> &mut u64,
}

/// Every limit, in the order `--help` lists them.
pub const ALL: [LimitInfo; 8] = [
    LimitInfo {
        name: "pixels",
        what: "decoded pixels of one image, depth or thermal map",
        field: |l| &mut l.pixels,
    },
    LimitInfo {
        name: "aspect",
        what: "longer side / shorter side of an image or map",
        field: |l| &mut l.aspect,
    },
    LimitInfo {
        name: "file-bytes",
        what: "bytes of one input file read into memory",
        field: |l| &mut l.file_bytes,
    },
    LimitInfo {
        name: "audio-seconds",
        what: "seconds of decoded audio",
        field: |l| &mut l.audio_seconds,
    },
    LimitInfo {
        name: "npy-elements",
        what: "elements of one .npy array or IMU CSV table",
        field: |l| &mut l.npy_elements,
    },
    LimitInfo {
        name: "text-bytes",
        what: "bytes of one text before tokenisation",
        field: |l| &mut l.text_bytes,
    },
    LimitInfo {
        name: "top-k",
        what: "results of one query",
        field: |l| &mut l.top_k,
    },
    LimitInfo {
        name: "request-bytes",
        what: "bytes of one batch request line",
        field: |l| &mut l.request_bytes,
    },
];

/// The `--limit` help: what a limit is for, then each name, meaning and default.
pub fn help() -> String {
    let defaults = Limits::default();
    let mut text = String::from(
        "Raise or lower a bound on what one input may cost, NAME=N (repeatable; N may end in \
         k, M or G). An input over a bound is refused with one line naming it, and the rest \
         of the work goes on. The defaults keep one input under 1 GB of memory.\n",
    );
    for info in &ALL {
        let value = defaults.get(info.name).unwrap_or_default();
        text.push_str(&format!("\n  {}={value}: {}", info.name, info.what));
    }
    text
}

/// Samples (all channels) one second of audio may decode to: 48 kHz stereo.
const AUDIO_SAMPLES_PER_SECOND: u64 = 2 * 48_000;

static INSTALLED: OnceLock<Limits> = OnceLock::new();

impl Limits {
    /// The policy in force: the installed one, or the defaults.
    pub fn current() -> &'static Limits {
        static DEFAULT: OnceLock<Limits> = OnceLock::new();
        INSTALLED
            .get()
            .unwrap_or_else(|| DEFAULT.get_or_init(Limits::default))
    }

    /// Makes `self` the process's policy. Only the first call counts (a policy that changed
    /// under running work would be no policy); later calls return `false`.
    pub fn install(self) -> bool {
        INSTALLED.set(self).is_ok()
    }

    /// The value of the limit called `name`.
    pub fn get(&self, name: &str) -> Option<u64> {
        let info = ALL.iter().find(|i| i.name == name)?;
        let mut copy = *self;
        Some(*(info.field)(&mut copy))
    }

    /// Sets one limit from `NAME=N` (as `--limit` takes it). `N` may end in `k`, `M` or `G`
    /// (powers of 1024 for byte limits and of 1000 otherwise, as people count pixels).
    pub fn set(&mut self, assignment: &str) -> std::result::Result<(), String> {
        let names = || ALL.iter().map(|i| i.name).collect::<Vec<_>>().join(", ");
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| format!("expected NAME=N, got {assignment:?} (names: {})", names()))?;
        let info = ALL
            .iter()
            .find(|i| i.name == name.trim())
            .ok_or_else(|| format!("no limit called {name:?} (names: {})", names()))?;
        let binary = info.name.ends_with("bytes");
        let n = parse_count(value.trim(), binary)
            .ok_or_else(|| format!("{name}: {value:?} is not a positive whole number"))?;
        *(info.field)(self) = n;
        Ok(())
    }

    /// Refuses an image or map of `width × height` samples before it is decoded.
    pub fn check_image(&self, path: &Path, width: u64, height: u64) -> Result<()> {
        if width == 0 || height == 0 {
            return Err(Error::invalid(
                path,
                format!("the image has no pixels ({width}x{height})"),
            ));
        }
        let pixels = width.saturating_mul(height);
        if pixels > self.pixels {
            return Err(too_large(
                path,
                format!("{width}x{height} is {pixels} pixels"),
                "pixels",
                self.pixels,
            ));
        }
        let (long, short) = (width.max(height), width.min(height));
        if long > short.saturating_mul(self.aspect) {
            return Err(too_large(
                path,
                format!("{width}x{height} has an aspect ratio of {}:1", long / short),
                "aspect",
                self.aspect,
            ));
        }
        Ok(())
    }

    /// Refuses `frames` samples per channel of `channels` at `rate` Hz when that is over the
    /// duration limit, or (many channels at a high rate) more samples than that many seconds
    /// of 48 kHz stereo, which is what bounds the memory.
    pub fn check_audio(&self, path: &Path, frames: u64, rate: u32, channels: usize) -> Result<()> {
        let max_frames = self.audio_seconds.saturating_mul(u64::from(rate.max(1)));
        if frames > max_frames {
            return Err(too_large(
                path,
                format!("{:.0} s of audio", frames as f64 / f64::from(rate.max(1))),
                "audio-seconds",
                self.audio_seconds,
            ));
        }
        let samples = frames.saturating_mul(channels as u64);
        if samples > self.audio_seconds.saturating_mul(AUDIO_SAMPLES_PER_SECOND) {
            return Err(too_large(
                path,
                format!(
                    "{channels} channels of {frames} samples are more than that many seconds \
                     of 48 kHz stereo"
                ),
                "audio-seconds",
                self.audio_seconds,
            ));
        }
        Ok(())
    }

    /// Refuses a `.npy` array of `shape` over the element limit, before it is allocated.
    pub fn check_npy(&self, path: &Path, shape: &[u64]) -> Result<()> {
        let elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        if elements.is_none_or(|n| n > self.npy_elements) {
            let count = elements.map_or("over 2^64".to_string(), |n| n.to_string());
            return Err(too_large(
                path,
                format!("the .npy header declares shape {shape:?} ({count} elements)"),
                "npy-elements",
                self.npy_elements,
            ));
        }
        Ok(())
    }

    /// Refuses a text over the byte limit (before it is cleaned and tokenised).
    pub fn check_text(&self, path: &Path, bytes: usize) -> Result<()> {
        if bytes as u64 > self.text_bytes {
            return Err(too_large(
                path,
                format!("{bytes} bytes of text"),
                "text-bytes",
                self.text_bytes,
            ));
        }
        Ok(())
    }

    /// Refuses a result count over the limit (the caller names the request).
    pub fn check_top_k(&self, top_k: u64) -> std::result::Result<(), String> {
        if top_k > self.top_k {
            return Err(format!(
                "top-k {top_k} is over the limit of {} results (raise it with --limit top-k=N)",
                self.top_k
            ));
        }
        Ok(())
    }

    /// Reads a whole input file: a regular file only (a FIFO or device would block or never
    /// end), at most [`Limits::file_bytes`] of it, or an error naming the file.
    pub fn read_file(&self, path: &Path) -> Result<Vec<u8>> {
        let cannot = |e: std::io::Error| Error::decode(path, format!("cannot read file: {e}"));
        regular_file(path)?;
        let file = std::fs::File::open(path).map_err(cannot)?;
        let meta = file.metadata().map_err(cannot)?;
        if !meta.is_file() {
            return Err(not_regular(path));
        }
        if meta.len() > self.file_bytes {
            return Err(too_large(
                path,
                format!("the file has {} bytes", meta.len()),
                "file-bytes",
                self.file_bytes,
            ));
        }
        // The file may grow between the size check and the read: read one byte past the
        // limit at most, and refuse if it is there.
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(self.file_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
        if bytes.len() as u64 > self.file_bytes {
            return Err(too_large(
                path,
                "the file grew while it was read".to_string(),
                "file-bytes",
                self.file_bytes,
            ));
        }
        Ok(bytes)
    }
}

/// Refuses what is not a regular file before it is opened: opening a FIFO for reading
/// blocks until a writer comes, and a device (`/dev/zero`) never ends.
/// A path that cannot be looked at passes here: opening it then fails with its own reason.
pub fn regular_file(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(not_regular(path)),
        _ => Ok(()),
    }
}

fn not_regular(path: &Path) -> Error {
    Error::decode(
        path,
        "not a regular file (a directory, FIFO or device cannot be an input)",
    )
}

/// The one wording of every refusal: what the input holds, the limit, how to raise it.
fn too_large(path: &Path, what: String, name: &str, limit: u64) -> Error {
    Error::invalid(path, over(&what, name, limit))
}

/// The reason of a refusal, for decoders that add the path themselves.
pub(crate) fn over(what: &str, name: &str, limit: u64) -> String {
    format!("{what}, over the limit of {limit} (raise it with --limit {name}=N)")
}

fn parse_count(s: &str, binary: bool) -> Option<u64> {
    let (digits, unit) = match s.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, ' '),
    };
    let base: u64 = if binary { 1024 } else { 1000 };
    let scale = match unit.to_ascii_lowercase() {
        ' ' => 1,
        'k' => base,
        'm' => base * base,
        'g' => base * base * base,
        _ => return None,
    };
    let n = u64::from_str(digits).ok()?.checked_mul(scale)?;
    (n > 0).then_some(n)
}

/// The shape a `.npy` header declares, read without allocating the array: the magic, the
/// header length (version 1 or 2/3) and the `'shape': (...)` entry of its dictionary.
pub fn npy_shape(bytes: &[u8]) -> std::result::Result<Vec<u64>, String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        return Err("not a .npy file (no NUMPY magic)".into());
    }
    let (len, start) = match bytes[6] {
        1 => (
            usize::from(u16::from_le_bytes([bytes[8], bytes[9]])),
            10usize,
        ),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    let header = bytes
        .get(start..start.saturating_add(len))
        .ok_or("the .npy header is truncated")?;
    let header = std::str::from_utf8(header).map_err(|_| "the .npy header is not text")?;
    let after = header
        .split_once("'shape'")
        .map(|(_, rest)| rest)
        .ok_or("the .npy header has no shape")?;
    let open = after.find('(').ok_or("the .npy shape is not a tuple")?;
    let close = after[open..]
        .find(')')
        .ok_or("the .npy shape is not a tuple")?
        + open;
    after[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<u64>()
                .map_err(|_| format!("the .npy shape holds {s:?}, not a size"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_names_units_and_refuses_nonsense() {
        let mut l = Limits::default();
        l.set("pixels=2M").unwrap();
        assert_eq!(l.pixels, 2_000_000);
        l.set("file-bytes=3k").unwrap();
        assert_eq!(l.file_bytes, 3072);
        l.set(" top-k = 7 ").unwrap();
        assert_eq!(l.get("top-k"), Some(7));
        assert!(l.set("pixel=5").unwrap_err().contains("no limit called"));
        assert!(l.set("pixels=0").unwrap_err().contains("not a positive"));
        assert!(l.set("pixels=-1").is_err());
        assert!(l.set("pixels=99999999999999999999G").is_err());
        assert!(l.set("pixels").unwrap_err().contains("NAME=N"));
    }

    #[test]
    fn image_checks_pixels_and_aspect() {
        let l = Limits::default();
        let p = Path::new("x.png");
        assert!(l.check_image(p, 6000, 4000).is_ok());
        assert!(l.check_image(p, 22400, 224).is_ok());
        let e = l.check_image(p, 65500, 65500).unwrap_err().to_string();
        assert!(e.contains("x.png") && e.contains("--limit pixels=N"), "{e}");
        let e = l.check_image(p, 100000, 1).unwrap_err().to_string();
        assert!(e.contains("aspect"), "{e}");
        assert!(l.check_image(p, 1, 20000).is_err());
        assert!(l.check_image(p, 0, 5).is_err());
    }

    #[test]
    fn npy_shape_reads_the_header_only() {
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        let h = b"{'descr': '<f4', 'fortran_order': False, 'shape': (200000, 200000), }";
        f.extend((h.len() as u16).to_le_bytes());
        f.extend(h);
        assert_eq!(npy_shape(&f).unwrap(), vec![200000, 200000]);
        let e = Limits::default()
            .check_npy(Path::new("d.npy"), &[200000, 200000])
            .unwrap_err();
        assert!(e.to_string().contains("npy-elements"), "{e}");
        assert!(npy_shape(&f[..20]).is_err());
        assert!(
            npy_shape(b"\x93NUMPY\x01\x00\x0c\x00{'shape':()}")
                .unwrap()
                .is_empty()
        );
        let overflow = Limits::default().check_npy(Path::new("d.npy"), &[u64::MAX, 3]);
        assert!(overflow.is_err());
    }
}
