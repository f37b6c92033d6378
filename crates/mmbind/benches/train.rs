//! Training throughput per modality pair and backend, with each step's time split into
//! batch loading, forward and backward (+ optimizer): `cargo bench --bench train [-- --quick]`.
//!
//! Trains the tiny preset for 2 epochs per phase on a freshly generated world (600 scenes;
//! 240 with --quick) and reports the second epoch of each phase (the first pays one-off
//! costs: kernel compilation on wgpu, page faults on the feature caches). Phases run one at
//! a time there, on one thread; then, on ndarray, one job is timed against one per core
//! (`--jobs`): for the joint phase, vision and text on two threads; for the frozen phases,
//! side by side, from the same trained vision encoder. The joint phase is also timed training
//! the text encoder's whole token table (the reference) against only the rows its captions
//! use. wgpu runs last, in a table of its own (see `common::wgpu_device`).

mod common;

// The binary's process set-up, so the benchmarks run as `mmbind` does.
#[allow(dead_code)]
#[path = "../../mmbind-cli/src/process.rs"]
mod process;

use burn::tensor::Device;
use mmbind::Modality;
use mmbind::config::ModelConfig;
use mmbind::train::{EpochMetrics, Observer, Targets, TrainOptions, Training};

#[derive(Default)]
struct Collect(Vec<EpochMetrics>);

impl Observer for Collect {
    fn epoch_finished(&mut self, m: &EpochMetrics) {
        self.0.push(m.clone());
    }
}

fn main() {
    // As `mmbind train` does: each training thread does its own matrix products.
    process::limit_matmul_threads(1);
    process::keep_freed_memory();
    let quick = common::quick();
    let (dir, world) = common::world(if quick { 240 } else { 600 });
    println!(
        "| backend | phase | samples/s | load ms/step | forward ms/step | backward+step ms/step | batch |"
    );
    println!("|---|---|---|---|---|---|---|");
    phases_on(
        dir.path(),
        &world,
        "ndarray",
        &mmbind::backend::ndarray_device(),
    );
    // `--phases-only`: the table above alone (what `benches/side_by_side.py --what train`
    // compares with PyTorch).
    if std::env::args().any(|a| a == "--phases-only") {
        return;
    }
    targets_compared(dir.path(), &world);
    if std::env::args().any(|a| a == "--targets-only") {
        return;
    }
    jobs_compared(dir.path(), &world);
    token_rows_compared(dir.path(), &world);
    if let Some((name, device)) = common::wgpu_device() {
        println!(
            "\n| backend | phase | samples/s | load ms/step | forward ms/step | backward+step ms/step | batch |"
        );
        println!("|---|---|---|---|---|---|---|");
        phases_on(dir.path(), &world, &name, &device);
    }
}

/// Two epochs of every phase on `device`; prints the second epoch's rows.
fn phases_on(dir: &std::path::Path, world: &std::path::Path, name: &str, device: &Device) {
    let opts = TrainOptions {
        epochs: 2,
        ..TrainOptions::default()
    };
    let mut obs = Collect::default();
    let model = dir.join(format!("model-{}", name.split(' ').next().unwrap_or("x")));
    Training::new(world, &model, ModelConfig::tiny(), opts.clone())
        .run(device, &mut obs)
        .expect("training");
    for m in obs.0.iter().filter(|m| m.epoch == 2) {
        println!(
            "| {name} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
            m.phase, m.samples_per_s, m.load_ms, m.forward_ms, m.backward_ms, opts.batch_size
        );
    }
}

/// The vision+text phase with one-hot (clip) and graded targets, alternating, three rounds of
/// two epochs each (ndarray, 2 jobs): the graded loss adds an n×n target matrix per step.
fn targets_compared(dir: &std::path::Path, world: &std::path::Path) {
    let device = mmbind::backend::ndarray_device();
    println!();
    println!("| vision+text (ndarray, 2 jobs) | round | samples/s (epoch 2) | ms/step |");
    println!("|---|---|---|---|");
    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..3 {
        for (k, targets) in [Targets::Clip, Targets::Graded].into_iter().enumerate() {
            let opts = TrainOptions {
                modalities: vec![Modality::Text],
                epochs: 2,
                targets,
                ..TrainOptions::default()
            };
            let mut obs = Collect::default();
            Training::new(
                world,
                &dir.join(format!("targets-{k}-{round}")),
                ModelConfig::tiny(),
                opts.clone(),
            )
            .jobs(2)
            .run(&device, &mut obs)
            .expect("training");
            let m = obs.0.iter().find(|m| m.epoch == 2).expect("epoch 2");
            let ms = m.load_ms + m.forward_ms + m.backward_ms;
            println!(
                "| {targets:?} | {round} | {:.0} | {ms:.1} |",
                m.samples_per_s
            );
            rates[k].push(m.samples_per_s);
        }
    }
    let ratios: Vec<f64> = rates[1].iter().zip(&rates[0]).map(|(g, c)| g / c).collect();
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &r| (l.min(r), h.max(r)));
    let median = {
        let mut r = ratios.clone();
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    };
    println!("graded / clip samples/s: median {median:.3} (rounds {lo:.3}–{hi:.3})");
}

