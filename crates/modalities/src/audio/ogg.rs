//! Ogg/Vorbis decoded to the samples libsndfile returns (the official pipeline's reader:
//! torchaudio's soundfile backend), which are libvorbis's, as `oggdec` also gives them.
//!
//! symphonia decodes Vorbis packets to within float rounding of libvorbis, but its Ogg demuxer
//! (0.5) places the start and end of the audio differently: it reads the first audio page
//! before it has worked out the stream's start delay and end padding, so a stream whose audio
//! fits in one page (any clip under about a second) keeps up to a block of padding at the end,
//! and a stream whose first granule position is short of its first page (a negative start)
//! keeps the samples libvorbis drops at the start. So the pages are read here, as libogg reads
//! them, the packets are decoded with symphonia's Vorbis decoder, and what each packet
//! contributes is cut with the bookkeeping of libvorbis's `vorbis_synthesis_blockin`
//! ([`Granule`]). The setup header is adapted first so that symphonia's decoder itself matches
//! libvorbis ([`patch_setup`]).
//!
//! Channels come out in Vorbis order, as libvorbis returns them (symphonia reorders 3 or more).
//! Of a chained file only the first link is decoded, as libsndfile does.

use std::ops::Range;
use std::path::Path;

use symphonia::core::audio::{AudioBufferRef, Signal};
use symphonia::core::codecs::{CODEC_TYPE_VORBIS, CodecParameters, Decoder, DecoderOptions};
use symphonia::core::formats::Packet;

use super::Waveform;
use crate::{Error, Result};

/// Decodes the first Vorbis stream of an Ogg file (in its first link); `None` when the first
/// link holds no Vorbis stream (Ogg FLAC, Opus...), for another decoder to try.
pub(super) fn decode_vorbis(bytes: &[u8], path: &Path) -> Result<Option<Waveform>> {
    let fail = |reason: String| Error::decode(path, reason);
    let mut out: Option<Output> = None;
    let mut link: Option<Link> = None;
    let mut past_bos_pages = false;
    for page in Pages::new(bytes) {
        if page.flags & BOS == 0 {
            past_bos_pages = true;
        } else if past_bos_pages {
            // The next link of a chained file.
            break;
        } else if link.is_none() && page_starts_vorbis(&page) {
            link = Some(Link::new(page.serial));
        }
        let Some(stream) = link.as_mut().filter(|l| l.serial == page.serial) else {
            continue;
        };
        for packet in stream.page_in(&page) {
            stream.packet(packet, &mut out).map_err(fail)?;
            if let Some(o) = &out {
                let frames = o.channels.first().map_or(0, Vec::len) as u64;
                crate::Limits::current().check_audio(path, frames, o.rate, o.channels.len())?;
            }
        }
        if page.flags & EOS != 0 {
            break;
        }
    }
    if link.is_none() {
        return Ok(None);
    }
    let Some(out) = out else {
        return Err(fail(
            "truncated Ogg/Vorbis stream: its headers are incomplete".into(),
        ));
    };
    if out.good == 0 && out.bad > 0 {
        return Err(fail(format!(
            "no packet could be decoded ({} bad; last error: {})",
            out.bad, out.last_error
        )));
    }
    Ok(Some(Waveform {
        sample_rate: out.rate,
        channels: out.channels,
    }))
}

/// The decoded samples so far.
struct Output {
    rate: u32,
    channels: Vec<Vec<f32>>,
    good: usize,
    bad: usize,
    last_error: String,
}

// ------------------------------------------------------------------------------------ pages

const BOS: u8 = 2;
const EOS: u8 = 4;
const CONTINUED: u8 = 1;

/// One Ogg page whose CRC checked.
struct Page<'a> {
    flags: u8,
    granule: i64,
    serial: u32,
    sequence: u32,
    lacing: &'a [u8],
    body: &'a [u8],
}

/// The valid pages of a byte stream, in order. Like libogg's `ogg_sync_pageseek`, a page that
/// is cut short or fails its CRC is skipped and the search resumes at the next byte.
struct Pages<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Pages<'a> {
    fn new(data: &'a [u8]) -> Self {
        Pages { data, pos: 0 }
    }
}

