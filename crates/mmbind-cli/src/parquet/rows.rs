//! Parquet rows of embedded inputs: the vector, unit length, with the facts of its file.

use mmbind::embed::Item;
use mmbind::vector::unit;
use mmbind_index::{ContentHash, FileStat, hash_file};
use mmbind_modalities::Source;

use super::{PartWriter, Row};
use crate::report::Reporter;

/// Writes one Parquet row per embedded input (unit vector, file facts, model hash); an input
/// whose file cannot be examined after embedding is reported and left out. The rows written.
pub fn write_parquet(
    path: &std::path::Path,
    dim: usize,
    model_hash: &str,
    items: &[Item],
    results: Vec<mmbind::Result<Vec<f32>>>,
    report: &mut Reporter,
) -> anyhow::Result<usize> {
    let mut part = PartWriter::create(path, dim, model_hash)?;
    for (item, result) in items.iter().zip(results) {
        let row = result
            .map_err(|e| e.to_string())
            .and_then(|e| row_of(item, &e, model_hash));
        match row {
            Ok(row) => part.push(row)?,
            Err(e) => report.fail(e),
        }
    }
    part.finish()
}

/// The Parquet row of `item` embedded as `e`.
fn row_of(item: &Item, e: &[f32], model_hash: &str) -> Result<Row, String> {
    let label = item.source.label();
    let embedding =
        unit(e).ok_or_else(|| format!("{label}: the embedding is zero or not finite"))?;
    let modality = item.modality.name().to_string();
    let model_hash = model_hash.to_string();
    Ok(match &item.source {
        Source::Text(t) => Row {
            path: None,
            text: Some(t.clone()),
            modality,
            size: t.len() as u64,
            mtime_ns: None,
            content_hash: ContentHash::of_bytes(t.as_bytes()).0,
            model_hash,
            embedding,
        },
        Source::File(p) => {
            let why = |e: std::io::Error| format!("{label}: {e}");
            let absolute = std::path::absolute(p).map_err(why)?;
            let stat = FileStat::from_path(&absolute, &modality).map_err(why)?;
            Row {
                path: Some(stat.path),
                text: None,
                modality,
                size: stat.size,
                mtime_ns: Some(stat.mtime_ns),
                content_hash: hash_file(&absolute).map_err(why)?.0,
                model_hash,
                embedding,
            }
        }
    })
}
