//! `.npy` files (float32 / int64, C order, 2-D): the data and results shared with the FAISS
//! script.

use std::io::{Read, Write};
use std::path::Path;

pub fn write_npy_f32(path: &Path, data: &[f32], rows: usize, cols: usize) {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.div_ceil(64) * 64 - total));
    header.push('\n');
    let mut f = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(path).unwrap());
    f.write_all(b"\x93NUMPY\x01\x00").unwrap();
    f.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    for chunk in data.chunks(1 << 20) {
        // SAFETY: f32 slice viewed as bytes (little-endian target).
        let b = unsafe { std::slice::from_raw_parts(chunk.as_ptr() as *const u8, chunk.len() * 4) };
        f.write_all(b).unwrap();
    }
    f.flush().unwrap();
}

/// (descr, shape, raw data bytes)
fn read_npy(path: &Path) -> (String, Vec<usize>, Vec<u8>) {
    let mut b = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut b)
        .unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let (hl, start) = if b[6] == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize,
            12,
        )
    };
    let h = std::str::from_utf8(&b[start..start + hl]).unwrap();
    let descr = h
        .split("'descr':")
        .nth(1)
        .unwrap()
        .split('\'')
        .nth(1)
        .unwrap()
        .to_string();
    let shape: Vec<usize> = h
        .split('(')
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    (descr, shape, b[start + hl..].to_vec())
}

pub fn read_npy_f32(path: &Path) -> (Vec<f32>, usize, usize) {
    let (d, s, b) = read_npy(path);
    assert_eq!(d, "<f4");
    (
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        s[0],
        s[1],
    )
}

pub fn read_npy_i64(path: &Path) -> Vec<i64> {
    let (d, _, b) = read_npy(path);
    assert_eq!(d, "<i8");
    b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}
