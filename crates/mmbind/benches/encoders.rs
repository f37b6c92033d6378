//! Forward-pass throughput per modality at batch 8: the tiny fixture configuration and a
//! mid-size one (every encoder 384 wide, 12 blocks, 6 heads, at ImageBind's input
//! geometry), on ndarray and — when an adapter exists — wgpu.
//!
//! `cargo bench --bench encoders [-- --quick] [--all] [--burn-ndarray] [--cpu-only] [--only SUBSTRING] [--seconds S]`
//! (`--only tiny-fixture/vision` measures the rows whose `config/modality` contains it). Prints a table: embeddings/s, ms per batch,
//! and the process's peak resident memory during that measurement (Linux: VmHWM after
//! resetting it through /proc/self/clear_refs; GPU memory is not included).

// The binary's process set-up, so the benchmarks run as `mmbind` does.
#[allow(dead_code)]
#[path = "../../mmbind-cli/src/process.rs"]
mod process;

use std::time::{Duration, Instant};

use burn::tensor::Device;
use mmbind::Modality;
use mmbind::config::{ImageBindKwargs, ModelConfig, StemConfig};
use mmbind::cpu::CpuModel;
use mmbind::model::Model;
use mmbind::tensor_io::RawInput;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

mod common;

const BATCH: usize = 8;

fn mid_config() -> ModelConfig {
    let mut k = ImageBindKwargs::tiny_fixture();
    for (d, b, h) in [
        (
            &mut k.vision_embed_dim,
            &mut k.vision_num_blocks,
            &mut k.vision_num_heads,
        ),
        (
            &mut k.text_embed_dim,
            &mut k.text_num_blocks,
            &mut k.text_num_heads,
        ),
        (
            &mut k.audio_embed_dim,
            &mut k.audio_num_blocks,
            &mut k.audio_num_heads,
        ),
        (
            &mut k.depth_embed_dim,
            &mut k.depth_num_blocks,
            &mut k.depth_num_heads,
        ),
        (
            &mut k.thermal_embed_dim,
            &mut k.thermal_num_blocks,
            &mut k.thermal_num_heads,
        ),
        (
            &mut k.imu_embed_dim,
            &mut k.imu_num_blocks,
            &mut k.imu_num_heads,
        ),
    ] {
        (*d, *b, *h) = (384, 12, 6);
    }
    k.out_embed_dim = 512;
    k.to_config()
}

/// A batch of random values in host memory, as a preprocessed batch would be.
fn random_input(model: &Model, m: Modality) -> RawInput {
    let cfg = model.config.encoder(m).unwrap();
    let mut shape = vec![BATCH];
    if m == Modality::Audio {
        shape.push(3);
    }
    shape.extend(model.input_shape(m).unwrap());
    let n: usize = shape.iter().product();
    let mut rng = StdRng::seed_from_u64(0);
    match cfg.stem {
        StemConfig::Text { vocab_size, .. } => RawInput::Int {
            shape,
            data: (0..n)
                .map(|_| rng.random_range(0..vocab_size as i64))
                .collect(),
        },
        _ => RawInput::Float {
            shape,
            data: (0..n)
                .map(|_| rng.sample::<f32, _>(StandardNormal))
                .collect(),
        },
    }
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    process::keep_freed_memory();
    let budget = common::seconds()
        .map(Duration::from_secs_f64)
        .unwrap_or(if common::quick() {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(3)
        });
    println!("| config | backend | modality | ms/batch of {BATCH} | embeddings/s | peak RSS MiB |");
    println!("|---|---|---|---|---|---|");
    // The CPU first: wgpu's runtime, once started, slows the CPU (see `common::wgpu_device`).
    let ndarray = mmbind::backend::ndarray_device();
    for_each_config(&("cpu path".to_string(), ndarray.clone()), budget, true);
    if std::env::args().any(|a| a == "--burn-ndarray") {
        for_each_config(&("burn-ndarray".to_string(), ndarray), budget, false);
    }
    if std::env::args().any(|a| a == "--cpu-only") {
        return;
    }
    if let Some(wgpu) = common::wgpu_device() {
        for_each_config(&wgpu, budget, false);
    }
}

/// Every modality of both configurations on one backend, a row each.
/// `cpu`: through `mmbind::cpu` (what inference on the ndarray device uses), else burn's ops.
fn for_each_config((backend, device): &(String, Device), budget: Duration, cpu: bool) {
    for (config_name, config) in [
        ("tiny-fixture", ModelConfig::imagebind_tiny_fixture()),
        ("mid-384x12", mid_config()),
    ] {
        // On a software adapter (lavapipe) the mid-size model takes minutes per batch
        // (and autotuning far longer): skipped unless asked for.
        if config_name != "tiny-fixture"
            && backend.contains("(Vulkan, Cpu)")
            && !std::env::args().any(|a| a == "--all")
        {
            eprintln!("{config_name} on {backend} skipped (software adapter; --all runs it)");
            continue;
        }
        let model = Model::random(config.clone(), 0, device).unwrap();
        let fast = CpuModel::new(&model);
        let embed = |m: Modality, input: &RawInput| {
            if cpu {
                fast.embed(m, input).unwrap();
            } else {
                let x = input.to_encoder_input(m.name(), device).unwrap();
                let _ = model.embed(m, x).unwrap().into_data();
            }
        };
        for m in Modality::ALL {
            if !common::selected(&format!("{config_name}/{m}")) {
                continue;
            }
            reset_peak_rss();
            let input = random_input(&model, m);
            // Warm-up: first calls compile and autotune kernels on wgpu (and copy the weights
            // on the CPU path).
            embed(m, &input);
            let mut runs = 0u32;
            let start = Instant::now();
            while runs < 2 || start.elapsed() < budget {
                embed(m, &input);
                runs += 1;
            }
            let per_batch = start.elapsed().as_secs_f64() / runs as f64;
            println!(
                "| {config_name} | {backend} | {m} | {:.1} | {:.1} | {:.0} |",
                per_batch * 1e3,
                BATCH as f64 / per_batch,
                peak_rss_mib()
            );
        }
    }
}
