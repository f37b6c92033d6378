//! Parquet files of embeddings (`index --from-parquet`): any bytes through mmbind's reader
//! (`crates/mmbind-cli/src/parquet/read.rs` and `schema.rs`, compiled here as they are),
//! every batch read. A file is refused or read; rows that come back keep the schema's promises.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/mmbind-cli/src/parquet/read.rs"]
#[allow(dead_code)]
mod read;
#[path = "../../crates/mmbind-cli/src/parquet/schema.rs"]
#[allow(dead_code)]
mod schema;

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let bytes = bytes::Bytes::copy_from_slice(data);
    let Ok(rows) = read::rows_from(bytes, std::path::Path::new("fuzz.parquet")) else {
        return;
    };
    let dim = rows.dim;
    for batch in rows.take(64) {
        let Ok(batch) = batch else { break };
        for row in batch {
            assert_eq!(row.embedding.len(), dim);
            mmbind_fuzz::verbose("parquet row", &Ok::<_, String>(&row.path));
        }
    }
});
