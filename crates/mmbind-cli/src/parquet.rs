//! Embeddings as Apache Parquet: what `embed --out x.parquet` and `export` write and
//! `index --from-parquet` reads, the interchange with pyarrow, DuckDB, Spark, LanceDB.
//!
//! One row per input, the schema in the README ("Parquet embeddings"):
//!
//! | column         | Arrow type                         | null when          |
//! |----------------|------------------------------------|--------------------|
//! | `path`         | utf8                               | inline text        |
//! | `text`         | utf8                               | a file             |
//! | `modality`     | utf8 (`vision`, `text`, …)         | never              |
//! | `size`         | uint64 (bytes)                     | never              |
//! | `mtime`        | timestamp[ns, UTC]                 | inline text        |
//! | `content_hash` | fixed_size_binary[32] (BLAKE3)     | never              |
//! | `model_hash`   | utf8 (the model's content hash)    | never              |
//! | `embedding`    | fixed_size_list<float32>[dim]      | never              |
//!
//! `embedding` is L2-normalised: the vector mmbind's index stores and searches (the encoder's
//! output divided by its norm). Files are written atomically, Snappy-compressed; a file read
//! may be uncompressed or Snappy-compressed (pyarrow's, DuckDB's and Spark's default).

mod read;
mod rows;
mod write;

pub use read::read_rows;
// The fuzzer reads bytes in memory (fuzz/fuzz_targets/parquet_rows.rs).
#[allow(unused_imports)]
pub use read::rows_from;
pub use rows::write_parquet;
pub use write::PartWriter;

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, TimeUnit};

/// The schema's name and version, in the file's key-value metadata under `mmbind.schema`.
pub const SCHEMA_NAME: &str = "mmbind-embeddings/1";

/// One embedded input.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The file (as the index stores paths); `None` for inline text.
    pub path: Option<String>,
    /// The inline text; `None` for a file.
    pub text: Option<String>,
    pub modality: String,
    pub size: u64,
    /// Nanoseconds since the Unix epoch; `None` for inline text.
    pub mtime_ns: Option<i64>,
    pub content_hash: [u8; 32],
    pub model_hash: String,
    /// Unit length.
    pub embedding: Vec<f32>,
}

/// The Arrow schema of embeddings of `dim` values.
pub fn schema(dim: usize) -> Schema {
    Schema::new(vec![
        Field::new("path", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, true),
        Field::new("modality", DataType::Utf8, false),
        Field::new("size", DataType::UInt64, false),
        Field::new(
            "mtime",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
        Field::new("content_hash", DataType::FixedSizeBinary(32), false),
        Field::new("model_hash", DataType::Utf8, false),
        Field::new("embedding", embedding_type(dim), false),
    ])
}

/// `fixed_size_list<float32>[dim]` with pyarrow's item field (`pa.list_(pa.float32(), dim)`).
fn embedding_type(dim: usize) -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new("item", DataType::Float32, true)),
        dim as i32,
    )
}
