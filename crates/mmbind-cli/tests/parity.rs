//! Stage-by-stage parity with the official PyTorch ImageBind on the tiny random checkpoint:
//! tokens, block 0, trunk, head and embedding of all six modalities, on every device.

use std::sync::OnceLock;

use burn::tensor::Device;
use mmbind::Modality;
use mmbind::config::ModelConfig;
use mmbind::cpu::CpuModel;
use mmbind::model::Model;
use mmbind::nn::EncoderTrace;
use mmbind::tensor_io::RawInput;
use mmbind::weights::{TensorMap, read_checkpoint};

use crate::util::{devices, fixture, inputs_outputs, relative_max_error, values};

fn tiny_tensors() -> &'static TensorMap {
    static T: OnceLock<TensorMap> = OnceLock::new();
    T.get_or_init(|| read_checkpoint(&fixture("tiny_imagebind.pth")).unwrap())
}

fn tiny_model(device: &Device) -> Model {
    Model::from_tensors(
        ModelConfig::imagebind_tiny_fixture(),
        tiny_tensors(),
        device,
    )
    .unwrap()
}

fn input(m: Modality) -> RawInput {
    let r = &inputs_outputs()[&format!("{m}.input")];
    if m == Modality::Text {
        RawInput::Int {
            shape: r.shape.clone(),
            data: r.i64.clone(),
        }
    } else {
        RawInput::Float {
            shape: r.shape.clone(),
            data: r.f32.clone(),
        }
    }
}

/// How inference can run: burn on every device, and the CPU path (`mmbind::cpu`, what
/// inference on the ndarray device uses) beside burn's ndarray ops.
#[derive(Clone, Copy, PartialEq)]
enum Engine {
    Burn,
    Cpu,
}

fn engines() -> Vec<(&'static str, Device, f32, Engine)> {
    let mut out = Vec::new();
    for (backend, device, tol) in devices() {
        if backend == "ndarray" {
            out.push(("cpu path", device.clone(), tol, Engine::Cpu));
        }
        out.push((backend, device, tol, Engine::Burn));
    }
    out
}

fn trace(model: &Model, m: Modality, device: &Device, engine: Engine) -> EncoderTrace {
    let raw = input(m);
    match engine {
        Engine::Burn => model
            .embed_trace(m, raw.to_encoder_input(m.name(), device).unwrap())
            .unwrap(),
        Engine::Cpu => CpuModel::new(model).embed_trace(m, &raw, device).unwrap(),
    }
}

/// Compares stages in forward order so the failure names the first one that diverges.
fn check_stages(backend: &str, m: Modality, trace: &EncoderTrace, tol: f32) {
    let io = inputs_outputs();
    let mut stages: Vec<(&str, Vec<f32>)> =
        vec![("tokens", values(trace.tokens.as_ref().unwrap()))];
    if let Some(pre) = &trace.pre_norm {
        stages.push(("pre_trunk_ln", values(pre)));
    }
    stages.push(("block0", values(&trace.blocks[0])));
    stages.push(("trunk", values(trace.blocks.last().unwrap())));
    stages.push(("head", values(trace.head.as_ref().unwrap())));
    if let Some(clips) = &trace.clips {
        stages.push(("postprocessed_clips", values(clips)));
    }
    stages.push(("embedding", values(trace.embedding.as_ref().unwrap())));
    for (stage, ours) in stages {
        let theirs = &io[&format!("{m}.{stage}")].f32;
        let err = relative_max_error(&ours, theirs);
        eprintln!("{backend} {m}.{stage}: relative max error {err:.2e}");
        assert!(
            err <= tol,
            "{backend}: {m} diverges first at '{stage}': relative max error {err:.3e} > {tol:.0e}"
        );
    }
}

fn check_modality(m: Modality) {
    for (backend, device, tol, engine) in engines() {
        let model = tiny_model(&device);
        check_stages(backend, m, &trace(&model, m, &device, engine), tol);
    }
}

#[test]
fn vision_matches_pytorch() {
    check_modality(Modality::Vision);
}

#[test]
fn text_matches_pytorch() {
    check_modality(Modality::Text);
}

#[test]
fn audio_matches_pytorch() {
    check_modality(Modality::Audio);
}

#[test]
fn depth_matches_pytorch() {
    check_modality(Modality::Depth);
}

#[test]
fn thermal_matches_pytorch() {
    check_modality(Modality::Thermal);
}

#[test]
fn imu_matches_pytorch() {
    check_modality(Modality::Imu);
}

