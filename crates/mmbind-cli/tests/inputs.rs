//! Real files through the whole pipeline: preprocessing + the tiny fixture model against
//! the official pipeline's outputs, and every kind of bad input.

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use mmbind::Modality;
use mmbind::embed::{Embedder, Item};
use mmbind::import::import_imagebind;
use mmbind::nn::EncoderInput;
use mmbind::weights::ModelDir;

use crate::cli::mmbind;
use crate::util::{fixture, inputs_outputs, references, relative_max_error, tempdir, values};
use predicates::str::contains;

fn tiny_model_dir(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("tiny");
    let kwargs =
        serde_json::from_str(&std::fs::read_to_string(fixture("tiny_kwargs.json")).unwrap())
            .unwrap();
    import_imagebind(&fixture("tiny_imagebind.pth"), kwargs, &out).unwrap();
    out
}

/// Our decoding + preprocessing + model vs the official model on the official
/// preprocessing output of the same files.
#[test]
fn files_embed_like_the_official_pipeline() {
    let dir = tempdir();
    let device = mmbind::backend::ndarray_device();
    let (model, _) = ModelDir::new(tiny_model_dir(dir.path()))
        .load(&device)
        .unwrap();
    let pre = references("preprocessing.safetensors");
    let embedder = Embedder::new(&model, &device);

    let official = |name: &str, m: Modality| {
        let r = &pre[name];
        let td = TensorData::new(r.f32.clone(), r.shape.clone());
        let input = match r.shape.len() {
            5 => EncoderInput::Clips(Tensor::from_data(td, &device)),
            _ => EncoderInput::Image(Tensor::from_data(td, &device)),
        };
        values(&model.embed(m, input).unwrap())
    };
    let ours = |items: Vec<Item>| -> Vec<f32> {
        embedder
            .embed_all(&items, &mut |_| {})
            .into_iter()
            .flat_map(|r| r.unwrap())
            .collect()
    };

    let audio = ours(vec![
        Item::file(Modality::Audio, fixture("audio_chirp_44k1_stereo.wav")),
        Item::file(Modality::Audio, fixture("audio_sine_16k_mono.wav")),
    ]);
    let err = relative_max_error(&audio, &official("audio.output", Modality::Audio));
    eprintln!("audio files end to end: relative max error {err:.2e}");
    assert!(err <= 1e-3, "audio end to end {err:.3e}");

    let vision = ours(vec![
        Item::file(Modality::Vision, fixture("image_320x240.jpg")),
        Item::file(Modality::Vision, fixture("image_200x300.png")),
    ]);
    let err = relative_max_error(&vision, &official("vision.output", Modality::Vision));
    eprintln!("image files end to end: relative max error {err:.2e}");
    assert!(err <= 1e-3, "vision end to end {err:.3e}");

    let text = ours(vec![
        Item::text("a photo of a dog."),
        Item::text(
            "A red car driving through the rain at night, with neon lights reflecting on the wet street!",
        ),
    ]);
    let err = relative_max_error(&text, &inputs_outputs()["text.embedding"].f32);
    assert!(err <= 2e-6, "text end to end {err:.3e}");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A 16-bit mono WAV header claiming `data_len` bytes, followed by `actual` bytes.
fn wav_bytes(data_len: u32, actual: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&16000u32.to_le_bytes());
    b.extend_from_slice(&32000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    b.extend(std::iter::repeat_n(0u8, actual));
    b
}

#[test]
fn bad_inputs_are_named_and_the_rest_completes() {
    let dir = tempdir();
    let model = tiny_model_dir(dir.path());
    let d = dir.path();
    let png = std::fs::read(fixture("image_200x300.png")).unwrap();
    let empty = write(d, "empty.png", b"");
    let truncated = write(d, "truncated.png", &png[..100]);
    let lying = write(d, "lying.wav", &wav_bytes(1_000_000, 64));
    let silent = write(d, "zero-samples.wav", &wav_bytes(0, 0));
    let five = write(d, "five-columns.csv", b"a,b,c,d,e\n1,2,3,4,5\n");
    let nan = write(d, "nan.csv", b"1,2,3,4,5,6\n1,NaN,3,4,5,6\n");
    let rgb_depth = write(d, "rgb-depth.png", &png);
    let folder = d.join("folder");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(fixture("audio_sine_16k_mono.wav"), folder.join("good.wav")).unwrap();
    std::os::unix::fs::symlink(d.join("does-not-exist.wav"), folder.join("dangling.wav")).unwrap();

    let output = mmbind()
        .args(["embed", "--backend", "ndarray", "--model"])
        .arg(&model)
        .arg("--vision")
        .args([&empty, &truncated])
        .arg(fixture("image_320x240.jpg"))
        .arg("--audio")
        .args([&lying, &silent, &folder])
        .arg("--imu")
        .args([&five, &nan])
        .arg("--depth")
        .arg(&rgb_depth)
        .args(["--text", "a good input"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "partial failure exits 1; stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    for name in [
        "empty.png",
        "truncated.png",
        "lying.wav",
        "zero-samples.wav",
        "five-columns.csv",
        "nan.csv",
        "rgb-depth.png",
        "dangling.wav",
    ] {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "exactly one line for {name}:\n{stderr}");
    }
    assert!(
        stderr.contains("embedded 3 of 11 inputs; 8 skipped"),
        "{stderr}"
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "the good inputs are embedded");
    for line in &lines {
        assert_eq!(line["embedding"].as_array().unwrap().len(), 32);
    }
    assert!(lines.iter().any(|l| l["input"].as_str().unwrap().ends_with("good.wav") && l["modality"] == "audio"));
}

#[test]
fn embed_writes_npy_rows_in_input_order() {
    let dir = tempdir();
    let model = tiny_model_dir(dir.path());
    let out = dir.path().join("e.npy");
    let output = mmbind()
        .args(["embed", "--backend", "ndarray", "--model"])
        .arg(&model)
        .args(["--text", "a dog", "a cat", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let a: ndarray::Array2<f32> = ndarray_npy::read_npy(&out).unwrap();
    assert_eq!(a.shape(), &[2, 32]);
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[1]["input"], "a cat");
    assert_eq!(rows[1]["row"], 1);
}

#[test]
fn classify_ranks_labels_with_probabilities() {
    let dir = tempdir();
    let model = tiny_model_dir(dir.path());
    let output = mmbind()
        .args([
            "classify",
            "--backend",
            "ndarray",
            "--format",
            "json",
            "--model",
        ])
        .arg(&model)
        .arg("--audio")
        .arg(fixture("audio_sine_16k_mono.wav"))
        .args(["--labels", "dog,cat,bird"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let labels = line["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 3);
    let total: f64 = labels
        .iter()
        .map(|l| l["probability"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-5);
    let probs: Vec<f64> = labels
        .iter()
        .map(|l| l["probability"].as_f64().unwrap())
        .collect();
    assert!(probs.windows(2).all(|w| w[0] >= w[1]), "ranked: {probs:?}");
    mmbind()
        .args(["classify", "--backend", "ndarray", "--model"])
        .arg(&model)
        .args([
            "--text",
            "x",
            "--labels",
            "a,b",
            "--template",
            "no placeholder",
        ])
        .assert()
        .code(2)
        .stderr(contains("no {}"));
}
