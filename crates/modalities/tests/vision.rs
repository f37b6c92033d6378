//! Vision preprocessing parity with ImageBind's `load_and_transform_vision_data`
//! (fixtures made with torchvision + Pillow) and decoding of bad or unusual files.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage, Rgba, RgbaImage};
use mmbind_modalities::vision::{
    VisionPreprocess, center_crop, decode_image, decode_image_bytes, load_image, normalize,
    resize_shorter_side,
};
use safetensors::{Dtype, SafeTensors};

const PREPROCESSING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/preprocessing.safetensors"
);
const JPG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/image_320x240.jpg"
);
const PNG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/image_200x300.png"
);

fn fixtures() -> Vec<u8> {
    std::fs::read(PREPROCESSING).expect("preprocessing fixture readable")
}

/// A `[H, W, 3]` uint8 tensor as an image.
fn u8_image(st: &SafeTensors, name: &str) -> RgbImage {
    let t = st.tensor(name).expect("tensor present");
    assert_eq!(t.dtype(), Dtype::U8);
    let shape = t.shape();
    assert_eq!(shape.len(), 3);
    RgbImage::from_raw(shape[1] as u32, shape[0] as u32, t.data().to_vec()).expect("HWC buffer")
}

fn f32_tensor(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = st.tensor(name).expect("tensor present");
    assert_eq!(t.dtype(), Dtype::F32);
    let data = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (t.shape().to_vec(), data)
}

/// Largest absolute difference between two images of equal size, in levels.
fn max_level_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

fn mean_level_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// A path in the temp dir unique to this process and test.
fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mmbind-vision-{}-{name}", std::process::id()))
}

#[test]
fn jpeg_resize_is_pillow_exact() {
    let bytes = fixtures();
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let decoded = u8_image(&st, "vision.jpg_320x240.decoded_rgb_u8");
    let expected = u8_image(&st, "vision.jpg_320x240.resized_rgb_u8");
    let resized = resize_shorter_side(&decoded, 224);
    assert_eq!(resized.dimensions(), (298, 224));
    let diff = max_level_diff(&resized, &expected);
    eprintln!("jpg 320x240 resize: max diff {diff} levels");
    assert_eq!(diff, 0);
}

#[test]
fn png_resize_is_pillow_exact() {
    let bytes = fixtures();
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let expected = u8_image(&st, "vision.png_200x300.resized_rgb_u8");
    let decoded = decode_image(Path::new(PNG)).expect("png decodes");
    assert_eq!(decoded.dimensions(), (200, 300));
    let resized = resize_shorter_side(&decoded, 224);
    assert_eq!(resized.dimensions(), (224, 336));
    let diff = max_level_diff(&resized, &expected);
    eprintln!("png 200x300 resize: max diff {diff} levels");
    assert_eq!(diff, 0);
}

/// Pillow decodes JPEG with libjpeg-turbo; ours must give the same samples, not close ones.
#[test]
fn jpeg_decode_matches_libjpeg_turbo() {
    let bytes = fixtures();
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let reference = u8_image(&st, "vision.jpg_320x240.decoded_rgb_u8");
    let ours = decode_image(Path::new(JPG)).expect("jpeg decodes");
    let (max, mean) = (
        max_level_diff(&ours, &reference),
        mean_level_diff(&ours, &reference),
    );
    let differing = ours
        .as_raw()
        .iter()
        .zip(reference.as_raw())
        .filter(|(a, b)| a != b)
        .count();
    let share = differing as f64 / ours.as_raw().len() as f64;
    eprintln!(
        "jpg decode vs Pillow: max diff {max} levels, mean {mean:.4} levels, {:.1}% of samples differ",
        share * 100.0
    );
    assert_eq!(max, 0, "JPEG decode differs by up to {max} levels");
}

