//! Writes a synthetic world and times it:
//! `cargo run --release -p mmbind-world --example world -- OUT [SCENES] [SEED] [THREADS]`.

use std::path::PathBuf;
use std::time::Instant;

use mmbind_world::{WorldConfig, generate_with_threads};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .expect("usage: world OUT [SCENES] [SEED] [THREADS]"),
    );
    let mut cfg = WorldConfig::default();
    if let Some(n) = args.next() {
        cfg.scenes = n.parse().expect("SCENES must be a number");
    }
    if let Some(s) = args.next() {
        cfg.seed = s.parse().expect("SEED must be a number");
    }
    let threads = match args.next() {
        Some(t) => t.parse().expect("THREADS must be a number"),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let start = Instant::now();
    match generate_with_threads(&out, &cfg, threads, &mut |_, _| {}) {
        Ok(summary) => {
            println!("{}", serde_json::to_string_pretty(&summary).unwrap());
            println!(
                "generated {} scenes in {:.2} s",
                summary.scenes,
                start.elapsed().as_secs_f64()
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
