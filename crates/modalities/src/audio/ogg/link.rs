//! One Vorbis stream of an Ogg link: packets assembled from its pages, its headers, and its
//! audio decoded by symphonia and cut as libvorbis cuts it.

use symphonia::core::audio::{AudioBufferRef, Signal};
use symphonia::core::codecs::{CODEC_TYPE_VORBIS, CodecParameters, Decoder, DecoderOptions};
use symphonia::core::formats::Packet;

use super::Output;
use super::granule::Granule;
use super::pages::{CONTINUED, EOS, Page};
use super::setup::patch_setup;

/// A packet as libogg hands it out: the page's granule position goes to the last packet that
/// ends on the page, and the end-of-stream mark to a packet that ends an EOS page.
pub(super) struct OggPacket {
    data: Vec<u8>,
    granule: Option<i64>,
    eos: bool,
}

/// The Vorbis stream of one link: packet assembly, headers, decoder and granule bookkeeping.
pub(super) struct Link {
    pub(super) serial: u32,
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
    pub(super) fn new(serial: u32) -> Self {
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
    pub(super) fn page_in(&mut self, page: &Page<'_>) -> Vec<OggPacket> {
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
    pub(super) fn packet(
        &mut self,
        packet: OggPacket,
        out: &mut Option<Output>,
    ) -> Result<(), String> {
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