/// Wall time at 1 job and at one per core, on ndarray, of the joint phase (vision and text on
/// two threads) and of the four frozen phases (side by side, from the trained vision encoder).
fn jobs_compared(dir: &std::path::Path, world: &std::path::Path) {
    let device = mmbind::backend::ndarray_device();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cases = [
        ("vision+text", vec![Modality::Text], None),
        (
            "audio, depth, thermal, IMU",
            vec![
                Modality::Audio,
                Modality::Depth,
                Modality::Thermal,
                Modality::Imu,
            ],
            Some(dir.join("model-ndarray")),
        ),
    ];
    println!();
    println!("| phases (ndarray) | jobs | wall s | content hash |");
    println!("|---|---|---|---|");
    let mut ratios = Vec::new();
    for (case, (label, modalities, init)) in cases.into_iter().enumerate() {
        let mut runs = Vec::new();
        for jobs in [1, cores.max(2)] {
            let opts = TrainOptions {
                modalities: modalities.clone(),
                epochs: 2,
                init: init.clone(),
                ..TrainOptions::default()
            };
            let start = std::time::Instant::now();
            let summary = Training::new(
                world,
                &dir.join(format!("jobs-{case}-{jobs}")),
                ModelConfig::tiny(),
                opts,
            )
            .jobs(jobs)
            .run(&device, &mut Collect::default())
            .expect("training");
            let s = start.elapsed().as_secs_f64();
            println!(
                "| {label} | {jobs} | {s:.1} | {} |",
                &summary.content_hash[..16]
            );
            runs.push((s, summary.content_hash));
        }
        ratios.push(format!(
            "{label}: {:.2}x faster, same weights: {}",
            runs[0].0 / runs[1].0,
            runs[0].1 == runs[1].1
        ));
    }
    for r in ratios {
        println!("{r}");
    }
}

/// The vision+text phase on ndarray (2 jobs, batch 16, 3 epochs) training the whole token
/// table, the way runs did before `token_rows`, against only the rows the captions use; the
/// two alternate, twice.
fn token_rows_compared(dir: &std::path::Path, world: &std::path::Path) {
    let device = mmbind::backend::ndarray_device();
    let opts = TrainOptions {
        modalities: vec![Modality::Text],
        epochs: 3,
        batch_size: 16,
        ..TrainOptions::default()
    };
    println!();
    println!("| vision+text (ndarray, 2 jobs) | run | wall s | content hash |");
    println!("|---|---|---|---|");
    let mut times = [Vec::new(), Vec::new()];
    let mut hashes = Vec::new();
    for round in 0..2 {
        for (v, label) in ["whole table", "used rows"].into_iter().enumerate() {
            let model = dir.join(format!("rows-{v}-{round}"));
            let run = Training::new(world, &model, ModelConfig::tiny(), opts.clone()).jobs(2);
            let run = if v == 0 { run.whole_token_table() } else { run };
            let start = std::time::Instant::now();
            let summary = run.run(&device, &mut Collect::default()).expect("training");
            let s = start.elapsed().as_secs_f64();
            println!(
                "| {label} | {} | {s:.1} | {} |",
                round + 1,
                &summary.content_hash[..16]
            );
            times[v].push(s);
            hashes.push(summary.content_hash);
        }
    }
    let total = |t: &[f64]| t.iter().sum::<f64>();
    println!(
        "vision+text, used token rows: {:.2}x faster than the whole table, same weights: {}",
        total(&times[0]) / total(&times[1]),
        hashes.iter().all(|h| h == &hashes[0])
    );
}