impl<'a> Iterator for Pages<'a> {
    type Item = Page<'a>;

    fn next(&mut self) -> Option<Page<'a>> {
        loop {
            let rest = self.data.get(self.pos..)?;
            let start = self.pos + rest.windows(4).position(|w| w == b"OggS")?;
            self.pos = start + 1;
            if let Some((page, len)) = parse_page(&self.data[start..]) {
                self.pos = start + len;
                return Some(page);
            }
        }
    }
}

/// The page at the start of `d` and its length, if it is whole and its CRC matches.
fn parse_page(d: &[u8]) -> Option<(Page<'_>, usize)> {
    let header = d.get(..27)?;
    if header[4] != 0 {
        return None;
    }
    let segments = header[26] as usize;
    let lacing = d.get(27..27 + segments)?;
    let len = 27 + segments + lacing.iter().map(|&v| v as usize).sum::<usize>();
    let page = d.get(..len)?;
    let stored = u32::from_le_bytes([page[22], page[23], page[24], page[25]]);
    let crc = crc32(crc32(crc32(0, &page[..22]), &[0; 4]), &page[26..]);
    if crc != stored {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes([page[i], page[i + 1], page[i + 2], page[i + 3]]);
    Some((
        Page {
            flags: page[5],
            granule: i64::from_le_bytes(page[6..14].try_into().ok()?),
            serial: u32_at(14),
            sequence: u32_at(18),
            lacing,
            body: &page[27 + segments..],
        },
        len,
    ))
}

/// Ogg's CRC-32: polynomial 0x04c11db7, MSB first, no reflection, initial value and final XOR 0.
fn crc32(mut crc: u32, bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut r = (i as u32) << 24;
            let mut bit = 0;
            while bit < 8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04c1_1db7
                } else {
                    r << 1
                };
                bit += 1;
            }
            table[i] = r;
            i += 1;
        }
        table
    };
    for &b in bytes {
        crc = (crc << 8) ^ TABLE[((crc >> 24) as u8 ^ b) as usize];
    }
    crc
}

/// Whether a BOS page opens a Vorbis stream: its first packet is an identification header.
fn page_starts_vorbis(page: &Page<'_>) -> bool {
    let mut len = 0;
    for &v in page.lacing {
        len += v as usize;
        if v < 255 {
            break;
        }
    }
    len >= 7 && page.body.starts_with(b"\x01vorbis")
}

// ------------------------------------------------------------------------------ one stream

/// A packet as libogg hands it out: the page's granule position goes to the last packet that
/// ends on the page, and the end-of-stream mark to a packet that ends an EOS page.
struct OggPacket {
    data: Vec<u8>,
    granule: Option<i64>,
    eos: bool,
}

/// The Vorbis stream of one link: packet assembly, headers, decoder and granule bookkeeping.
struct Link {
    serial: u32,
    next_sequence: Option<u32>,
    /// The start of a packet that continues on the next page.
    partial: Option<Vec<u8>>,
    /// Identification, comment and setup headers, until the decoder is made.
    headers: Vec<Vec<u8>>,
    decoder: Option<Box<dyn Decoder>>,
    channels: usize,
    /// What the decoder's samples are multiplied by ([`patch_setup`]).
    gain: f32,
    granule: Granule,
}

impl Link {
    fn new(serial: u32) -> Self {
        Link {
            serial,
            next_sequence: None,
            partial: None,
            headers: Vec::new(),
            decoder: None,
            channels: 0,
            gain: 1.0,
            granule: Granule::default(),
        }
    }

