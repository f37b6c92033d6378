//! Marker segments: the walk over the file's markers, and the frame header and the
//! quantisation and Huffman tables they carry.

use super::entropy::Huffman;
use super::{Component, Decoder, Frame, MAX_ALLOC, NATURAL, Res, Unsupported};

/// Reads a big-endian u16 at `pos`.
fn be16(data: &[u8], pos: usize) -> Res<usize> {
    match data.get(pos..pos + 2) {
        Some(b) => Ok(usize::from(b[0]) << 8 | usize::from(b[1])),
        None => Err(Unsupported("truncated marker")),
    }
}

impl Decoder {
    /// Reads the file marker by marker, up to EOI (or the end of the data).
    pub(super) fn run(&mut self, data: &[u8]) -> Res<()> {
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
}