/// Small JPEGs written by libjpeg-turbo's `cjpeg` (from crops of the 320x240 fixture), as
/// hex, with the size and FNV-1a hash of the RGB samples `djpeg` (libjpeg-turbo 2.1.5,
/// default settings, as Pillow uses it) decodes them to: the variants the big fixture does
/// not cover (progressive scans, restart markers, other subsamplings, odd sizes, grey, RGB).
const LIBJPEG_CASES: &[(&str, (u32, u32), u64, &str)] = &[
    // 13x11, progressive, 4:2:0, a restart marker every MCU
    (
        "f1",
        (13, 11),
        0xdac12efebaa8040c,
        "\
ffd8ffe000104a46494600010100000100010000ffdb0043000503040404030504040405050506070c080707\
07070f0b0b090c110f1212110f111113161c1713141a1511111821181a1d1d1f1f1f13172224221e241c1e1f\
1effdb0043010505050706070e08080e1e1411141e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e\
1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1effc2001108000b000d030122000211010311\
01ffc400160001010100000000000000000000000000040003ffc40015010101000000000000000000000000\
00000005ffdd00040001ffda000c03010002100310000001136d6dbfffc40017100101010100000000000000\
000000000002002131ffdd00040002ffda000801010001050202273fffd01cbfffc400161101010100000000\
000000000000000000010003ffdd00040001ffda0008010301013f017456ffc4001811000203000000000000\
000000000000000003040511ffda0008010201013f01ae82b42f4fffc4001410010000000000000000000000\
0000000010ffdd00040002ffda0008010100063f023fffd03fffc40019100101000301000000000000000000\
00000100213171e1ffda0008010100013f210f60360bffd0d5c9cb9bffdd00040001ffda000c030100020003\
00000010ebffc4001511010100000000000000000000000000000011ffda0008010301013f10807fffc40016\
1101010100000000000000000000000000011100ffda0008010201013f102f1577ffc4001b10010003010003\
0000000000000000000001001121317181f0ffdd00040002ffda0008010100013f106255ef967c42d8132dec\
ffd000b5adbdd108b41ae4ffd9",
    ),
    // 13x11, baseline, 4:2:2, optimised Huffman tables
    (
        "f2",
        (13, 11),
        0x0f7e4b1750dc1667,
        "\
ffd8ffe000104a46494600010100000100010000ffdb00430003020203020203030303040303040508050504\
04050a070706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f1718161418121415\
14ffdb00430103040405040509050509140d0b0d141414141414141414141414141414141414141414141414\
1414141414141414141414141414141414141414141414141414ffc0001108000b000d030121000211010311\
01ffc400160001010100000000000000000000000000060105ffc40021100002020201040300000000000000\
000001020311000512041321316171c1ffc40017010003010000000000000000000000000004050607ffc400\
1f1100010303050000000000000000000000010003110204130506072141ffda000c03010002110311003f00\
2babd3a3b2d58b17dcf62bdfe62ce875e90c20f258c301567c9cb3e3ddbc1ab6cb58f118f5ccd5014d4a2886\
3600594e47ef88cd0914492b06008155f19a96954862c1b0d88e824f27215fffd9",
    ),
    // 9x7, progressive, 4:4:0 (vertical-only chroma subsampling)
    (
        "f3",
        (9, 7),
        0x7a631c74de0f6c0d,
        "\
ffd8ffe000104a46494600010100000100010000ffdb00430003020203020203030303040303040508050504\
04050a070706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f1718161418121415\
14ffdb00430103040405040509050509140d0b0d141414141414141414141414141414141414141414141414\
1414141414141414141414141414141414141414141414141414ffc200110800070009030112000211010311\
01ffc400160001010100000000000000000000000000000206ffc40016010101010000000000000000000000\
0000050407ffda000c03010002100310000001c3a1dae8525fffc40017100003010000000000000000000000\
000000010212ffda00080101000105029ad23fffc4001a110001050100000000000000000000000000010203\
041141ffda0008010301013f01a92ba5d4770c43ffc400181101010003000000000000000000000000020403\
1041ffda0008010201013f01b27184943bafffc40014100100000000000000000000000000000010ffda0008\
010100063f023fffc4001810010003010000000000000000000000000110112151ffda0008010100013f210b\
82b51389891fffda000c030100020003000000100cffc4001811000203000000000000000000000000000001\
116181ffda0008010301013f107b1f0547ffc4001811000203000000000000000000000000001121000151ff\
da0008010201013f103494c68a591ecfffc400191001010100030000000000000000000000012111103151ff\
da0008010100013f10d8cc25ed0c122249e2978fffd9",
    ),
    // 10x6, progressive, greyscale
    (
        "f4",
        (10, 6),
        0x61f6cecbd6d366d0,
        "\
ffd8ffe000104a46494600010100000100010000ffdb00430003020203020203030303040303040508050504\
04050a070706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f1718161418121415\
14ffc2000b080006000a01011100ffc40014000100000000000000000000000000000005ffda000801010000\
0001316fffc40017100003010000000000000000000000000000020315ffda0008010100010502b3e7c8ffc4\
001a100002020300000000000000000000000001031021425271ffda0008010100063f022db28186bc8fffc4\
001b10000202030100000000000000000000000111217100418191ffda0008010100013f211ba5a0c5c90abd\
134923c1ee7fffda00080101000000103fffc4001b1001000202030000000000000000000000010011213141\
b1f0ffda0008010100013f10a73420a08e0eccd407202549e9d4ffd9",
    ),
    // 7x5, baseline, RGB colour space (Adobe marker, no YCbCr)
    (
        "f5",
        (7, 5),
        0xe8fcd24aa492d28a,
        "\
ffd8ffee000e41646f626500640000000000ffdb004300030202030202030303030403030405080505040405\
0a070706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f171816141812141514ff\
c00011080005000703521100471100421100ffc4001500010100000000000000000000000000000807ffc400\
23100001030304020300000000000000000001030411020512000607132131152241ffda000c035200470042\
00003f00263bdbd69e314ee0d13675397ec5d56cd2ba20a743831864498a84104880044fb3aab596e9b8b9f2\
e1762aee175b66c2cdeaccbe3ad748ed52a4f08acaf5790264e2291efc93a07f1a71fa1b8df5c1ab97ce1045\
274b35ec69142d514f03966660193f503f7d9d7fffd9",
    ),
];

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[test]
fn jpeg_variants_match_libjpeg_turbo() {
    for &(name, size, hash, hex) in LIBJPEG_CASES {
        let jpeg = from_hex(hex);
        let rgb = decode_image_bytes(&jpeg, Path::new(name)).expect("decodes");
        assert_eq!(rgb.dimensions(), size, "{name}");
        // The image crate's decoder (zune-jpeg) differs from libjpeg-turbo on each of these.
        let other = image::load_from_memory(&jpeg).expect("decodes").to_rgb8();
        eprintln!(
            "{name}: image crate differs by up to {} levels",
            max_level_diff(&other, &rgb)
        );
        assert_eq!(
            fnv1a(rgb.as_raw()),
            hash,
            "{name}: samples differ from libjpeg-turbo's"
        );
    }
}

