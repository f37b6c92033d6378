//! Files uploaded to be queried with: kept in a private temporary directory under random
//! names, the newest [`KEEP`] of them, and deleted when the server stops.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Uploads kept at once: a query is usually made right after its upload, and a page that
/// searches again from the same file re-uploads it only after this many others.
pub const KEEP: usize = 64;

pub struct Uploads {
    dir: tempfile::TempDir,
    kept: Mutex<VecDeque<String>>,
}

impl Uploads {
    pub fn new() -> std::io::Result<Uploads> {
        Ok(Uploads {
            dir: tempfile::Builder::new().prefix("mmbind-serve-").tempdir()?,
            kept: Mutex::new(VecDeque::new()),
        })
    }

    /// Stores `bytes` and returns the upload's id (`upload:` and 32 hex digits). `name` is the
    /// client's file name: only its extension is kept (the decoders read content, but a
    /// `.npy` or `.csv` extension tells depth and IMU files apart).
    pub fn store(&self, bytes: &[u8], name: Option<&str>) -> std::io::Result<String> {
        let mut random = [0u8; 16];
        getrandom(&mut random)?;
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let ext = name
            .and_then(|n| Path::new(n).extension())
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .map(|e| format!(".{}", e.to_ascii_lowercase()))
            .unwrap_or_default();
        let file = format!("{hex}{ext}");
        std::fs::write(self.dir.path().join(&file), bytes)?;
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.push_back(file);
        while kept.len() > KEEP {
            if let Some(old) = kept.pop_front() {
                let _ = std::fs::remove_file(self.dir.path().join(old));
            }
        }
        Ok(format!("upload:{hex}"))
    }

    /// The file of upload `hex` (32 hex digits), if it is still kept.
    pub fn path(&self, hex: &str) -> Option<PathBuf> {
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter()
            .find(|f| f.split('.').next() == Some(hex))
            .map(|f| self.dir.path().join(f))
    }
}

/// Random bytes from the kernel.
fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_found_by_id_keep_a_clean_extension_and_the_oldest_go() {
        let up = Uploads::new().unwrap();
        let id = up.store(b"abc", Some("../../x.WAV")).unwrap();
        let hex = id.strip_prefix("upload:").unwrap();
        let path = up.path(hex).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert_eq!(path.parent(), Some(up.dir.path()));
        assert!(path.to_str().unwrap().ends_with(".wav"));
        let odd = up.store(b"x", Some("a.w/a v")).unwrap();
        let odd = up.path(odd.strip_prefix("upload:").unwrap()).unwrap();
        assert!(odd.extension().is_none(), "{odd:?}");
        for bad in ["", "../x", &hex[..31], &"z".repeat(32)] {
            assert_eq!(up.path(bad), None, "{bad}");
        }
        for _ in 0..KEEP {
            up.store(b"y", None).unwrap();
        }
        assert_eq!(up.path(hex), None);
        assert!(!path.exists());
    }
}
