//! The input flags every embedding command shares, and turning them into items.

use std::path::{Path, PathBuf};

use clap::Args;
use mmbind_modalities::Modality;
use mmbind_modalities::prepare::extensions_for;

use mmbind::embed::Item;

/// Inputs, by modality. Each file flag takes files or directories (walked recursively for
/// that modality's extensions, hidden entries skipped) and may be repeated.
#[derive(Debug, Clone, Default, Args)]
pub struct InputArgs {
    /// Images: PNG, JPEG, WebP, BMP, GIF (first frame), TIFF. Alpha is composited on white,
    /// EXIF orientation honoured; resized (shorter side, bicubic), centre-cropped, CLIP-normalised.
    #[arg(long, value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    pub vision: Vec<PathBuf>,
    /// Inline text (CLIP BPE, 77 tokens for ImageBind; longer text is truncated).
    #[arg(long, value_name = "TEXT", num_args = 1.., action = clap::ArgAction::Append)]
    pub text: Vec<String>,
    /// UTF-8 text files, one input per file.
    #[arg(long, value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    pub text_file: Vec<PathBuf>,
    /// Audio: WAV (8/16/24/32-bit int, float; any rate and channels), FLAC, OGG Vorbis, MP3.
    /// Resampled to 16 kHz; 3 clips of 2 s; 128-bin Kaldi log-mel fbank, as ImageBind.
    #[arg(long, value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    pub audio: Vec<PathBuf>,
    /// Depth: single-channel 16-bit PNG/TIFF in millimetres (0 = no reading) or .npy float
    /// metres [H,W]/[1,H,W]; converted to disparity (0.075·518.86 / depth).
    #[arg(long, value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    pub depth: Vec<PathBuf>,
    /// Thermal: 8- or 16-bit grayscale PNG/JPEG/TIFF (RGB with equal channels accepted),
    /// scaled to [0,1], no normalisation.
    #[arg(long, value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    pub thermal: Vec<PathBuf>,
    /// IMU: CSV of 6 columns (ax ay az gx gy gz), optional header and leading time column,
    /// or .npy [6,T]/[T,6]; centre-cropped or zero-padded to the model's length (2000).
    #[arg(long, value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    pub imu: Vec<PathBuf>,
}

impl InputArgs {
    pub fn is_empty(&self) -> bool {
        self.vision.is_empty()
            && self.text.is_empty()
            && self.text_file.is_empty()
            && self.audio.is_empty()
            && self.depth.is_empty()
            && self.thermal.is_empty()
            && self.imu.is_empty()
    }

    /// The items, in the order given (directories expanded in sorted order), and one message
    /// for every path that cannot be listed.
    pub fn items(&self) -> (Vec<Item>, Vec<String>) {
        let mut items = Vec::new();
        let mut errors = Vec::new();
        let groups: [(Modality, &Vec<PathBuf>); 6] = [
            (Modality::Vision, &self.vision),
            (Modality::Text, &self.text_file),
            (Modality::Audio, &self.audio),
            (Modality::Depth, &self.depth),
            (Modality::Thermal, &self.thermal),
            (Modality::Imu, &self.imu),
        ];
        for (m, paths) in groups {
            for p in paths {
                expand(m, p, &mut items, &mut errors);
            }
        }
        items.extend(self.text.iter().map(Item::text));
        (items, errors)
    }
}

/// A file is taken as it is (its content decides whether it is usable); a directory is
/// walked for `m`'s extensions.
fn expand(m: Modality, path: &Path, items: &mut Vec<Item>, errors: &mut Vec<String>) {
    if !path.is_dir() {
        items.push(Item::file(m, path));
        return;
    }
    let exts = extensions_for(m);
    // Links are followed so that a dangling one is reported rather than silently skipped.
    let walk = walkdir::WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                let ext = e
                    .path()
                    .extension()
                    .and_then(|x| x.to_str())
                    .map(str::to_ascii_lowercase);
                if ext.is_some_and(|x| exts.contains(&x.as_str())) {
                    items.push(Item::file(m, e.path()));
                }
            }
            Ok(_) => {}
            Err(e) => errors.push(format!(
                "{}: {}",
                e.path().unwrap_or(path).display(),
                e.io_error()
                    .map(|io| io.to_string())
                    .unwrap_or_else(|| e.to_string())
            )),
        }
    }
}
