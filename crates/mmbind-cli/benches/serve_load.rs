//! `mmbind serve` under load, over loopback: N clients for T seconds (text queries, uploads
//! queried, previews, "more like this") while `mmbind index` adds files to the same index;
//! requests/s and p50/p99 latency per kind, failed requests, and the server's memory over
//! the run. The reference, in the same run: `mmbind batch` answering the same text queries
//! one after another (the engine's own rate, without HTTP).
//!
//!   cargo bench -p mmbind-cli --bench serve_load -- [--clients 8] [--seconds 20] [--scenes 400]

#[path = "../tests/http_client.rs"]
mod http_client;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mmbind");
const CAPTIONS: [&str; 6] = [
    "a bell",
    "a drum and a fan",
    "a red kettle",
    "a bird",
    "an engine",
    "a lamp and a phone",
];
const KINDS: [&str; 4] = ["text query", "upload + query", "preview", "more like this"];

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) {
    let out = Command::new(BIN)
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// A world, a model trained on it, and an index of half its images and all its sounds;
/// the other half of the images arrive during the run.
struct Setup {
    _dir: tempfile::TempDir,
    ix: String,
    /// `mmbind index …` of the first half (with `incoming/` appended: every update).
    index_args: Vec<String>,
    incoming: PathBuf,
    later: Vec<PathBuf>,
    sounds: Vec<PathBuf>,
}

fn setup(scenes: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    let (world, model, ix) = (d("world"), d("model"), d("ix"));
    eprintln!("setting up: a {scenes}-scene world, the tiny preset for one epoch, an index");
    let scenes = scenes.to_string();
    run(&[
        "world",
        "--scenes",
        &scenes,
        "--holdout-pairs",
        "0",
        "--out",
        &world,
    ]);
    run(&[
        "train", "--quiet", "--data", &world, "--model", &model, "--epochs", "1",
    ]);
    let images = files(&Path::new(&world).join("vision"));
    let (now, later) = images.split_at(images.len() / 2);
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let mut index_args: Vec<String> = ["index", "--quiet", "--model", &model, "--index", &ix]
        .map(String::from)
        .to_vec();
    index_args.extend(now.iter().map(|p| p.to_str().unwrap().to_string()));
    index_args.push(format!("{world}/audio"));
    run(&index_args);
    Setup {
        sounds: files(&Path::new(&world).join("audio")),
        later: later.to_vec(),
        _dir: dir,
        ix,
        index_args,
        incoming,
    }
}

/// Text queries per second through `mmbind batch` (model loaded once, no HTTP).
fn batch_rate(ix: &str) -> f64 {
    let n = 200;
    let lines: String = (0..n)
        .map(|i| {
            json!({"op": "query", "input": {"text": CAPTIONS[i % 6]}, "top_k": 10}).to_string()
                + "\n"
        })
        .collect();
    let t = Instant::now();
    let mut batch = Command::new(BIN)
        .args(["batch", "--quiet", "--index", ix])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    batch
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = batch.wait_with_output().unwrap();
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), n);
    n as f64 / t.elapsed().as_secs_f64()
}

fn start_server(ix: &str) -> (Child, u16) {
    let mut server = Command::new(BIN)
        .args(["serve", "--quiet", "--listen", "127.0.0.1:0", "--index", ix])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(server.stderr.take().unwrap()).lines();
    let port = loop {
        let line = err.next().unwrap().unwrap();
        if let Some(at) = line.split("http://127.0.0.1:").nth(1) {
            break at.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || err.for_each(drop));
    (server, port)
}

fn post(port: u16, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    http_client::exchange(port, "POST", path, &[], body)
}

fn get_ok(port: u16, path: &str) -> bool {
    http_client::exchange(port, "GET", path, &[], b"").is_ok_and(|r| r.0 == 200)
}

/// What the clients, the updater and the memory sampler saw.
#[derive(Default)]
struct Observed {
    /// (kind, milliseconds, answered with 200)
    samples: Mutex<Vec<(usize, f64, bool)>>,
    rss_kb: Mutex<Vec<u64>>,
    updates: AtomicUsize,
}

/// One request of kind `i % 4`; true when it was answered with 200.
fn one(port: u16, i: usize, ids: &[String], sounds: &[PathBuf]) -> bool {
    let query = |input: Value| json!({"input": input, "top_k": 10}).to_string();
    match i % 4 {
        0 => post(
            port,
            "/api/query",
            query(json!({"text": CAPTIONS[i % 6]})).as_bytes(),
        )
        .is_ok_and(|r| r.0 == 200),
        1 => {
            let bytes = std::fs::read(&sounds[i % sounds.len()]).unwrap();
            let Ok((200, b)) = post(port, "/api/upload?name=q.wav", &bytes) else {
                return false;
            };
            let id = serde_json::from_slice::<Value>(&b).unwrap_or_default()["id"].clone();
            post(port, "/api/query", query(json!({"audio": id})).as_bytes())
                .is_ok_and(|r| r.0 == 200)
        }
        2 => get_ok(port, &format!("/api/files/{}/thumb", ids[i % ids.len()])),
        _ => get_ok(port, &format!("/api/files/{}/similar", ids[i % ids.len()])),
    }
}

fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The index grows by 20 images at a time, one `mmbind index` each, until `stop`.
fn grow(s: &Setup, stop: &AtomicBool, seen: &Observed) {
    for chunk in s.later.chunks(20) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        for p in chunk {
            std::fs::copy(p, s.incoming.join(p.file_name().unwrap())).unwrap();
        }
        let mut args = s.index_args.clone();
        args.push(s.incoming.to_str().unwrap().to_string());
        run(&args);
        seen.updates.fetch_add(1, Ordering::Relaxed);
    }
}

