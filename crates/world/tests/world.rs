//! Tests of the synthetic world: format, regime, determinism, decoding, and that each concept's
//! signature is really there in every view.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mmbind_world::{
    IMAGE_SIZE, IMU_ROWS, PairsRow, SAMPLE_RATE, Split, WorldConfig, WorldError, WorldSummary,
    concept_index, concepts, generate, generate_with_threads, plan, render_scene, split_counts,
};

const VIEWS: [&str; 5] = ["text", "audio", "depth", "thermal", "imu"];

fn small(scenes: usize, seed: u64) -> WorldConfig {
    // High test/val fractions so that small worlds hold every split.
    WorldConfig {
        scenes,
        seed,
        test_fraction: 0.3,
        val_fraction: 0.1,
        two_object_fraction: 0.4,
        train_two_object_fraction: 0.6,
        holdout_pairs: 0,
    }
}

/// One world shared by the read-only tests.
fn shared() -> &'static (PathBuf, WorldConfig, WorldSummary) {
    static WORLD: OnceLock<(PathBuf, WorldConfig, WorldSummary)> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mmbind-world-shared");
        let _ = fs::remove_dir_all(&dir);
        let cfg = small(60, 3);
        let summary = generate(&dir, &cfg, &mut |_, _| {}).expect("generate");
        (dir, cfg, summary)
    })
}

fn rows(dir: &Path) -> Vec<PairsRow> {
    fs::read_to_string(dir.join("pairs.jsonl"))
        .expect("pairs.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect()
}

/// Every file under `dir`, relative path → bytes.
fn all_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn present(row: &PairsRow) -> Vec<&'static str> {
    let mut v = Vec::new();
    for (name, p) in [
        ("text", row.views.text.is_some()),
        ("audio", row.views.audio.is_some()),
        ("depth", row.views.depth.is_some()),
        ("thermal", row.views.thermal.is_some()),
        ("imu", row.views.imu.is_some()),
    ] {
        if p {
            v.push(name);
        }
    }
    v
}

#[test]
fn same_seed_gives_identical_bytes_on_any_thread_count() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let cfg = small(24, 11);
    generate_with_threads(a.path(), &cfg, 1, &mut |_, _| {}).unwrap();
    generate_with_threads(b.path(), &cfg, 3, &mut |_, _| {}).unwrap();
    let (fa, fb) = (all_files(a.path()), all_files(b.path()));
    assert_eq!(fa.len(), 24 * 5 + 2);
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(
            bytes == &fb[name],
            "{name} differs between two runs with the same seed"
        );
    }
    // Another seed gives another world.
    generate(c.path(), &WorldConfig { seed: 12, ..cfg }, &mut |_, _| {}).unwrap();
    let fc = all_files(c.path());
    let same = fa
        .iter()
        .filter(|(k, v)| k.ends_with(".png") && fc.get(*k) == Some(*v))
        .count();
    assert_eq!(same, 0, "a different seed must change the images");
}

#[test]
fn train_rows_pair_vision_with_exactly_one_other_modality() {
    let (dir, _, _) = shared();
    let mut per_scene: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for row in rows(dir).iter().filter(|r| r.split == Some(Split::Train)) {
        let views = present(row);
        assert_eq!(views.len(), 1, "train row {} holds {views:?}", row.id);
        let scene = row.scene.as_deref().expect("every row names its scene");
        assert_eq!(row.id, format!("{scene}-{}", views[0]));
        assert_eq!(row.views.vision, Some(format!("vision/{scene}.png")));
        assert!(row.label.is_none(), "train rows carry no labels");
        let concepts = row
            .concepts
            .as_ref()
            .expect("train rows carry their concepts");
        assert!((1..=2).contains(&concepts.len()), "{}", row.id);
        per_scene
            .entry(scene.to_string())
            .or_default()
            .push(views[0]);
    }
    assert!(!per_scene.is_empty());
    for (scene, views) in per_scene {
        let set: BTreeSet<_> = views.iter().copied().collect();
        assert_eq!(views.len(), 5, "{scene}");
        assert_eq!(set, VIEWS.iter().copied().collect(), "{scene}");
    }
}