    /// The packets that end on `page` (libogg's `ogg_stream_pagein` + `packetout`). A page
    /// missing from the sequence loses the packet it split, and a continued page without its
    /// start has its first, partial packet skipped.
    fn page_in(&mut self, page: &Page<'_>) -> Vec<OggPacket> {
        if self.next_sequence.is_some_and(|s| s != page.sequence) {
            self.partial = None;
        }
        self.next_sequence = Some(page.sequence.wrapping_add(1));
        let mut lacing = page.lacing;
        let mut body = page.body;
        if page.flags & CONTINUED == 0 {
            self.partial = None;
        } else if self.partial.is_none() {
            let skip = lacing.iter().take_while(|&&v| v == 255).count();
            let skip = (skip + 1).min(lacing.len());
            let bytes: usize = lacing[..skip].iter().map(|&v| v as usize).sum();
            (lacing, body) = (&lacing[skip..], &body[bytes..]);
        }
        let mut packets = Vec::new();
        let mut data = self.partial.take().unwrap_or_default();
        for (i, &v) in lacing.iter().enumerate() {
            let (seg, rest) = body.split_at(v as usize);
            body = rest;
            data.extend_from_slice(seg);
            if v < 255 {
                packets.push(OggPacket {
                    data: std::mem::take(&mut data),
                    granule: None,
                    eos: page.flags & EOS != 0 && i + 1 == lacing.len(),
                });
            }
        }
        if lacing.last() == Some(&255) {
            self.partial = Some(data);
        }
        if let Some(last) = packets.last_mut() {
            last.granule = Some(page.granule).filter(|&g| g != -1);
        }
        packets
    }

    /// Takes in one packet: a header, or audio decoded and cut into `out`.
    fn packet(&mut self, packet: OggPacket, out: &mut Option<Output>) -> Result<(), String> {
        let Some(decoder) = self.decoder.as_mut() else {
            return self.header(packet.data, out);
        };
        // libvorbis refuses what is not an audio packet and vorbisfile skips it, granule
        // position included.
        if packet.data.first().is_none_or(|b| b & 1 != 0) {
            return Ok(());
        }
        let out = out.as_mut().ok_or("internal: decoder without output")?;
        let data = packet.data.into_boxed_slice();
        let decoded = match decoder.decode(&Packet::new_from_boxed_slice(0, 0, 0, data)) {
            Ok(d) => d,
            Err(e) => {
                out.bad += 1;
                out.last_error = e.to_string();
                return Ok(());
            }
        };
        out.good += 1;
        let n = decoded.frames();
        let keep = self.granule.keep(n, packet.granule, packet.eos);
        let mut append = |buf: &symphonia::core::audio::AudioBuffer<f32>| {
            for (c, dst) in out.channels.iter_mut().enumerate() {
                let src = &buf.chan(symphonia_channel(self.channels, c))[keep.clone()];
                dst.extend(src.iter().map(|&v| v * self.gain));
            }
        };
        match decoded {
            AudioBufferRef::F32(buf) => append(&buf),
            other => {
                let mut buf = other.make_equivalent::<f32>();
                other.convert(&mut buf);
                append(&buf);
            }
        }
        Ok(())
    }

    /// Collects the three header packets, then makes the decoder.
    fn header(&mut self, data: Vec<u8>, out: &mut Option<Output>) -> Result<(), String> {
        let kind = [1u8, 3, 5][self.headers.len()];
        if data.first() != Some(&kind) || data.get(1..7) != Some(b"vorbis") {
            return Err(format!(
                "invalid Ogg/Vorbis stream: header packet {} is not a Vorbis header",
                self.headers.len() + 1
            ));
        }
        self.headers.push(data);
        if self.headers.len() < 3 {
            return Ok(());
        }
        let ident = &self.headers[0];
        if ident.len() < 30 {
            return Err("invalid Vorbis identification header (too short)".into());
        }
        let channels = ident[11] as usize;
        let rate = u32::from_le_bytes([ident[12], ident[13], ident[14], ident[15]]);
        if channels == 0 || rate == 0 {
            return Err(format!(
                "invalid Vorbis identification header ({channels} channels, {rate} Hz)"
            ));
        }
        let mut extra = ident.clone();
        let setup_at = extra.len();
        extra.extend_from_slice(&self.headers[2]);
        // Past the packet type and "vorbis"; a setup this cannot read goes to symphonia as is.
        let blocksizes = [1usize << (ident[28] & 15), 1usize << (ident[28] >> 4)];
        if let Some(setup) = patch_setup(&mut extra[setup_at + 7..], channels as u32, blocksizes) {
            if let Some(reason) = setup.unsupported {
                return Err(reason);
            }
            self.gain = setup.gain;
        }
        let mut params = CodecParameters::new();
        params
            .for_codec(CODEC_TYPE_VORBIS)
            .with_sample_rate(rate)
            .with_extra_data(extra.into_boxed_slice());
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| format!("unsupported or invalid Vorbis stream: {e}"))?;
        *out = Some(Output {
            rate,
            channels: vec![Vec::new(); channels],
            good: 0,
            bad: 0,
            last_error: String::new(),
        });
        self.channels = channels;
        self.decoder = Some(decoder);
        self.headers.clear();
        Ok(())
    }
}