fn drive(s: &Setup, server: u32, port: u16, clients: usize, seconds: u64) -> (Observed, f64) {
    let (_, v) = post(
        port,
        "/api/query",
        json!({"input": {"text": "a bell"}, "top_k": 50})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let ids: Vec<String> = serde_json::from_slice::<Value>(&v).unwrap()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let (stop, seen) = (AtomicBool::new(false), Observed::default());
    let start = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| grow(s, &stop, &seen));
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                seen.rss_kb.lock().unwrap().extend(rss_kb(server));
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        for c in 0..clients {
            let (stop, seen, ids) = (&stop, &seen, &ids);
            scope.spawn(move || {
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let ok = one(port, i, ids, &s.sounds);
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    seen.samples.lock().unwrap().push((i % 4, ms, ok));
                    i += clients;
                }
            });
        }
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    (seen, start.elapsed().as_secs_f64())
}

fn report(seen: &Observed, elapsed: f64, clients: usize, batch: f64) -> usize {
    let samples = seen.samples.lock().unwrap();
    println!("| requests | count | per second | p50 ms | p99 ms | failed |");
    println!("|---|---|---|---|---|---|");
    let mut failed_all = 0;
    for (k, name) in KINDS.iter().enumerate() {
        let mut ms: Vec<f64> = samples.iter().filter(|s| s.0 == k).map(|s| s.1).collect();
        let failed = samples.iter().filter(|s| s.0 == k && !s.2).count();
        failed_all += failed;
        ms.sort_by(f64::total_cmp);
        let q = |p: f64| {
            ms.get(((ms.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        let rate = ms.len() as f64 / elapsed;
        println!(
            "| {name} | {} | {rate:.1} | {:.1} | {:.1} | {failed} |",
            ms.len(),
            q(0.5),
            q(0.99)
        );
    }
    let rss = seen.rss_kb.lock().unwrap();
    let mb = |kb: Option<&u64>| kb.copied().unwrap_or(0) as f64 / 1024.0;
    println!(
        "\n{clients} clients, {elapsed:.0} s: {} requests ({:.1}/s), {failed_all} failed; {} index updates meanwhile",
        samples.len(),
        samples.len() as f64 / elapsed,
        seen.updates.load(Ordering::Relaxed)
    );
    println!(
        "server memory (RSS): {:.0} MB at the start, {:.0} MB at most, {:.0} MB at the end",
        mb(rss.first()),
        mb(rss.iter().max()),
        mb(rss.last())
    );
    println!(
        "reference, same run: `mmbind batch`, the same text queries one after another: {batch:.1}/s"
    );
    failed_all
}

fn main() {
    let (clients, seconds) = (arg("--clients", 8), arg("--seconds", 20) as u64);
    let s = setup(arg("--scenes", 400));
    let batch = batch_rate(&s.ix);
    let (mut server, port) = start_server(&s.ix);
    let (seen, elapsed) = drive(&s, server.id(), port, clients, seconds);
    let _ = server.kill();
    let _ = server.wait();
    let failed = report(&seen, elapsed, clients, batch);
    assert_eq!(failed, 0, "failed requests");
}
