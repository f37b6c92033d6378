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

/// Reads a big-endian u16 at `pos`.
fn be16(data: &[u8], pos: usize) -> Res<usize> {
    match data.get(pos..pos + 2) {
        Some(b) => Ok(usize::from(b[0]) << 8 | usize::from(b[1])),
        None => Err(Unsupported("truncated marker")),
    }
}

impl Decoder {
    fn run(&mut self, data: &[u8]) -> Res<()> {
        if data.get(..2) != Some(&[0xFF, 0xD8]) {
            return Err(Unsupported("no SOI"));
        }
        let mut pos = 2;
        loop {
            // Find the next marker, skipping fill bytes (and any garbage, as libjpeg does).
            while pos < data.len() && data[pos] != 0xFF {
                pos += 1;
            }
            while pos < data.len() && data[pos] == 0xFF {
                pos += 1;
            }
            let Some(&code) = data.get(pos) else {
                // A missing EOI after the scans is fine (libjpeg supplies one too).
                return if self.scans > 0 {
                    Ok(())
                } else {
                    Err(Unsupported("no scan"))
                };
            };
            pos += 1;
            match code {
                0xD9 => return Ok(()),
                // Stray restart markers, TEM and stuffed zeros carry no segment.
                0x00 | 0x01 | 0xD0..=0xD7 => continue,
                0xD8 => return Err(Unsupported("second SOI")),
                _ => {}
            }
            let len = be16(data, pos)?;
            if len < 2 || pos + len > data.len() {
                return Err(Unsupported("bad segment length"));
            }
            let seg = &data[pos + 2..pos + len];
            pos += len;
            match code {
                0xC0 | 0xC1 => self.start_frame(seg, false)?,
                0xC2 => self.start_frame(seg, true)?,
                0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                    return Err(Unsupported("lossless, hierarchical or arithmetic JPEG"));
                }
                0xCC => return Err(Unsupported("arithmetic coding")),
                0xC4 => self.read_huffman(seg)?,
                0xDB => self.read_quant(seg)?,
                0xDD => {
                    self.restart_interval = be16(seg, 0)?;
                }
                0xDA => {
                    pos = self.scan(seg, data, pos)?;
                    self.scans += 1;
                }
                0xE0 if seg.len() >= 14 && seg.starts_with(b"JFIF\0") => self.saw_jfif = true,
                0xEE if seg.len() >= 12 && seg.starts_with(b"Adobe") => {
                    self.adobe_transform = Some(seg[11]);
                }
                _ => {}
            }
        }
    }

    fn start_frame(&mut self, seg: &[u8], progressive: bool) -> Res<()> {
        if self.frame.is_some() {
            return Err(Unsupported("more than one frame"));
        }
        if seg.len() < 6 || seg[0] != 8 {
            return Err(Unsupported("not an 8-bit frame"));
        }
        let height = be16(seg, 1)?;
        let width = be16(seg, 3)?;
        let n = usize::from(seg[5]);
        if width == 0 || height == 0 {
            return Err(Unsupported("no size in the frame header (DNL)"));
        }
        if !(n == 1 || n == 3) || seg.len() < 6 + 3 * n {
            return Err(Unsupported("component count other than 1 or 3"));
        }
        let mut comps = Vec::with_capacity(n);
        for c in seg[6..6 + 3 * n].chunks_exact(3) {
            let (h, v, tq) = (
                usize::from(c[1] >> 4),
                usize::from(c[1] & 15),
                usize::from(c[2]),
            );
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) || tq > 3 {
                return Err(Unsupported("bad sampling factor or table"));
            }
            if comps.iter().any(|k: &Component| k.id == c[0]) {
                return Err(Unsupported("duplicate component id"));
            }
            comps.push(Component {
                id: c[0],
                h,
                v,
                tq,
                ..Component::default()
            });
        }
        let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
        let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
        let mcux = width.div_ceil(8 * hmax);
        let mcuy = height.div_ceil(8 * vmax);
        let mut total = width * height * n;
        for c in &mut comps {
            if hmax % c.h != 0 || vmax % c.v != 0 {
                return Err(Unsupported("fractional sampling factors"));
            }
            c.bw = mcux * c.h;
            c.bh = mcuy * c.v;
            c.dw = (width * c.h).div_ceil(hmax);
            c.dh = (height * c.v).div_ceil(vmax);
            total += c.bw * c.bh * (64 * 2 + 64) + width * height;
        }
        if total > MAX_ALLOC {
            return Err(Unsupported("too large"));
        }
        for c in &mut comps {
            c.coefs = vec![0; c.bw * c.bh * 64];
        }
        self.frame = Some(Frame {
            progressive,
            width,
            height,
            hmax,
            vmax,
            mcux,
            mcuy,
            comps,
        });
        Ok(())
    }

    fn read_quant(&mut self, mut seg: &[u8]) -> Res<()> {
        while let Some(&pq_tq) = seg.first() {
            let (precision, id) = (pq_tq >> 4, usize::from(pq_tq & 15));
            if id > 3 || precision > 1 {
                return Err(Unsupported("bad quantisation table"));
            }
            let size = if precision == 0 { 64 } else { 128 };
            let body = seg.get(1..1 + size).ok_or(Unsupported("short DQT"))?;
            let mut table = [0u16; 64];
            for (k, &natural) in NATURAL[..64].iter().enumerate() {
                table[natural] = if precision == 0 {
                    u16::from(body[k])
                } else {
                    u16::from(body[2 * k]) << 8 | u16::from(body[2 * k + 1])
                };
            }
            self.quant[id] = Some(table);
            seg = &seg[1 + size..];
        }
        Ok(())
    }

    fn read_huffman(&mut self, mut seg: &[u8]) -> Res<()> {
        while let Some(&tc_th) = seg.first() {
            let (class, id) = (usize::from(tc_th >> 4), usize::from(tc_th & 15));
            if class > 1 || id > 3 || seg.len() < 17 {
                return Err(Unsupported("bad Huffman table"));
            }
            let mut counts = [0u8; 16];
            counts.copy_from_slice(&seg[1..17]);
            let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
            if n > 256 {
                return Err(Unsupported("bad Huffman table"));
            }
            let values = seg.get(17..17 + n).ok_or(Unsupported("short DHT"))?;
            if class == 0 && values.iter().any(|&v| v > 15) {
                return Err(Unsupported("bad DC Huffman table"));
            }
            self.huff[class * 4 + id] = Some(Huffman::new(&counts, values)?);
            seg = &seg[17 + n..];
        }
        Ok(())
    }

    /// Decodes one scan whose header is `seg` and whose entropy-coded data starts at
    /// `data[pos]`; returns where the data ends.
    fn scan(&mut self, seg: &[u8], data: &[u8], pos: usize) -> Res<usize> {
        let frame = self
            .frame
            .as_mut()
            .ok_or(Unsupported("scan before frame"))?;
        let ns = usize::from(*seg.first().ok_or(Unsupported("short SOS"))?);
        if !(1..=4).contains(&ns) || seg.len() < 4 + 2 * ns {
            return Err(Unsupported("bad SOS"));
        }
        let mut members = Vec::with_capacity(ns);
        for s in seg[1..1 + 2 * ns].chunks_exact(2) {
            let index = frame
                .comps
                .iter()
                .position(|c| c.id == s[0])
                .ok_or(Unsupported("scan names an unknown component"))?;
            if members.iter().any(|m: &ScanComponent| m.index == index) {
                return Err(Unsupported("component twice in a scan"));
            }
            let (td, ta) = (usize::from(s[1] >> 4), usize::from(s[1] & 15));
            if td > 3 || ta > 3 {
                return Err(Unsupported("bad table selector"));
            }
            members.push(ScanComponent { index, td, ta });
        }
        let tail = &seg[1 + 2 * ns..];
        let (mut ss, mut se, ah, al) = (
            usize::from(tail[0]),
            usize::from(tail[1]),
            u32::from(tail[2] >> 4),
            u32::from(tail[2] & 15),
        );
        if frame.progressive {
            let dc = ss == 0;
            if se > 63 || ss > se || (dc && se != 0) || (!dc && ns != 1) || al > 13 || ah > 13 {
                return Err(Unsupported("bad progressive scan parameters"));
            }
        } else {
            (ss, se) = (0, 63);
        }
        // Latch quantisation tables and reset predictors.
        for m in &members {
            let c = &mut frame.comps[m.index];
            if c.quant.is_none() {
                c.quant = Some(self.quant[c.tq].ok_or(Unsupported("missing quantisation table"))?);
            }
            c.dc_pred = 0;
        }
        let need_dc = ss == 0 && ah == 0;
        let need_ac = se > 0;
        for m in &members {
            if need_dc && self.huff[m.td].is_none() {
                return Err(Unsupported("missing DC table"));
            }
            if need_ac && (ss > 0 || !frame.progressive) && self.huff[4 + m.ta].is_none() {
                return Err(Unsupported("missing AC table"));
            }
        }
        let params = ScanParams {
            ss,
            se,
            ah,
            al,
            progressive: frame.progressive,
        };
        let mut bits = BitReader::new(data, pos);
        let mut eobrun = 0u32;

        // Block coordinates per MCU: interleaved scans walk MCUs, a single-component scan
        // walks that component's own blocks (only those covering real samples).
        let single = members.len() == 1;
        let (units_x, units_y) = if single {
            let c = &frame.comps[members[0].index];
            (c.dw.div_ceil(8), c.dh.div_ceil(8))
        } else {
            (frame.mcux, frame.mcuy)
        };
        let total_units = units_x * units_y;
        let mut left_in_interval = self.restart_interval;
        for unit in 0..total_units {
            if self.restart_interval > 0 {
                if left_in_interval == 0 {
                    bits.restart()?;
                    for m in &members {
                        frame.comps[m.index].dc_pred = 0;
                    }
                    eobrun = 0;
                    left_in_interval = self.restart_interval;
                }
                left_in_interval -= 1;
            }
            let (ux, uy) = (unit % units_x, unit / units_x);
            for m in &members {
                let c = &mut frame.comps[m.index];
                let (bh, bv) = if single { (1, 1) } else { (c.h, c.v) };
                for v in 0..bv {
                    for h in 0..bh {
                        let (bx, by) = (ux * bh + h, uy * bv + v);
                        let offset = (by * c.bw + bx) * 64;
                        let block: &mut [i16; 64] = (&mut c.coefs[offset..offset + 64])
                            .try_into()
                            .map_err(|_| Unsupported("block out of range"))?;
                        let dc = self.huff[m.td].as_ref();
                        let ac = self.huff[4 + m.ta].as_ref();
                        decode_block(
                            &mut bits,
                            block,
                            &mut c.dc_pred,
                            dc,
                            ac,
                            &params,
                            &mut eobrun,
                        )?;
                    }
                }
            }
        }
        if bits.overran() {
            return Err(Unsupported(
                "entropy-coded data runs past the end of the file",
            ));
        }
        Ok(bits.next_marker())
    }

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

