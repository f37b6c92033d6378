//! Chroma upsampling: a subsampled component brought to the full image size.

use super::{Component, Frame};

/// Brings one component's samples (`stride` per row) to the full image size the way
/// libjpeg-turbo's `jdsample.c` does with `do_fancy_upsampling` on.
pub(super) fn upsample(c: &Component, plane: &[u8], stride: usize, frame: &Frame) -> Vec<u8> {
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