/// Headroom of [`patch_setup`]'s scaling: decoded samples are exact up to ±2^4.
const HEADROOM_EXP: u32 = 4;

/// Adapts a Vorbis setup header (the bits after the packet type and "vorbis") in place so
/// that symphonia 0.5 decodes it as libvorbis does, and returns the gain its output must then
/// be multiplied by (1 or 2^[`HEADROOM_EXP`]). A header this cannot read is left untouched
/// (`None`), for symphonia to accept or refuse.
///
/// - **Coupling order.** The spec (and libvorbis) undoes channel coupling from the last step to
///   the first; symphonia from the first. That matters when steps share a channel, as in the
///   mapping libvorbis encodes 5.1 with (steps 0/2, 3/4, 0/1, 0/3): every channel but the LFE
///   then comes out wrong (by 0.06 to 0.8). The steps are reversed where they lie (all have the
///   same width, so nothing else moves).
/// - **Clipping.** symphonia clamps every sample to [-1, 1]; libvorbis, and libsndfile (which
///   the official pipeline reads through), do not, and lossy coding of a loud recording
///   overshoots 1 (by 0.1 on the loud fixture). The output is linear in the residue vectors,
///   so the minimum and delta of every VQ codebook are divided by 2^4 (the exponent of the
///   Vorbis float lowered by 4): every step of the decode is then exactly 2^-4 times the
///   original, including rounding, the clamp only bites beyond ±16, and multiplying by 16 gives
///   libvorbis's samples back bit for bit. Not done for floor type 0 (it reads VQ values too;
///   no encoder has written it since 2002) nor where a value would leave the normal range.
///
/// A third bug cannot be worked around here: for residue types 0 and 1, symphonia lets the
/// partition classes of one channel's last classword spill into the next channel's, which
/// garbles the decode (by 0.2 to 0.5) when a submap holds several channels and the partition
/// count is not a multiple of the classword size (libvorbis writes such streams for 3, 4, 5, 7
/// and 8 channels at some rates and qualities). Such a stream is refused
/// ([`Setup::unsupported`]) rather than decoded wrong; so is a 2-channel type-2 submap that
/// does not start at channel 0, which symphonia mixes up too (no known encoder writes one).
///
/// Once symphonia fixes any of these, the 6-channel, loud or 4-channel fixture test fails, and
/// that part goes.
fn patch_setup(setup: &mut [u8], channels: u32, blocksizes: [usize; 2]) -> Option<Setup> {
    let mut b = Bits {
        data: setup,
        pos: 0,
    };
    let mut dimensions_of = Vec::new();
    let mut residues = Vec::new();
    let mut mappings = Vec::new();
    // Bit positions of each VQ codebook's minimum (its delta follows).
    let mut lookups = Vec::new();
    // Bit positions of each mapping's coupling steps, with the steps.
    let mut couplings = Vec::new();
    let mut floor0 = false;
    // Codebooks (spec 3.2.1).
    for _ in 0..b.read(8)? + 1 {
        if b.read(24)? != 0x56_4342 {
            return None;
        }
        let dimensions = b.read(16)?;
        let entries = b.read(24)?;
        dimensions_of.push(dimensions as usize);
        if b.read(1)? == 0 {
            let sparse = b.read(1)? == 1;
            for _ in 0..entries {
                if !sparse || b.read(1)? == 1 {
                    b.read(5)?;
                }
            }
        } else {
            b.read(5)?;
            let mut entry = 0;
            while entry < entries {
                entry += b.read(ilog(entries - entry))?;
            }
        }
        match b.read(4)? {
            0 => {}
            lookup @ (1 | 2) => {
                lookups.push(b.pos);
                b.skip(64)?;
                let value_bits = u64::from(b.read(4)? + 1);
                b.read(1)?;
                let values = if lookup == 1 {
                    lookup1_values(entries, dimensions)?
                } else {
                    u64::from(entries) * u64::from(dimensions)
                };
                b.skip(values.checked_mul(value_bits)?)?;
            }
            _ => return None,
        }
    }
    // Time-domain transforms: placeholders, all zero.
    for _ in 0..b.read(6)? + 1 {
        if b.read(16)? != 0 {
            return None;
        }
    }
    // Floors (spec 6.2.1, 7.2.2).
    for _ in 0..b.read(6)? + 1 {
        match b.read(16)? {
            0 => {
                floor0 = true;
                b.skip(8 + 16 + 16 + 6 + 8)?;
                let books = b.read(4)? + 1;
                b.skip(8 * u64::from(books))?;
            }
            1 => {
                let partitions = b.read(5)?;
                let classes: Vec<u32> =
                    (0..partitions).map(|_| b.read(4)).collect::<Option<_>>()?;
                let mut dimensions = Vec::new();
                for _ in 0..classes.iter().max().map_or(0, |&m| m + 1) {
                    dimensions.push(b.read(3)? + 1);
                    let subclasses = b.read(2)?;
                    if subclasses != 0 {
                        b.read(8)?;
                    }
                    b.skip(8 << subclasses)?;
                }
                b.read(2)?;
                let range_bits = b.read(4)?;
                for &class in &classes {
                    b.skip(u64::from(dimensions[class as usize] * range_bits))?;
                }
            }
            _ => return None,
        }
    }
    // Residues (spec 8.6.1).
    for _ in 0..b.read(6)? + 1 {
        let kind = b.read(16)?;
        let (begin, end, partition) = (b.read(24)?, b.read(24)?, b.read(24)? + 1);
        let classifications = b.read(6)? + 1;
        let classbook = *dimensions_of.get(b.read(8)? as usize)?;
        if kind > 2 {
            return None;
        }
        residues.push(Residue {
            kind,
            begin: begin as usize,
            end: end as usize,
            partition: partition as usize,
            classbook,
        });
        let mut books = 0;
        for _ in 0..classifications {
            let low = b.read(3)?;
            let high = if b.read(1)? == 1 { b.read(5)? } else { 0 };
            books += (high << 3 | low).count_ones();
        }
        b.skip(8 * u64::from(books))?;
    }
    // Mappings (spec 4.2.4.5).
    let width = ilog(channels.checked_sub(1)?);
    for _ in 0..b.read(6)? + 1 {
        if b.read(16)? != 0 {
            return None;
        }
        let submaps = if b.read(1)? == 1 { b.read(4)? + 1 } else { 1 };
        if b.read(1)? == 1 {
            let steps = b.read(8)? + 1;
            let at = b.pos;
            let steps: Vec<(u32, u32)> = (0..steps)
                .map(|_| Some((b.read(width)?, b.read(width)?)))
                .collect::<Option<_>>()?;
            couplings.push((at, steps));
        }
        b.read(2)?;
        let mux: Vec<u32> = if submaps > 1 {
            (0..channels).map(|_| b.read(4)).collect::<Option<_>>()?
        } else {
            vec![0; channels as usize]
        };
        let mut submap_residues = Vec::new();
        for _ in 0..submaps {
            b.skip(16)?;
            submap_residues.push(b.read(8)? as usize);
        }
        mappings.push((mux, submap_residues));
    }
    // Modes (spec 4.2.4.6): the block size each mapping is used with.
    let mut unsupported = None;
    for _ in 0..b.read(6)? + 1 {
        let long = b.read(1)? as usize;
        b.skip(32)?;
        let (mux, submap_residues) = mappings.get(b.read(8)? as usize)?;
        for (submap, &r) in submap_residues.iter().enumerate() {
            let residue = residues.get(r)?;
            let members: Vec<usize> = (0..mux.len())
                .filter(|&c| mux[c] as usize == submap)
                .collect();
            if let Some(reason) = residue.symphonia_bug(&members, blocksizes[long]) {
                unsupported = Some(reason);
            }
        }
    }

    for (at, steps) in couplings {
        b.pos = at;
        for (magnitude, angle) in steps.into_iter().rev() {
            b.write(magnitude, width);
            b.write(angle, width);
        }
    }
    // A Vorbis float is m·2^(e-788) (21-bit mantissa m, 10-bit exponent e), which symphonia
    // computes as m · 2f32.powi(e - 788): exact after scaling while 2^(e-788-4) stays normal.
    let fields = || lookups.iter().flat_map(|&at| [at, at + 32]);
    let scalable = |v: u32| v & 0x1f_ffff == 0 || (v >> 21) & 0x3ff >= 662 + HEADROOM_EXP;
    let mut values = Vec::new();
    for at in fields() {
        b.pos = at;
        values.push(b.read(32)?);
    }
    if floor0 || !values.iter().all(|&v| scalable(v)) {
        return Some(Setup {
            gain: 1.0,
            unsupported,
        });
    }
    for (at, v) in fields().zip(values) {
        if v & 0x1f_ffff != 0 {
            b.pos = at;
            b.write(v - (HEADROOM_EXP << 21), 32);
        }
    }
    Some(Setup {
        gain: (1u32 << HEADROOM_EXP) as f32,
        unsupported,
    })
}

