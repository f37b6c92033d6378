//! Which decoded samples a Vorbis stream really holds, by libvorbis's granule bookkeeping.

use std::ops::Range;

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
pub(super) struct Granule {
    position: Option<i64>,
    samples: i64,
}

impl Granule {
    /// The samples to keep of a packet that decoded to `n`.
    pub(super) fn keep(&mut self, n: usize, granule: Option<i64>, eos: bool) -> Range<usize> {
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
