//! The benchmark's report: Markdown tables of every size's results, beside FAISS.

use serde_json::Value;

use crate::{Args, BATCH, Results, SINGLE};
use mmbind_index::HnswParams;

/// `n` in words: 10k, 1M.
pub fn fmt_n(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// The number `k` of `v` (NaN when absent).
fn f(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(|x| x.as_f64()).unwrap_or(f64::NAN)
}

/// Prints every table.
pub fn print(a: &Args, results: &Results) {
    exact(a, results);
    compressed(a, results);
    build(results);
    approx(a, results);
    faiss(results);
}

/// Exact search, ours beside FAISS.
fn exact(a: &Args, results: &Results) {
    println!();
    println!(
        "## Exact search (ours vs FAISS IndexFlatIP; ratio = FAISS time / ours, > 1 means ours is faster)"
    );
    println!(
        "| n | 1 query median ms: ours | FAISS | ratio | batch {BATCH} q/s: ours | FAISS | ratio | same top-{} | peak RSS MB search: ours | FAISS |",
        a.k
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (n, (_, s, fz, agree)) in results {
        let (fs, fb, fr) = match fz {
            Some(x) => (
                f(x, "single_median_ms"),
                f(x, "batch_qps"),
                f(x, "peak_rss_mb"),
            ),
            None => (f64::NAN, f64::NAN, f64::NAN),
        };
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} | {:.2} | {} | {:.0} | {:.0} |",
            fmt_n(*n),
            f(s, "single_median_ms"),
            fs,
            fs / f(s, "single_median_ms"),
            f(s, "batch_qps"),
            fb,
            f(s, "batch_qps") / fb,
            agree
                .map(|x| format!("{:.2}%", x * 100.0))
                .unwrap_or("-".into()),
            f(s, "search_peak_mb"),
            fr
        );
    }
}

/// The compressed scan beside the float32 one.
fn compressed(a: &Args, results: &Results) {
    println!();
    println!(
        "## Compressed scan (int8 codes + exact re-ranking) beside the float32 scan, {SINGLE} single queries alternating"
    );
    println!(
        "| n | bytes read per query: f32 | int8 | ratio | median ms: f32 | int8 | speed-up | recall@{} vs f32 | int8 codes built in ms |",
        a.k
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (n, (_, s, _, _)) in results {
        let c = &s["compressed"];
        println!(
            "| {} | {:.0} MB | {:.0} MB | {:.2} | {:.2} | {:.2} | {:.2}× | {:.4} | {:.0} |",
            fmt_n(*n),
            f(c, "bytes_f32") / 1e6,
            f(c, "bytes_int8") / 1e6,
            f(c, "bytes_f32") / f(c, "bytes_int8"),
            f(c, "f32_median_ms"),
            f(c, "int8_median_ms"),
            f(c, "f32_median_ms") / f(c, "int8_median_ms"),
            f(c, "recall_vs_f32"),
            f(c, "build_ms"),
        );
    }
}

/// Build times and sizes.
fn build(results: &Results) {
    println!();
    println!("## Build");
    println!(
        "| n | SQLite ingest s | matrix s | HNSW s | SQLite MB | build peak RSS MB | FAISS add s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (n, (b, _, fz, _)) in results {
        println!(
            "| {} | {:.1} | {:.1} | {} | {:.0} | {:.0} | {} |",
            fmt_n(*n),
            f(b, "ingest_s"),
            f(b, "matrix_s"),
            if b["hnsw_built"].as_bool() == Some(true) {
                format!("{:.1}", f(b, "hnsw_s"))
            } else {
                "-".into()
            },
            f(b, "sqlite_mb"),
            f(b, "build_peak_mb"),
            fz.as_ref()
                .map(|x| format!("{:.2}", f(x, "build_s")))
                .unwrap_or("-".into())
        );
    }
}

/// Approximate search at each ef.
fn approx(a: &Args, results: &Results) {
    println!();
    println!(
        "## Approximate (HNSW, M={}, ef_construction={}; recall@{} vs exact over {BATCH} queries)",
        HnswParams::default().m,
        HnswParams::default().ef_construction,
        a.k
    );
    println!(
        "| n | ef | recall@{} | median ms | p90 ms | speed-up vs exact |",
        a.k
    );
    println!("|---|---|---|---|---|---|");
    for (n, (_, s, _, _)) in results {
        for e in s["approx"].as_array().into_iter().flatten() {
            if let Some(ef) = e.get("ef") {
                println!(
                    "| {} | {}{} | {:.4} | {:.3} | {:.3} | {:.1}× |",
                    fmt_n(*n),
                    ef,
                    if e["default"].as_bool() == Some(true) {
                        " (default)"
                    } else {
                        ""
                    },
                    f(e, "recall"),
                    f(e, "median_ms"),
                    f(e, "p90_ms"),
                    f(s, "single_median_ms") / f(e, "median_ms")
                );
            } else {
                println!(
                    "| {} | recall_at_k(ef=64, 200 queries) = {:.4} | | | | |",
                    fmt_n(*n),
                    f(e, "recall_at_k_fn_ef64_200q")
                );
            }
        }
    }
}

/// The FAISS build the numbers come from.
fn faiss(results: &Results) {
    if let Some((_, _, Some(x), _)) = results.values().next() {
        println!();
        println!(
            "FAISS {} (numpy {}), {} threads, {}; BLAS: {}",
            x["faiss"],
            x["numpy"],
            x["threads"],
            x["compile"],
            x.get("blas").map(|b| b.to_string()).unwrap_or("?".into())
        );
    }
}