struct ScanComponent {
    index: usize,
    td: usize,
    ta: usize,
}

struct ScanParams {
    ss: usize,
    se: usize,
    ah: u32,
    al: u32,
    progressive: bool,
}

/// Decodes one block's contribution from a scan (libjpeg's `decode_mcu*` for one block).
fn decode_block(
    bits: &mut BitReader,
    block: &mut [i16; 64],
    dc_pred: &mut i32,
    dc: Option<&Huffman>,
    ac: Option<&Huffman>,
    p: &ScanParams,
    eobrun: &mut u32,
) -> Res<()> {
    if !p.progressive {
        let dc = dc.ok_or(Unsupported("missing DC table"))?;
        let ac = ac.ok_or(Unsupported("missing AC table"))?;
        let s = u32::from(bits.decode(dc)?);
        let diff = if s == 0 { 0 } else { extend(bits.bits(s), s) };
        *dc_pred = dc_pred.wrapping_add(diff);
        block[0] = *dc_pred as i16;
        let mut k = 1;
        while k < 64 {
            let rs = bits.decode(ac)?;
            let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
            if s != 0 {
                k += r;
                block[NATURAL[k]] = extend(bits.bits(s), s) as i16;
            } else if r == 15 {
                k += 15;
            } else {
                break;
            }
            k += 1;
        }
        return Ok(());
    }
    if p.ss == 0 {
        if p.ah == 0 {
            let dc = dc.ok_or(Unsupported("missing DC table"))?;
            let s = u32::from(bits.decode(dc)?);
            let diff = if s == 0 { 0 } else { extend(bits.bits(s), s) };
            *dc_pred = dc_pred.wrapping_add(diff);
            block[0] = (*dc_pred << p.al) as i16;
        } else if bits.bits(1) != 0 {
            block[0] |= 1 << p.al;
        }
        return Ok(());
    }
    let ac = ac.ok_or(Unsupported("missing AC table"))?;
    if p.ah == 0 {
        // First pass of spectral selection.
        if *eobrun > 0 {
            *eobrun -= 1;
            return Ok(());
        }
        let mut k = p.ss;
        while k <= p.se {
            let rs = bits.decode(ac)?;
            let (r, s) = (u32::from(rs >> 4), u32::from(rs & 15));
            if s != 0 {
                k += r as usize;
                block[NATURAL[k]] = (extend(bits.bits(s), s) << p.al) as i16;
            } else if r == 15 {
                k += 15;
            } else {
                *eobrun = 1 << r;
                if r != 0 {
                    *eobrun += bits.bits(r) as u32;
                }
                *eobrun -= 1;
                break;
            }
            k += 1;
        }
        return Ok(());
    }
    // Successive approximation refinement.
    let p1: i16 = 1 << p.al;
    let m1: i16 = -1 << p.al;
    let refine = |bits: &mut BitReader, coef: &mut i16| {
        if bits.bits(1) != 0 && *coef & p1 == 0 {
            *coef = coef.wrapping_add(if *coef >= 0 { p1 } else { m1 });
        }
    };
    let mut k = p.ss;
    if *eobrun == 0 {
        while k <= p.se {
            let rs = bits.decode(ac)?;
            let (mut r, s) = (i32::from(rs >> 4), rs & 15);
            let mut value = 0i16;
            if s != 0 {
                // A size other than 1 is corrupt; libjpeg warns and carries on the same way.
                value = if bits.bits(1) != 0 { p1 } else { m1 };
            } else if r != 15 {
                *eobrun = 1 << r;
                if r != 0 {
                    *eobrun += bits.bits(r as u32) as u32;
                }
                break;
            }
            // Skip r zero coefficients (refining the non-zero ones passed on the way).
            while k <= p.se {
                let coef = &mut block[NATURAL[k]];
                if *coef != 0 {
                    refine(bits, coef);
                } else {
                    r -= 1;
                    if r < 0 {
                        break;
                    }
                }
                k += 1;
            }
            if value != 0 {
                block[NATURAL[k]] = value;
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        while k <= p.se {
            let coef = &mut block[NATURAL[k]];
            if *coef != 0 {
                refine(bits, coef);
            }
            k += 1;
        }
        *eobrun -= 1;
    }
    Ok(())
}

/// The JPEG "EXTEND" of a `s`-bit magnitude category value.
fn extend(v: i32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < 1 << (s - 1) {
        v - (1 << s) + 1
    } else {
        v
    }
}

/// Canonical Huffman table: a 9-bit lookahead plus libjpeg's per-length code limits.
struct Huffman {
    /// `(code length, value)` for every 9-bit prefix; length 0 means "longer code".
    fast: Vec<(u8, u8)>,
    /// Largest code of each length (index 1..=16), -1 if none.
    maxcode: [i32; 17],
    /// Offset into `values` of the first code of each length, minus that code.
    valoffset: [i32; 17],
    values: Vec<u8>,
}

const LOOKAHEAD: u32 = 9;

impl Huffman {
    fn new(counts: &[u8; 16], values: &[u8]) -> Res<Self> {
        let mut maxcode = [-1i32; 17];
        let mut valoffset = [0i32; 17];
        let mut fast = vec![(0u8, 0u8); 1 << LOOKAHEAD];
        let mut code = 0i32;
        let mut k = 0usize;
        for len in 1..=16 {
            let n = usize::from(counts[len - 1]);
            // As libjpeg: the codes must fit and none may be all ones.
            if code + n as i32 >= 1 << len && n > 0 {
                return Err(Unsupported("bad Huffman table"));
            }
            if n > 0 {
                valoffset[len] = k as i32 - code;
                for _ in 0..n {
                    if len <= LOOKAHEAD as usize {
                        let shift = LOOKAHEAD as usize - len;
                        let first = (code as usize) << shift;
                        for e in &mut fast[first..first + (1 << shift)] {
                            *e = (len as u8, values[k]);
                        }
                    }
                    code += 1;
                    k += 1;
                }
                maxcode[len] = code - 1;
            }
            code <<= 1;
        }
        Ok(Huffman {
            fast,
            maxcode,
            valoffset,
            values: values.to_vec(),
        })
    }
}

/// Entropy-coded data reader: removes stuffed zero bytes and, like libjpeg, supplies zero
/// bits once it reaches a marker.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    nbits: u32,
    /// A marker (or the end of the file) has been reached; only zeros follow.
    at_marker: bool,
    /// The file has ended; bits supplied from now on are made up.
    past_end: bool,
    /// How many of the buffered bits (the last ones) are made up.
    made_up: u32,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        BitReader {
            data,
            pos,
            acc: 0,
            nbits: 0,
            at_marker: false,
            past_end: false,
            made_up: 0,
        }
    }

    fn fill(&mut self) {
        while self.nbits <= 56 {
            let mut byte = 0u8;
            if !self.at_marker {
                match self.data.get(self.pos) {
                    None => {
                        self.at_marker = true;
                        self.past_end = true;
                    }
                    Some(&0xFF) => match self.data.get(self.pos + 1) {
                        Some(0x00) => {
                            byte = 0xFF;
                            self.pos += 2;
                        }
                        _ => self.at_marker = true,
                    },
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                }
            }
            if self.past_end {
                self.made_up += 8;
            }
            self.acc |= u64::from(byte) << (56 - self.nbits);
            self.nbits += 8;
        }
    }

    /// Takes `n` (≤ 16) bits.
    fn bits(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        if self.nbits < n {
            self.fill();
        }
        let v = (self.acc >> (64 - n)) as i32;
        self.acc <<= n;
        self.nbits -= n;
        v
    }

    fn decode(&mut self, table: &Huffman) -> Res<u8> {
        if self.nbits < 16 {
            self.fill();
        }
        let peek = (self.acc >> (64 - LOOKAHEAD)) as usize;
        let (len, value) = table.fast[peek];
        if len > 0 {
            let len = u32::from(len);
            self.acc <<= len;
            self.nbits -= len;
            return Ok(value);
        }
        for len in LOOKAHEAD + 1..=16 {
            let code = (self.acc >> (64 - len)) as i32;
            if code <= table.maxcode[len as usize] {
                self.acc <<= len;
                self.nbits -= len;
                let index = (table.valoffset[len as usize] + code) as usize;
                return table
                    .values
                    .get(index)
                    .copied()
                    .ok_or(Unsupported("bad Huffman code"));
            }
        }
        Err(Unsupported("bad Huffman code"))
    }

    /// Whether bits past the end of the file were consumed.
    fn overran(&self) -> bool {
        self.made_up > self.nbits
    }

    /// Drops buffered bits and steps over the restart marker that should come next.
    fn restart(&mut self) -> Res<()> {
        if self.overran() {
            return Err(Unsupported(
                "entropy-coded data runs past the end of the file",
            ));
        }
        self.made_up = 0;
        self.acc = 0;
        self.nbits = 0;
        let pos = self.next_marker();
        if let (Some(0xFF), Some(0xD0..=0xD7)) = (self.data.get(pos), self.data.get(pos + 1)) {
            self.pos = pos + 2;
            self.at_marker = false;
        } else {
            // No restart marker: leave whatever marker this is for the caller; zeros follow.
            self.pos = pos;
            self.at_marker = true;
            self.past_end = pos >= self.data.len();
        }
        Ok(())
    }

    /// The position of the next marker at or after the read position.
    fn next_marker(&self) -> usize {
        let mut pos = self.pos;
        while pos + 1 < self.data.len() {
            if self.data[pos] == 0xFF && self.data[pos + 1] != 0 && self.data[pos + 1] != 0xFF {
                return pos;
            }
            pos += 1;
        }
        self.data.len()
    }
}

