//! The benchmark's child processes: `build` (generate the data, index it) and `search` (time
//! exact, compressed, batched and approximate searches), each reporting one JSON value.

use std::path::Path;
use std::time::Instant;

use mmbind_index::synth::Clusters;
use mmbind_index::*;
use serde_json::{Value, json};

use crate::npy::{read_npy_f32, write_npy_f32};
use crate::{Args, BATCH, EFS, SINGLE};

// ---------- measurements ----------

fn proc_status_mb(key: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn p90(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        0.0
    } else {
        v[(v.len() - 1) * 9 / 10]
    }
}

fn model(dim: usize) -> ModelInfo {
    ModelInfo::new("bench-model", "bench", dim)
}

fn row_of(path: &str) -> i64 {
    path.rsplit('/').next().unwrap().parse().unwrap()
}

/// Child: generate data, write .npy for FAISS, ingest through the writer, build the derived files.
pub fn role_build(a: &Args, n: usize) -> Value {
    let dir = a.workdir.join(format!("n{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t = Instant::now();
    let spec = Clusters::new(a.dim, 42);
    let data = spec.sample(n, 0);
    let queries = spec.sample(BATCH.max(SINGLE), 1);
    let gen_s = t.elapsed().as_secs_f64();
    if a.faiss {
        write_npy_f32(&dir.join("db.npy"), &data, n, a.dim);
    }
    write_npy_f32(
        &dir.join("queries.npy"),
        &queries,
        queries.len() / a.dim,
        a.dim,
    );

    let mut ix = Index::create_or_open(&dir.join("index"), &model(a.dim)).unwrap();
    ix.set_approx_min_items(if n <= a.hnsw_max { 0 } else { usize::MAX });
    let t = Instant::now();
    let stats: Vec<FileStat> = (0..n)
        .map(|i| FileStat {
            path: format!("/bench/{i}"),
            modality: "vision".into(),
            size: 1,
            mtime_ns: 0,
        })
        .collect();
    let hasher = |s: &FileStat| Ok(ContentHash::of_bytes(s.path.as_bytes()));
    let mut w = ix.writer(None).unwrap();
    let plan = w
        .plan_with(
            &stats,
            &PlanOptions {
                scope: None,
                hasher: Some(&hasher),
                keep: &[],
            },
        )
        .unwrap();
    let plan_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for (c, chunk) in plan.embed.chunks(10_000).enumerate() {
        let items: Vec<(&PlannedFile, &[f32])> = chunk
            .iter()
            .enumerate()
            .map(|(j, p)| {
                let i = c * 10_000 + j;
                (p, &data[i * a.dim..(i + 1) * a.dim])
            })
            .collect();
        w.commit_batch(&items).unwrap();
    }
    let ingest_s = t.elapsed().as_secs_f64();
    drop(data);
    let t = Instant::now();
    let st = w.finish(&plan).unwrap();
    let finish_s = t.elapsed().as_secs_f64();
    let db_mb = std::fs::metadata(dir.join("index/index.sqlite"))
        .map(|m| m.len() as f64 / 1e6)
        .unwrap_or(0.0);
    json!({
        "gen_s": gen_s, "plan_s": plan_s, "ingest_s": ingest_s, "finish_s": finish_s,
        "matrix_s": st.rebuild.matrix_ms as f64 / 1e3, "hnsw_s": st.rebuild.approx_ms as f64 / 1e3,
        "hnsw_built": st.rebuild.approx_built.is_some(), "sqlite_mb": db_mb,
        "build_peak_mb": proc_status_mb("VmHWM:"),
    })
}

/// The benchmark's queries (row-major, `nq × dim`).
struct Queries {
    qs: Vec<f32>,
    nq: usize,
    dim: usize,
}

impl Queries {
    fn read(dir: &Path) -> Queries {
        let (qs, nq, dim) = read_npy_f32(&dir.join("queries.npy"));
        Queries { qs, nq, dim }
    }

    /// Query `i`, cycling through them.
    fn q(&self, i: usize) -> &[f32] {
        &self.qs[(i % self.nq) * self.dim..(i % self.nq + 1) * self.dim]
    }

    /// The first `n` queries, row-major.
    fn first(&self, n: usize) -> &[f32] {
        &self.qs[..n * self.dim]
    }
}

/// Child: open the index and time searches.
pub fn role_search(a: &Args, n: usize) -> Value {
    let dir = a.workdir.join(format!("n{n}"));
    let t = Instant::now();
    let ix = Index::open(&dir.join("index")).unwrap();
    let m = ix.matrix().unwrap();
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(m.len(), n);
    let qs = Queries::read(&dir);
    let f = Filter::default();

    for i in 0..3 {
        ix.search(qs.q(i), a.k, &f).unwrap(); // warm-up: pages in, thread pool up
    }
    let lat: Vec<f64> = (0..SINGLE)
        .map(|i| {
            let t = Instant::now();
            let h = ix.search(qs.q(i), a.k, &f).unwrap();
            std::hint::black_box(h);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let single_rss = proc_status_mb("VmRSS:");
    let compressed = compressed_vs_f32(&ix, a, n, &qs);
    let (nb, batch_s, ours) = batch(&ix, a, &dir, &qs);
    let approx = approx_sweep(&ix, a, n, &qs, &ours);
    json!({
        "open_ms": open_ms,
        "single_median_ms": median(lat.clone()), "single_p90_ms": p90(lat),
        "batch_queries": nb, "batch_s": batch_s, "batch_qps": nb as f64 / batch_s,
        "approx": approx, "compressed": compressed,
        "search_rss_mb": single_rss, "search_peak_mb": proc_status_mb("VmHWM:"),
        "kernel": kernels::kernel_name(), "threads": rayon::current_num_threads(),
    })
}

/// The compressed scan beside the float32 one, query by query (alternating), and whether
/// it returns the same top k (recall@k against the float32 scan).
fn compressed_vs_f32(ix: &Index, a: &Args, n: usize, qs: &Queries) -> Value {
    let f = Filter::default();
    let t = Instant::now();
    ix.search_compressed(qs.q(0), a.k, &f).unwrap(); // builds the int8 codes
    let int8_build_ms = t.elapsed().as_secs_f64() * 1e3;
    let (mut lat32, mut lat8, mut same) = (Vec::new(), Vec::new(), 0usize);
    for i in 0..SINGLE {
        let t = Instant::now();
        let full = ix.search(qs.q(i), a.k, &f).unwrap();
        lat32.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let small = ix.search_compressed(qs.q(i), a.k, &f).unwrap();
        lat8.push(t.elapsed().as_secs_f64() * 1e3);
        same += small
            .iter()
            .filter(|h| full.iter().any(|x| x.path == h.path))
            .count();
    }
    let dim = qs.dim;
    json!({
        "build_ms": int8_build_ms,
        "f32_median_ms": median(lat32.clone()), "int8_median_ms": median(lat8.clone()),
        "int8_p90_ms": p90(lat8),
        "recall_vs_f32": same as f64 / (SINGLE * a.k.min(n)) as f64,
        "bytes_f32": n * dim * 4, "bytes_int8": n * dim + n * 4,
    })
}

/// Times one batch of up to `BATCH` queries and writes its result rows (`ours_ids.npy`, for
/// the agreement with FAISS): the batch size, its seconds, and each query's rows.
fn batch(ix: &Index, a: &Args, dir: &Path, qs: &Queries) -> (usize, f64, Vec<Vec<i64>>) {
    let f = Filter::default();
    let nb = BATCH.min(qs.nq);
    ix.search_batch(qs.first(64.min(nb)), a.k, &f).unwrap();
    let t = Instant::now();
    let batch = ix.search_batch(qs.first(nb), a.k, &f).unwrap();
    let batch_s = t.elapsed().as_secs_f64();
    let ours: Vec<Vec<i64>> = batch
        .iter()
        .map(|h| h.iter().map(|x| row_of(&x.path)).collect())
        .collect();
    // Ids for the agreement check against FAISS (row i = data row i).
    let mut ids = Vec::with_capacity(nb * a.k);
    for r in &ours {
        for j in 0..a.k {
            ids.push(*r.get(j).unwrap_or(&-1) as f32);
        }
    }
    write_npy_f32(&dir.join("ours_ids.npy"), &ids, nb, a.k);
    (nb, batch_s, ours)
}

/// Approximate search at each ef (and the default one) against the exact results `ours`,
/// until recall reaches 0.995 past the default ef; empty without a fresh graph.
fn approx_sweep(ix: &Index, a: &Args, n: usize, qs: &Queries, ours: &[Vec<i64>]) -> Vec<Value> {
    let f = Filter::default();
    let mut approx = Vec::new();
    if ix.approx_state().unwrap() != ApproxState::Fresh {
        return approx;
    }
    let auto_ef = HnswParams::default().ef_for(n);
    let mut efs: Vec<usize> = EFS.to_vec();
    if !efs.contains(&auto_ef) {
        efs.push(auto_ef);
        efs.sort();
    }
    let mut reached = false;
    for &ef in &efs {
        if reached && ef != auto_ef {
            continue;
        }
        let mut lat = Vec::new();
        let mut found = 0usize;
        for (i, ex) in ours.iter().enumerate() {
            let t = Instant::now();
            let h = ix.search_approx(qs.q(i), a.k, &f, Some(ef)).unwrap();
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            found += h.iter().filter(|x| ex.contains(&row_of(&x.path))).count();
        }
        let recall = found as f64 / (ours.len() * a.k) as f64;
        approx.push(json!({"ef": ef, "default": ef == auto_ef, "recall": recall, "median_ms": median(lat.clone()), "p90_ms": p90(lat)}));
        if recall >= 0.995 {
            reached = true;
            if ef >= auto_ef {
                break;
            }
        }
    }
    // The public entry point agrees with the loop above.
    let r = recall_at_k(ix, qs.first(200.min(qs.nq)), a.k, Some(64)).unwrap();
    approx.push(json!({"recall_at_k_fn_ef64_200q": r}));
    approx
}