#[test]
fn val_and_test_rows_hold_all_six_views_and_labels() {
    let (dir, cfg, summary) = shared();
    let all = rows(dir);
    let mut seen_test = 0;
    let mut seen_val = 0;
    let names: BTreeSet<&str> = concepts().iter().map(|c| c.name).collect();
    for row in all.iter().filter(|r| r.split != Some(Split::Train)) {
        assert_eq!(present(row), VIEWS.to_vec(), "{}", row.id);
        assert_eq!(Some(&row.id), row.scene.as_ref());
        let label = row.label.as_deref().expect("label");
        let concepts = row.concepts.as_ref().expect("concepts");
        assert!(matches!(concepts.len(), 1 | 2));
        assert_eq!(concepts[0], label);
        assert!(concepts.iter().all(|c| names.contains(c.as_str())));
        if concepts.len() == 2 {
            assert_ne!(concepts[0], concepts[1]);
        }
        match row.split {
            Some(Split::Test) => seen_test += 1,
            Some(Split::Val) => seen_val += 1,
            _ => unreachable!("{}", row.id),
        }
    }
    assert_eq!(seen_test, summary.test_scenes);
    assert_eq!(seen_val, summary.val_scenes);
    assert_eq!(summary.scenes, cfg.scenes);
    assert_eq!(
        summary.train_rows,
        all.iter().filter(|r| r.split == Some(Split::Train)).count()
    );
    assert_eq!(summary.train_rows, 5 * (cfg.scenes - seen_test - seen_val));
    assert_eq!(summary.files, 5 * cfg.scenes + 2);
    assert_eq!(summary.concepts.len(), concepts().len());
}

#[test]
fn every_path_exists_and_decodes() {
    let (dir, _, _) = shared();
    let mut checked = BTreeSet::new();
    for row in rows(dir) {
        let paths = [
            row.views.vision.as_ref(),
            row.views.audio.as_ref(),
            row.views.depth.as_ref(),
            row.views.thermal.as_ref(),
            row.views.imu.as_ref(),
        ];
        for rel in paths.into_iter().flatten() {
            if !checked.insert(rel.clone()) {
                continue;
            }
            let path = dir.join(rel);
            assert!(path.is_file(), "{rel} is missing");
            match rel.split('/').next().unwrap() {
                "vision" => {
                    let img = image::open(&path).unwrap();
                    assert!(matches!(img, image::DynamicImage::ImageRgb8(_)), "{rel}");
                    assert_eq!((img.width(), img.height()), (IMAGE_SIZE, IMAGE_SIZE));
                }
                "depth" => {
                    let image::DynamicImage::ImageLuma16(img) = image::open(&path).unwrap() else {
                        panic!("{rel} is not 16-bit grayscale")
                    };
                    assert_eq!(img.dimensions(), (IMAGE_SIZE, IMAGE_SIZE));
                    let valid = img.pixels().filter(|p| p.0[0] > 0).count();
                    assert!(valid > 6000, "{rel}: only {valid} readings");
                    assert!(
                        img.pixels()
                            .all(|p| p.0[0] == 0 || (800..6000).contains(&p.0[0])),
                        "{rel}"
                    );
                }
                "thermal" => {
                    let img = image::open(&path).unwrap();
                    assert!(matches!(img, image::DynamicImage::ImageLuma8(_)), "{rel}");
                    assert_eq!((img.width(), img.height()), (IMAGE_SIZE, IMAGE_SIZE));
                }
                "audio" => {
                    let reader = hound::WavReader::open(&path).unwrap();
                    let spec = reader.spec();
                    assert_eq!(
                        (spec.channels, spec.sample_rate, spec.bits_per_sample),
                        (1, SAMPLE_RATE, 16)
                    );
                    let seconds = reader.duration() as f32 / SAMPLE_RATE as f32;
                    assert!((2.0..=2.5).contains(&seconds), "{rel}: {seconds} s");
                    let samples: Vec<i16> =
                        reader.into_samples::<i16>().map(Result::unwrap).collect();
                    assert!(samples.iter().any(|&s| s.abs() > 1000), "{rel} is silent");
                }
                "imu" => {
                    let text = fs::read_to_string(&path).unwrap();
                    let mut lines = text.lines();
                    assert_eq!(lines.next(), Some("t,ax,ay,az,gx,gy,gz"));
                    let data: Vec<Vec<f64>> = lines
                        .map(|l| l.split(',').map(|c| c.parse::<f64>().unwrap()).collect())
                        .collect();
                    assert_eq!(data.len(), IMU_ROWS);
                    assert!(
                        data.iter()
                            .all(|r| r.len() == 7 && r.iter().all(|v| v.is_finite()))
                    );
                    assert!((data[1][0] - 0.01).abs() < 1e-9, "100 Hz time column");
                }
                other => panic!("unexpected folder {other}"),
            }
        }
    }
    assert_eq!(checked.len(), 5 * shared().1.scenes);
}

