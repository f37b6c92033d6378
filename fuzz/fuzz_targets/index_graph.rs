//! The index's HNSW graph file (`hnsw.usearch`: usearch's serialisation, our row/stranded
//! tables and a 4096-byte footer): a fuzzed file replaces the one in a small, otherwise valid
//! index (dim 4, 6 files), which is then searched approximately and automatically. usearch
//! *views* the payload without copying, so its C++ code reads the fuzzed bytes directly.
//!
//! The random index uid and the footer's checksums are recomputed (see `forge_graph`). The
//! block checksums of the body are recomputed only while the usearch payload is the one
//! usearch wrote: the Rust code behind the checks (row and stranded tables, footer fields) then
//! sees arbitrary content, while a changed payload must be caught as damage, as a corrupted
//! file is. usearch trusts what it views (hnsw.rs says so), so a forged payload would only
//! find usearch's known crashes; `MMBIND_FUZZ_FORGE=1` forges it anyway.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmbind_fuzz::{DIM, HNSW_FILE, TemplateIndex, forge_graph, graph_payload_len};
use mmbind_index::Filter;

fn forge_all() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MMBIND_FUZZ_FORGE").is_some_and(|v| v == "1"))
}

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let t = TemplateIndex::get();
    let mut bytes = data.to_vec();
    let payload = graph_payload_len(&t.graph);
    let same_payload =
        graph_payload_len(&bytes) == payload && bytes.get(..payload) == t.graph.get(..payload);
    forge_graph(&mut bytes, &t.uid, same_payload || forge_all());
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
