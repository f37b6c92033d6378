//! Depth, thermal and IMU loaders on real files written here: the values that come out, the
//! geometry, and a clear error (naming the file) for every kind of bad input.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{ImageBuffer, Luma, Rgb};
use mmbind_modalities::depth::{self, DepthPreprocess};
use mmbind_modalities::imu::{self, ImuPreprocess};
use mmbind_modalities::thermal::{self, ThermalPreprocess};
use ndarray::{Array1, Array2, Array3, array};
use ndarray_npy::write_npy;

/// A file in a per-process scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!("mmbind-sensors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Scratch(dir.join(format!("{n}-{name}")))
    }

    fn with_bytes(name: &str, bytes: &[u8]) -> Scratch {
        let f = Scratch::new(name);
        std::fs::write(&f.0, bytes).unwrap();
        f
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn gray16_png(name: &str, w: u32, h: u32, f: impl Fn(u32, u32) -> u16) -> Scratch {
    let file = Scratch::new(name);
    ImageBuffer::<Luma<u16>, Vec<u16>>::from_fn(w, h, |x, y| Luma([f(x, y)]))
        .save(file.path())
        .unwrap();
    file
}

/// The error message must name the file and contain `reason`.
fn assert_err<T: Debug>(result: mmbind_modalities::Result<T>, path: &Path, reason: &str) {
    let message = result.expect_err("expected an error").to_string();
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(
        message.contains(name.as_ref()),
        "message does not name the file: {message}"
    );
    assert!(
        message.contains(reason),
        "message lacks {reason:?}: {message}"
    );
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * b.abs().max(1.0)
}

const SCALE: f32 = 0.075 * 518.8579;

// ---------------------------------------------------------------------------------------
// Depth
// ---------------------------------------------------------------------------------------

#[test]
fn depth_png_millimetres_become_disparity() {
    // (x, y) → millimetres; everything else is 1 m.
    let special = [
        ((0, 0), 0u16),
        ((20, 10), 2000),
        ((100, 100), 500),
        ((50, 200), 20000),
        ((5, 5), 5),
    ];
    let file = gray16_png("depth.png", 224, 224, |x, y| {
        special
            .iter()
            .find(|(p, _)| *p == (x, y))
            .map_or(1000, |&(_, mm)| mm)
    });
    let metres = depth::decode_depth(file.path()).unwrap();
    assert_eq!(metres.dim(), (224, 224));
    assert_eq!(metres[[10, 20]], 2.0);
    assert_eq!(metres[[0, 0]], 0.0);

    let x = depth::load_depth(file.path(), &DepthPreprocess::default()).unwrap();
    assert_eq!(x.dim(), (1, 224, 224));
    assert_eq!(x[[0, 0, 0]], 0.0, "no reading stays 0");
    assert!(close(x[[0, 10, 20]], SCALE / 2.0));
    assert!(close(x[[0, 100, 100]], SCALE / 0.5));
    assert!(
        close(x[[0, 200, 50]], SCALE / 10.0),
        "20 m is clipped to 10 m"
    );
    assert!(close(x[[0, 5, 5]], SCALE / 0.01), "5 mm is raised to 1 cm");
    assert!(close(x[[0, 150, 150]], SCALE));
}

#[test]
fn depth_tiff_16bit_is_accepted() {
    let file = Scratch::new("depth.tiff");
    ImageBuffer::<Luma<u16>, Vec<u16>>::from_fn(8, 6, |x, _| Luma([1000 + x as u16]))
        .save(file.path())
        .unwrap();
    let metres = depth::decode_depth(file.path()).unwrap();
    assert_eq!(metres.dim(), (6, 8));
    assert!(close(metres[[3, 7]], 1.007));
}

#[test]
fn depth_npy_f32_and_f64_in_both_shapes() {
    let m = Array2::from_shape_fn((5, 7), |(r, c)| 0.5 + (r * 7 + c) as f64 * 0.1);
    let f32_2d = Scratch::new("d32.npy");
    write_npy(f32_2d.path(), &m.mapv(|v| v as f32)).unwrap();
    let f64_3d = Scratch::new("d64.npy");
    write_npy(f64_3d.path(), &m.clone().insert_axis(ndarray::Axis(0))).unwrap();

    let a = depth::decode_depth(f32_2d.path()).unwrap();
    let b = depth::decode_depth(f64_3d.path()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.dim(), (5, 7));
    assert!(close(a[[4, 6]], 3.9));
}

#[test]
fn depth_is_resized_on_the_shorter_side_and_centre_cropped() {
    let file = gray16_png("wide.png", 640, 480, |_, _| 2000);
    let x = depth::load_depth(file.path(), &DepthPreprocess::default()).unwrap();
    assert_eq!(x.dim(), (1, 224, 224));
    assert!(x.iter().all(|&v| close(v, SCALE / 2.0)));

    // A left-to-right ramp: the crop keeps the centre, so the middle column is the middle.
    let ramp = Array2::from_shape_fn((480, 640), |(_, c)| 1.0 + c as f32 / 639.0);
    let y = depth::preprocess(
        &ramp,
        &DepthPreprocess {
            image_size: 32,
            ..Default::default()
        },
    );
    assert_eq!(y.dim(), (1, 32, 32));
    let mid = (y[[0, 0, 15]] + y[[0, 0, 16]]) / 2.0;
    assert!((mid - SCALE / 1.5).abs() < 0.05 * SCALE, "{mid}");
    assert!(y[[0, 0, 0]] > y[[0, 0, 31]], "nearer is larger disparity");
}

#[test]
fn depth_npy_with_nan_inf_or_negative_is_refused_with_counts() {
    let file = Scratch::new("bad.npy");
    write_npy(
        file.path(),
        &array![[1.0f32, f32::NAN], [-2.0, f32::INFINITY], [-0.5, 1.0]],
    )
    .unwrap();
    assert_err(
        depth::decode_depth(file.path()),
        file.path(),
        "2 NaN or infinite and 2 negative",
    );
}

#[test]
fn depth_npy_wrong_shape_or_dtype_is_refused() {
    let shape = Scratch::new("cube.npy");
    write_npy(shape.path(), &Array3::<f32>::ones((2, 3, 4))).unwrap();
    assert_err(
        depth::decode_depth(shape.path()),
        shape.path(),
        "[H, W] or [1, H, W]; got [2, 3, 4]",
    );

    let ints = Scratch::new("ints.npy");
    write_npy(ints.path(), &Array2::<i32>::ones((3, 4))).unwrap();
    assert_err(
        depth::decode_depth(ints.path()),
        ints.path(),
        "float32 or float64",
    );
}

#[test]
fn depth_8bit_or_colour_png_is_refused() {
    let rgb = Scratch::new("rgb-depth.png");
    ImageBuffer::<Rgb<u8>, Vec<u8>>::from_pixel(16, 16, Rgb([10, 20, 30]))
        .save(rgb.path())
        .unwrap();
    assert_err(
        depth::decode_depth(rgb.path()),
        rgb.path(),
        "a depth map must be a single-channel 16-bit PNG in millimetres or a .npy in metres; got 3-channel 8-bit",
    );

    let gray8 = Scratch::new("gray8-depth.png");
    ImageBuffer::<Luma<u8>, Vec<u8>>::from_pixel(16, 16, Luma([100]))
        .save(gray8.path())
        .unwrap();
    assert_err(
        depth::decode_depth(gray8.path()),
        gray8.path(),
        "got 1-channel 8-bit",
    );
}

#[test]
fn depth_without_any_reading_is_refused() {
    let file = gray16_png("zeros.png", 8, 8, |_, _| 0);
    assert_err(
        depth::decode_depth(file.path()),
        file.path(),
        "no valid reading",
    );
    let empty = Scratch::new("empty-shape.npy");
    write_npy(empty.path(), &Array2::<f32>::zeros((0, 5))).unwrap();
    assert_err(depth::decode_depth(empty.path()), empty.path(), "no pixels");
}

// ---------------------------------------------------------------------------------------
// Thermal
// ---------------------------------------------------------------------------------------

#[test]
fn thermal_8bit_and_16bit_are_scaled_to_unit_range() {
    let t8 = Scratch::new("t8.png");
    ImageBuffer::<Luma<u8>, Vec<u8>>::from_fn(224, 224, |x, _| Luma([x as u8]))
        .save(t8.path())
        .unwrap();
    let a = thermal::decode_thermal(t8.path()).unwrap();
    assert_eq!(a.dim(), (224, 224));
    assert!(close(a[[3, 51]], 51.0 / 255.0));
    let x = thermal::load_thermal(t8.path(), &ThermalPreprocess::default()).unwrap();
    assert_eq!(x.dim(), (1, 224, 224));
    assert!(
        close(x[[0, 100, 200]], 200.0 / 255.0),
        "224×224 is not resampled"
    );

    let t16 = gray16_png("t16.png", 10, 4, |x, _| x as u16 * 6553);
    let b = thermal::decode_thermal(t16.path()).unwrap();
    assert_eq!(b.dim(), (4, 10));
    assert!(close(b[[0, 9]], 9.0 * 6553.0 / 65535.0));
}

#[test]
fn thermal_is_resized_cropped_and_kept_in_unit_range() {
    // A hard step overshoots with bicubic; the result must still lie in [0, 1].
    let t = Array2::from_shape_fn((300, 400), |(_, c)| if c < 200 { 0.0 } else { 1.0 });
    let x = thermal::preprocess(&t, &ThermalPreprocess::default());
    assert_eq!(x.dim(), (1, 224, 224));
    assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(x[[0, 100, 0]], 0.0);
    assert_eq!(x[[0, 100, 223]], 1.0);
}

#[test]
fn depth_and_thermal_centring_is_applied_after_resizing() {
    let t = Array2::from_shape_fn((40, 60), |(r, c)| ((r * 3 + c) % 17) as f32 / 16.0);
    let plain = thermal::preprocess(&t, &ThermalPreprocess::default());
    let centred = thermal::preprocess(
        &t,
        &ThermalPreprocess {
            image_size: 224,
            mean: 0.45,
            std: 0.25,
        },
    );
    for (a, b) in plain.iter().zip(&centred) {
        assert!(close(*b, (a - 0.45) / 0.25), "{a} -> {b}");
    }
    let d = Array2::from_shape_fn((48, 64), |(r, c)| 1.0 + (r + c) as f32 / 100.0);
    let cfg = DepthPreprocess {
        image_size: 32,
        ..Default::default()
    };
    let plain = depth::preprocess(&d, &cfg);
    let centred = depth::preprocess(
        &d,
        &DepthPreprocess {
            mean: 16.0,
            std: 8.0,
            ..cfg
        },
    );
    for (a, b) in plain.iter().zip(&centred) {
        assert!(close(*b, (a - 16.0) / 8.0), "{a} -> {b}");
    }
    // Model directories written before the fields existed still load: none by default.
    let old: ThermalPreprocess = serde_json::from_str(r#"{"image_size": 64}"#).unwrap();
    assert_eq!((old.mean, old.std), (0.0, 1.0));
}

#[test]
fn thermal_gray_saved_as_rgb_is_accepted() {
    let gray = |x: u32, y: u32| ((x * 7 + y * 3) % 256) as u8;
    let png = Scratch::new("gray-rgb.png");
    ImageBuffer::<Rgb<u8>, Vec<u8>>::from_fn(32, 24, |x, y| Rgb([gray(x, y); 3]))
        .save(png.path())
        .unwrap();
    let a = thermal::decode_thermal(png.path()).unwrap();
    assert!(close(a[[5, 9]], f32::from(gray(9, 5)) / 255.0));

    // The usual case: a grayscale picture saved as a colour JPEG.
    let jpg = Scratch::new("gray-rgb.jpg");
    ImageBuffer::<Rgb<u8>, Vec<u8>>::from_fn(64, 48, |x, y| Rgb([(x * 2 + y) as u8; 3]))
        .save(jpg.path())
        .unwrap();
    let b = thermal::decode_thermal(jpg.path()).unwrap();
    assert_eq!(b.dim(), (48, 64));
}

#[test]
fn thermal_colour_image_is_refused() {
    let file = Scratch::new("colour.png");
    ImageBuffer::<Rgb<u8>, Vec<u8>>::from_fn(16, 16, |x, _| Rgb([255, (x * 16) as u8, 0]))
        .save(file.path())
        .unwrap();
    assert_err(
        thermal::decode_thermal(file.path()),
        file.path(),
        "must be grayscale",
    );
}

// ---------------------------------------------------------------------------------------
// IMU
// ---------------------------------------------------------------------------------------

fn csv(name: &str, text: &str) -> Scratch {
    Scratch::with_bytes(name, text.as_bytes())
}

#[test]
fn imu_csv_plain_header_and_time_column_agree() {
    let plain = csv("plain.csv", "1,2,3,4,5,6\n7,8,9,10,11,12\n");
    let header = csv(
        "header.csv",
        "ax,ay,az,gx,gy,gz\n1,2,3,4,5,6\n7,8,9,10,11,12\n",
    );
    let timed = csv(
        "timed.csv",
        "t, ax, ay, az, gx, gy, gz\n0.0, 1, 2, 3, 4, 5, 6\n0.0025, 7, 8, 9, 10, 11, 12\n",
    );
    let expected = array![
        [1.0f32, 7.0],
        [2.0, 8.0],
        [3.0, 9.0],
        [4.0, 10.0],
        [5.0, 11.0],
        [6.0, 12.0]
    ];
    for file in [&plain, &header, &timed] {
        assert_eq!(
            imu::decode_imu(file.path()).unwrap(),
            expected,
            "{}",
            file.path().display()
        );
    }
    let no_header_timed = csv("timed2.csv", "0,1,2,3,4,5,6\n1,7,8,9,10,11,12\n");
    assert_eq!(imu::decode_imu(no_header_timed.path()).unwrap(), expected);
}

#[test]
fn imu_npy_in_both_orientations() {
    let channels_first = Array2::from_shape_fn((6, 50), |(c, t)| (c * 100 + t) as f32);
    let a = Scratch::new("imu-6xT.npy");
    write_npy(a.path(), &channels_first).unwrap();
    let b = Scratch::new("imu-Tx6.npy");
    write_npy(b.path(), &channels_first.t().mapv(f64::from)).unwrap();
    assert_eq!(imu::decode_imu(a.path()).unwrap(), channels_first);
    assert_eq!(imu::decode_imu(b.path()).unwrap(), channels_first);
}

#[test]
fn imu_longer_is_centre_cropped_and_shorter_zero_padded() {
    let cfg = ImuPreprocess::default();
    let long = Array2::from_shape_fn((6, 2011), |(c, t)| (c * 10000 + t) as f32);
    let cropped = imu::preprocess(&long, &cfg);
    assert_eq!(cropped.dim(), (6, 2000));
    assert_eq!(cropped[[0, 0]], 5.0, "starts at floor((2011 - 2000) / 2)");
    assert_eq!(cropped[[2, 1999]], (20000 + 2004) as f32);

    let short = Array2::from_elem((6, 3), 1.5f32);
    let padded = imu::preprocess(&short, &cfg);
    assert_eq!(padded.dim(), (6, 2000));
    assert_eq!(
        padded.row(4).slice(ndarray::s![..3]),
        Array1::from_elem(3, 1.5)
    );
    assert!(padded.slice(ndarray::s![.., 3..]).iter().all(|&v| v == 0.0));

    let file = csv("load.csv", "1,2,3,4,5,6\n");
    assert_eq!(imu::load_imu(file.path(), &cfg).unwrap().dim(), (6, 2000));
}

#[test]
fn imu_csv_errors_name_the_line() {
    let five = csv("five.csv", "ax,ay,az,gx,gy,gz\n1,2,3,4,5,6\n1,2,3,4,5\n");
    assert_err(
        imu::decode_imu(five.path()),
        five.path(),
        "expected 6 columns (ax ay az gx gy gz) or 7 with a leading time column, found 5 on line 3",
    );
    let nan = csv("nan.csv", "1,2,3,4,5,6\n1,2,3,4,5,6\n1,NaN,3,4,5,6\n");
    assert_err(
        imu::decode_imu(nan.path()),
        nan.path(),
        "line 3, column 2: 'NaN' is NaN or infinite",
    );
    let inf = csv("inf.csv", "1,2,3,4,5,inf\n");
    assert_err(imu::decode_imu(inf.path()), inf.path(), "line 1, column 6");
    let word = csv(
        "word.csv",
        "ax,ay,az,gx,gy,gz\n1,2,3,4,5,6\n1,2,three,4,5,6\n",
    );
    assert_err(
        imu::decode_imu(word.path()),
        word.path(),
        "line 3, column 3: 'three' is not a number",
    );
    let typo_first = csv("typo.csv", "1,2,x,4,5,6\n");
    assert_err(
        imu::decode_imu(typo_first.path()),
        typo_first.path(),
        "line 1, column 3",
    );
    let header_only = csv("header-only.csv", "ax,ay,az,gx,gy,gz\n\n");
    assert_err(
        imu::decode_imu(header_only.path()),
        header_only.path(),
        "no data rows",
    );
    let ragged = csv("ragged.csv", "1,2,3,4,5,6\n0,1,2,3,4,5,6\n");
    assert_err(
        imu::decode_imu(ragged.path()),
        ragged.path(),
        "ragged rows: line 2 has 7 columns but line 1 has 6",
    );
    let binary = Scratch::with_bytes("binary.csv", &[0xff, 0xfe, 0x00, 0x80]);
    assert_err(imu::decode_imu(binary.path()), binary.path(), "not UTF-8");
}

#[test]
fn imu_npy_wrong_shape_or_values_is_refused() {
    let five = Scratch::new("five.npy");
    write_npy(five.path(), &Array2::<f32>::zeros((5, 100))).unwrap();
    assert_err(
        imu::decode_imu(five.path()),
        five.path(),
        "[6, T] or [T, 6] (ax ay az gx gy gz); got [5, 100]",
    );
    let flat = Scratch::new("flat.npy");
    write_npy(flat.path(), &Array1::<f32>::zeros(600)).unwrap();
    assert_err(imu::decode_imu(flat.path()), flat.path(), "got [600]");
    let nan = Scratch::new("nan-imu.npy");
    let mut x = Array2::<f32>::zeros((6, 10));
    x[[2, 3]] = f32::NAN;
    write_npy(nan.path(), &x).unwrap();
    assert_err(imu::decode_imu(nan.path()), nan.path(), "1 NaN or infinite");
}

// ---------------------------------------------------------------------------------------
// Bad files common to all three
// ---------------------------------------------------------------------------------------

type Decoder = fn(&Path) -> mmbind_modalities::Result<Array2<f32>>;
const DECODERS: [(&str, Decoder); 3] = [
    ("depth", depth::decode_depth),
    ("thermal", thermal::decode_thermal),
    ("imu", imu::decode_imu),
];

#[test]
fn empty_and_missing_files_are_refused() {
    for (name, decode) in DECODERS {
        let empty = Scratch::with_bytes(&format!("empty-{name}.png"), b"");
        assert_err(decode(empty.path()), empty.path(), "empty");
        let missing =
            std::env::temp_dir().join(format!("mmbind-no-such-{name}-{}.png", std::process::id()));
        assert_err(decode(&missing), &missing, "cannot read file");
    }
}

#[test]
fn truncated_png_is_refused() {
    let good = gray16_png("good.png", 64, 64, |x, y| (x * 64 + y) as u16 + 1);
    let bytes = std::fs::read(good.path()).unwrap();
    let cut = Scratch::with_bytes("truncated.png", &bytes[..bytes.len() / 2]);
    assert_err(
        depth::decode_depth(cut.path()),
        cut.path(),
        "cannot decode image",
    );
    assert_err(
        thermal::decode_thermal(cut.path()),
        cut.path(),
        "cannot decode image",
    );
}

#[test]
fn every_prefix_of_valid_files_errors_or_decodes_without_panicking() {
    let png = gray16_png("prefix.png", 20, 20, |x, y| (x + y) as u16 + 1);
    let npy = Scratch::new("prefix.npy");
    write_npy(npy.path(), &Array2::<f32>::ones((6, 20))).unwrap();
    for source in [&png, &npy] {
        let bytes = std::fs::read(source.path()).unwrap();
        for len in (0..bytes.len()).step_by(7) {
            let cut = Scratch::with_bytes("prefix-cut", &bytes[..len]);
            for (_, decode) in DECODERS {
                if let Err(e) = decode(cut.path()) {
                    assert!(e.to_string().contains("prefix-cut"), "{e}");
                }
            }
        }
    }
}