#[test]
fn world_json_describes_the_world() {
    let (dir, cfg, _) = shared();
    let w: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("world.json")).unwrap()).unwrap();
    assert_eq!(w["generator"], "mmbind-world");
    assert_eq!(w["version"], mmbind_world::GENERATOR_VERSION);
    assert_eq!(w["seed"], cfg.seed);
    assert_eq!(w["scenes"]["total"], cfg.scenes);
    let list = w["concepts"].as_array().unwrap();
    assert_eq!(list.len(), concepts().len());
    for (entry, c) in list.iter().zip(concepts()) {
        assert_eq!(entry["name"], c.name);
        for view in ["vision", "text", "audio", "depth", "thermal", "imu"] {
            assert!(
                !entry[view].as_str().unwrap().is_empty(),
                "{} has no {view} signature",
                c.name
            );
        }
    }
    assert_eq!(w["geometry"]["vision"]["width"], IMAGE_SIZE);
    assert_eq!(w["geometry"]["imu"]["rows"], IMU_ROWS);
    // The training split has its own share of two-object scenes.
    let (train, val, test) = split_counts(cfg);
    let twos = |split: &str, n: usize, f: f64| {
        assert_eq!(
            w["scenes"]["two_object"][split],
            (n as f64 * f).round() as u64,
            "{split}"
        )
    };
    twos("train", train, cfg.train_two_object_fraction);
    twos("val", val, cfg.two_object_fraction);
    twos("test", test, cfg.two_object_fraction);
    assert_ne!(cfg.train_two_object_fraction, cfg.two_object_fraction);
}

#[test]
fn concept_names_are_single_words_and_no_single_feature_names_a_concept() {
    assert!(concepts().len() >= 12);
    for c in concepts() {
        assert!(
            c.name.chars().all(|ch| ch.is_ascii_lowercase()),
            "{}",
            c.name
        );
        // Each hue is shared by four concepts; the pair of hues names one.
        for hue in c.hues {
            let same_hue = concepts().iter().filter(|o| o.hues.contains(&hue)).count();
            assert_eq!(same_hue, 4, "{}", c.name);
        }
        let same_pair = concepts()
            .iter()
            .filter(|o| o.hues.contains(&c.hues[0]) && o.hues.contains(&c.hues[1]))
            .count();
        assert_eq!(same_pair, 1, "{}", c.name);
        // Two concepts share each surface.
        assert_eq!(
            concepts().iter().filter(|o| o.surface == c.surface).count(),
            2,
            "{}",
            c.name
        );
        assert_eq!(
            concept_index(c.name).map(|i| concepts()[i].name),
            Some(c.name)
        );
    }
    let shapes: BTreeSet<String> = concepts()
        .iter()
        .map(|c| format!("{:?}", c.shape))
        .collect();
    let reliefs: BTreeSet<String> = concepts()
        .iter()
        .map(|c| format!("{:?}", c.relief))
        .collect();
    assert_eq!(shapes.len(), concepts().len());
    assert_eq!(reliefs.len(), concepts().len());
}