// libjpeg's jidctint.c constants: CONST_BITS = 13, PASS1_BITS = 2.
const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;
const FIX_0_298631336: i64 = 2446;
const FIX_0_390180644: i64 = 3196;
const FIX_0_541196100: i64 = 4433;
const FIX_0_765366865: i64 = 6270;
const FIX_0_899976223: i64 = 7373;
const FIX_1_175875602: i64 = 9633;
const FIX_1_501321110: i64 = 12299;
const FIX_1_847759065: i64 = 15137;
const FIX_1_961570560: i64 = 16069;
const FIX_2_053119869: i64 = 16819;
const FIX_2_562915447: i64 = 20995;
const FIX_3_072711026: i64 = 25172;

fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// One 1-D pass of `jpeg_idct_islow` on eight inputs; returns the eight outputs before
/// descaling, in order.
#[inline(always)]
fn idct_1d(i: [i64; 8]) -> [i64; 8] {
    let (z2, z3) = (i[2], i[6]);
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 + z3 * -FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (i[0] + i[4]) << CONST_BITS;
    let tmp1 = (i[0] - i[4]) << CONST_BITS;
    let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
    let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);

    let (t0, t1, t2, t3) = (i[7], i[5], i[3], i[1]);
    let z1 = t0 + t3;
    let z2 = t1 + t2;
    let z3 = t0 + t2;
    let z4 = t1 + t3;
    let z5 = (z3 + z4) * FIX_1_175875602;
    let t0 = t0 * FIX_0_298631336;
    let t1 = t1 * FIX_2_053119869;
    let t2 = t2 * FIX_3_072711026;
    let t3 = t3 * FIX_1_501321110;
    let z1 = z1 * -FIX_0_899976223;
    let z2 = z2 * -FIX_2_562915447;
    let z3 = z3 * -FIX_1_961570560 + z5;
    let z4 = z4 * -FIX_0_390180644 + z5;
    let t0 = t0 + z1 + z3;
    let t1 = t1 + z2 + z4;
    let t2 = t2 + z2 + z3;
    let t3 = t3 + z1 + z4;
    [
        tmp10 + t3,
        tmp11 + t2,
        tmp12 + t1,
        tmp13 + t0,
        tmp13 - t0,
        tmp12 - t1,
        tmp11 - t2,
        tmp10 - t3,
    ]
}

