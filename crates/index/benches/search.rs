//! Search benchmark: mmbind-index exact / batched / approximate search at 10k, 100k, 1M
//! vectors (dim 1024, clustered unit vectors), beside FAISS `IndexFlatIP` on the same data.
//!
//! ```text
//! index/scripts/bench.sh --quick        # creates the FAISS venv, runs 10k + 100k
//! index/scripts/bench.sh                # 10k, 100k, 1M
//! cargo bench -p mmbind-index --bench search -- --quick --no-faiss
//! options: --quick | --sizes N,N,.. | --dim D | --k K | --workdir DIR | --no-faiss | --no-hnsw-above N | --keep
//! ```
//! Each size runs in fresh processes (build, then search, then FAISS), so each reports its own
//! peak memory. FAISS is found through $MMBIND_FAISS_PYTHON (set by scripts/bench.sh).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mmbind_index::synth::Clusters;
use mmbind_index::*;
use serde_json::{Value, json};

const SINGLE: usize = 50;
const BATCH: usize = 1000;
const EFS: [usize; 8] = [16, 24, 32, 48, 64, 128, 256, 512];

#[derive(Clone, Debug)]
struct Args {
    sizes: Vec<usize>,
    dim: usize,
    k: usize,
    workdir: PathBuf,
    faiss: bool,
    keep: bool,
    hnsw_max: usize,
    role: Option<(String, usize)>,
}

fn parse_args() -> Args {
    let mut a = Args {
        sizes: vec![10_000, 100_000, 1_000_000],
        dim: 1024,
        k: 10,
        workdir: std::env::temp_dir().join("mmbind-index-bench"),
        faiss: true,
        keep: false,
        hnsw_max: usize::MAX,
        role: None,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let num = |s: &str| -> usize {
        s.replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {s}"))
    };
    while i < v.len() {
        match v[i].as_str() {
            "--quick" => a.sizes = vec![10_000, 100_000],
            "--sizes" => {
                i += 1;
                a.sizes = v[i].split(',').map(num).collect();
            }
            "--dim" => {
                i += 1;
                a.dim = num(&v[i]);
            }
            "--k" => {
                i += 1;
                a.k = num(&v[i]);
            }
            "--workdir" => {
                i += 1;
                a.workdir = PathBuf::from(&v[i]);
            }
            "--no-faiss" => a.faiss = false,
            "--keep" => a.keep = true,
            "--no-hnsw-above" => {
                i += 1;
                a.hnsw_max = num(&v[i]);
            }
            "--role" => {
                a.role = Some((v[i + 1].clone(), num(&v[i + 2])));
                i += 2;
            }
            _ => {} // cargo's --bench and friends
        }
        i += 1;
    }
    a
}

// ---------- .npy (float32 / int64, C order, 2-D) ----------

fn write_npy_f32(path: &Path, data: &[f32], rows: usize, cols: usize) {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.div_ceil(64) * 64 - total));
    header.push('\n');
    let mut f = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(path).unwrap());
    f.write_all(b"\x93NUMPY\x01\x00").unwrap();
    f.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    for chunk in data.chunks(1 << 20) {
        // SAFETY: f32 slice viewed as bytes (little-endian target).
        let b = unsafe { std::slice::from_raw_parts(chunk.as_ptr() as *const u8, chunk.len() * 4) };
        f.write_all(b).unwrap();
    }
    f.flush().unwrap();
}

/// (descr, shape, raw data bytes)
fn read_npy(path: &Path) -> (String, Vec<usize>, Vec<u8>) {
    let mut b = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut b)
        .unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let (hl, start) = if b[6] == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize,
            12,
        )
    };
    let h = std::str::from_utf8(&b[start..start + hl]).unwrap();
    let descr = h
        .split("'descr':")
        .nth(1)
        .unwrap()
        .split('\'')
        .nth(1)
        .unwrap()
        .to_string();
    let shape: Vec<usize> = h
        .split('(')
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    (descr, shape, b[start + hl..].to_vec())
}

fn read_npy_f32(path: &Path) -> (Vec<f32>, usize, usize) {
    let (d, s, b) = read_npy(path);
    assert_eq!(d, "<f4");
    (
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        s[0],
        s[1],
    )
}