/// libjpeg decodes a JPEG whose EOI marker is missing as if it were there.
#[test]
fn jpeg_without_eoi_matches_libjpeg_turbo() {
    let bytes = fixtures();
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let reference = u8_image(&st, "vision.jpg_320x240.decoded_rgb_u8");
    let jpeg = std::fs::read(JPG).expect("fixture jpeg");
    assert_eq!(jpeg[jpeg.len() - 2..], [0xFF, 0xD9]);
    let ours = decode_image_bytes(&jpeg[..jpeg.len() - 2], Path::new("no-eoi.jpg"))
        .expect("decodes without EOI");
    assert_eq!(max_level_diff(&ours, &reference), 0);
}

/// A JPEG cut inside its image data is left to the image crate's decoder, which fills in
/// what is missing (Pillow would refuse it); either way nothing panics.
#[test]
fn truncated_jpeg_does_not_panic() {
    let jpeg = std::fs::read(JPG).expect("fixture jpeg");
    for cut in [700, jpeg.len() / 2, jpeg.len() - 3] {
        match decode_image_bytes(&jpeg[..cut], Path::new("cut.jpg")) {
            Ok(img) => assert_eq!(img.dimensions(), (320, 240)),
            Err(e) => assert!(e.to_string().contains("cut.jpg"), "{e}"),
        }
    }
}

