//! Forward-pass throughput per modality at batch 8: the tiny fixture configuration and a
//! mid-size one (every encoder 384 wide, 12 blocks, 6 heads, at ImageBind's input
//! geometry), on ndarray and — when an adapter exists — wgpu.
//!
//! `cargo bench --bench encoders [-- --quick] [--all]`. Prints a table: embeddings/s, ms per batch,
//! and the process's peak resident memory during that measurement (Linux: VmHWM after
//! resetting it through /proc/self/clear_refs; GPU memory is not included).

use std::time::{Duration, Instant};

use burn::tensor::{Device, Distribution, Int, Tensor};
use mmbind::Modality;
use mmbind::config::{ImageBindKwargs, ModelConfig, StemConfig};
use mmbind::model::Model;
use mmbind::nn::EncoderInput;

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

fn random_input(model: &Model, m: Modality, device: &Device) -> EncoderInput {
    let cfg = model.config.encoder(m).unwrap();
    let shape = model.input_shape(m).unwrap();
    match cfg.stem {
        StemConfig::Text {
            vocab_size,
            context_length,
        } => EncoderInput::Ids(Tensor::<2, Int>::random(
            [BATCH, context_length],
            Distribution::Uniform(0.0, vocab_size as f64 - 1.0),
            device,
        )),
        StemConfig::Imu { .. } => EncoderInput::Series(Tensor::random(
            [BATCH, shape[0], shape[1]],
            Distribution::Normal(0.0, 1.0),
            device,
        )),
        _ if m == Modality::Audio => EncoderInput::Clips(Tensor::random(
            [BATCH, 3, shape[0], shape[1], shape[2]],
            Distribution::Normal(0.0, 1.0),
            device,
        )),
        _ => EncoderInput::Image(Tensor::random(
            [BATCH, shape[0], shape[1], shape[2]],
            Distribution::Normal(0.0, 1.0),
            device,
        )),
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
    let budget = if common::quick() {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(3)
    };
    println!("| config | backend | modality | ms/batch of {BATCH} | embeddings/s | peak RSS MiB |");
    println!("|---|---|---|---|---|---|");
    // ndarray first: wgpu's runtime, once started, slows the CPU (see `common::wgpu_device`).
    let ndarray = ("ndarray".to_string(), mmbind::backend::ndarray_device());
    for_each_config(&ndarray, budget);
    if let Some(wgpu) = common::wgpu_device() {
        for_each_config(&wgpu, budget);
    }
}

/// Every modality of both configurations on one backend, a row each.
fn for_each_config((backend, device): &(String, Device), budget: Duration) {
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
        for m in Modality::ALL {
            reset_peak_rss();
            let input = random_input(&model, m, device);
            // Warm-up: first calls compile and autotune kernels on wgpu.
            let _ = model.embed(m, input.clone()).unwrap().into_data();
            let mut runs = 0u32;
            let start = Instant::now();
            while runs < 2 || start.elapsed() < budget {
                let _ = model.embed(m, input.clone()).unwrap().into_data();
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
