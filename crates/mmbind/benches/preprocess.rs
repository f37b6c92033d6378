//! Where embedding time goes: preprocessing throughput per modality (files/s: decode +
//! preprocess, one thread and all cores) beside the encoder's own throughput on the same
//! files, for the tiny preset and for ImageBind's geometry (224 px, 3 × 128 × 204 audio
//! clips, 2000 IMU samples; tiny-fixture encoder widths).
//!
//! `cargo bench --bench preprocess [-- --quick]`. Inputs are a freshly generated world
//! (80 px PNGs, 2–2.5 s 16 kHz WAVs, 16-bit depth PNGs, 8-bit thermal PNGs, 400-row IMU CSVs,
//! inline captions).

mod common;

use std::time::Instant;

use mmbind::Modality;
use mmbind::config::ModelConfig;
use mmbind::dataset::{Dataset, Split};
use mmbind::embed::{Embedder, Item};
use mmbind::model::Model;
use mmbind_modalities::Prepared;
use rayon::prelude::*;

fn main() {
    let quick = common::quick();
    let (_dir, world) = common::world(if quick { 64 } else { 256 });
    let data = Dataset::open(&world).expect("dataset");
    let device = mmbind::backend::ndarray_device();
    let threads = rayon::current_num_threads();
    println!(
        "| config | modality | preprocess files/s (1 thread) | preprocess files/s ({threads} threads) | encoder embeddings/s (batch 16, ndarray) | preprocess share of embed time |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, config) in [
        ("tiny", ModelConfig::tiny()),
        ("imagebind geometry", ModelConfig::imagebind_tiny_fixture()),
    ] {
        let model = Model::random(config.clone(), 0, &device).expect("model");
        let embedder = Embedder::new(&model, &device);
        for m in Modality::ALL {
            let partner = if m == Modality::Vision {
                Modality::Text
            } else {
                m
            };
            let items: Vec<Item> = data
                .pairs(Split::Train, Modality::Vision, partner)
                .iter()
                .filter_map(|r| r.item(m))
                .collect();
            let items = &items[..items.len().min(if quick { 48 } else { 192 })];
            let prep = |it: &Item| {
                config
                    .preprocess
                    .prepare(m, &it.source)
                    .expect("world files are valid")
            };
            let t = Instant::now();
            let prepared: Vec<Prepared> = items.iter().map(prep).collect();
            let one = items.len() as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            let _: Vec<Prepared> = items.par_iter().map(prep).collect();
            let all = items.len() as f64 / t.elapsed().as_secs_f64();
            let _ = embedder.embed_prepared(m, &prepared[..16.min(prepared.len())]);
            let t = Instant::now();
            for chunk in prepared.chunks(16) {
                embedder.embed_prepared(m, chunk).expect("embed");
            }
            let enc = items.len() as f64 / t.elapsed().as_secs_f64();
            println!(
                "| {name} | {m} | {one:.0} | {all:.0} | {enc:.0} | {:.0}% |",
                100.0 * (1.0 / all) / (1.0 / all + 1.0 / enc)
            );
        }
    }
}