/// `CpuModel::embed` splits a batch over threads (whole items per thread, serial kernels);
/// the traced run above does not. Both must give the official embeddings, on one thread and
/// on several.
#[test]
fn cpu_path_gives_the_same_embeddings_split_over_threads() {
    let device = mmbind::backend::ndarray_device();
    let model = tiny_model(&device);
    let io = inputs_outputs();
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for m in Modality::ALL {
            let raw = input(m);
            assert!(raw.shape()[0] >= 2, "the fixture batch must be splittable");
            let ours = pool.install(|| CpuModel::new(&model).embed(m, &raw).unwrap());
            let err = relative_max_error(&ours, &io[&format!("{m}.embedding")].f32);
            assert!(err <= 2e-6, "{threads} threads, {m}: {err:.3e}");
        }
    }
}

#[test]
fn cpu_path_refuses_inputs_it_cannot_take() {
    let device = mmbind::backend::ndarray_device();
    let model = tiny_model(&device);
    let cpu = CpuModel::new(&model);
    let short = RawInput::Float {
        shape: vec![1, 3, 224, 224],
        data: vec![0.0; 10],
    };
    let err = cpu.embed(Modality::Vision, &short).unwrap_err().to_string();
    assert!(err.contains("10 values"), "{err}");
    let wrong = RawInput::Float {
        shape: vec![1, 3, 100, 100],
        data: vec![0.0; 30_000],
    };
    let err = cpu.embed(Modality::Vision, &wrong).unwrap_err().to_string();
    assert!(err.contains("expected [batch, 3, 224, 224]"), "{err}");
    let mut ids = input(Modality::Text);
    if let RawInput::Int { data, .. } = &mut ids {
        data[0] = 1 << 40;
    }
    let err = cpu.embed(Modality::Text, &ids).unwrap_err().to_string();
    assert!(err.contains("outside the vocabulary"), "{err}");
}

fn similarity(a: &[f32], b: &[f32], d: usize) -> Vec<f32> {
    let rows = a.len() / d;
    let cols = b.len() / d;
    (0..rows)
        .flat_map(|i| (0..cols).map(move |j| (0..d).map(|k| a[i * d + k] * b[j * d + k]).sum()))
        .collect()
}

#[test]
fn cross_modal_similarities_match_pytorch() {
    let io = inputs_outputs();
    for (backend, device, tol, engine) in engines() {
        let model = tiny_model(&device);
        let emb = |m| {
            values(
                trace(&model, m, &device, engine)
                    .embedding
                    .as_ref()
                    .unwrap(),
            )
        };
        let (vision, text, audio) = (
            emb(Modality::Vision),
            emb(Modality::Text),
            emb(Modality::Audio),
        );
        for (name, ours) in [
            ("sim.vision_text", similarity(&vision, &text, 32)),
            ("sim.audio_text", similarity(&audio, &text, 32)),
        ] {
            let err = relative_max_error(&ours, &io[name].f32);
            eprintln!("{backend} {name}: relative max error {err:.2e}");
            assert!(err <= tol, "{backend} {name}: {err:.3e}");
        }
    }
}

#[test]
fn text_logit_scale_is_clipped_at_100() {
    let io = inputs_outputs();
    let mut tensors = tiny_tensors().clone();
    let key = "modality_postprocessors.text.1.log_logit_scale";
    let log_scale = io["text.clip_check.log_logit_scale"].f32[0];
    tensors.0.get_mut(key).unwrap().data = vec![log_scale];
    for (backend, device, tol, engine) in engines() {
        let model =
            Model::from_tensors(ModelConfig::imagebind_tiny_fixture(), &tensors, &device).unwrap();
        let ours = values(
            trace(&model, Modality::Text, &device, engine)
                .embedding
                .as_ref()
                .unwrap(),
        );
        let err = relative_max_error(&ours, &io["text.clip_check.embedding"].f32);
        assert!(err <= tol, "{backend} clip_check: {err:.3e}");
        let norm0: f32 = ours[..32].iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(
            (norm0 - 100.0).abs() < 1e-3,
            "{backend}: row norm {norm0}, expected the clip at 100"
        );
    }
}

#[test]
fn saved_tensors_round_trip_to_the_same_weights() {
    let device = mmbind::backend::ndarray_device();
    let model = tiny_model(&device);
    let saved = model.to_tensors();
    assert_eq!(saved.len(), tiny_tensors().len());
    for (name, t) in &tiny_tensors().0 {
        let s = saved
            .get(name)
            .unwrap_or_else(|| panic!("{name} not saved"));
        assert_eq!(s.shape, t.shape, "{name}");
        assert_eq!(s.data, t.data, "{name}");
    }
    assert_eq!(saved.content_hash(), tiny_tensors().content_hash());
}
