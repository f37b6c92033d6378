//! The modality fronts on the CPU path: patches (vision, audio, depth, thermal), token
//! lookup (text) and windows (IMU), each ending in `[batch, tokens, d]` with the CLS token
//! and the positional embedding added, as `crate::nn::stems` computes them.

use super::grad::NormTape;
use super::kernels::{Dense, Norm, View, matmul};
use super::stems_train::StemTape;
use crate::{Error, Result};

/// Which token represents each sequence.
pub enum CpuPool {
    Cls,
    /// One position per batch row (text's EOT).
    Index(Vec<usize>),
}

impl CpuPool {
    /// The pooled token's position in sequence `b`.
    fn at(&self, b: usize) -> usize {
        match self {
            CpuPool::Cls => 0,
            CpuPool::Index(index) => index[b],
        }
    }

    /// `[batch, tokens, d]` → `[batch, d]`: each sequence's pooled token.
    pub fn pool(&self, x: &[f32], batch: usize, tokens: usize, d: usize) -> Vec<f32> {
        (0..batch)
            .flat_map(|b| &x[(b * tokens + self.at(b)) * d..][..d])
            .copied()
            .collect()
    }

    /// The gradient of [`Self::pool`]: `[batch, d]` → `[batch, tokens, d]`, zero but at the
    /// pooled tokens.
    pub fn unpool(&self, g: &[f32], batch: usize, tokens: usize, d: usize) -> Vec<f32> {
        let mut dx = vec![0.0f32; batch * tokens * d];
        for (b, g) in g.chunks_exact(d).enumerate().take(batch) {
            dx[(b * tokens + self.at(b)) * d..][..d].copy_from_slice(g);
        }
        dx
    }
}

pub struct CpuTokens {
    pub x: Vec<f32>,
    pub tokens: usize,
    pub pool: CpuPool,
    /// `[tokens, tokens]`, additive.
    pub mask: Option<Vec<f32>>,
}

/// A convolution over non-overlapping or overlapping patches, as one product: im2col rows
/// `[patches, channels·kh·kw]` times the kernel.
pub struct PatchEmbed {
    /// `[channels·kh·kw, d]`: the convolution kernel, transposed.
    pub kernel_t: Vec<f32>,
    pub channels: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub d: usize,
}

impl PatchEmbed {
    /// `cols·kernel`: `[rows, channels·kh·kw]` → `[rows, d]`.
    pub(super) fn project(&self, cols: &[f32], rows: usize) -> Vec<f32> {
        let k = self.channels * self.kh * self.kw;
        let mut out = vec![0.0f32; rows * self.d];
        matmul(
            View::dense(cols, rows, k),
            View::dense(&self.kernel_t, k, self.d),
            false,
            &mut out,
            0,
            self.d,
            false,
            1.0,
            true,
        );
        out
    }

    /// The patches of `[batch, channels, h, w]` as rows `[batch·patches, channels·kh·kw]`,
    /// and how many patches an item has.
    pub(super) fn im2col(
        &self,
        x: &[f32],
        batch: usize,
        h: usize,
        w: usize,
    ) -> Result<(Vec<f32>, usize)> {
        let (c, kh, kw, s) = (self.channels, self.kh, self.kw, self.stride);
        if h < kh || w < kw {
            return Err(Error::Input {
                name: "input".into(),
                reason: format!("{h}x{w} is smaller than the {kh}x{kw} patch"),
            });
        }
        let (oh, ow) = ((h - kh) / s + 1, (w - kw) / s + 1);
        let k = c * kh * kw;
        let patches = oh * ow;
        let mut cols = vec![0.0f32; batch * patches * k];
        for (b, image) in x.chunks_exact(c * h * w).enumerate() {
            for oy in 0..oh {
                for ox in 0..ow {
                    let row = &mut cols[((b * oh + oy) * ow + ox) * k..][..k];
                    let mut at = 0;
                    for ch in 0..c {
                        let plane = &image[ch * h * w..][..h * w];
                        for i in 0..kh {
                            let src = &plane[(oy * s + i) * w + ox * s..][..kw];
                            row[at..at + kw].copy_from_slice(src);
                            at += kw;
                        }
                    }
                }
            }
        }
        Ok((cols, patches))
    }
}

pub enum CpuStem {
    /// Vision (a temporal kernel over repeated frames), audio, depth, thermal.
    Patch {
        embed: PatchEmbed,
        /// How many times the patch tokens are repeated (video steps; 1 for images).
        steps: usize,
        norm: Option<Norm>,
        cls: Vec<f32>,
        pos: Vec<f32>,
    },
    Text {
        /// `[vocab, d]`.
        table: Vec<f32>,
        /// `[context, d]`.
        pos: Vec<f32>,
        d: usize,
    },
    Imu {
        proj: Dense,
        kernel: usize,
        norm: Norm,
        cls: Vec<f32>,
        pos: Vec<f32>,
    },
}

