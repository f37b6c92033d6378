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
mod schema;
mod write;

pub use read::read_rows;
// The fuzzer reads bytes in memory (fuzz/fuzz_targets/parquet_rows.rs).
#[allow(unused_imports)]
pub use read::rows_from;
pub use rows::write_parquet;
pub use schema::Row;
pub use write::PartWriter;