fn read_npy_i64(path: &Path) -> Vec<i64> {
    let (d, _, b) = read_npy(path);
    assert_eq!(d, "<i8");
    b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

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
fn role_build(a: &Args, n: usize) -> Value {
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

/// Child: open the index and time searches.
fn role_search(a: &Args, n: usize) -> Value {
    let dir = a.workdir.join(format!("n{n}"));
    let t = Instant::now();
    let ix = Index::open(&dir.join("index")).unwrap();
    let m = ix.matrix().unwrap();
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(m.len(), n);
    let (qs, nq, dim) = read_npy_f32(&dir.join("queries.npy"));
    let f = Filter::default();
    let q = |i: usize| &qs[(i % nq) * dim..(i % nq + 1) * dim];

    for i in 0..3 {
        ix.search(q(i), a.k, &f).unwrap(); // warm-up: pages in, thread pool up
    }
    let lat: Vec<f64> = (0..SINGLE)
        .map(|i| {
            let t = Instant::now();
            let h = ix.search(q(i), a.k, &f).unwrap();
            std::hint::black_box(h);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let single_rss = proc_status_mb("VmRSS:");

    // The compressed scan beside the float32 one, query by query (alternating), and whether
    // it returns the same top k (recall@k against the float32 scan).
    let t = Instant::now();
    ix.search_compressed(q(0), a.k, &f).unwrap(); // builds the int8 codes
    let int8_build_ms = t.elapsed().as_secs_f64() * 1e3;
    let (mut lat32, mut lat8, mut same) = (Vec::new(), Vec::new(), 0usize);
    for i in 0..SINGLE {
        let t = Instant::now();
        let full = ix.search(q(i), a.k, &f).unwrap();
        lat32.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let small = ix.search_compressed(q(i), a.k, &f).unwrap();
        lat8.push(t.elapsed().as_secs_f64() * 1e3);
        same += small
            .iter()
            .filter(|h| full.iter().any(|x| x.path == h.path))
            .count();
    }
    let compressed = json!({
        "build_ms": int8_build_ms,
        "f32_median_ms": median(lat32.clone()), "int8_median_ms": median(lat8.clone()),
        "int8_p90_ms": p90(lat8),
        "recall_vs_f32": same as f64 / (SINGLE * a.k.min(n)) as f64,
        "bytes_f32": n * dim * 4, "bytes_int8": n * dim + n * 4,
    });

    let nb = BATCH.min(nq);
    ix.search_batch(&qs[..64.min(nb) * dim], a.k, &f).unwrap();
    let t = Instant::now();
    let batch = ix.search_batch(&qs[..nb * dim], a.k, &f).unwrap();
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

    let mut approx = Vec::new();
    if ix.approx_state().unwrap() == ApproxState::Fresh {
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
                let h = ix.search_approx(q(i), a.k, &f, Some(ef)).unwrap();
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
        let r = recall_at_k(&ix, &qs[..200.min(nq) * dim], a.k, Some(64)).unwrap();
        approx.push(json!({"recall_at_k_fn_ef64_200q": r}));
    }
    json!({
        "open_ms": open_ms,
        "single_median_ms": median(lat.clone()), "single_p90_ms": p90(lat),
        "batch_queries": nb, "batch_s": batch_s, "batch_qps": nb as f64 / batch_s,
        "approx": approx, "compressed": compressed,
        "search_rss_mb": single_rss, "search_peak_mb": proc_status_mb("VmHWM:"),
        "kernel": kernels::kernel_name(), "threads": rayon::current_num_threads(),
    })
}

fn run_child(a: &Args, role: &str, n: usize) -> Value {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--role",
        role,
        &n.to_string(),
        "--dim",
        &a.dim.to_string(),
        "--k",
        &a.k.to_string(),
    ]);
    c.arg("--workdir").arg(&a.workdir);
    c.args(["--no-hnsw-above", &a.hnsw_max.to_string()]);
    if !a.faiss {
        c.arg("--no-faiss");
    }
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "{role} {n} failed: {}\n{}",
                stdout,
                String::from_utf8_lossy(&out.stderr)
            );
        });
    serde_json::from_str(line).unwrap()
}

fn faiss_python() -> Option<String> {
    std::env::var("MMBIND_FAISS_PYTHON")
        .ok()
        .filter(|p| Path::new(p).exists())
}