/// What a stem takes: the batch's values, row-major, with their shape.
pub enum HostInput<'a> {
    Ids {
        ids: &'a [i64],
        batch: usize,
        context: usize,
    },
    Series {
        x: &'a [f32],
        batch: usize,
        channels: usize,
        length: usize,
    },
    Image {
        x: &'a [f32],
        batch: usize,
        channels: usize,
        h: usize,
        w: usize,
    },
}

impl<'a> HostInput<'a> {
    pub fn batch(&self) -> usize {
        match self {
            HostInput::Ids { batch, .. }
            | HostInput::Series { batch, .. }
            | HostInput::Image { batch, .. } => *batch,
        }
    }

    /// Items `range` of the batch, as a batch.
    pub fn items(&self, range: std::ops::Range<usize>) -> HostInput<'a> {
        let n = range.len();
        match *self {
            HostInput::Ids { ids, context, .. } => HostInput::Ids {
                ids: &ids[range.start * context..range.end * context],
                batch: n,
                context,
            },
            HostInput::Series {
                x,
                channels,
                length,
                ..
            } => {
                let item = channels * length;
                HostInput::Series {
                    x: &x[range.start * item..range.end * item],
                    batch: n,
                    channels,
                    length,
                }
            }
            HostInput::Image {
                x, channels, h, w, ..
            } => {
                let item = channels * h * w;
                HostInput::Image {
                    x: &x[range.start * item..range.end * item],
                    batch: n,
                    channels,
                    h,
                    w,
                }
            }
        }
    }
}

/// `[batch, n, d]` → `[batch, 1 + n, d]` with `cls` first, then `+ pos` (`[1 + n, d]`).
fn cls_and_pos(x: &[f32], batch: usize, n: usize, d: usize, cls: &[f32], pos: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(batch * (n + 1) * d);
    for seq in x.chunks_exact(n * d) {
        out.extend_from_slice(cls);
        out.extend_from_slice(seq);
    }
    for seq in out.chunks_exact_mut((n + 1) * d) {
        seq.iter_mut().zip(pos).for_each(|(v, p)| *v += p);
    }
    out
}

fn causal_mask(n: usize) -> Vec<f32> {
    (0..n)
        .flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect()
}

impl CpuStem {
    pub fn forward(&self, input: &HostInput<'_>) -> Result<(CpuTokens, usize)> {
        self.run(input, false)
            .map(|(tokens, batch, _)| (tokens, batch))
    }

    /// The forward pass, with the tape of what its backward needs when `keep` (training).
    pub(super) fn run(
        &self,
        input: &HostInput<'_>,
        keep: bool,
    ) -> Result<(CpuTokens, usize, Option<StemTape>)> {
        match (self, input) {
            (
                CpuStem::Patch {
                    embed,
                    steps,
                    norm,
                    cls,
                    pos,
                },
                &HostInput::Image {
                    x,
                    batch,
                    channels,
                    h,
                    w,
                },
            ) => {
                if channels != embed.channels {
                    return Err(mismatch(&format!("{} channels", embed.channels)));
                }
                let (tokens, tape) = patch_tokens(
                    embed,
                    *steps,
                    norm.as_ref(),
                    (cls, pos),
                    (x, batch, h, w),
                    keep,
                )?;
                Ok((tokens, batch, tape))
            }
            (
                CpuStem::Text { table, pos, d },
                &HostInput::Ids {
                    ids,
                    batch,
                    context,
                },
            ) => {
                let (tokens, tape) = text_tokens(table, pos, *d, (ids, batch, context), keep)?;
                Ok((tokens, batch, tape))
            }
            (
                CpuStem::Imu {
                    proj,
                    kernel,
                    norm,
                    cls,
                    pos,
                },
                &HostInput::Series {
                    x,
                    batch,
                    channels,
                    length,
                },
            ) => {
                if channels * kernel != proj.d_in {
                    return Err(mismatch(&format!("{} channels", proj.d_in / kernel)));
                }
                let series = (x, batch, channels, length);
                let (tokens, tape) = imu_tokens(proj, *kernel, norm, (cls, pos), series, keep)?;
                Ok((tokens, batch, tape))
            }
            (CpuStem::Patch { .. }, _) => Err(mismatch("[batch, channels, height, width] floats")),
            (CpuStem::Text { .. }, _) => Err(mismatch("[batch, context] integer token ids")),
            (CpuStem::Imu { .. }, _) => Err(mismatch("[batch, channels, length] floats")),
        }
    }
}

fn mismatch(want: &str) -> Error {
    Error::Input {
        name: "input".into(),
        reason: format!("this encoder takes {want}"),
    }
}

/// LayerNorm in place, recording its tape when training (`keep`).
fn norm_in_place(norm: &Norm, x: &mut [f32], keep: bool) -> Option<NormTape> {
    if keep {
        Some(norm.forward_train(x))
    } else {
        norm.forward_in_place(x);
        None
    }
}