#[test]
fn splits_are_balanced_and_the_test_split_covers_concept_pairs() {
    let cfg = WorldConfig::default();
    let specs = plan(&cfg).unwrap();
    assert_eq!(specs.len(), 1500);
    let c = concepts().len();
    let test: Vec<_> = specs.iter().filter(|s| s.split == Split::Test).collect();
    assert_eq!(test.len(), 225);
    assert_eq!(specs.iter().filter(|s| s.split == Split::Val).count(), 75);
    // Splits are contiguous: train, then val, then test.
    let order: Vec<Split> = specs.iter().map(|s| s.split).collect();
    assert!(order.windows(2).all(|w| (w[0] as u8) <= (w[1] as u8)));
    let pairs: BTreeSet<(usize, usize)> = test
        .iter()
        .filter(|s| s.concepts.len() == 2)
        .map(|s| {
            (
                s.concepts[0].min(s.concepts[1]),
                s.concepts[0].max(s.concepts[1]),
            )
        })
        .collect();
    assert_eq!(
        pairs.len(),
        c * (c - 1) / 2,
        "every concept pair appears in the test split"
    );
    let mut singles = vec![0; c];
    for s in test.iter().filter(|s| s.concepts.len() == 1) {
        singles[s.concepts[0]] += 1;
    }
    assert!(
        singles.iter().all(|&n| n >= 10),
        "one-object test scenes per concept: {singles:?}"
    );
    // Labels are spread over the concepts in training too.
    let mut labels = vec![0; c];
    for s in specs.iter().filter(|s| s.split == Split::Train) {
        labels[s.concepts[0]] += 1;
    }
    let (lo, hi) = (labels.iter().min().unwrap(), labels.iter().max().unwrap());
    assert!(*lo > 60 && hi - lo < 40, "train labels: {labels:?}");
}

#[test]
fn captions_name_every_concept() {
    let (dir, _, _) = shared();
    for row in rows(dir).iter().filter(|r| r.split != Some(Split::Train)) {
        let text = row.views.text.as_deref().unwrap();
        for name in row.concepts.as_ref().unwrap() {
            let c = &concepts()[concept_index(name).unwrap()];
            let words: Vec<&str> = text.split(' ').collect();
            assert!(
                words.contains(&c.name) || c.synonyms.iter().any(|s| words.contains(s)),
                "'{text}' does not name {name}"
            );
        }
    }
}

#[test]
fn render_scene_matches_the_written_files() {
    let (dir, cfg, _) = shared();
    let all = rows(dir);
    for index in [0, cfg.scenes - 1] {
        let scene = render_scene(cfg, index);
        let vision = image::open(dir.join(format!("vision/{}.png", scene.id)))
            .unwrap()
            .to_rgb8();
        assert_eq!(vision, scene.vision);
        let row = all
            .iter()
            .find(|r| r.scene.as_deref() == Some(scene.id.as_str()) && r.views.text.is_some())
            .unwrap();
        assert_eq!(row.views.text.as_deref(), Some(scene.text.as_str()));
        if scene.split != Split::Train {
            assert_eq!(row.label.as_deref(), Some(scene.label()));
        }
    }
}

/// Frequency (Hz) of the largest magnitude in the Hann-windowed spectrum of `samples`, within
/// `[lo, hi]` (radix-2 FFT, zero-padded to a power of two).
fn spectral_peak(samples: &[f32], lo: f64, hi: f64) -> f64 {
    let n = samples.len().next_power_of_two() * 2;
    let mut re = vec![0f64; n];
    let mut im = vec![0f64; n];
    let m = samples.len();
    for (i, &x) in samples.iter().enumerate() {
        let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (m - 1) as f64).cos();
        re[i] = x as f64 * w;
    }
    // Bit-reversal permutation.
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if j > i {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let angle = -std::f64::consts::TAU / len as f64;
        for start in (0..n).step_by(len) {
            for k in 0..len / 2 {
                let (wr, wi) = ((angle * k as f64).cos(), (angle * k as f64).sin());
                let (a, b) = (start + k, start + k + len / 2);
                let (xr, xi) = (re[b] * wr - im[b] * wi, re[b] * wi + im[b] * wr);
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
            }
        }
        len *= 2;
    }
    let hz = SAMPLE_RATE as f64 / n as f64;
    let (first, last) = (
        (lo / hz).ceil() as usize,
        ((hi / hz).floor() as usize).min(n / 2),
    );
    let best = (first..=last)
        .max_by(|&a, &b| (re[a].hypot(im[a])).total_cmp(&re[b].hypot(im[b])))
        .unwrap();
    best as f64 * hz
}

