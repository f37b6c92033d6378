//! The index's search matrix (`vectors.mat`): a fuzzed file replaces the one in a small,
//! otherwise valid index (dim 4, 6 files, graph on disk), which is then searched exactly, in
//! batch and through the graph (whose rows then point into the fuzzed matrix).
//!
//! The random index uid and every BLAKE3 checksum are recomputed from the fuzzed bytes (see
//! `forge_matrix`), so the parser behind the checksums sees arbitrary content as if mmbind had
//! written it; the generation is the fuzzer's (the seeds carry the right one). A file that
//! does not parse is rebuilt from SQLite, which is the intended behaviour; the target looks
//! for panics, hangs and memory errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmbind_fuzz::{DIM, MATRIX_FILE, TemplateIndex, forge_matrix};
use mmbind_index::Filter;

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let t = TemplateIndex::get();
    let mut bytes = data.to_vec();
    forge_matrix(&mut bytes, &t.uid);
    // Drop the cached maps before the file under them is rewritten.
    t.index.refresh();
    std::fs::write(t.dir.join(MATRIX_FILE), &bytes).unwrap();
    let q = [0.5f32; DIM];
    if mmbind_fuzz::verbose_enabled() {
        // An accepted file is used as is; a refused one is rebuilt from SQLite (rewritten).
        let r = t.index.matrix().map(|m| m.len());
        let kept = std::fs::read(t.dir.join(MATRIX_FILE)).is_ok_and(|b| b == bytes);
        eprintln!(
            "matrix: {r:?} rows, file {}",
            if kept { "accepted" } else { "refused, rebuilt" }
        );
    }
    let _ = t.index.search(&q, 3, &Filter::default());
    let _ = t.index.search(&q, 3, &Filter::default().modality("audio"));
    let _ = t
        .index
        .search_batch(&[q, [-0.5; DIM]].concat(), 2, &Filter::default());
    // The graph was built for the template's rows; a fuzzed matrix with the same stamp must
    // not make it index out of range.
    let _ = t.index.search_approx(&q, 3, &Filter::default(), None);
    let _ = t
        .index
        .search_approx(&q, 3, &Filter::default().modality("text"), Some(8));
});
