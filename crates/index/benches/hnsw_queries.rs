//! The local HNSW graph's side of `python/bench/recall.py` (LanceDB beside mmbind's own
//! approximate search, on real embeddings): one process that opens an index, searches it
//! for each query of an `.npy` file at each `ef`, and prints per-query latency and recall@k
//! against exact search of the same index. A hit counts when its score reaches the k-th
//! exact score (less 1e-5): a vector as near as the one exact search listed is as good an
//! answer (ann-benchmarks counts the same way).
//!
//! ```text
//! cargo bench -p mmbind-index --bench hnsw_queries -- --index DIR --queries q.npy --k 10 --ef 32,64,128
//! ```
//! Prints one line `RESULT {json}`.

use std::path::PathBuf;
use std::time::Instant;

use mmbind_index::{Filter, Index};
use serde_json::json;

#[path = "search/npy.rs"]
#[allow(dead_code)]
mod npy;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        let i = args.iter().position(|a| a == name);
        i.map(|i| args[i + 1].clone())
    };
    let (Some(index), Some(queries)) = (get("--index"), get("--queries")) else {
        eprintln!("usage: hnsw_queries --index DIR --queries Q.npy [--k 10] [--ef 32,64,128]");
        return;
    };
    let k: usize = get("--k").map_or(10, |s| s.parse().expect("--k N"));
    let efs: Vec<usize> = get("--ef").map_or(vec![32, 64, 128], |s| {
        s.split(',').map(|x| x.parse().expect("--ef N,N")).collect()
    });
    let ix = Index::open(&PathBuf::from(index)).expect("an index");
    let (q, _, dim) = npy::read_npy_f32(&PathBuf::from(queries));
    let f = Filter::default();
    // The k-th exact score of each query.
    let exact: Vec<f32> = q
        .chunks(dim)
        .map(|v| {
            ix.search(v, k, &f)
                .unwrap()
                .last()
                .map_or(f32::MIN, |h| h.score)
        })
        .collect();
    let mut sweep = Vec::new();
    for &ef in &efs {
        // Warm-up: the graph is loaded and paged in by the first searches.
        for v in q.chunks(dim).take(3) {
            ix.search_approx(v, k, &f, Some(ef)).unwrap();
        }
        let mut lat = Vec::new();
        let mut found = 0;
        for (v, want) in q.chunks(dim).zip(&exact) {
            let t = Instant::now();
            let hits = ix.search_approx(v, k, &f, Some(ef)).unwrap();
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            found += hits.iter().filter(|h| h.score >= want - 1e-5).count();
        }
        lat.sort_by(f64::total_cmp);
        sweep.push(json!({
            "ef": ef,
            "recall": found as f64 / (k * exact.len()) as f64,
            "p50_ms": lat[lat.len() / 2],
            "p95_ms": lat[lat.len() * 95 / 100],
        }));
    }
    println!(
        "RESULT {}",
        json!({"files": ix.len(), "queries": exact.len(), "k": k, "hnsw": sweep})
    );
}