/// libjpeg's post-IDCT range limiting: the value is taken modulo 1024 as a signed 10-bit
/// number, shifted by 128 and clamped.
fn range_limit(x: i64) -> u8 {
    let wrapped = ((x as i32 & 1023) ^ 512) - 512;
    (wrapped + 128).clamp(0, 255) as u8
}

/// `jpeg_idct_islow`: dequantise and inverse-transform one block into `out` (row stride
/// `stride`).
fn idct_islow(block: &[i16; 64], quant: &[u16; 64], out: &mut [u8], stride: usize) {
    let mut ws = [0i32; 64];
    for col in 0..8 {
        let coef = |row: usize| i64::from(block[row * 8 + col]) * i64::from(quant[row * 8 + col]);
        if (1..8).all(|row| block[row * 8 + col] == 0) {
            let dc = (coef(0) << PASS1_BITS) as i32;
            for row in 0..8 {
                ws[row * 8 + col] = dc;
            }
            continue;
        }
        let o = idct_1d([
            coef(0),
            coef(1),
            coef(2),
            coef(3),
            coef(4),
            coef(5),
            coef(6),
            coef(7),
        ]);
        for row in 0..8 {
            ws[row * 8 + col] = descale(o[row], CONST_BITS - PASS1_BITS) as i32;
        }
    }
    for row in 0..8 {
        let w = &ws[row * 8..row * 8 + 8];
        let dst = &mut out[row * stride..row * stride + 8];
        if w[1..].iter().all(|&v| v == 0) {
            dst.fill(range_limit(descale(i64::from(w[0]), PASS1_BITS + 3)));
            continue;
        }
        let o = idct_1d(std::array::from_fn(|k| i64::from(w[k])));
        for (d, v) in dst.iter_mut().zip(o) {
            *d = range_limit(descale(v, CONST_BITS + PASS1_BITS + 3));
        }
    }
}