/// The patch stem: im2col, the projection, repeated for video steps, LayerNorm, CLS and
/// positions. `image` is `(x, batch, h, w)`.
fn patch_tokens(
    embed: &PatchEmbed,
    steps: usize,
    norm: Option<&Norm>,
    (cls, pos): (&[f32], &[f32]),
    (x, batch, h, w): (&[f32], usize, usize, usize),
    keep: bool,
) -> Result<(CpuTokens, Option<StemTape>)> {
    let d = embed.d;
    let (cols, n) = embed.im2col(x, batch, h, w)?;
    let mut patches = embed.project(&cols, batch * n);
    if steps > 1 {
        patches = patches
            .chunks_exact(n * d)
            .flat_map(|seq| std::iter::repeat_n(seq, steps).flatten().copied())
            .collect();
    }
    let tokens = n * steps;
    let norm_tape = norm.and_then(|nm| norm_in_place(nm, &mut patches, keep));
    check_tokens(pos, tokens + 1, d)?;
    let x = cls_and_pos(&patches, batch, tokens, d, cls, pos);
    Ok((
        CpuTokens {
            x,
            tokens: tokens + 1,
            pool: CpuPool::Cls,
            mask: None,
        },
        keep.then_some(StemTape::Patch {
            cols,
            norm: norm_tape,
            patches: n,
        }),
    ))
}

/// The text stem: token embeddings plus positions, a causal mask, pooled at the EOT token
/// (the highest id of each row).
fn text_tokens(
    table: &[f32],
    pos: &[f32],
    d: usize,
    (ids, batch, context): (&[i64], usize, usize),
    keep: bool,
) -> Result<(CpuTokens, Option<StemTape>)> {
    let vocab = table.len() / d;
    check_tokens(pos, context, d)?;
    let mut x = Vec::with_capacity(batch * context * d);
    let mut eot = Vec::with_capacity(batch);
    let mut rows = Vec::with_capacity(if keep { ids.len() } else { 0 });
    for row in ids.chunks_exact(context) {
        for (t, &id) in row.iter().enumerate() {
            let id = usize::try_from(id)
                .ok()
                .filter(|&i| i < vocab)
                .ok_or_else(|| Error::Input {
                    name: "input".into(),
                    reason: format!("token id {id} is outside the vocabulary (0..{vocab})"),
                })?;
            let e = &table[id * d..][..d];
            x.extend(e.iter().zip(&pos[t * d..][..d]).map(|(a, p)| a + p));
            if keep {
                rows.push(id);
            }
        }
        // argmax, first of equals (torch.argmax and burn agree on that).
        let (mut best, mut at) = (i64::MIN, 0);
        for (t, &id) in row.iter().enumerate() {
            if id > best {
                (best, at) = (id, t);
            }
        }
        eot.push(at);
    }
    Ok((
        CpuTokens {
            x,
            tokens: context,
            pool: CpuPool::Index(eot),
            mask: Some(causal_mask(context)),
        },
        keep.then_some(StemTape::Text { ids: rows }),
    ))
}

/// The IMU stem: windows of `kernel` samples of every channel, the projection, LayerNorm,
/// CLS and positions. `series` is `(x, batch, channels, length)`.
fn imu_tokens(
    proj: &Dense,
    k: usize,
    norm: &Norm,
    (cls, pos): (&[f32], &[f32]),
    (x, batch, channels, length): (&[f32], usize, usize, usize),
    keep: bool,
) -> Result<(CpuTokens, Option<StemTape>)> {
    let windows = length / k;
    // [batch, channels, windows, k] → [batch, windows, channels, k]
    let mut features = Vec::with_capacity(batch * windows * channels * k);
    for series in x.chunks_exact(channels * length) {
        for win in 0..windows {
            for ch in 0..channels {
                features.extend_from_slice(&series[ch * length + win * k..][..k]);
            }
        }
    }
    let mut tokens = proj.forward(&features, batch * windows);
    let norm_tape = norm_in_place(norm, &mut tokens, keep);
    check_tokens(pos, windows + 1, proj.d_out)?;
    let x = cls_and_pos(&tokens, batch, windows, proj.d_out, cls, pos);
    Ok((
        CpuTokens {
            x,
            tokens: windows + 1,
            pool: CpuPool::Cls,
            mask: None,
        },
        norm_tape.map(|norm| StemTape::Imu { features, norm }),
    ))
}

/// The positional embedding must cover the sequence the input makes.
fn check_tokens(pos: &[f32], tokens: usize, d: usize) -> Result<()> {
    if pos.len() == tokens * d {
        Ok(())
    } else {
        Err(Error::Input {
            name: "input".into(),
            reason: format!(
                "the input makes {tokens} tokens, the encoder's positional embedding has {}",
                pos.len() / d.max(1)
            ),
        })
    }
}