/// What [`patch_setup`] found.
struct Setup {
    /// What the decoder's samples must be multiplied by.
    gain: f32,
    /// Why symphonia would decode this stream wrong, if it would.
    unsupported: Option<String>,
}

/// The fields of a residue header that decide whether symphonia decodes it right.
struct Residue {
    kind: u32,
    begin: usize,
    end: usize,
    partition: usize,
    /// Partitions per classword: the dimensions of the classbook.
    classbook: usize,
}

impl Residue {
    /// Why symphonia 0.5 decodes this residue wrong for the channels `members` of a submap in
    /// blocks of `blocksize`, if it does (see [`patch_setup`]).
    fn symphonia_bug(&self, members: &[usize], blocksize: usize) -> Option<String> {
        let refuse = |what: &str| {
            Some(format!(
                "this {}-channel Vorbis stream {what}, which the decoder (symphonia 0.5) gets \
                 wrong; convert it to WAV or FLAC first",
                members.len()
            ))
        };
        if self.kind == 2 {
            if members.len() == 2 && members[0] != 0 {
                return refuse("couples two channels other than the first");
            }
            return None;
        }
        let half = blocksize / 2;
        let partitions = self.end.min(half).saturating_sub(self.begin.min(half)) / self.partition;
        if members.len() >= 2 && self.classbook > 0 && !partitions.is_multiple_of(self.classbook) {
            return refuse("codes several channels in one uneven residue");
        }
        None
    }
}

