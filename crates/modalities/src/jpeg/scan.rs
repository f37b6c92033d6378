//! Scans: the scan header, the walk over a scan's MCUs (or one component's blocks) with its
//! restart intervals, and the decoding of each block's coefficients, baseline or progressive.

use super::entropy::{BitReader, Huffman};
use super::{Decoder, Frame, NATURAL, Res, Unsupported};

impl Decoder {
    /// Decodes one scan whose header is `seg` and whose entropy-coded data starts at
    /// `data[pos]`; returns where the data ends.
    pub(super) fn scan(&mut self, seg: &[u8], data: &[u8], pos: usize) -> Res<usize> {
        let frame = self
            .frame
            .as_mut()
            .ok_or(Unsupported("scan before frame"))?;
        let (members, params) = read_scan_header(seg, frame)?;
        // Latch quantisation tables and reset predictors.
        for m in &members {
            let c = &mut frame.comps[m.index];
            if c.quant.is_none() {
                c.quant = Some(self.quant[c.tq].ok_or(Unsupported("missing quantisation table"))?);
            }
            c.dc_pred = 0;
        }
        check_tables(&self.huff, &members, &params)?;
        let mut bits = BitReader::new(data, pos);
        decode_units(
            frame,
            &members,
            &params,
            &self.huff,
            self.restart_interval,
            &mut bits,
        )?;
        if bits.overran() {
            return Err(Unsupported(
                "entropy-coded data runs past the end of the file",
            ));
        }
        Ok(bits.next_marker())
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

/// Reads a scan header (`seg`): the components it codes with their table selectors, and its
/// spectral selection and successive approximation (the whole block in a baseline frame).
fn read_scan_header(seg: &[u8], frame: &Frame) -> Res<(Vec<ScanComponent>, ScanParams)> {
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
    let params = ScanParams {
        ss,
        se,
        ah,
        al,
        progressive: frame.progressive,
    };
    Ok((members, params))
}

/// Checks that the Huffman tables the scan's components select and need are defined.
fn check_tables(huff: &[Option<Huffman>; 8], members: &[ScanComponent], p: &ScanParams) -> Res<()> {
    let need_dc = p.ss == 0 && p.ah == 0;
    let need_ac = p.se > 0;
    for m in members {
        if need_dc && huff[m.td].is_none() {
            return Err(Unsupported("missing DC table"));
        }
        if need_ac && (p.ss > 0 || !p.progressive) && huff[4 + m.ta].is_none() {
            return Err(Unsupported("missing AC table"));
        }
    }
    Ok(())
}

/// Decodes every unit of a scan into the members' coefficients, stepping over a restart
/// marker (and resetting predictors and the EOB run) every `restart_interval` units.
fn decode_units(
    frame: &mut Frame,
    members: &[ScanComponent],
    params: &ScanParams,
    huff: &[Option<Huffman>; 8],
    restart_interval: usize,
    bits: &mut BitReader,
) -> Res<()> {
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
    let mut left_in_interval = restart_interval;
    for unit in 0..total_units {
        if restart_interval > 0 {
            if left_in_interval == 0 {
                bits.restart()?;
                for m in members {
                    frame.comps[m.index].dc_pred = 0;
                }
                eobrun = 0;
                left_in_interval = restart_interval;
            }
            left_in_interval -= 1;
        }
        let (ux, uy) = (unit % units_x, unit / units_x);
        for m in members {
            let c = &mut frame.comps[m.index];
            let (bh, bv) = if single { (1, 1) } else { (c.h, c.v) };
            for v in 0..bv {
                for h in 0..bh {
                    let (bx, by) = (ux * bh + h, uy * bv + v);
                    let offset = (by * c.bw + bx) * 64;
                    let block: &mut [i16; 64] = (&mut c.coefs[offset..offset + 64])
                        .try_into()
                        .map_err(|_| Unsupported("block out of range"))?;
                    let dc = huff[m.td].as_ref();
                    let ac = huff[4 + m.ta].as_ref();
                    decode_block(bits, block, &mut c.dc_pred, dc, ac, params, &mut eobrun)?;
                }
            }
        }
    }
    Ok(())
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
        return decode_sequential(bits, block, dc_pred, dc, ac);
    }
    if p.ss == 0 {
        return decode_dc_scan(bits, block, dc_pred, dc, p);
    }
    let ac = ac.ok_or(Unsupported("missing AC table"))?;
    if p.ah == 0 {
        decode_ac_first(bits, block, ac, p, eobrun)
    } else {
        decode_ac_refine(bits, block, ac, p, eobrun)
    }
}

/// A baseline or extended block: DC difference, then run-length coded AC coefficients.
fn decode_sequential(
    bits: &mut BitReader,
    block: &mut [i16; 64],
    dc_pred: &mut i32,
    dc: &Huffman,
    ac: &Huffman,
) -> Res<()> {
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
    Ok(())
}

/// A progressive DC scan: the first pass codes the (shifted) DC difference, a refinement
/// pass one more bit of it.
fn decode_dc_scan(
    bits: &mut BitReader,
    block: &mut [i16; 64],
    dc_pred: &mut i32,
    dc: Option<&Huffman>,
    p: &ScanParams,
) -> Res<()> {
    if p.ah == 0 {
        let dc = dc.ok_or(Unsupported("missing DC table"))?;
        let s = u32::from(bits.decode(dc)?);
        let diff = if s == 0 { 0 } else { extend(bits.bits(s), s) };
        *dc_pred = dc_pred.wrapping_add(diff);
        block[0] = (*dc_pred << p.al) as i16;
    } else if bits.bits(1) != 0 {
        block[0] |= 1 << p.al;
    }
    Ok(())
}

/// First pass of spectral selection: AC coefficients `ss..=se`, with end-of-band runs
/// that cover whole blocks.
fn decode_ac_first(
    bits: &mut BitReader,
    block: &mut [i16; 64],
    ac: &Huffman,
    p: &ScanParams,
    eobrun: &mut u32,
) -> Res<()> {
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
    Ok(())
}

/// Successive approximation refinement of AC coefficients `ss..=se`: new coefficients of
/// magnitude one, and one more bit of each coefficient already non-zero.
fn decode_ac_refine(
    bits: &mut BitReader,
    block: &mut [i16; 64],
    ac: &Huffman,
    p: &ScanParams,
    eobrun: &mut u32,
) -> Res<()> {
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