/// Brings one component's samples (`stride` per row) to the full image size the way
/// libjpeg-turbo's `jdsample.c` does with `do_fancy_upsampling` on.
fn upsample(c: &Component, plane: &[u8], stride: usize, frame: &Frame) -> Vec<u8> {
    let (width, height) = (frame.width, frame.height);
    let (hx, vx) = (frame.hmax / c.h, frame.vmax / c.v);
    let (dw, dh) = (c.dw, c.dh);
    let row = |y: usize| &plane[y * stride..y * stride + dw];
    // The context rows above the first and below the last are copies of those rows.
    let neighbour = |y: usize| {
        if y.is_multiple_of(2) {
            (y / 2).saturating_sub(1)
        } else {
            (y / 2 + 1).min(dh - 1)
        }
    };
    let mut out = vec![0u8; width * height];
    let mut line = vec![0u8; dw * hx];
    let mut colsum = vec![0i32; dw];
    for (y, dst) in out.chunks_exact_mut(width).enumerate() {
        match (hx, vx) {
            (1, 1) => line.copy_from_slice(row(y)),
            (2, 1) if dw > 2 => {
                let src = row(y);
                line[0] = src[0];
                line[1] = ((u32::from(src[0]) * 3 + u32::from(src[1]) + 2) >> 2) as u8;
                for i in 1..dw - 1 {
                    let v = u32::from(src[i]) * 3;
                    line[2 * i] = ((v + u32::from(src[i - 1]) + 1) >> 2) as u8;
                    line[2 * i + 1] = ((v + u32::from(src[i + 1]) + 2) >> 2) as u8;
                }
                let last = u32::from(src[dw - 1]);
                line[2 * dw - 2] = ((last * 3 + u32::from(src[dw - 2]) + 1) >> 2) as u8;
                line[2 * dw - 1] = last as u8;
            }
            (1, 2) => {
                let (near, far) = (row(y / 2), row(neighbour(y)));
                let bias = if y % 2 == 0 { 1 } else { 2 };
                for ((o, &n), &f) in line.iter_mut().zip(near).zip(far) {
                    *o = ((u32::from(n) * 3 + u32::from(f) + bias) >> 2) as u8;
                }
            }
            (2, 2) if dw > 2 => {
                let (near, far) = (row(y / 2), row(neighbour(y)));
                for ((s, &n), &f) in colsum.iter_mut().zip(near).zip(far) {
                    *s = i32::from(n) * 3 + i32::from(f);
                }
                line[0] = ((colsum[0] * 4 + 8) >> 4) as u8;
                line[1] = ((colsum[0] * 3 + colsum[1] + 7) >> 4) as u8;
                for i in 1..dw - 1 {
                    line[2 * i] = ((colsum[i] * 3 + colsum[i - 1] + 8) >> 4) as u8;
                    line[2 * i + 1] = ((colsum[i] * 3 + colsum[i + 1] + 7) >> 4) as u8;
                }
                line[2 * dw - 2] = ((colsum[dw - 1] * 3 + colsum[dw - 2] + 8) >> 4) as u8;
                line[2 * dw - 1] = ((colsum[dw - 1] * 4 + 7) >> 4) as u8;
            }
            _ => {
                // Plain replication (libjpeg's int_upsample, h2v1/h2v2 on narrow images).
                let src = row(y / vx);
                for (i, o) in line.iter_mut().enumerate() {
                    *o = src[i / hx];
                }
            }
        }
        dst.copy_from_slice(&line[..width]);
    }
    out
}

