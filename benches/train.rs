//! Training throughput per modality pair and backend, with each step's time split into
//! batch loading, forward and backward (+ optimizer): `cargo bench --bench train [-- --quick]`.
//!
//! Trains the tiny preset for 2 epochs per phase on a freshly generated world (600 scenes;
//! 240 with --quick) and reports the second epoch of each phase (the first pays one-off
//! costs: kernel compilation on wgpu, page faults on the feature caches). Phases run one at
//! a time there; then, on ndarray, the frozen phases are timed one at a time against side by
//! side (`--jobs`), from the same trained vision encoder.

mod common;

use mmbind::Modality;
use mmbind::backend::{self, BackendChoice};
use mmbind::config::ModelConfig;
use mmbind::train::{EpochMetrics, Observer, TrainOptions, train};

#[derive(Default)]
struct Collect(Vec<EpochMetrics>);

impl Observer for Collect {
    fn epoch_finished(&mut self, m: &EpochMetrics) {
        self.0.push(m.clone());
    }
}

fn main() {
    let quick = common::quick();
    let (dir, world) = common::world(if quick { 240 } else { 600 });
    let mut devices = vec![("ndarray".to_string(), mmbind::backend::ndarray_device())];
    match backend::select(BackendChoice::Wgpu) {
        Ok(c) => devices.push((
            format!("wgpu ({})", c.adapter.unwrap_or_default()),
            c.device,
        )),
        Err(e) => eprintln!("wgpu skipped: {e}"),
    }
    println!(
        "| backend | phase | samples/s | load ms/step | forward ms/step | backward+step ms/step | batch |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, device) in devices {
        let opts = TrainOptions {
            epochs: 2,
            ..TrainOptions::default()
        };
        let mut obs = Collect::default();
        let model = dir
            .path()
            .join(format!("model-{}", name.split(' ').next().unwrap_or("x")));
        train(
            &world,
            &model,
            ModelConfig::tiny(),
            &opts,
            false,
            1,
            &device,
            &mut obs,
        )
        .expect("training");
        for m in obs.0.iter().filter(|m| m.epoch == 2) {
            println!(
                "| {name} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
                m.phase, m.samples_per_s, m.load_ms, m.forward_ms, m.backward_ms, opts.batch_size
            );
        }
    }
    frozen_phases_side_by_side(dir.path(), &world);
}

/// Wall time of the four frozen phases at 1 job and at one per core, on ndarray.
fn frozen_phases_side_by_side(dir: &std::path::Path, world: &std::path::Path) {
    let device = mmbind::backend::ndarray_device();
    let anchor = dir.join("model-ndarray");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut runs = Vec::new();
    for jobs in [1, cores.max(2)] {
        let opts = TrainOptions {
            modalities: vec![
                Modality::Audio,
                Modality::Depth,
                Modality::Thermal,
                Modality::Imu,
            ],
            epochs: 2,
            init: Some(anchor.clone()),
            ..TrainOptions::default()
        };
        let start = std::time::Instant::now();
        let summary = train(
            world,
            &dir.join(format!("frozen-{jobs}")),
            ModelConfig::tiny(),
            &opts,
            false,
            jobs,
            &device,
            &mut Collect::default(),
        )
        .expect("training");
        runs.push((jobs, start.elapsed().as_secs_f64(), summary.content_hash));
    }
    println!();
    println!("| frozen phases (ndarray) | jobs | wall s | content hash |");
    println!("|---|---|---|---|");
    for (jobs, s, hash) in &runs {
        println!(
            "| audio, depth, thermal, IMU | {jobs} | {s:.1} | {} |",
            &hash[..16]
        );
    }
    println!(
        "side by side: {:.2}x faster, same weights: {}",
        runs[0].1 / runs[1].1,
        runs[0].2 == runs[1].2
    );
}