fn run_faiss(a: &Args, n: usize) -> Option<Value> {
    let py = faiss_python()?;
    let dir = a.workdir.join(format!("n{n}"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/faiss_flat.py");
    let mut c = Command::new(py);
    c.arg(script)
        .arg("--db")
        .arg(dir.join("db.npy"))
        .arg("--queries")
        .arg(dir.join("queries.npy"));
    c.args([
        "--k",
        &a.k.to_string(),
        "--single",
        &SINGLE.to_string(),
        "--batch",
        &BATCH.to_string(),
    ]);
    c.arg("--ids-out").arg(dir.join("faiss_ids.npy"));
    // These slow current OpenBLAS/numpy down on this machine; unset for the FAISS run only.
    c.env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE");
    let out = c.output().ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().rev().find(|l| l.starts_with('{')) {
        Some(l) => serde_json::from_str(l).ok(),
        None => {
            eprintln!("FAISS run failed: {}", String::from_utf8_lossy(&out.stderr));
            None
        }
    }
}

fn agreement(dir: &Path, k: usize) -> Option<f64> {
    let f = read_npy_i64(&dir.join("faiss_ids.npy"));
    let (o, _, _) = read_npy_f32(&dir.join("ours_ids.npy"));
    let nq = f.len() / k;
    let mut same = 0usize;
    for i in 0..nq {
        let a: std::collections::HashSet<i64> = f[i * k..(i + 1) * k].iter().copied().collect();
        same += o[i * k..(i + 1) * k]
            .iter()
            .filter(|x| a.contains(&(**x as i64)))
            .count();
    }
    Some(same as f64 / (nq * k) as f64)
}

fn fmt_n(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn f(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(|x| x.as_f64()).unwrap_or(f64::NAN)
}

fn main() {
    let a = parse_args();
    if let Some((role, n)) = a.role.clone() {
        let v = match role.as_str() {
            "build" => role_build(&a, n),
            "search" => role_search(&a, n),
            _ => panic!("unknown role {role}"),
        };
        println!("RESULT {v}");
        return;
    }
    std::fs::create_dir_all(&a.workdir).unwrap();
    let mut a = a;
    if a.faiss && faiss_python().is_none() {
        eprintln!(
            "note: MMBIND_FAISS_PYTHON not set (run index/scripts/bench.sh to create the FAISS environment); skipping FAISS"
        );
        a.faiss = false;
    }
    println!(
        "mmbind-index search benchmark: dim {}, k {}, clustered unit vectors (200 Gaussian clusters, varied spread), {} threads, kernel {}",
        a.dim,
        a.k,
        rayon::current_num_threads(),
        kernels::kernel_name()
    );
    let mut results: BTreeMap<usize, (Value, Value, Option<Value>, Option<f64>)> = BTreeMap::new();
    for &n in &a.sizes {
        let t = Instant::now();
        eprintln!("[{}] building...", fmt_n(n));
        let b = run_child(&a, "build", n);
        eprintln!("[{}] build {b}", fmt_n(n));
        let s = run_child(&a, "search", n);
        eprintln!("[{}] search {s}", fmt_n(n));
        let fz = if a.faiss { run_faiss(&a, n) } else { None };
        if let Some(x) = &fz {
            eprintln!("[{}] faiss {x}", fmt_n(n));
        }
        let agree = if fz.is_some() {
            agreement(&a.workdir.join(format!("n{n}")), a.k)
        } else {
            None
        };
        eprintln!(
            "[{}] done in {:.0?}",
            fmt_n(n),
            Duration::from_secs_f64(t.elapsed().as_secs_f64().round())
        );
        if !a.keep {
            let _ = std::fs::remove_dir_all(a.workdir.join(format!("n{n}")));
        }
        results.insert(n, (b, s, fz, agree));
    }

    println!();
    println!(
        "## Exact search (ours vs FAISS IndexFlatIP; ratio = FAISS time / ours, > 1 means ours is faster)"
    );
    println!(
        "| n | 1 query median ms: ours | FAISS | ratio | batch {BATCH} q/s: ours | FAISS | ratio | same top-{} | peak RSS MB search: ours | FAISS |",
        a.k
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (n, (_, s, fz, agree)) in &results {
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
    println!();
    println!(
        "## Compressed scan (int8 codes + exact re-ranking) beside the float32 scan, {SINGLE} single queries alternating"
    );
    println!(
        "| n | bytes read per query: f32 | int8 | ratio | median ms: f32 | int8 | speed-up | recall@{} vs f32 | int8 codes built in ms |",
        a.k
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (n, (_, s, _, _)) in &results {
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
    println!();
    println!("## Build");
    println!(
        "| n | SQLite ingest s | matrix s | HNSW s | SQLite MB | build peak RSS MB | FAISS add s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (n, (b, _, fz, _)) in &results {
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
    for (n, (_, s, _, _)) in &results {
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