/// libjpeg's `ycc_rgb_convert` tables (16-bit fixed point).
struct ColorTables {
    cr_r: [i32; 256],
    cb_b: [i32; 256],
    cr_g: [i32; 256],
    cb_g: [i32; 256],
}

impl ColorTables {
    fn new() -> Self {
        const SCALEBITS: u32 = 16;
        const ONE_HALF: i64 = 1 << (SCALEBITS - 1);
        let fix = |x: f64| (x * f64::from(1u32 << SCALEBITS) + 0.5) as i64;
        let mut t = ColorTables {
            cr_r: [0; 256],
            cb_b: [0; 256],
            cr_g: [0; 256],
            cb_g: [0; 256],
        };
        for i in 0..256 {
            let x = i as i64 - 128;
            t.cr_r[i] = ((fix(1.40200) * x + ONE_HALF) >> SCALEBITS) as i32;
            t.cb_b[i] = ((fix(1.77200) * x + ONE_HALF) >> SCALEBITS) as i32;
            t.cr_g[i] = (-fix(0.71414) * x) as i32;
            t.cb_g[i] = (-fix(0.34414) * x + ONE_HALF) as i32;
        }
        t
    }

    fn convert(&self, y: u8, cb: u8, cr: u8) -> [u8; 3] {
        let (y, cb, cr) = (i32::from(y), usize::from(cb), usize::from(cr));
        let clamp = |v: i32| v.clamp(0, 255) as u8;
        [
            clamp(y + self.cr_r[cr]),
            clamp(y + ((self.cb_g[cb] + self.cr_g[cr]) >> 16)),
            clamp(y + self.cb_b[cb]),
        ]
    }
}
