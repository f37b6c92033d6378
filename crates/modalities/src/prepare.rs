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
