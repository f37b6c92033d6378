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
//! ([`Granule`](granule::Granule)). The setup header is adapted first so that symphonia's
//! decoder itself matches libvorbis ([`patch_setup`](setup::patch_setup)).
//!
//! Channels come out in Vorbis order, as libvorbis returns them (symphonia reorders 3 or more).
//! Of a chained file only the first link is decoded, as libsndfile does.

use std::path::Path;

use super::Waveform;
use crate::{Error, Result};

mod granule;
mod link;
mod pages;
mod setup;

use link::Link;
use pages::{BOS, EOS, Pages, page_starts_vorbis};

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
