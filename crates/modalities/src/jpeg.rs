//! A JPEG decoder whose output matches libjpeg-turbo's defaults sample for sample.
//!
//! Pillow decodes JPEG with libjpeg-turbo, using its defaults: the accurate integer
//! inverse DCT (`JDCT_ISLOW`), "fancy" (triangular) chroma upsampling and fixed-point
//! YCbCr→RGB tables. Other decoders round differently and move pixels by a few levels,
//! so this one does each of those steps the way libjpeg-turbo does. It covers what
//! cameras, browsers and Pillow write: 8-bit Huffman-coded baseline, extended and
//! progressive JPEG with one (grey) or three (YCbCr or RGB) components. Anything else
//! (arithmetic coding, lossless, 12-bit, CMYK, fractional sampling factors) and any
//! stream it cannot make sense of is reported as an error, and the caller falls back to
//! a general decoder.

mod color;
mod entropy;
mod idct;
mod markers;
mod scan;
mod upsample;

use color::ColorTables;
use entropy::Huffman;
use idct::idct_islow;
use upsample::upsample;

/// Decoded samples: `channels` (1 or 3) interleaved 8-bit values per pixel.
pub(crate) struct Decoded {
    pub width: u32,
    pub height: u32,
    pub channels: usize,
    pub pixels: Vec<u8>,
}

/// Why this decoder gave up. The caller only falls back; the reason is for a person
/// looking at a fallback in a debugger or a `{:?}`.
#[derive(Debug)]
pub(crate) struct Unsupported(#[allow(dead_code)] pub &'static str);

type Res<T> = std::result::Result<T, Unsupported>;

/// More than this many bytes of working memory is left to the general decoder, whose
/// limits then produce a proper error (the image crate's default allocation limit).
const MAX_ALLOC: usize = 512 << 20;

/// Zigzag position → natural (row-major) index, with 16 extra entries so that a corrupt
/// run that overshoots lands on the last coefficient, as in libjpeg.
const NATURAL: [usize; 80] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
    63, 63, 63, 63, 63, 63,
];

/// Decodes a JPEG file held in memory.
pub(crate) fn decode(data: &[u8]) -> Res<Decoded> {
    let mut d = Decoder::default();
    d.run(data)?;
    d.finish()
}

#[derive(Default)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    /// Quantisation table in natural order, latched at the component's first scan.
    quant: Option<[u16; 64]>,
    /// Blocks per row and column of the MCU-padded coefficient grid.
    bw: usize,
    bh: usize,
    /// Size of the component in samples (`ceil(width · h / hmax)` etc.).
    dw: usize,
    dh: usize,
    coefs: Vec<i16>,
    dc_pred: i32,
}

#[derive(Default)]
struct Frame {
    progressive: bool,
    width: usize,
    height: usize,
    hmax: usize,
    vmax: usize,
    mcux: usize,
    mcuy: usize,
    comps: Vec<Component>,
}

#[derive(Default)]
struct Decoder {
    frame: Option<Frame>,
    quant: [Option<[u16; 64]>; 4],
    /// DC tables 0..4, then AC tables 0..4.
    huff: [Option<Huffman>; 8],
    restart_interval: usize,
    saw_jfif: bool,
    adobe_transform: Option<u8>,
    scans: usize,
}

impl Decoder {
    fn finish(self) -> Res<Decoded> {
        let frame = self.frame.ok_or(Unsupported("no frame"))?;
        if self.scans == 0 {
            return Err(Unsupported("no scan"));
        }
        let (width, height) = (frame.width, frame.height);
        let mut planes = Vec::with_capacity(frame.comps.len());
        for c in &frame.comps {
            let quant = c.quant.ok_or(Unsupported("component never scanned"))?;
            let stride = c.bw * 8;
            let mut plane = vec![0u8; stride * c.bh * 8];
            for by in 0..c.dh.div_ceil(8) {
                for bx in 0..c.dw.div_ceil(8) {
                    let offset = (by * c.bw + bx) * 64;
                    let block: &[i16; 64] =
                        c.coefs[offset..offset + 64].try_into().unwrap_or(&[0; 64]);
                    idct_islow(
                        block,
                        &quant,
                        &mut plane[by * 8 * stride + bx * 8..],
                        stride,
                    );
                }
            }
            planes.push(upsample(c, &plane, stride, &frame));
        }
        let channels = planes.len();
        let mut pixels = vec![0u8; width * height * channels];
        if channels == 1 {
            pixels.copy_from_slice(&planes[0]);
        } else {
            let rgb = match self.adobe_transform {
                _ if self.saw_jfif => false,
                Some(t) => t == 0,
                None => frame.comps.iter().map(|c| c.id).eq(*b"RGB"),
            };
            let tables = ColorTables::new();
            for (i, px) in pixels.chunks_exact_mut(3).enumerate() {
                let (a, b, c) = (planes[0][i], planes[1][i], planes[2][i]);
                if rgb {
                    px.copy_from_slice(&[a, b, c]);
                } else {
                    px.copy_from_slice(&tables.convert(a, b, c));
                }
            }
        }
        Ok(Decoded {
            width: width as u32,
            height: height as u32,
            channels,
            pixels,
        })
    }
}