/// One-object scenes of each concept in a world.
fn single_object_scenes(cfg: &WorldConfig, per_concept: usize) -> Vec<(usize, usize)> {
    let specs = plan(cfg).unwrap();
    let mut out = Vec::new();
    for c in 0..concepts().len() {
        out.extend(
            specs
                .iter()
                .enumerate()
                .filter(|(_, s)| s.concepts == [c])
                .take(per_concept)
                .map(|(i, _)| (c, i)),
        );
    }
    out
}

#[test]
fn audio_spectrum_peaks_near_the_concept_pitch() {
    let cfg = WorldConfig {
        scenes: 200,
        seed: 5,
        ..WorldConfig::default()
    };
    for (c, index) in single_object_scenes(&cfg, 2) {
        let scene = render_scene(&cfg, index);
        let x: Vec<f32> = scene.audio.iter().map(|&s| s as f32 / 32768.0).collect();
        let peak = spectral_peak(&x, 40.0, 5000.0);
        let pitch = concepts()[c].pitch_hz as f64;
        let ratio = peak / pitch;
        assert!(
            (0.85..1.2).contains(&ratio),
            "{}: peak at {peak:.0} Hz, pitch {pitch} Hz",
            concepts()[c].name
        );
    }
}

fn mean_where(values: impl Iterator<Item = f64>, map: &[u8], want: impl Fn(u8) -> bool) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (v, &m) in values.zip(map) {
        if want(m) {
            sum += v;
            n += 1;
        }
    }
    assert!(n > 0);
    sum / n as f64
}

#[test]
fn thermal_and_depth_and_colour_carry_the_concept() {
    let cfg = WorldConfig {
        scenes: 200,
        seed: 9,
        ..WorldConfig::default()
    };
    let mut heat: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (c, index) in single_object_scenes(&cfg, 3) {
        let scene = render_scene(&cfg, index);
        let name = concepts()[c].name;
        let map = &scene.object_map;
        assert!(
            map.iter().filter(|&&m| m == 1).count() > 20,
            "{name}: object too small"
        );
        // Thermal: the mean level inside the object.
        let t = || scene.thermal.pixels().map(|p| p.0[0] as f64);
        let inside = mean_where(t(), map, |m| m == 1);
        let outside = mean_where(t(), map, |m| m == 0);
        heat.entry(name).or_default().push(inside);
        if name == "fridge" {
            assert!(
                inside < outside - 10.0,
                "a fridge is colder than its background ({inside:.1} vs {outside:.1})"
            );
        }
        if ["heater", "engine", "kettle", "lamp"].contains(&name) {
            assert!(inside > outside + 80.0, "{name} is hot");
        }
        // Depth: the object (1–2 m, minus relief) is in front of the background (≥ 2.3 m).
        let d = || scene.depth.pixels().map(|p| p.0[0] as f64);
        let near = mean_where(d(), map, |m| m == 1);
        assert!(
            (700.0..2050.0).contains(&near),
            "{name}: object at {near} mm"
        );
        let far = mean_where(d(), map, |m| m == 0);
        assert!(far > 2300.0, "{name}: background at {far} mm");
        // Colour: each of the concept's two hues covers a good part of the object (±25°).
        let diff = |hue: f64, base: f32| {
            (((hue - base as f64).rem_euclid(360.0) + 180.0).rem_euclid(360.0) - 180.0).abs()
        };
        let (mut near, mut n) = ([0.0f64; 2], 0.0);
        for (p, &m) in scene.vision.pixels().zip(map) {
            if m == 1 {
                let hue = hue_of(p.0[0] as f64, p.0[1] as f64, p.0[2] as f64);
                for (k, &base) in concepts()[c].hues.iter().enumerate() {
                    near[k] += f64::from(u8::from(diff(hue, base) < 25.0));
                }
                n += 1.0;
            }
        }
        assert!(
            near.iter().all(|&k| k > 0.2 * n),
            "{name}: {near:?} of {n} object pixels near its hues"
        );
    }
    let mean = |n: &str| heat[n].iter().sum::<f64>() / heat[n].len() as f64;
    assert!(mean("heater") > mean("fridge") + 150.0);
    assert!(mean("engine") > mean("clock") + 100.0);
}