/// Max and mean absolute error of `got` against image `index` of `vision.output`.
fn output_error(got: &ndarray::Array3<f32>, expected: &[f32], index: usize) -> (f32, f64) {
    assert_eq!(got.shape(), &[3, 224, 224]);
    let per_image = 3 * 224 * 224;
    let reference = &expected[index * per_image..(index + 1) * per_image];
    let errors: Vec<f32> = got
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let max = errors.iter().copied().fold(0.0f32, f32::max);
    let mean = errors.iter().map(|&e| f64::from(e)).sum::<f64>() / errors.len() as f64;
    (max, mean)
}

#[test]
fn load_image_png_matches_reference_output() {
    let bytes = fixtures();
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let (shape, expected) = f32_tensor(&st, "vision.output");
    assert_eq!(shape, vec![2, 3, 224, 224]);
    let got = load_image(Path::new(PNG), &VisionPreprocess::default()).expect("png loads");
    let (max, mean) = output_error(&got, &expected, 1);
    eprintln!("vision.output[1] (png): max abs err {max:e}, mean abs err {mean:e}");
    assert!(max <= 2e-2, "max abs error {max}");
}

/// The JPEG decoder reproduces libjpeg-turbo (ISLOW IDCT, fancy upsampling, its colour
/// tables) and the rest of the pipeline is Pillow/torch-exact, so the whole transform is
/// bit-exact. (zune-jpeg, which the image crate uses, was up to 4 levels off on this file,
/// 5.7e-2 here; one level is 1/255/std ≈ 0.015 after normalising.)
#[test]
fn load_image_jpeg_matches_reference_output() {
    let bytes = fixtures();
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let (_, expected) = f32_tensor(&st, "vision.output");
    let got = load_image(Path::new(JPG), &VisionPreprocess::default()).expect("jpeg loads");
    let (max, mean) = output_error(&got, &expected, 0);
    eprintln!("vision.output[0] (jpg): max abs err {max:e}, mean abs err {mean:e}");
    assert_eq!(max, 0.0, "max abs error {max} (mean {mean})");
}

#[test]
fn reference_jpeg_pixels_through_preprocess_are_bit_exact() {
    let bytes = fixtures();
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let (_, expected) = f32_tensor(&st, "vision.output");
    let decoded = u8_image(&st, "vision.jpg_320x240.decoded_rgb_u8");
    let got = mmbind_modalities::vision::preprocess(&decoded, &VisionPreprocess::default());
    let (max, _) = output_error(&got, &expected, 0);
    eprintln!("vision.output[0] from Pillow-decoded pixels: max abs err {max:e}");
    assert_eq!(max, 0.0);
}

#[test]
fn reference_pixels_through_crop_and_normalize_are_bit_exact() {
    let bytes = fixtures();
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let (_, expected) = f32_tensor(&st, "vision.output");
    let resized = u8_image(&st, "vision.jpg_320x240.resized_rgb_u8");
    let got = normalize(&center_crop(&resized, 224), &VisionPreprocess::default());
    let reference = &expected[..3 * 224 * 224];
    let max = got
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert_eq!(max, 0.0);
}

#[test]
fn center_crop_rounds_half_to_even() {
    // Offsets: (225-224)/2 = 0.5 -> 0; (227-224)/2 = 1.5 -> 2.
    let img = RgbImage::from_fn(227, 225, |x, y| Rgb([x as u8, y as u8, 0]));
    let crop = center_crop(&img, 224);
    assert_eq!(crop.dimensions(), (224, 224));
    assert_eq!(crop.get_pixel(0, 0).0, [2, 0, 0]);
}

#[test]
fn center_crop_pads_small_images_with_black() {
    let img = RgbImage::from_pixel(2, 3, Rgb([9, 9, 9]));
    let crop = center_crop(&img, 5);
    assert_eq!(crop.dimensions(), (5, 5));
    assert_eq!(crop.get_pixel(0, 0).0, [0, 0, 0]);
    assert_eq!(crop.get_pixel(1, 1).0, [9, 9, 9]);
    assert_eq!(crop.get_pixel(4, 4).0, [0, 0, 0]);
}

