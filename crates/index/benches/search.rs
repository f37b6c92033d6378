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
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mmbind_index::*;
use serde_json::Value;

// The parts live in `benches/search/` (a file directly in `benches/` would be a bench of its
// own).
#[path = "search/npy.rs"]
mod npy;
#[path = "search/report.rs"]
mod report;
#[path = "search/roles.rs"]
mod roles;

use npy::{read_npy_f32, read_npy_i64};
use report::fmt_n;
use roles::{role_build, role_search};

const SINGLE: usize = 50;
const BATCH: usize = 1000;
const EFS: [usize; 8] = [16, 24, 32, 48, 64, 128, 256, 512];

/// Per size: the build child's result, the search child's, FAISS's and the agreement of our
/// top k with FAISS's.
type Results = BTreeMap<usize, (Value, Value, Option<Value>, Option<f64>)>;

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
    let mut results: Results = BTreeMap::new();
    for &n in &a.sizes {
        results.insert(n, run_size(&a, n));
    }

    report::print(&a, &results);
}

/// One size: build, search, FAISS (when there is one) and the agreement with it, each child
/// in its own process; the size's files are removed afterwards unless `--keep`.
fn run_size(a: &Args, n: usize) -> (Value, Value, Option<Value>, Option<f64>) {
    let t = Instant::now();
    eprintln!("[{}] building...", fmt_n(n));
    let b = run_child(a, "build", n);
    eprintln!("[{}] build {b}", fmt_n(n));
    let s = run_child(a, "search", n);
    eprintln!("[{}] search {s}", fmt_n(n));
    let fz = if a.faiss { run_faiss(a, n) } else { None };
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
    (b, s, fz, agree)
}