fn hue_of(r: f64, g: f64, b: f64) -> f64 {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    if d == 0.0 {
        return 0.0;
    }
    let h = if max == r {
        ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        (b - r) / d + 2.0
    } else {
        (r - g) / d + 4.0
    };
    h * 60.0
}

#[test]
fn imu_carries_gravity_and_the_motion_pattern() {
    let cfg = WorldConfig {
        scenes: 200,
        seed: 4,
        ..WorldConfig::default()
    };
    let std_of = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    for (c, index) in single_object_scenes(&cfg, 2) {
        let scene = render_scene(&cfg, index);
        let name = concepts()[c].name;
        assert_eq!(scene.imu.len(), IMU_ROWS);
        let az: Vec<f64> = scene.imu.iter().map(|r| r[3] as f64).collect();
        let mean_az = az.iter().sum::<f64>() / az.len() as f64;
        if name != "kettle" {
            assert!((9.4..10.0).contains(&mean_az), "{name}: mean az {mean_az}");
        }
        match name {
            "engine" => assert!(std_of(&az) > 1.0, "an engine vibrates"),
            "lamp" | "clock" => assert!(std_of(&az) < 0.2, "a {name} is still ({})", std_of(&az)),
            "fan" => {
                let ax: Vec<f64> = scene.imu.iter().map(|r| r[1] as f64).collect();
                // 0.6·a·cos(ωt) with a ≥ 0.8 · 0.85 (the calmest instance): std ≥ 0.29.
                assert!(
                    std_of(&ax) > 0.25,
                    "a fan vibrates in x/y ({})",
                    std_of(&ax)
                );
            }
            _ => {}
        }
    }
}

#[test]
fn refuses_a_non_empty_foreign_directory() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = generate(dir.path(), &small(4, 0), &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, WorldError::NotAWorld { .. }), "{err}");
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing written"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
    // A world.json from something else is not a previous world either.
    fs::write(dir.path().join("world.json"), r#"{"generator": "other"}"#).unwrap();
    assert!(matches!(
        generate(dir.path(), &small(4, 0), &mut |_, _| {}),
        Err(WorldError::NotAWorld { .. })
    ));
    // Nor is a plain file.
    let file = dir.path().join("notes.txt");
    assert!(matches!(
        generate(&file, &small(4, 0), &mut |_, _| {}),
        Err(WorldError::NotAWorld { .. })
    ));
}

#[test]
fn regenerates_over_a_previous_world_without_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("world");
    generate(&out, &small(30, 1), &mut |_, _| {}).unwrap();
    let cfg = small(20, 2);
    let mut calls = Vec::new();
    generate(&out, &cfg, &mut |done, total| calls.push((done, total))).unwrap();
    assert_eq!(calls.first(), Some(&(0, 20)));
    assert_eq!(calls.last(), Some(&(20, 20)));
    let fresh = dir.path().join("fresh");
    generate(&fresh, &cfg, &mut |_, _| {}).unwrap();
    let (a, b) = (all_files(&out), all_files(&fresh));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "no stale files"
    );
    assert!(
        a == b,
        "regenerating in place gives the same bytes as a fresh directory"
    );
}

