//! Training: the loss goes down, resuming equals not stopping, trained models reload, and the
//! frozen-anchor cache follows the anchor.

use std::path::Path;
use std::sync::OnceLock;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use mmbind::Modality;
use mmbind::config::ModelConfig;
use mmbind::dataset::{Dataset, Split};
use mmbind::embed::{Embedder, Item};
use mmbind::model::Model;
use mmbind::nn::Encoder;
use mmbind::train::{
    Features, Observer, Phase, TrainOptions, Training, anchor_embeddings, anchor_hash,
    bank_info_nce, symmetric_info_nce,
};
use mmbind::weights::ModelDir;
use mmbind_world::{WorldConfig, generate};

use crate::util::tempdir;

/// A small world shared by the tests of this file (generated once).
fn world() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempdir();
        let cfg = WorldConfig {
            scenes: 60,
            seed: 7,
            ..WorldConfig::default()
        };
        generate(dir.path(), &cfg, &mut |_, _| {}).unwrap();
        dir
    })
    .path()
}

#[derive(Module, Debug)]
struct Pair {
    vision: Encoder,
    text: Encoder,
}

#[test]
fn a_few_steps_lower_the_loss_on_a_fixed_batch() {
    let device = mmbind::backend::ndarray_device();
    let ad = device.clone().autodiff();
    let config = ModelConfig::tiny();
    let dataset = Dataset::open(world()).unwrap();
    let rows: Vec<_> = dataset
        .pairs(Split::Train, Modality::Vision, Modality::Text)
        .into_iter()
        .take(16)
        .collect();
    let prep = |m: Modality| -> Vec<mmbind_modalities::Prepared> {
        rows.iter()
            .map(|r| config.preprocess.prepare(m, &r.views[&m]).unwrap())
            .collect()
    };
    let (vision_in, text_in) = (prep(Modality::Vision), prep(Modality::Text));
    let mut model = Model::random(config.clone(), 1, &ad).unwrap();
    let mut pair = Pair {
        vision: model.encoders.slot_mut(Modality::Vision).take().unwrap(),
        text: model.encoders.slot_mut(Modality::Text).take().unwrap(),
    };
    let mut optim = AdamWConfig::new().init();
    let loss_of = |p: &Pair| {
        let v = p
            .vision
            .forward(mmbind::embed::stack(&vision_in, &ad).unwrap())
            .unwrap();
        let t = p
            .text
            .forward(mmbind::embed::stack(&text_in, &ad).unwrap())
            .unwrap();
        symmetric_info_nce(v.matmul(t.transpose()))
    };
    let first: f32 = loss_of(&pair).into_scalar();
    for _ in 0..12 {
        let loss = loss_of(&pair);
        let grads = GradientsParams::from_grads(loss.backward(), &pair);
        pair = optim.step(1e-3, pair, grads);
    }
    let last: f32 = loss_of(&pair).into_scalar();
    assert!(last < first * 0.85, "loss {first} → {last}");
}

fn opts() -> TrainOptions {
    TrainOptions {
        modalities: vec![Modality::Text, Modality::Audio],
        epochs: 2,
        batch_size: 16,
        ..TrainOptions::default()
    }
}

struct StopAt {
    step: usize,
    seen: usize,
}

impl Observer for StopAt {
    fn step(&mut self, _phase: &Phase, _step: usize, _loss: f64, _sps: f64) {
        self.seen += 1;
    }
    fn interrupted(&self) -> bool {
        self.seen >= self.step
    }
}

struct Quiet;
impl Observer for Quiet {}

