//! The Vorbis setup header, read and patched so that symphonia's decoder matches libvorbis
//! ([`patch_setup`]).

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
pub(super) fn patch_setup(
    setup: &mut [u8],
    channels: u32,
    blocksizes: [usize; 2],
) -> Option<Setup> {
    let mut b = Bits {
        data: setup,
        pos: 0,
    };
    let codebooks = read_codebooks(&mut b)?;
    skip_time_domain_transforms(&mut b)?;
    let floor0 = read_floors(&mut b)?;
    let residues = read_residues(&mut b, &codebooks.dimensions)?;
    let width = ilog(channels.checked_sub(1)?);
    let (mappings, couplings) = read_mappings(&mut b, channels, width)?;
    let unsupported = read_modes(&mut b, &mappings, &residues, blocksizes)?;

    reverse_couplings(&mut b, couplings, width);
    let gain = scale_lookups(&mut b, &codebooks.lookups, floor0)?;
    Some(Setup { gain, unsupported })
}

/// What [`patch_setup`] found.
pub(super) struct Setup {
    /// What the decoder's samples must be multiplied by.
    pub(super) gain: f32,
    /// Why symphonia would decode this stream wrong, if it would.
    pub(super) unsupported: Option<String>,
}

/// What the codebooks tell the later steps.
struct Codebooks {
    /// The dimensions of each codebook.
    dimensions: Vec<usize>,
    /// Bit positions of each VQ codebook's minimum (its delta follows).
    lookups: Vec<usize>,
}

/// Codebooks (spec 3.2.1).
fn read_codebooks(b: &mut Bits<'_>) -> Option<Codebooks> {
    let mut dimensions_of = Vec::new();
    let mut lookups = Vec::new();
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
    Some(Codebooks {
        dimensions: dimensions_of,
        lookups,
    })
}

/// Time-domain transforms: placeholders, all zero.
fn skip_time_domain_transforms(b: &mut Bits<'_>) -> Option<()> {
    for _ in 0..b.read(6)? + 1 {
        if b.read(16)? != 0 {
            return None;
        }
    }
    Some(())
}

/// Floors (spec 6.2.1, 7.2.2); whether any is of type 0.
fn read_floors(b: &mut Bits<'_>) -> Option<bool> {
    let mut floor0 = false;
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
    Some(floor0)
}

/// Residues (spec 8.6.1), given the dimensions of each codebook.
fn read_residues(b: &mut Bits<'_>, dimensions_of: &[usize]) -> Option<Vec<Residue>> {
    let mut residues = Vec::new();
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
    Some(residues)
}

/// A mapping's submap of each channel, and the residue of each submap.
struct Mapping {
    mux: Vec<u32>,
    submap_residues: Vec<usize>,
}

/// A mapping's coupling steps (magnitude, angle), and the bit position they start at.
struct Coupling {
    at: usize,
    steps: Vec<(u32, u32)>,
}

/// Mappings (spec 4.2.4.5), with their coupling steps; channel numbers take `width` bits.
fn read_mappings(
    b: &mut Bits<'_>,
    channels: u32,
    width: u32,
) -> Option<(Vec<Mapping>, Vec<Coupling>)> {
    let mut mappings = Vec::new();
    let mut couplings = Vec::new();
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
            couplings.push(Coupling { at, steps });
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
        mappings.push(Mapping {
            mux,
            submap_residues,
        });
    }
    Some((mappings, couplings))
}

/// Modes (spec 4.2.4.6): the block size each mapping is used with. Returns why symphonia
/// would decode one of them wrong, if it would.
fn read_modes(
    b: &mut Bits<'_>,
    mappings: &[Mapping],
    residues: &[Residue],
    blocksizes: [usize; 2],
) -> Option<Option<String>> {
    let mut unsupported = None;
    for _ in 0..b.read(6)? + 1 {
        let long = b.read(1)? as usize;
        b.skip(32)?;
        let Mapping {
            mux,
            submap_residues,
        } = mappings.get(b.read(8)? as usize)?;
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
    Some(unsupported)
}

/// Rewrites each mapping's coupling steps in reverse order, where they lie.
fn reverse_couplings(b: &mut Bits<'_>, couplings: Vec<Coupling>, width: u32) {
    for Coupling { at, steps } in couplings {
        b.pos = at;
        for (magnitude, angle) in steps.into_iter().rev() {
            b.write(magnitude, width);
            b.write(angle, width);
        }
    }
}

/// Divides the minimum and delta of every VQ codebook (at bit positions `lookups`) by
/// 2^[`HEADROOM_EXP`] where that is exact, and returns the gain that undoes it (1 where it
/// is not done).
fn scale_lookups(b: &mut Bits<'_>, lookups: &[usize], floor0: bool) -> Option<f32> {
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
        return Some(1.0);
    }
    for (at, v) in fields().zip(values) {
        if v & 0x1f_ffff != 0 {
            b.pos = at;
            b.write(v - (HEADROOM_EXP << 21), 32);
        }
    }
    Some((1u32 << HEADROOM_EXP) as f32)
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
