//! One entry point for every modality: an input (a file, or inline text) in, the array its
//! encoder takes out.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audio::AudioPreprocess;
use crate::depth::DepthPreprocess;
use crate::imu::ImuPreprocess;
use crate::text::{TextPreprocess, Tokenizer};
use crate::thermal::ThermalPreprocess;
use crate::vision::VisionPreprocess;
use crate::{Error, Modality, Result};

/// The preprocessing of every modality (ImageBind's by default). Stored in `model.json`, so a
/// model is always fed the way it was trained.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Preprocess {
    pub vision: VisionPreprocess,
    pub text: TextPreprocess,
    pub audio: AudioPreprocess,
    pub depth: DepthPreprocess,
    pub thermal: ThermalPreprocess,
    pub imu: ImuPreprocess,
}

/// Something to embed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    File(PathBuf),
    /// Inline text (text modality only).
    Text(String),
}

impl Source {
    /// How the input is named in messages and output: the path, or the text itself.
    pub fn label(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Text(t) => t.clone(),
        }
    }
}

/// A preprocessed input: one item of an encoder batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    /// Floats with their per-item shape (audio: `[clips, 1, mel, frames]`).
    Floats { shape: Vec<usize>, data: Vec<f32> },
    /// Token ids `[context]`.
    Ids(Vec<i64>),
}

impl Prepared {
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Prepared::Floats { shape, .. } => shape.clone(),
            Prepared::Ids(ids) => vec![ids.len()],
        }
    }
}

fn floats<D: ndarray::Dimension>(a: ndarray::Array<f32, D>) -> Prepared {
    let shape = a.shape().to_vec();
    let data = a.as_standard_layout().iter().copied().collect();
    Prepared::Floats { shape, data }
}

impl Preprocess {
    /// Decodes and preprocesses `source` as modality `m`.
    pub fn prepare(&self, m: Modality, source: &Source) -> Result<Prepared> {
        match (m, source) {
            (Modality::Text, Source::Text(t)) => {
                crate::Limits::current().check_text(Path::new("<inline text>"), t.len())?;
                Ok(Prepared::Ids(self.tokenize(t)))
            }
            (Modality::Text, Source::File(p)) => Ok(Prepared::Ids(
                self.tokenize(&crate::text::load_text_file(p)?),
            )),
            (_, Source::Text(_)) => Err(Error::invalid(
                "<inline text>",
                format!("inline text cannot be used as {m}"),
            )),
            (Modality::Vision, Source::File(p)) => {
                Ok(floats(crate::vision::load_image(p, &self.vision)?))
            }
            (Modality::Audio, Source::File(p)) => {
                Ok(floats(crate::audio::load_audio(p, &self.audio)?))
            }
            (Modality::Depth, Source::File(p)) => {
                Ok(floats(crate::depth::load_depth(p, &self.depth)?))
            }
            (Modality::Thermal, Source::File(p)) => {
                Ok(floats(crate::thermal::load_thermal(p, &self.thermal)?))
            }
            (Modality::Imu, Source::File(p)) => Ok(floats(crate::imu::load_imu(p, &self.imu)?)),
        }
    }

    /// CLIP BPE ids, `[context_length]`.
    pub fn tokenize(&self, text: &str) -> Vec<i64> {
        Tokenizer::imagebind().tokenize(text, self.text.context_length)
    }
}

/// The shape of one item `prepare` makes for `m` (audio: of one clip), which the encoder's
/// stem must take; `model.json` is checked against it on load.
pub fn item_shape(p: &Preprocess, m: Modality) -> Vec<usize> {
    match m {
        Modality::Vision => vec![3, p.vision.image_size, p.vision.image_size],
        Modality::Text => vec![p.text.context_length],
        Modality::Audio => vec![1, p.audio.mel_bins, p.audio.target_frames],
        Modality::Depth => vec![1, p.depth.image_size, p.depth.image_size],
        Modality::Thermal => vec![1, p.thermal.image_size, p.thermal.image_size],
        Modality::Imu => vec![crate::imu::CHANNELS, p.imu.length],
    }
}

/// The one mean and std a modality's preprocessing divides by, where it has one.
pub fn normalisation(p: &Preprocess, m: Modality) -> Option<(f32, f32)> {
    match m {
        Modality::Audio => Some((p.audio.mean, p.audio.std)),
        Modality::Depth => Some((p.depth.mean, p.depth.std)),
        Modality::Thermal => Some((p.thermal.mean, p.thermal.std)),
        Modality::Vision | Modality::Text | Modality::Imu => None,
    }
}

/// What files of `m` are accepted and what is done to them, for `--help` (one paragraph).
pub fn files_help(m: Modality) -> &'static str {
    match m {
        Modality::Vision => {
            "Images: PNG, JPEG, WebP, BMP, GIF (first frame), TIFF. Alpha is composited on white, \
             EXIF orientation honoured; resized (shorter side, bicubic), centre-cropped, \
             CLIP-normalised"
        }
        Modality::Text => "UTF-8 text files, one input per file",
        Modality::Audio => {
            "Audio: WAV (8/16/24/32-bit int, float; any rate and channels), FLAC, OGG Vorbis, \
             MP3. Resampled to 16 kHz; 3 clips of 2 s; 128-bin Kaldi log-mel fbank, as ImageBind"
        }
        Modality::Depth => {
            "Depth: single-channel 16-bit PNG/TIFF in millimetres (0 = no reading) or .npy float \
             metres [H,W]/[1,H,W]; converted to disparity (0.075·518.86 / depth)"
        }
        Modality::Thermal => {
            "Thermal: 8- or 16-bit grayscale PNG/JPEG/TIFF (RGB with equal channels accepted), \
             scaled to [0,1], no normalisation"
        }
        Modality::Imu => {
            "IMU: CSV of 6 columns (ax ay az gx gy gz), optional header and leading time column, \
             or .npy [6,T]/[T,6]; centre-cropped or zero-padded to the model's length (2000)"
        }
    }
}

/// What a user calls inputs of `m` ("Depth maps"), for `--help`.
pub fn inputs_noun(m: Modality) -> &'static str {
    match m {
        Modality::Vision => "Images",
        Modality::Text => "Text",
        Modality::Audio => "Audio",
        Modality::Depth => "Depth maps",
        Modality::Thermal => "Thermal images",
        Modality::Imu => "IMU recordings",
    }
}

/// The modality a file extension usually means. Depth, thermal and IMU files share
/// extensions with images and tables, so only the unambiguous cases are answered: `.wav`
/// & co. are audio, images are vision, `.csv` is IMU, `.txt` is text; `.npy` is `None`.
pub fn modality_of_extension(path: &Path) -> Option<Modality> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" | "jpg" | "jpeg" | "webp" | "bmp" | "gif" | "tif" | "tiff" => Modality::Vision,
        "wav" | "wave" | "flac" | "ogg" | "oga" | "mp3" => Modality::Audio,
        "csv" => Modality::Imu,
        "txt" => Modality::Text,
        _ => return None,
    })
}

/// The extensions a directory walk picks up for modality `m`.
pub fn extensions_for(m: Modality) -> &'static [&'static str] {
    match m {
        Modality::Vision => &["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"],
        Modality::Text => &["txt"],
        Modality::Audio => &["wav", "wave", "flac", "ogg", "oga", "mp3"],
        Modality::Depth => &["png", "tif", "tiff", "npy"],
        Modality::Thermal => &["png", "jpg", "jpeg", "tif", "tiff"],
        Modality::Imu => &["csv", "npy"],
    }
}
