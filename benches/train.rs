//! Training throughput per modality pair and backend, with each step's time split into
//! batch loading, forward and backward (+ optimizer): `cargo bench --bench train [-- --quick]`.
//!
//! Trains the tiny preset for 2 epochs per phase on a freshly generated world (600 scenes;
//! 240 with --quick) and reports the second epoch of each phase (the first pays one-off
//! costs: kernel compilation on wgpu, page faults on the feature caches).

mod common;

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
}
