//! Entropy-coded data: canonical Huffman tables and the bit reader that decodes with them.

use super::{Res, Unsupported};

/// Canonical Huffman table: a 9-bit lookahead plus libjpeg's per-length code limits.
pub(super) struct Huffman {
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
    pub(super) fn new(counts: &[u8; 16], values: &[u8]) -> Res<Self> {
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
pub(super) struct BitReader<'a> {
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
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
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
    pub(super) fn bits(&mut self, n: u32) -> i32 {
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

    pub(super) fn decode(&mut self, table: &Huffman) -> Res<u8> {
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
    pub(super) fn overran(&self) -> bool {
        self.made_up > self.nbits
    }

    /// Drops buffered bits and steps over the restart marker that should come next.
    pub(super) fn restart(&mut self) -> Res<()> {
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
    pub(super) fn next_marker(&self) -> usize {
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
