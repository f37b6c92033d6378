//! Preprocessed inputs cached on disk and memory-mapped: every file of a training set is
//! decoded and preprocessed once, then batches are gathered from the mapping, so an epoch
//! costs no decoding and the dataset never has to fit in memory.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use mmbind_modalities::{Modality, Prepared, Preprocess, Source};
use mmbind_schema::{AtomicFile, write_atomic};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::embed::Item;
use crate::nn::EncoderInput;
use crate::tensor_io::RawInput;
use crate::{Error, Result};

/// `[rows, item…]` float32 rows (token ids are stored as floats: exact below 2^24).
pub struct Features {
    pub modality: Modality,
    pub item_shape: Vec<usize>,
    /// Rows whose input could not be used hold zeros and `false` here.
    pub ok: Vec<bool>,
    /// Identifies the inputs and their preprocessing.
    pub key: String,
    map: memmap2::Mmap,
}

#[derive(Serialize, Deserialize)]
struct Sidecar {
    modality: Modality,
    item_shape: Vec<usize>,
    ok: Vec<bool>,
    errors: Vec<String>,
}

fn io_err(path: &Path, e: impl ToString) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// A key over the preprocessing and every input's identity (path, size, mtime, or the
/// text itself): any change gives a new cache file.
fn cache_key(m: Modality, items: &[Item], preprocess: &Preprocess) -> String {
    let mut h = Sha256::new();
    h.update(m.name());
    h.update(serde_json::to_string(preprocess).unwrap_or_default());
    for it in items {
        match &it.source {
            Source::File(p) => {
                h.update(p.to_string_lossy().as_bytes());
                if let Ok(meta) = std::fs::metadata(p) {
                    h.update(meta.len().to_le_bytes());
                    if let Ok(t) = meta.modified().and_then(|t| {
                        t.duration_since(std::time::UNIX_EPOCH)
                            .map_err(std::io::Error::other)
                    }) {
                        h.update(t.as_nanos().to_le_bytes());
                    }
                }
            }
            Source::Text(t) => h.update(t.as_bytes()),
        }
        h.update([0u8]);
    }
    h.finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Features {
    /// Opens the cache for `items` under `dir`, building it first if needed. `progress`
    /// gets (done, total) while building; `report` gets one message per unusable input.
    pub fn build_or_open(
        dir: &Path,
        m: Modality,
        items: &[Item],
        preprocess: &Preprocess,
        progress: &mut dyn FnMut(usize, usize),
        report: &mut dyn FnMut(&str),
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let key = cache_key(m, items, preprocess);
        let data_path = dir.join(format!("features-{m}-{key}.f32"));
        let meta_path = dir.join(format!("features-{m}-{key}.json"));
        if !(data_path.is_file() && meta_path.is_file()) {
            Self::build(&data_path, &meta_path, m, items, preprocess, progress)?;
        }
        let sidecar: Sidecar =
            serde_json::from_slice(&std::fs::read(&meta_path).map_err(|e| io_err(&meta_path, e))?)
                .map_err(|e| io_err(&meta_path, e))?;
        for e in &sidecar.errors {
            report(e);
        }
        let file = std::fs::File::open(&data_path).map_err(|e| io_err(&data_path, e))?;
        // SAFETY: the cache file is written once (temp + rename) and never modified in place.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io_err(&data_path, e))?;
        let item: usize = sidecar.item_shape.iter().product();
        if map.len() != item * items.len() * 4 || sidecar.ok.len() != items.len() {
            return Err(io_err(
                &data_path,
                "cache file has the wrong size; delete it to rebuild",
            ));
        }
        Ok(Self {
            modality: m,
            item_shape: sidecar.item_shape,
            ok: sidecar.ok,
            key,
            map,
        })
    }

    fn build(
        data_path: &Path,
        meta_path: &Path,
        m: Modality,
        items: &[Item],
        preprocess: &Preprocess,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<()> {
        let data_file = AtomicFile::create(data_path).map_err(|e| io_err(data_path, e))?;
        let tmp = data_file.tmp_path().to_path_buf();
        let mut out = std::io::BufWriter::new(&data_file.file);
        let mut item_shape: Option<Vec<usize>> = None;
        let mut ok = Vec::with_capacity(items.len());
        let mut errors = Vec::new();
        let mut pending_zero_rows = 0usize;
        for (c, chunk) in items.chunks(256).enumerate() {
            let prepared: Vec<Result<Prepared>> = chunk
                .par_iter()
                .map(|it| Ok(preprocess.prepare(m, &it.source)?))
                .collect();
            for p in prepared {
                let row: Option<Vec<f32>> = match p {
                    Ok(Prepared::Floats { shape, data }) => {
                        item_shape.get_or_insert(shape);
                        Some(data)
                    }
                    Ok(Prepared::Ids(ids)) => {
                        item_shape.get_or_insert(vec![ids.len()]);
                        Some(ids.into_iter().map(|i| i as f32).collect())
                    }
                    Err(e) => {
                        errors.push(e.to_string());
                        None
                    }
                };
                match (row, &item_shape) {
                    (Some(row), _) => {
                        // Rows that failed before the first success are written once the
                        // row size is known.
                        for _ in 0..pending_zero_rows {
                            write_zeros(&mut out, row.len(), &tmp)?;
                        }
                        pending_zero_rows = 0;
                        for v in row {
                            out.write_all(&v.to_le_bytes())
                                .map_err(|e| io_err(&tmp, e))?;
                        }
                        ok.push(true);
                    }
                    (None, Some(shape)) => {
                        write_zeros(&mut out, shape.iter().product(), &tmp)?;
                        ok.push(false);
                    }
                    (None, None) => {
                        pending_zero_rows += 1;
                        ok.push(false);
                    }
                }
            }
            progress(((c + 1) * 256).min(items.len()), items.len());
        }
        let item_shape = item_shape.ok_or_else(|| Error::Input {
            name: format!("{m} inputs"),
            reason: format!(
                "none of the {} inputs could be used (first error: {})",
                items.len(),
                errors.first().map_or("-", |s| s)
            ),
        })?;
        out.into_inner().map_err(|e| io_err(&tmp, e))?;
        data_file.commit().map_err(|e| io_err(data_path, e))?;
        let sidecar = Sidecar {
            modality: m,
            item_shape,
            ok,
            errors,
        };
        let json = serde_json::to_vec(&sidecar).expect("serialisable");
        write_atomic(meta_path, &json).map_err(|e| io_err(meta_path, e))
    }

    pub fn len(&self) -> usize {
        self.ok.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ok.is_empty()
    }

    fn item_len(&self) -> usize {
        self.item_shape.iter().product()
    }

    /// Row `i` as floats.
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.item_len();
        let bytes = &self.map[i * n * 4..(i + 1) * n * 4];
        // SAFETY: the mapping is page-aligned and rows are multiples of 4 bytes.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const f32, n) }
    }

    /// Rows `rows` as one batch in host memory (the CPU path's input).
    pub fn host_batch(&self, rows: &[usize]) -> RawInput {
        let mut shape = vec![rows.len()];
        shape.extend(&self.item_shape);
        let mut data = Vec::with_capacity(rows.len() * self.item_len());
        for &r in rows {
            data.extend_from_slice(self.row(r));
        }
        if self.modality == Modality::Text {
            let data = data.into_iter().map(|v| v as i64).collect();
            return RawInput::Int { shape, data };
        }
        RawInput::Float { shape, data }
    }

    /// Rows `rows` as one encoder batch on `device`.
    pub fn batch(&self, rows: &[usize], device: &Device) -> Result<EncoderInput> {
        self.host_batch(rows)
            .into_encoder_input(self.modality.name(), device)
    }
}

fn write_zeros(out: &mut impl Write, n: usize, path: &Path) -> Result<()> {
    out.write_all(&vec![0u8; n * 4])
        .map_err(|e| io_err(path, e))
}

/// Where a model's caches live.
pub fn cache_dir(model_dir: &Path) -> PathBuf {
    model_dir.join("cache")
}
