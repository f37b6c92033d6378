//! Reading embeddings back from a Parquet file of the documented schema, whoever wrote it
//! (mmbind, pyarrow, DuckDB, Spark), batch by batch.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::reader::ChunkReader;

use super::schema::{Row, schema};

/// Rows per batch read: bounds memory whatever the file's row groups are.
const BATCH: usize = 1024;

/// The rows of a file, a batch at a time.
pub struct Rows {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    /// The embedding length, from the schema.
    pub dim: usize,
    /// The rows the footer says the file has.
    pub total: usize,
}

/// Opens `path` and checks its schema against mmbind's (column names and types; `text` may
/// be missing; nullability, field order and extra columns do not matter).
pub fn read_rows(path: &Path) -> anyhow::Result<Rows> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    rows_from(file, path)
}

/// [`read_rows`] of bytes from anywhere (the fuzzer's, in memory); `path` names them.
pub fn rows_from<R: ChunkReader + 'static>(reader: R, path: &Path) -> anyhow::Result<Rows> {
    // parquet 57's footer decoder panics on some malformed files (an unwrap in its thrift
    // code, a capacity overflow: fuzz/FINDINGS.md); a panic is a refusal like any error.
    let builder = std::panic::catch_unwind(AssertUnwindSafe(|| {
        ParquetRecordBatchReaderBuilder::try_new(reader)
    }))
    .map_err(|_| anyhow::anyhow!("the Parquet reader failed on it"))
    .and_then(|r| r.map_err(anyhow::Error::from))
    .with_context(|| format!("{}: not a Parquet file", path.display()))?;
    let dim = check_schema(builder.schema()).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (see the README, \"Parquet embeddings\")",
            path.display()
        )
    })?;
    let total = builder.metadata().file_metadata().num_rows().max(0) as usize;
    let reader = builder
        .with_batch_size(BATCH)
        .build()
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Rows {
        path: path.to_path_buf(),
        reader,
        dim,
        total,
    })
}

/// The embedding length if `found` has every column of mmbind's schema with its type.
fn check_schema(found: &Schema) -> Result<usize, String> {
    let Ok(embedding) = found.field_with_name("embedding") else {
        return Err("no 'embedding' column".into());
    };
    let dim = match embedding.data_type() {
        DataType::FixedSizeList(item, n) if *item.data_type() == DataType::Float32 && *n > 0 => {
            *n as usize
        }
        other => {
            return Err(format!(
                "column 'embedding' is {other} where the schema has fixed_size_list<float32>[dim]"
            ));
        }
    };
    for wanted in schema(dim).fields() {
        match found.field_with_name(wanted.name()) {
            Ok(f) if same_type(f.data_type(), wanted.data_type()) => {}
            Ok(f) => {
                return Err(format!(
                    "column '{}' is {} where the schema has {}",
                    wanted.name(),
                    f.data_type(),
                    wanted.data_type()
                ));
            }
            Err(_) if wanted.name() == "text" => {}
            Err(_) => return Err(format!("no '{}' column", wanted.name())),
        }
    }
    Ok(dim)
}

/// Types equal up to field names and nullability inside lists, and a timestamp's zone.
fn same_type(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::FixedSizeList(x, n), DataType::FixedSizeList(y, m)) => {
            n == m && x.data_type() == y.data_type()
        }
        (
            DataType::Timestamp(TimeUnit::Nanosecond, _),
            DataType::Timestamp(TimeUnit::Nanosecond, _),
        ) => true,
        _ => a == b,
    }
}

impl Iterator for Rows {
    type Item = anyhow::Result<Vec<Row>>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match std::panic::catch_unwind(AssertUnwindSafe(|| self.reader.next())) {
            Ok(batch) => batch?,
            Err(_) => {
                let why = format!(
                    "cannot read {}: the Parquet reader failed on it",
                    self.path.display()
                );
                return Some(Err(anyhow::anyhow!(why)));
            }
        };
        let path = &self.path;
        Some(
            batch
                .map_err(|e| {
                    let text = e.to_string();
                    match text.split("Disabled feature at compile time: ").nth(1) {
                        Some(codec) => anyhow::anyhow!(
                            "it is compressed with {codec}, which mmbind does not read; write it uncompressed or with Snappy"
                        ),
                        None => anyhow::Error::from(e),
                    }
                })
                .and_then(|b| rows_of(&b, self.dim))
                .with_context(|| format!("cannot read {}", path.display())),
        )
    }
}

/// The rows of one batch whose schema [`check_schema`] accepted.
fn rows_of(b: &RecordBatch, dim: usize) -> anyhow::Result<Vec<Row>> {
    let col = |name: &str| b.column_by_name(name).expect("checked by check_schema");
    let path = col("path").as_string::<i32>();
    let text = b.column_by_name("text").map(|c| c.as_string::<i32>());
    let modality = col("modality").as_string::<i32>();
    let size = col("size").as_primitive::<UInt64Type>();
    let mtime = col("mtime").as_primitive::<TimestampNanosecondType>();
    let hash = col("content_hash").as_fixed_size_binary();
    let model = col("model_hash").as_string::<i32>();
    let embedding = col("embedding").as_fixed_size_list();
    let values = embedding.values().as_primitive::<Float32Type>();
    let mut rows = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let null = |a: &dyn Array, name: &str| -> anyhow::Result<()> {
            anyhow::ensure!(!a.is_null(i), "row {i}: '{name}' is null");
            Ok(())
        };
        null(modality, "modality")?;
        null(size, "size")?;
        null(hash, "content_hash")?;
        null(model, "model_hash")?;
        null(embedding, "embedding")?;
        let start = embedding.value_offset(i) as usize;
        let vector = &values.values()[start..start + dim];
        anyhow::ensure!(
            values.null_count() == 0 || (start..start + dim).all(|j| !values.is_null(j)),
            "row {i}: the embedding has a null value"
        );
        let opt = |a: &arrow_array::StringArray| (!a.is_null(i)).then(|| a.value(i).to_string());
        rows.push(Row {
            path: opt(path),
            text: text.and_then(opt),
            modality: modality.value(i).to_string(),
            size: size.value(i),
            mtime_ns: (!mtime.is_null(i)).then(|| mtime.value(i)),
            content_hash: hash.value(i).try_into().expect("fixed_size_binary[32]"),
            model_hash: model.value(i).to_string(),
            embedding: vector.to_vec(),
        });
    }
    Ok(rows)
}
