//! Hostile inputs against the limits policy: each forged file from the hardening report is
//! refused with one line naming the file and the limit, and the refusal allocates almost
//! nothing. A counting allocator measures the peak heap of each decode, so "bounded memory"
//! is a number this test checks, not a claim.
//!
//! One `#[test]` runs the cases one after another: the allocator's peak is process-wide, and
//! parallel tests would add to it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{ImageBuffer, Luma, Rgb};
use mmbind_modalities::audio::{self, AudioPreprocess};
use mmbind_modalities::depth::{self, DepthPreprocess};
use mmbind_modalities::imu::{self, ImuPreprocess};
use mmbind_modalities::thermal::{self, ThermalPreprocess};
use mmbind_modalities::vision::{self, VisionPreprocess};
use mmbind_modalities::{Limits, Modality, Preprocess, Source};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new) };
        if !q.is_null() {
            if new > layout.size() {
                let now =
                    CURRENT.fetch_add(new - layout.size(), Ordering::Relaxed) + new - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result with the most heap it held at once, in bytes.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

fn mp3_seed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/audio/sine.mp3")
}

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mmbind-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn png<P: image::Pixel<Subpixel = S> + image::PixelWithColorType, S: image::Primitive>(
    img: &ImageBuffer<P, Vec<S>>,
) -> Vec<u8>
where
    [S]: image::EncodableLayout,
{
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The fixture JPEG with its frame header (SOF) rewritten to claim `w × h`.
fn forged_jpeg(w: u16, h: u16) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut bytes = std::fs::read(dir.join("image_320x240.jpg")).unwrap();
    let sof = (0..bytes.len() - 9)
        .find(|&i| bytes[i] == 0xFF && matches!(bytes[i + 1], 0xC0..=0xC2))
        .expect("a frame header");
    bytes[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    bytes
}

/// A PNG whose IHDR claims `w × h` (its CRC fixed up) over a tiny real image's data.
fn forged_png(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = png(&ImageBuffer::from_pixel(4, 4, Rgb([9u8, 9, 9])));
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A `.npy` of 167 bytes or so whose header declares `shape` (and holds no data).
fn forged_npy(shape: &str) -> Vec<u8> {
    let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    let mut h = header.into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut f = b"\x93NUMPY\x01\x00".to_vec();
    f.extend((h.len() as u16).to_le_bytes());
    f.extend(h);
    f
}

/// A mono 8-bit WAV of `seconds` at 8 kHz.
fn wav(seconds: u32) -> Vec<u8> {
    let n = 8000 * seconds;
    let mut f = Vec::new();
    f.extend(b"RIFF");
    f.extend((36 + n).to_le_bytes());
    f.extend(b"WAVEfmt ");
    f.extend(16u32.to_le_bytes());
    f.extend(1u16.to_le_bytes()); // PCM
    f.extend(1u16.to_le_bytes()); // mono
    f.extend(8000u32.to_le_bytes());
    f.extend(8000u32.to_le_bytes());
    f.extend(1u16.to_le_bytes());
    f.extend(8u16.to_le_bytes());
    f.extend(b"data");
    f.extend(n.to_le_bytes());
    f.extend((0..n).map(|i| (128 + ((i / 8) % 32) as i32 - 16) as u8));
    f
}

/// Asserts `result` is an error that names `path` and the limit `limit`, made with at most
/// `max_heap` bytes of heap; returns the message.
fn refused<T: std::fmt::Debug>(
    case: &str,
    path: &Path,
    (result, heap): (mmbind_modalities::Result<T>, usize),
    limit: &str,
    max_heap: usize,
) -> String {
    let msg = result
        .expect_err(&format!("{case}: a hostile input must be refused"))
        .to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "{case}: names the file: {msg}"
    );
    assert!(
        msg.contains(&format!("--limit {limit}=N")),
        "{case}: names the limit {limit}: {msg}"
    );
    assert!(
        heap <= max_heap,
        "{case}: peak heap {heap} bytes, over {max_heap}"
    );
    eprintln!("{case}: {heap} bytes of heap: {msg}");
    msg
}

/// Decodes `bytes` as the audio file `name`: refused as `reason`, naming the file, with under
/// 1 MB of heap (the metadata checks run before the decoder allocates); returns the message.
fn malformed_audio(name: &str, bytes: &[u8], reason: &str) -> String {
    let p = scratch(name, bytes);
    let (r, heap) = peak_of(|| audio::decode_audio(&p));
    let e = r.unwrap_err().to_string();
    assert!(e.contains(reason) && e.contains(name), "{name}: {e}");
    assert!(heap < 1 << 20, "{name}: {heap} bytes of heap");
    e
}

#[test]
fn hostile_files_are_refused_in_bounded_memory() {
    let defaults = Limits::default();
    assert_eq!(Limits::current(), &defaults, "nothing installed a policy");
    const MB: usize = 1 << 20;

    // 1. The report's 32 KB JPEG claiming 65500×65500 (24 GB and the OOM killer before).
    let p = scratch("bomb.jpg", &forged_jpeg(65500, 65500));
    let r = peak_of(|| vision::load_image(&p, &VisionPreprocess::default()));
    let msg = refused("jpeg 65500x65500", &p, r, "pixels", 2 * MB);
    assert!(msg.contains("65500x65500"), "{msg}");
    // Within the pixel limit, the same forgery is an ordinary truncated-file error, with
    // memory bounded by the size it claims (7000×7000×3 coefficients and samples).
    let p = scratch("big.jpg", &forged_jpeg(7000, 7000));
    let (r, heap) = peak_of(|| vision::load_image(&p, &VisionPreprocess::default()));
    assert!(heap < 700 * MB, "7000x7000 forged jpeg: {heap} bytes");
    drop(r);

    // 2. Extreme aspect ratios: a 100000×1 PNG (15 GB of resize before), and 1×20000 depth
    // and thermal maps (4.3 GB and 40 s before).
    let p = scratch(
        "wide.png",
        &png(&ImageBuffer::from_pixel(100_000, 1, Rgb([1u8, 2, 3]))),
    );
    let r = peak_of(|| vision::load_image(&p, &VisionPreprocess::default()));
    refused("png 100000x1", &p, r, "aspect", 2 * MB);
    let tall = png(&ImageBuffer::from_pixel(1, 20_000, Luma([1000u16])));
    let p = scratch("tall-depth.png", &tall);
    let r = peak_of(|| depth::load_depth(&p, &DepthPreprocess::default()));
    refused("depth 1x20000", &p, r, "aspect", 2 * MB);
    let p = scratch("tall-thermal.png", &tall);
    let r = peak_of(|| thermal::load_thermal(&p, &ThermalPreprocess::default()));
    refused("thermal 1x20000", &p, r, "aspect", 2 * MB);
    // A header that claims the pixels without holding them.
    let p = scratch("forged.png", &forged_png(60_000, 60_000));
    let r = peak_of(|| vision::load_image(&p, &VisionPreprocess::default()));
    refused("png claiming 60000x60000", &p, r, "pixels", 2 * MB);
    let p = scratch("forged-thermal.png", &forged_png(60_000, 60_000));
    let r = peak_of(|| thermal::load_thermal(&p, &ThermalPreprocess::default()));
    refused("thermal png claiming 60000x60000", &p, r, "pixels", 2 * MB);

    // 3. `.npy` headers declaring 200000×200000 (160 GB asked for before), depth and IMU.
    let npy = forged_npy("(200000, 200000)");
    assert!(npy.len() < 200);
    let p = scratch("huge-depth.npy", &npy);
    let r = peak_of(|| depth::load_depth(&p, &DepthPreprocess::default()));
    refused("depth npy 200000x200000", &p, r, "npy-elements", MB);
    let p = scratch("huge-imu.npy", &npy);
    let r = peak_of(|| imu::load_imu(&p, &ImuPreprocess::default()));
    refused("imu npy 200000x200000", &p, r, "npy-elements", MB);
    // A shape whose product overflows 64 bits is refused the same way.
    let p = scratch("overflow.npy", &forged_npy("(4294967296, 4294967296, 6)"));
    let r = peak_of(|| imu::load_imu(&p, &ImuPreprocess::default()));
    refused("imu npy overflowing shape", &p, r, "npy-elements", MB);
    // A 1×20000 depth `.npy` (the aspect ratio again, through the other reader).
    let mut thin = forged_npy("(1, 20000)");
    thin.extend(std::iter::repeat_n(1.0f32.to_le_bytes(), 20_000).flatten());
    let p = scratch("thin-depth.npy", &thin);
    let r = peak_of(|| depth::load_depth(&p, &DepthPreprocess::default()));
    refused("depth npy 1x20000", &p, r, "aspect", MB);

    // 4. Audio over the duration limit (11 minutes of 8 kHz WAV).
    let p = scratch("long.wav", &wav(660));
    let r = peak_of(|| audio::load_audio(&p, &AudioPreprocess::default()));
    let msg = refused("wav 660 s", &p, r, "audio-seconds", 8 * MB);
    assert!(msg.contains("660 s"), "{msg}");

    // 5. Text over the byte limit, inline and as a file; a long word under it tokenises.
    let text = "a".repeat(defaults.text_bytes as usize + 1);
    let pre = Preprocess::default();
    let r = peak_of(|| pre.prepare(Modality::Text, &Source::Text(text.clone())));
    refused(
        "inline text",
        Path::new("<inline text>"),
        r,
        "text-bytes",
        8 * MB,
    );
    let p = scratch("long.txt", text.as_bytes());
    let r = peak_of(|| pre.prepare(Modality::Text, &Source::File(p.clone())));
    refused("text file", &p, r, "text-bytes", 8 * MB);

    // 6. Files that are not regular files are refused, not read: a FIFO would block its
    // reader until a writer comes, a device never ends.
    let dir = std::env::temp_dir();
    let e = vision::decode_image(&dir).unwrap_err().to_string();
    assert!(e.contains("not a regular file"), "{e}");
    let fifo = dir.join(format!("mmbind-limits-{}/pipe.wav", std::process::id()));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for e in [
        audio::decode_audio(&fifo).unwrap_err(),
        vision::decode_image(&fifo).unwrap_err(),
        depth::decode_depth(&fifo).unwrap_err(),
        imu::decode_imu(&fifo).unwrap_err(),
        pre.prepare(Modality::Text, &Source::File(fifo.clone()))
            .unwrap_err(),
        vision::decode_image(Path::new("/dev/zero")).unwrap_err(),
    ] {
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    // 8. Found by fuzz/ (audio): a FLAC comment block whose comment claims 3 GB made
    // symphonia allocate it; a float WAV of 1e30 samples overflowed the filterbank to inf.
    let mut flac = b"fLaC".to_vec();
    flac.extend([0x00, 0, 0, 34]); // STREAMINFO, 34 bytes
    flac.extend([
        0x10, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0x0A, 0xC4, 0x40, 0xF0, 0, 0, 0, 0,
    ]);
    flac.extend([0u8; 16]);
    let comment = [
        &0u32.to_le_bytes()[..],
        &1u32.to_le_bytes(),
        &0xC000_0000u32.to_le_bytes(),
    ]
    .concat();
    flac.extend([0x84, 0, 0, comment.len() as u8]); // last block: VORBIS_COMMENT
    flac.extend(&comment);
    let p = scratch("comment.flac", &flac);
    let (r, heap) = peak_of(|| audio::decode_audio(&p));
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("malformed FLAC comment block") && e.contains("comment.flac"),
        "{e}"
    );
    assert!(heap < MB, "flac comment: {heap} bytes");
    // The same with the block cut off by the end of the file (what the fuzzer found).
    let at = flac.len() - comment.len() - 3;
    flac[at..at + 3].copy_from_slice(&[0, 0x0C, 0]);
    let p = scratch("comment-cut.flac", &flac);
    let (r, heap) = peak_of(|| audio::decode_audio(&p));
    let e = r.unwrap_err().to_string();
    assert!(e.contains("malformed FLAC comment block"), "{e}");
    assert!(heap < MB, "cut flac comment: {heap} bytes");
    // A later fuzz run: a picture block whose MIME type, description or picture claims more
    // than the block (symphonia allocated 1.9 GB for `regression-flac-picture-2gb.flac`).
    let streaminfo = &flac[..4 + 4 + 34];
    for (field, at) in [
        ("the MIME type", 4),
        ("the description", 8),
        ("the picture", 28),
    ] {
        let mut picture = vec![0u8; 32];
        picture[at..at + 4].copy_from_slice(&0x7000_0000u32.to_be_bytes());
        let mut f = streaminfo.to_vec();
        f.extend([0x86, 0, 0, picture.len() as u8]); // last block: PICTURE
        f.extend(&picture);
        let e = malformed_audio("picture.flac", &f, "malformed FLAC picture block");
        assert!(e.contains(field), "{field}: {e}");
    }
    // The same bad picture block where the check once did not look: behind 4,096 empty
    // blocks, behind an ID3v2 tag, or after a junk byte in a file named .mp3 (symphonia's
    // default probe scanned for `fLaC` anywhere in the first MiB).
    let mut bad_picture = vec![0u8; 32];
    bad_picture[4..8].copy_from_slice(&0x7000_0000u32.to_be_bytes());
    let mut padded = streaminfo.to_vec();
    for _ in 0..4096 {
        padded.extend([0x01, 0, 0, 0]); // PADDING, empty
    }
    padded.extend([0x86, 0, 0, 32]);
    padded.extend(&bad_picture);
    let mut tagged = b"ID3\x04\x00\x00\x00\x00\x00\x0a".to_vec();
    tagged.extend([0u8; 10]);
    tagged.extend(&padded[..streaminfo.len()]);
    tagged.extend([0x86, 0, 0, 32]);
    tagged.extend(&bad_picture);
    let junk = [&[0u8][..], &tagged[20..]].concat();
    for (name, bytes, refused) in [
        ("padded.flac", &padded, true),
        ("tagged.flac", &tagged, true),
        ("junk.mp3", &junk, false),
    ] {
        let p = scratch(name, bytes);
        let (r, heap) = peak_of(|| audio::decode_audio(&p));
        let e = r.unwrap_err().to_string();
        assert_eq!(
            e.contains("malformed FLAC picture block"),
            refused,
            "{name}: {e}"
        );
        assert!(heap < MB, "{name}: {heap} bytes");
    }
    // symphonia 0.5 allocates an ID3v2 frame at its declared size before reading it: up to
    // 4 GB in v2.3, 256 MB in v2.4, 16 MB in v2.2 (the FLAC blocks' bug, in the tags any MP3
    // or tagged file may start with). Each tag below holds 20 bytes and one title frame
    // declaring far more; the last one sits after a junk byte of a file named .mp3, where
    // the probe finds it by scanning.
    let id3 = |version: u8, frame: &[u8]| {
        let mut t = vec![b'I', b'D', b'3', version, 0, 0, 0, 0, 0, 20];
        t.extend(frame);
        t.resize(30, 0);
        t.extend(std::fs::read(mp3_seed()).unwrap());
        t
    };
    let v3 = id3(
        3,
        &[b"TIT2".as_slice(), &0x7000_0000u32.to_be_bytes(), &[0, 0]].concat(),
    );
    let v4 = id3(4, &[b"TIT2".as_slice(), &[0x7F; 4], &[0, 0]].concat());
    let v2 = id3(2, &[b"TT2".as_slice(), &[0xFF; 3]].concat());
    let junk = [&[7u8][..], &v3].concat();
    for (name, bytes) in [
        ("v3.mp3", &v3),
        ("v4.mp3", &v4),
        ("v2.mp3", &v2),
        ("junk.mp3", &junk),
    ] {
        malformed_audio(name, bytes, "malformed ID3v2 tag");
    }
    // A well-formed tag in front of the same MP3 stream changes nothing.
    let text = [&[3u8][..], b"a title"].concat(); // UTF-8
    let frame = [
        b"TIT2".as_slice(),
        &(text.len() as u32).to_be_bytes(),
        &[0, 0],
        &text,
    ]
    .concat();
    let tagged_mp3 = id3(3, &frame);
    let plain = audio::decode_audio(&mp3_seed()).unwrap();
    let with_tag = audio::decode_audio(&scratch("tagged.mp3", &tagged_mp3)).unwrap();
    assert_eq!(plain, with_tag);
    // A good FLAC stream behind an ID3v2 tag still decodes, as the whole file does.
    let sine = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/seeds/audio/sine.flac"
    ))
    .unwrap();
    let mut tagged_sine = tagged[..20].to_vec();
    tagged_sine.extend(&sine);
    let a = audio::decode_audio(&scratch("sine.flac", &sine)).unwrap();
    let b = audio::decode_audio(&scratch("tagged-sine.flac", &tagged_sine)).unwrap();
    assert_eq!(a, b);
    let mut wav = b"RIFF".to_vec();
    let n = 16_000u32;
    wav.extend((36 + 4 * n).to_le_bytes());
    wav.extend(b"WAVEfmt ");
    wav.extend(16u32.to_le_bytes());
    wav.extend(3u16.to_le_bytes()); // IEEE float
    wav.extend(1u16.to_le_bytes());
    wav.extend(16_000u32.to_le_bytes());
    wav.extend(64_000u32.to_le_bytes());
    wav.extend(4u16.to_le_bytes());
    wav.extend(32u16.to_le_bytes());
    wav.extend(b"data");
    wav.extend((4 * n).to_le_bytes());
    wav.extend((0..n).flat_map(|i| (if i % 2 == 0 { 1e30f32 } else { -1e30 }).to_le_bytes()));
    let p = scratch("loud.wav", &wav);
    let e = audio::load_audio(&p, &AudioPreprocess::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("too large for the filterbank"), "{e}");

    // 7. Many channels at a high rate: 16 channels of 500 s at 48 kHz are within the
    // duration limit but hold more samples than 600 s of 48 kHz stereo (what bounds memory).
    let e = defaults
        .check_audio(Path::new("x.wav"), 48_000 * 500, 48_000, 16)
        .unwrap_err();
    assert!(e.to_string().contains("16 channels"), "{e}");
    assert!(
        defaults
            .check_audio(Path::new("x.wav"), 48_000 * 500, 48_000, 2)
            .is_ok()
    );
}
