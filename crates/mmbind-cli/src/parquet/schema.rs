//! The schema itself and its row (the table of columns is in parquet.rs and the README).
//! Needs only Arrow's schema crate, so the fuzzer compiles it beside the reader.

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
