//! ImageBind's transform of decoded samples: resampling what the clips cover, the in-place
//! mean subtraction, the Kaldi fbank and the normalisation.

use ndarray::{Array4, s};

use super::{AudioPreprocess, Waveform, check_waveform, clip_ranges};
use crate::fbank::{FbankOptions, FbankPlan};
use crate::resample::Resampler;

/// Rejects settings that would make the transform meaningless or crash the original.
fn check_config(cfg: &AudioPreprocess) -> std::result::Result<(), String> {
    if cfg.sample_rate == 0 {
        return Err("config: sample_rate must be > 0".into());
    }
    if !(cfg.clip_duration_s.is_finite() && cfg.clip_duration_s > 0.0) {
        return Err(format!(
            "config: clip_duration_s must be > 0, got {}",
            cfg.clip_duration_s
        ));
    }
    if cfg.clips_per_input == 0 || cfg.target_frames == 0 {
        return Err("config: clips_per_input and target_frames must be > 0".into());
    }
    if cfg.mel_bins < 4 {
        return Err(format!(
            "config: mel_bins must be at least 4, got {}",
            cfg.mel_bins
        ));
    }
    if !(cfg.mean.is_finite() && cfg.std.is_finite() && cfg.std != 0.0) {
        return Err(format!(
            "config: need finite mean and non-zero std, got {} / {}",
            cfg.mean, cfg.std
        ));
    }
    Ok(())
}

/// The transform of [`preprocess`](super::preprocess), with errors as plain reasons.
pub(super) fn preprocess_wave(
    w: &Waveform,
    cfg: &AudioPreprocess,
) -> std::result::Result<Array4<f32>, String> {
    check_config(cfg)?;
    check_waveform(w)?;
    let plan = FbankPlan::cached(&FbankOptions::imagebind(
        cfg.sample_rate as f32,
        cfg.mel_bins,
    ))
    .ok_or_else(|| {
        format!(
            "config: no Kaldi fbank for {} Hz / {} mel bins",
            cfg.sample_rate, cfg.mel_bins
        )
    })?;
    let n = resampled_len(w.num_frames(), w.sample_rate, cfg.sample_rate);
    let clips: Vec<(usize, usize)> = clip_ranges(n, cfg)
        .into_iter()
        .map(|(start, end)| (start.min(n), end.min(n)))
        .collect();
    if let Some((clip, (start, end))) = clips
        .iter()
        .enumerate()
        .find(|(_, (s, e))| plan.num_frames(e - s) == 0)
    {
        return Err(format!(
            "audio too short: clip {clip} has {} samples at {} Hz, less than one 25 ms fbank frame",
            end - start,
            cfg.sample_rate
        ));
    }
    let mut segments = resample_segments(w, cfg.sample_rate, &clips);

    let mut out = Array4::<f32>::zeros((cfg.clips_per_input, 1, cfg.mel_bins, cfg.target_frames));
    for (clip, &(start, end)) in clips.iter().enumerate() {
        let seg = segments
            .iter_mut()
            .find(|seg| seg.start <= start && end <= seg.end())
            .ok_or("internal: clip outside the resampled segments")?;
        let local = start - seg.start..end - seg.start;
        subtract_mean_in_place(&mut seg.channels, local.clone());
        let feats = plan.compute(&seg.channels[0][local]);
        write_normalised(&feats, cfg, out.slice_mut(s![clip, 0, .., ..]));
    }
    // Finite samples can still overflow the power spectrum (a float WAV holding 1e30): the
    // log-mel is then infinite, and so would every similarity with this input be.
    if out.iter().any(|v| !v.is_finite()) {
        return Err(
            "the samples are too large for the filterbank (its energies overflow); audio \
             samples should lie within [-1, 1]"
                .into(),
        );
    }
    Ok(out)
}

/// A stretch `[start, start + len)` of the resampled waveform, all channels.
struct Segment {
    start: usize,
    channels: Vec<Vec<f32>>,
}

impl Segment {
    fn end(&self) -> usize {
        self.start + self.channels[0].len()
    }
}

/// Length of the waveform after resampling (torchaudio's `ceil(new · len / orig)`).
fn resampled_len(len: usize, from: u32, to: u32) -> usize {
    match Resampler::cached(from, to) {
        Some(r) if from != to => r.output_len(len),
        _ => len,
    }
}

/// Resamples only what the clips cover: the union of the clip ranges, as disjoint segments.
///
/// Every resampled sample is computed exactly as in a whole-signal resample, and the in-place
/// mean subtraction only ever touches clip ranges, so this equals ImageBind's processing of
/// the full waveform while a long recording costs no more than its clips.
fn resample_segments(w: &Waveform, to: u32, clips: &[(usize, usize)]) -> Vec<Segment> {
    let resampler = Resampler::cached(w.sample_rate, to).filter(|_| w.sample_rate != to);
    merge_ranges(clips)
        .into_iter()
        .map(|(start, end)| Segment {
            start,
            channels: w
                .channels
                .iter()
                .map(|ch| match &resampler {
                    Some(r) => r.process_range(ch, start..end),
                    None => ch[start..end].to_vec(),
                })
                .collect(),
        })
        .collect()
}

/// Sorted union of half-open ranges; overlapping or touching ranges merge.
fn merge_ranges(ranges: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// ImageBind's `waveform -= waveform.mean()` on a view: the mean over all channels of
/// `range`, subtracted (in float32) from the shared signal.
fn subtract_mean_in_place(channels: &mut [Vec<f32>], range: std::ops::Range<usize>) {
    let count = (channels.len() * range.len()) as f64;
    let sum: f64 = channels
        .iter()
        .flat_map(|ch| &ch[range.clone()])
        .map(|&v| v as f64)
        .sum();
    let mean = (sum / count) as f32;
    for ch in channels.iter_mut() {
        ch[range.clone()].iter_mut().for_each(|v| *v -= mean);
    }
}

/// `[frames, mel]` features into `[mel, target]`: transpose, zero-pad or cut, then
/// `(x - mean) / std` (padding first, so padded cells hold `-mean / std`).
fn write_normalised(
    feats: &ndarray::Array2<f32>,
    cfg: &AudioPreprocess,
    mut dst: ndarray::ArrayViewMut2<f32>,
) {
    let frames = feats.nrows().min(cfg.target_frames);
    let padding = (0.0 - cfg.mean) / cfg.std;
    for (mut row, mel) in dst.outer_iter_mut().zip(feats.columns()) {
        for (v, &x) in row.iter_mut().zip(mel.iter().take(frames)) {
            *v = (x - cfg.mean) / cfg.std;
        }
        row.iter_mut().skip(frames).for_each(|v| *v = padding);
    }
}