#[test]
fn rejects_invalid_configurations() {
    let dir = tempfile::tempdir().unwrap();
    for cfg in [
        WorldConfig {
            scenes: 0,
            ..WorldConfig::default()
        },
        WorldConfig {
            test_fraction: 1.5,
            ..WorldConfig::default()
        },
        WorldConfig {
            test_fraction: 0.6,
            val_fraction: 0.6,
            ..WorldConfig::default()
        },
        WorldConfig {
            two_object_fraction: f64::NAN,
            ..WorldConfig::default()
        },
        WorldConfig {
            train_two_object_fraction: -0.1,
            ..WorldConfig::default()
        },
    ] {
        let err = generate(dir.path(), &cfg, &mut |_, _| {}).unwrap_err();
        assert!(matches!(err, WorldError::Config(_)), "{err}");
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn tiny_worlds_work() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(
        dir.path(),
        &WorldConfig {
            scenes: 1,
            ..WorldConfig::default()
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(summary.scenes, 1);
    assert_eq!(
        rows(dir.path()).len(),
        summary.train_rows + summary.val_scenes + summary.test_scenes
    );
}

#[test]
fn held_out_pairs_appear_only_in_the_test_split_and_spread_over_the_concepts() {
    let c = concepts().len();
    let pair = |s: &mmbind_world::SceneSpec| {
        (
            s.concepts[0].min(s.concepts[1]),
            s.concepts[0].max(s.concepts[1]),
        )
    };
    for n in [12, 18] {
        let cfg = WorldConfig {
            scenes: 3000,
            holdout_pairs: n,
            ..WorldConfig::default()
        };
        let held = mmbind_world::holdout_pairs(&cfg);
        assert_eq!(held.len(), n);
        assert_eq!(held.iter().collect::<BTreeSet<_>>().len(), n, "distinct");
        let mut degree = vec![0; c];
        for &(a, b) in &held {
            assert!(a < b);
            degree[a] += 1;
            degree[b] += 1;
        }
        assert!(degree.iter().all(|&d| d == n / 6), "{n}: {degree:?}");
        let specs = plan(&cfg).unwrap();
        let twos = |split| {
            specs
                .iter()
                .filter(move |s| s.split == split && s.concepts.len() == 2)
                .map(pair)
        };
        assert!(
            twos(Split::Train)
                .chain(twos(Split::Val))
                .all(|p| !held.contains(&p))
        );
        let test: BTreeSet<_> = twos(Split::Test).collect();
        assert_eq!(
            test.len(),
            c * (c - 1) / 2,
            "the test split holds every pair"
        );
        let seen: BTreeSet<_> = twos(Split::Train).collect();
        assert_eq!(
            seen.len(),
            c * (c - 1) / 2 - n,
            "training holds every other pair"
        );
    }
    // Another seed holds out other pairs; none by default; too many is refused.
    let at = |seed, holdout_pairs| {
        mmbind_world::holdout_pairs(&WorldConfig {
            seed,
            holdout_pairs,
            ..WorldConfig::default()
        })
    };
    assert_ne!(at(0, 12), at(1, 12));
    assert!(at(0, 0).is_empty());
    let err = plan(&WorldConfig {
        holdout_pairs: 19,
        ..WorldConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("at most 18"), "{err}");
}

#[test]
fn one_and_two_object_captions_share_their_frames() {
    let cfg = small(300, 5);
    let frames = [
        "a photo of",
        "a picture of",
        "there is",
        "a close-up of",
        "wall",
        "background",
    ];
    let mut seen: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    for i in 0..cfg.scenes {
        let scene = render_scene(&cfg, i);
        for f in frames.iter().filter(|f| scene.text.contains(*f)) {
            *seen.entry((scene.objects.len(), *f)).or_default() += 1;
        }
    }
    for f in frames {
        for k in [1, 2] {
            assert!(
                seen.get(&(k, f)).is_some_and(|&n| n > 0),
                "{k}-object captions never use '{f}': {seen:?}"
            );
        }
    }
}