#[test]
fn resuming_equals_uninterrupted_training_and_models_reload() {
    let device = mmbind::backend::ndarray_device();
    let dir = tempdir();
    let (full, parts) = (dir.path().join("full"), dir.path().join("parts"));
    let config = ModelConfig::tiny();
    let summary = Training::new(world(), &full, config.clone(), opts())
        .run(&device, &mut Quiet)
        .unwrap();
    assert!(!summary.interrupted && summary.steps > 4);

    // Stop one step into the second epoch of the first phase: the epoch-1 checkpoint stays.
    let steps_per_epoch = summary.steps / 4;
    let mut stop = StopAt {
        step: steps_per_epoch + 1,
        seen: 0,
    };
    let stopped = Training::new(world(), &parts, config.clone(), opts())
        .run(&device, &mut stop)
        .unwrap();
    assert!(stopped.interrupted);
    let err = Training::new(world(), &parts, config.clone(), opts())
        .run(&device, &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--resume"), "{err}");
    // The text phase trains only the token rows its captions use, and its saved optimizer
    // state covers those: captions with new words cannot resume it.
    let changed = dir.path().join("changed");
    copy_dir(world(), &changed);
    let pairs = std::fs::read_to_string(changed.join("pairs.jsonl")).unwrap();
    let first_caption = pairs
        .lines()
        .find(|l| l.contains("\"text\":\"") && l.contains("\"split\":\"train\""))
        .unwrap();
    let edited = first_caption.replacen("\"text\":\"", "\"text\":\"a zebra and an axolotl ", 1);
    std::fs::write(
        changed.join("pairs.jsonl"),
        pairs.replacen(first_caption, &edited, 1),
    )
    .unwrap();
    copy_dir(&parts, &dir.path().join("parts-changed"));
    let err = Training::resume(&changed, &dir.path().join("parts-changed"))
        .run(&device, &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot resume") && err.contains("tokens"),
        "{err}"
    );
    let resumed = Training::resume(world(), &parts)
        .run(&device, &mut Quiet)
        .unwrap();
    assert_eq!(
        stopped.steps - 1 + resumed.steps,
        summary.steps,
        "the interrupted epoch is redone"
    );

    let worst = max_weight_difference(&full, &parts);
    assert!(worst <= 1e-6, "resumed weights differ by {worst}");

    // The saved model reloads and embeds exactly as before.
    let (m1, manifest) = ModelDir::new(&full).load(&device).unwrap();
    let (m2, _) = ModelDir::new(&full).load(&device).unwrap();
    assert_eq!(m1.to_tensors().content_hash(), manifest.content_hash);
    let items = vec![
        Item::text("a red drum"),
        Item::file(
            Modality::Audio,
            Dataset::open(world()).unwrap().split(Split::Test)[0].views[&Modality::Audio].label(),
        ),
    ];
    let e1: Vec<_> = Embedder::new(&m1, &device)
        .embed_all(&items, &mut |_| {})
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let e2: Vec<_> = Embedder::new(&m2, &device)
        .embed_all(&items, &mut |_| {})
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(e1, e2);
    let metrics = std::fs::read_to_string(full.join("metrics.jsonl")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        4,
        "one line per epoch of each phase"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The largest difference between two model directories' weights (same names required).
fn max_weight_difference(a: &Path, b: &Path) -> f32 {
    let (a, b) = (
        ModelDir::new(a).tensors().unwrap(),
        ModelDir::new(b).tensors().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    let mut worst = 0f32;
    for (k, ta) in &a.0 {
        let tb = b.get(k).unwrap();
        worst = ta
            .data
            .iter()
            .zip(&tb.data)
            .fold(worst, |m, (x, y)| m.max((x - y).abs()));
    }
    worst
}

#[test]
fn two_jobs_give_the_weights_of_one_and_resume_exactly() {
    let device = mmbind::backend::ndarray_device();
    let dir = tempdir();
    let config = ModelConfig::tiny();
    let opts = TrainOptions {
        modalities: vec![Modality::Text, Modality::Imu, Modality::Thermal],
        epochs: 2,
        batch_size: 16,
        ..TrainOptions::default()
    };
    let run = |name: &str, jobs: usize, obs: &mut dyn Observer| {
        Training::new(
            world(),
            &dir.path().join(name),
            config.clone(),
            opts.clone(),
        )
        .jobs(jobs)
        .run(&device, obs)
        .unwrap()
    };
    let one = run("one", 1, &mut Quiet);
    let two = run("two", 2, &mut Quiet);
    assert_eq!(one.steps, two.steps);
    assert_eq!(
        one.content_hash, two.content_hash,
        "vision and text on two threads, then the frozen phases side by side, give the weights of one job"
    );

    // Stop while both frozen phases run: each has taken about one epoch of steps, so the
    // last checkpoint holds one phase's optimizer state carried beside the other's.
    let per_epoch = one.steps / 6;
    let stopped = run(
        "parts",
        2,
        &mut StopAt {
            step: 2 * per_epoch + 2 * per_epoch + 1,
            seen: 0,
        },
    );
    assert!(stopped.interrupted);
    // Every phase started and not finished has its optimizer state in the last checkpoint.
    let ckpt = dir.path().join("parts/checkpoints");
    let latest = ckpt.join(std::fs::read_to_string(ckpt.join("LATEST")).unwrap().trim());
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest.join("state.json")).unwrap()).unwrap();
    let progress: Vec<u64> = state["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        progress[0], 2,
        "vision+text finished before the frozen phases"
    );
    for (q, &done) in progress.iter().enumerate() {
        assert_eq!(
            latest.join(format!("optimizer-{q}.bpk")).is_file(),
            done == 1,
            "phase {q} after {done} of 2 epochs"
        );
    }
    let resumed = Training::resume(world(), &dir.path().join("parts"))
        .jobs(2)
        .run(&device, &mut Quiet)
        .unwrap();
    assert!(!resumed.interrupted);
    let worst = max_weight_difference(&dir.path().join("one"), &dir.path().join("parts"));
    assert!(worst <= 1e-6, "resumed weights differ by {worst}");
    let metrics = std::fs::read_to_string(dir.path().join("parts/metrics.jsonl")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        6,
        "one line per epoch of each phase"
    );
}

#[test]
fn training_the_used_token_rows_gives_the_weights_of_the_whole_table() {
    let device = mmbind::backend::ndarray_device();
    let dir = tempdir();
    let opts = TrainOptions {
        modalities: vec![Modality::Text],
        epochs: 2,
        batch_size: 16,
        ..TrainOptions::default()
    };
    let run = |name: &str, whole: bool| {
        let model = dir.path().join(name);
        let t = Training::new(world(), &model, ModelConfig::tiny(), opts.clone());
        let t = if whole { t.whole_token_table() } else { t };
        t.jobs(2).run(&device, &mut Quiet).unwrap()
    };
    let (whole, rows) = (run("whole", true), run("rows", false));
    assert!(whole.steps > 4);
    assert_eq!(whole.content_hash, rows.content_hash);
}

/// Keeps the observer's messages.
#[derive(Default)]
struct Messages(Vec<String>);

impl Observer for Messages {
    fn message(&mut self, text: &str) {
        self.0.push(text.to_string());
    }
}

#[test]
fn a_phase_whose_files_cannot_be_read_is_skipped_with_a_message() {
    let device = mmbind::backend::ndarray_device();
    let dir = tempdir();
    let data = dir.path().join("world");
    let cfg = WorldConfig {
        scenes: 40,
        seed: 3,
        ..WorldConfig::default()
    };
    generate(&data, &cfg, &mut |_, _| {}).unwrap();
    // One training recording stays readable: with none, preparing the inputs fails outright
    // ("none of the 32 inputs could be used"); with one, there is no pair to contrast it with.
    for entry in std::fs::read_dir(data.join("audio")).unwrap() {
        let path = entry.unwrap().path();
        if !path.ends_with("s0001.wav") {
            std::fs::write(path, b"not a wav file").unwrap();
        }
    }
    let opts = TrainOptions {
        modalities: vec![Modality::Text, Modality::Audio, Modality::Imu],
        epochs: 1,
        batch_size: 8,
        ..TrainOptions::default()
    };
    let mut obs = Messages::default();
    let model = dir.path().join("model");
    let summary = Training::new(&data, &model, ModelConfig::tiny(), opts)
        .jobs(2)
        .run(&device, &mut obs)
        .unwrap();
    assert!(!summary.interrupted);
    assert!(
        obs.0
            .iter()
            .any(|m| m == "skipping audio→vision: fewer than two training pairs could be read"),
        "{:?}",
        obs.0
    );
    let metrics = std::fs::read_to_string(model.join("metrics.jsonl")).unwrap();
    let phases: Vec<&str> = metrics
        .lines()
        .map(|l| {
            if l.contains("vision+text") {
                "vision+text"
            } else if l.contains("imu") {
                "imu"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(phases, ["vision+text", "imu"]);
}

#[test]
fn anchor_cache_follows_the_anchor_weights() {
    let device = mmbind::backend::ndarray_device();
    let dir = tempdir();
    let config = ModelConfig::tiny();
    let dataset = Dataset::open(world()).unwrap();
    let items: Vec<Item> = dataset
        .pairs(Split::Train, Modality::Vision, Modality::Audio)
        .iter()
        .map(|r| r.item(Modality::Vision).unwrap())
        .collect();
    let features = Features::build_or_open(
        dir.path(),
        Modality::Vision,
        &items,
        &config.preprocess,
        &mut |_, _| {},
        &mut |_| {},
    )
    .unwrap();
    let model = Model::random(config.clone(), 3, &device).unwrap();
    let mut tensors = model.to_tensors();
    let hash = anchor_hash(&tensors);
    let first = anchor_embeddings(
        dir.path(),
        &hash,
        &features,
        model.encoder(Modality::Vision).unwrap(),
        &device,
        &mut |_, _| {},
    )
    .unwrap();
    let again = anchor_embeddings(
        dir.path(),
        &hash,
        &features,
        model.encoder(Modality::Vision).unwrap(),
        &device,
        &mut |_, _| {},
    )
    .unwrap();
    assert!(
        first.computed && !again.computed,
        "the second call reads the cache"
    );
    assert_eq!(first.data, again.data);

    // Another modality's weights do not change the anchor's identity; vision's do.
    tensors
        .0
        .get_mut("modality_heads.audio.2.weight")
        .unwrap()
        .data[0] += 1.0;
    assert_eq!(anchor_hash(&tensors), hash);
    tensors
        .0
        .get_mut("modality_heads.vision.2.weight")
        .unwrap()
        .data[0] += 1.0;
    let changed_hash = anchor_hash(&tensors);
    assert_ne!(changed_hash, hash);
    let changed = Model::from_tensors(config, &tensors, &device).unwrap();
    let recomputed = anchor_embeddings(
        dir.path(),
        &changed_hash,
        &features,
        changed.encoder(Modality::Vision).unwrap(),
        &device,
        &mut |_, _| {},
    )
    .unwrap();
    assert!(
        recomputed.computed,
        "a changed anchor invalidates the cache"
    );
    assert_ne!(recomputed.data, first.data);
}

/// One SGD step (lr 1) of `m`'s encoder against a fixed bank of anchors, on `device`: the weights'
/// change is minus the gradient. Returns (loss, name → gradient).
fn one_step_gradients(
    m: Modality,
    inputs: &[mmbind_modalities::Prepared],
    anchors: &[f32],
    device: &burn::tensor::Device,
) -> (f32, std::collections::BTreeMap<String, Vec<f32>>) {
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::tensor::{Int, Tensor, TensorData};
    let ad = device.clone().autodiff();
    let config = ModelConfig::tiny();
    let mut model = Model::random(config.clone(), 3, &ad).unwrap();
    let before = model.to_tensors();
    let enc = model.encoders.slot_mut(m).take().unwrap();
    let n = inputs.len();
    let x = enc
        .forward(mmbind::embed::stack(inputs, &ad).unwrap())
        .unwrap();
    // The loss the frozen phases train with (`--negatives all`): the anchors of the batch
    // are every third row of a bank three times its size.
    let dim = anchors.len() / (3 * n);
    let bank = Tensor::<2>::from_data(TensorData::new(anchors.to_vec(), [3 * n, dim]), &ad);
    let places: Vec<i64> = (0..n as i64).map(|k| 3 * k + 1).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(places, [n]), &ad);
    let a = bank.clone().select(0, targets.clone());
    let logits = x.clone().matmul(a.transpose());
    let loss = bank_info_nce(x, logits, bank, targets);
    let value: f32 = loss.clone().into_scalar();
    let grads = GradientsParams::from_grads(loss.backward(), &enc);
    let enc = SgdConfig::new().init().step(1.0, enc, grads);
    *model.encoders.slot_mut(m) = Some(enc);
    let after = model.to_tensors();
    let tag = format!(".{m}.");
    let diffs = after
        .0
        .iter()
        .filter(|(k, _)| k.contains(&tag))
        .map(|(k, t)| {
            let b = &before.get(k).unwrap().data;
            (
                k.clone(),
                b.iter().zip(&t.data).map(|(b, a)| b - a).collect(),
            )
        })
        .collect();
    (value, diffs)
}

/// Gradients of the encoders bound to frozen vision (bias_kv attention, patch stems) agree
/// between ndarray and wgpu and are finite: training on wgpu once turned them into NaN.
#[test]
fn frozen_phase_gradients_agree_across_backends() {
    let devices = crate::util::devices();
    if devices.len() < 2 {
        return;
    }
    let config = ModelConfig::tiny();
    let dataset = Dataset::open(world()).unwrap();
    let mut bad = Vec::new();
    for m in [
        Modality::Audio,
        Modality::Depth,
        Modality::Thermal,
        Modality::Imu,
    ] {
        let rows: Vec<_> = dataset
            .pairs(Split::Train, Modality::Vision, m)
            .into_iter()
            .take(8)
            .collect();
        let inputs: Vec<_> = rows
            .iter()
            .map(|r| config.preprocess.prepare(m, &r.views[&m]).unwrap())
            .collect();
        let dim = config.out_dim;
        let anchors: Vec<f32> = (0..3 * rows.len() * dim)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) / (dim as f32).sqrt())
            .collect();
        let (l0, g0) = one_step_gradients(m, &inputs, &anchors, &devices[0].1);
        let (l1, g1) = one_step_gradients(m, &inputs, &anchors, &devices[1].1);
        assert!((l0 - l1).abs() < 1e-4, "{m}: loss {l0} vs {l1}");
        for (k, a) in &g0 {
            let b = &g1[k];
            let scale = a.iter().fold(1e-6f32, |s, v| s.max(v.abs()));
            let err = a.iter().zip(b).fold(0f32, |e, (x, y)| e.max((x - y).abs()));
            if !b.iter().all(|v| v.is_finite()) {
                bad.push(format!("{m}: {k} has non-finite gradients on wgpu"));
            } else if err > 1e-3 * scale {
                bad.push(format!(
                    "{m}: {k} gradient differs by {err:e} (max {scale:e})"
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// `--negatives` reaches the frozen phases: the IMU encoder trained against every pair's
/// vision embedding differs from the one trained against the batch's, the jointly trained
/// vision and text encoders (no frozen anchor) do not, and a resumed run keeps the choice.
#[test]
fn negatives_flag_changes_only_the_frozen_phases_and_is_kept_for_resume() {
    let dir = tempdir();
    let train = |negatives: &str| {
        let model = dir.path().join(negatives);
        crate::cli::mmbind()
            .args(["--backend", "ndarray", "-q", "train", "--data"])
            .arg(world())
            .arg("--model")
            .arg(&model)
            .args([
                "--modalities",
                "text,imu",
                "--epochs",
                "1",
                "--batch-size",
                "8",
            ])
            .args(["--negatives", negatives])
            .assert()
            .success();
        model
    };
    let (all, batch) = (train("all"), train("batch"));
    let (a, b) = (
        ModelDir::new(&all).tensors().unwrap(),
        ModelDir::new(&batch).tensors().unwrap(),
    );
    let differ = |tag: &str| {
        a.0.iter()
            .filter(|(k, _)| k.contains(tag))
            .any(|(k, t)| t.data != b.get(k).unwrap().data)
    };
    assert!(!differ(".vision.") && !differ(".text."));
    assert!(differ(".imu."));
    assert_eq!(saved_options(&batch)["negatives"], "batch");
}

/// The training options a model directory's last checkpoint holds (what `--resume` uses).
fn saved_options(model: &Path) -> serde_json::Value {
    let latest = std::fs::read_to_string(model.join("checkpoints/LATEST")).unwrap();
    let state = model
        .join("checkpoints")
        .join(latest.trim())
        .join("state.json");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    state["options"].clone()
}

/// `--targets` reaches the vision+text phase (graded by default, `clip` one-hot: other
/// weights) and is kept for resume; `eval --json` tells held-out pairs from seen ones and
/// reports the geometry of each modality.
#[test]
fn targets_flag_changes_the_joint_phase_and_eval_reports_geometry() {
    let dir = tempdir();
    let train = |name: &str, extra: &[&str]| {
        let model = dir.path().join(name);
        crate::cli::mmbind()
            .args(["--backend", "ndarray", "-q", "train", "--data"])
            .arg(world())
            .arg("--model")
            .arg(&model)
            .args(["--modalities", "text", "--epochs", "1", "--batch-size", "8"])
            .args(extra)
            .assert()
            .success();
        model
    };
    let (graded, clip) = (train("graded", &[]), train("clip", &["--targets", "clip"]));
    let (g, c) = (
        ModelDir::new(&graded).tensors().unwrap(),
        ModelDir::new(&clip).tensors().unwrap(),
    );
    assert!(
        g.0.iter()
            .filter(|(k, _)| k.contains(".vision."))
            .any(|(k, t)| t.data != c.get(k).unwrap().data)
    );
    assert_eq!(saved_options(&graded)["targets"], "graded");
    assert_eq!(saved_options(&graded)["graded_scale"], 2.0);
    assert_eq!(saved_options(&clip)["targets"], "clip");

    let out = crate::cli::mmbind()
        .args(["--backend", "ndarray", "-q", "eval", "--json", "--data"])
        .arg(world())
        .arg("--model")
        .arg(&graded)
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Held out: the test split's two-object sets that no training row holds (in a world this
    // small, some by chance).
    let mut sets = [
        std::collections::BTreeSet::new(),
        std::collections::BTreeSet::new(),
    ];
    for line in std::fs::read_to_string(world().join("pairs.jsonl"))
        .unwrap()
        .lines()
    {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut c: Vec<String> = row["concepts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        c.sort();
        if c.len() == 2 && row["split"] != "val" {
            sets[usize::from(row["split"] == "test")].insert(c);
        }
    }
    let expected: Vec<&Vec<String>> = sets[1].difference(&sets[0]).collect();
    assert!(!expected.is_empty() && expected.len() < sets[1].len());
    assert_eq!(report["held_out_pairs"], serde_json::json!(expected));
    let text = report["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["query"] == "text" && p["target"] == "vision")
        .unwrap();
    assert!(text["concept_p1_two_held_out"].is_number());
    assert!(text["concept_p1_two_seen"].is_number());
    // Geometry needs a pair whose two concepts both have one-object test scenes; this small
    // world may have none (src/eval tests the figures themselves).
    for g in report["geometry"].as_array().unwrap() {
        for key in ["pair_vs_sum", "concept_cosine", "two_object_offset"] {
            assert!(g[key].as_f64().is_some_and(f64::is_finite), "{key}: {g}");
        }
    }
}
