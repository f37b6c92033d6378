//! The index's HNSW graph file (`hnsw.usearch`: usearch's serialisation, our row/stranded
//! tables and a 4096-byte footer): a fuzzed file replaces the one in a small, otherwise valid
//! index (dim 4, 6 files), which is then searched approximately and automatically. usearch
//! *views* the payload without copying, so its C++ code reads the fuzzed bytes directly.
//!
//! The random index uid, the footer's checksums and the body's block checksums are recomputed
//! for every input (see `forge_graph`), so both the Rust code behind the checks (row and
//! stranded tables, footer fields) and the structural check of usearch's payload
//! (`crates/index/src/hnsw_layout.rs`) see arbitrary content; usearch sees only what passed it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmbind_fuzz::{DIM, HNSW_FILE, TemplateIndex, forge_graph};
use mmbind_index::Filter;

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let t = TemplateIndex::get();
    let mut bytes = data.to_vec();
    forge_graph(&mut bytes, &t.uid);
    // Drop the cached maps before the file under them is rewritten. The matrix on disk stays
    // the template's.
    t.index.refresh();
    std::fs::write(t.dir.join(HNSW_FILE), &bytes).unwrap();
    let q = [0.5f32; DIM];
    let _ = t.index.approx_state();
    let r = t.index.search_approx(&q, 3, &Filter::default(), None);
    mmbind_fuzz::verbose("graph", &r);
    let _ = t
        .index
        .search_approx(&q, 6, &Filter::default().modality("audio"), Some(16));
    let _ = t.index.search_auto(&q, 2, &Filter::default());
});