#[test]
fn transparent_pixels_become_white() {
    let mut rgba = RgbaImage::from_pixel(4, 4, Rgba([10, 20, 30, 255]));
    rgba.put_pixel(0, 0, Rgba([0, 0, 0, 0]));
    rgba.put_pixel(1, 0, Rgba([0, 0, 0, 128]));
    let mut png = Vec::new();
    rgba.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode png");
    let rgb = decode_image_bytes(&png, Path::new("alpha.png")).expect("rgba png decodes");
    assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
    assert_eq!(rgb.get_pixel(1, 0).0, [127, 127, 127]);
    assert_eq!(rgb.get_pixel(2, 2).0, [10, 20, 30]);
}

#[test]
fn grayscale_and_16_bit_become_8_bit_rgb() {
    let gray = image::ImageBuffer::<image::Luma<u16>, _>::from_pixel(3, 2, image::Luma([0xFFFF]));
    let mut png = Vec::new();
    gray.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode png");
    let rgb = decode_image_bytes(&png, Path::new("gray16.png")).expect("16-bit gray decodes");
    assert_eq!(rgb.dimensions(), (3, 2));
    assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
}

/// Writes `bytes` to a temp file named `name`, checks `decode_image` and `load_image`
/// fail with a message naming the file, and cleans up.
fn assert_rejected(name: &str, bytes: &[u8]) {
    let path = temp_path(name);
    std::fs::write(&path, bytes).expect("write temp file");
    let err = decode_image(&path)
        .expect_err("bad image rejected")
        .to_string();
    let load_err = load_image(&path, &VisionPreprocess::default())
        .expect_err("bad image rejected")
        .to_string();
    let _ = std::fs::remove_file(&path);
    eprintln!("{name}: {err}");
    for msg in [err, load_err] {
        assert!(msg.contains(name), "message lacks the file name: {msg}");
        let reason = msg.rsplit(": ").next().unwrap_or("");
        assert!(!reason.trim().is_empty(), "message lacks a reason: {msg}");
    }
}

#[test]
fn empty_file_is_an_error() {
    assert_rejected("empty.png", b"");
}

#[test]
fn truncated_png_is_an_error() {
    let png = std::fs::read(PNG).expect("fixture png");
    assert_rejected("truncated.png", &png[..100]);
}

#[test]
fn text_named_png_is_an_error() {
    assert_rejected("notes.png", b"this is not an image, just some text\n");
}

#[test]
fn unknown_format_is_an_error() {
    assert_rejected("mystery.bin", b"\x00\x01\x02\x03 what is this");
}

#[test]
fn missing_file_is_an_error() {
    let path = temp_path("does-not-exist.jpg");
    let err = load_image(&path, &VisionPreprocess::default())
        .expect_err("missing rejected")
        .to_string();
    assert!(err.contains("does-not-exist.jpg"), "{err}");
}

#[test]
fn exif_orientation_is_applied() {
    // A 2x1 JPEG with EXIF orientation 6 (rotate 90° clockwise) must come out 1x2.
    let img = RgbImage::from_fn(16, 8, |x, _| {
        if x < 8 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let mut jpeg = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )
    .expect("encode jpeg");
    let with_exif = insert_exif_orientation(&jpeg, 6);
    let rgb = decode_image_bytes(&with_exif, Path::new("rotated.jpg")).expect("decodes");
    assert_eq!(rgb.dimensions(), (8, 16));
    // Rotating clockwise puts the left (red) half on top.
    let top = rgb.get_pixel(4, 2).0;
    assert!(top[0] > 200 && top[2] < 60, "top pixel {top:?}");
}

/// Inserts an APP1 EXIF segment holding only an orientation tag right after SOI.
fn insert_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\x00\x2a\x00\x00\x00\x08"); // big-endian header, IFD at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn preprocess_gives_square_output_for_any_aspect() {
    let cfg = VisionPreprocess::default();
    for (w, h) in [(1, 1), (1000, 3), (3, 1000), (224, 224), (225, 224)] {
        let img = RgbImage::from_pixel(w, h, Rgb([128, 64, 32]));
        let out = mmbind_modalities::vision::preprocess(&img, &cfg);
        assert_eq!(out.shape(), &[3, 224, 224], "{w}x{h}");
        assert!(out.iter().all(|v| v.is_finite()));
    }
}