/// A Vorbis header's bits, least significant first.
struct Bits<'a> {
    data: &'a mut [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: u32) -> Option<u32> {
        let mut value = 0u32;
        for i in 0..n as usize {
            let bit = (self.data.get((self.pos + i) / 8)? >> ((self.pos + i) % 8)) & 1;
            value |= u32::from(bit) << i;
        }
        self.pos += n as usize;
        Some(value)
    }

    fn skip(&mut self, n: u64) -> Option<()> {
        let end = (self.pos as u64).checked_add(n)?;
        (end <= self.data.len() as u64 * 8).then(|| self.pos = end as usize)
    }

    /// Overwrites `n` bits (that were read before, so they exist).
    fn write(&mut self, value: u32, n: u32) {
        for i in 0..n as usize {
            let (byte, bit) = ((self.pos + i) / 8, (self.pos + i) % 8);
            self.data[byte] = self.data[byte] & !(1 << bit) | (((value >> i) & 1) as u8) << bit;
        }
        self.pos += n as usize;
    }
}

/// Bits needed for `x` (the spec's `ilog`).
fn ilog(x: u32) -> u32 {
    32 - x.leading_zeros()
}

/// The largest `r` with `r^dimensions <= entries` (spec 9.2.3).
fn lookup1_values(entries: u32, dimensions: u32) -> Option<u64> {
    if dimensions == 0 {
        return None;
    }
    let fits = |r: u64| {
        (0..dimensions)
            .try_fold(1u64, |acc, _| acc.checked_mul(r))
            .is_some_and(|v| v <= u64::from(entries))
    };
    let mut r = (f64::from(entries).powf(1.0 / f64::from(dimensions))) as u64;
    while r > 0 && !fits(r) {
        r -= 1;
    }
    while fits(r + 1) {
        r += 1;
    }
    Some(r)
}

/// Where symphonia puts Vorbis channel `c` of `n` (its `map_vorbis_channel`: it sorts the
/// channels by speaker position; libvorbis keeps the Vorbis order).
fn symphonia_channel(n: usize, c: usize) -> usize {
    const MAPS: [&[usize]; 9] = [
        &[],
        &[0],
        &[0, 1],
        &[0, 2, 1],
        &[0, 1, 2, 3],
        &[0, 2, 1, 3, 4],
        &[0, 2, 1, 4, 5, 3],
        &[0, 2, 1, 5, 6, 4, 3],
        &[0, 2, 1, 6, 7, 4, 5, 3],
    ];
    MAPS.get(n).and_then(|m| m.get(c)).copied().unwrap_or(c)
}

/// libvorbis's granule bookkeeping (`vorbis_synthesis_blockin`), which decides which decoded
/// samples a stream really holds.
///
/// Until the first packet that carries a granule position (the last one ending on the first
/// audio page), samples are counted. If that count exceeds the granule position, the excess is
/// cut from the start of that packet's samples (a stream with a negative start), or, when it is
/// also the last packet of the stream, from their end (a stream whose audio fits in one page).
/// After that the position advances by each packet's samples, and the last packet is cut to
/// end exactly at the final granule position. As in libvorbis, a cut never reaches into
/// earlier packets, and a granule position ahead of the count (a stream that starts
/// mid-way) cuts nothing. (libsndfile also stops at the final granule position counted from
/// the start; that differs only where a stream's granule positions claim a cut longer than
/// its last packet, which no encoder writes.)
#[derive(Default)]
struct Granule {
    position: Option<i64>,
    samples: i64,
}

impl Granule {
    /// The samples to keep of a packet that decoded to `n`.
    fn keep(&mut self, n: usize, granule: Option<i64>, eos: bool) -> Range<usize> {
        let len = n as i64;
        let cut = |extra: i64| extra.clamp(0, len) as usize;
        self.samples = self.samples.saturating_add(len);
        let mut keep = 0..n;
        match (self.position, granule) {
            (None, None) => {}
            (None, Some(g)) => {
                self.position = Some(g);
                let extra = cut(self.samples.saturating_sub(g));
                if eos {
                    keep.end -= extra;
                } else {
                    keep.start += extra;
                }
            }
            (Some(p), g) => {
                let p = p.saturating_add(len);
                self.position = Some(p);
                if let Some(g) = g.filter(|&g| g != p) {
                    if eos {
                        keep.end -= cut(p.saturating_sub(g));
                    }
                    self.position = Some(g);
                }
            }
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_a_known_page() {
        // CRC-32/POSIX (cksum) checks "123456789" as 0x765e7680; Ogg's CRC is the same
        // without the final inversion.
        assert_eq!(crc32(0, b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn granule_cuts_like_libvorbis() {
        // One page of 11 packets, the first decoding to nothing and the others to 256 samples
        // (2560), granule 2400: the end of the last packet goes.
        let mut g = Granule::default();
        assert_eq!(g.keep(0, None, false), 0..0);
        for _ in 0..9 {
            assert_eq!(g.keep(256, None, false), 0..256);
        }
        assert_eq!(g.keep(256, Some(2400), true), 0..96);
        // The same page not at the end of the stream: the start of its last packet goes.
        let mut g = Granule::default();
        g.keep(0, None, false);
        (0..9).for_each(|_| _ = g.keep(256, None, false));
        assert_eq!(g.keep(256, Some(2400), false), 160..256);
        // Then the final page: position 2400 + 256 + 128 = 2784, granule 2700.
        assert_eq!(g.keep(256, None, false), 0..256);
        assert_eq!(g.keep(128, Some(2700), true), 0..44);
        // A stream that starts mid-way keeps everything; a cut never exceeds the packet.
        let mut g = Granule::default();
        assert_eq!(g.keep(256, Some(1_000_000), false), 0..256);
        let mut g = Granule::default();
        assert_eq!(g.keep(256, Some(-5000), true), 0..0);
    }
}
