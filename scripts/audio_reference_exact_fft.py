#!/usr/bin/env python3
"""Regenerates tests/fixtures/audio_output_exact_fft.safetensors: ImageBind's audio preprocessing
(written here from the fixture README, not copied) with torch 2.5.1 / torchaudio 2.5.1, the
versions that produced the official fixtures, in three precisions:

- all float32: the official pipeline. This run reproduces the official `audio.output` bit
  for bit, which checks the script.
- float32 with an exact FFT (computed in float64, rounded to complex64): what mmbind
  computes. Saved as the fixture's `audio.output`.
- all float64, for the record.

Why: in a few chirp cells (mel band 0 of near-silent frames, energy ~1e-10 of the frame's
peak) torch's float32 FFT is ~1% off in energy, which puts the official output up to ~7e-4
away from the same pipeline with an exact FFT. mmbind keeps every float32 step of the
official pipeline except the FFT.

    python3 -m venv venv
    venv/bin/pip install torch==2.5.1 torchaudio==2.5.1 soundfile safetensors numpy
    venv/bin/python scripts/audio_reference_exact_fft.py tests/fixtures
"""
import sys
from fractions import Fraction

import numpy as np
import soundfile
import torch
import torchaudio
from safetensors.numpy import load_file, save_file

MEAN, STD, BINS, TARGET, SR = -4.268, 9.138, 128, 204, 16000
CLIP_S, CLIPS = 2, 3


def load(path, dtype=torch.float32):
    data, rate = soundfile.read(path, dtype="int16", always_2d=True)
    wave = torch.from_numpy(data.T.astype(np.float32) / 32768.0).to(dtype)
    if rate != SR:
        wave = torchaudio.functional.resample(wave, rate, SR)
    return wave


def clip_ranges(n):
    d = n / SR  # the Python float duration, then exact fractions (pytorchvideo)
    d = Fraction(d)
    step = max(d - CLIP_S, 0) / (CLIPS - 1)
    return [(int(i * step * SR), int((i * step + CLIP_S) * SR)) for i in range(CLIPS)]


def audio_output(path, dtype, exact_fft=False):
    torch_rfft = torch.fft.rfft
    if exact_fft:
        torch.fft.rfft = lambda x, *a, **k: torch_rfft(x.double(), *a, **k).to(torch.complex64)
    try:
        return _audio_output(path, dtype)
    finally:
        torch.fft.rfft = torch_rfft


def _audio_output(path, dtype):
    wave = load(path, dtype)
    clips = []
    for a, b in clip_ranges(wave.shape[1]):
        clip = wave[:, a:b]
        clip -= clip.mean()  # in place, over both channels: later clips see the shift
        fb = torchaudio.compliance.kaldi.fbank(
            clip, htk_compat=True, sample_frequency=SR, use_energy=False,
            window_type="hanning", num_mel_bins=BINS, dither=0.0,
            frame_length=25, frame_shift=10,
        ).transpose(0, 1)
        pad = TARGET - fb.shape[1]
        fb = torch.nn.functional.pad(fb, (0, pad)) if pad > 0 else fb[:, :TARGET]
        clips.append(((fb - MEAN) / STD).unsqueeze(0))
    return torch.stack(clips)


def main(fixtures):
    torch.set_num_threads(1)
    names = ["audio_chirp_44k1_stereo.wav", "audio_sine_16k_mono.wav"]
    official = load_file(f"{fixtures}/preprocessing.safetensors")["audio.output"]
    run = lambda *a: np.stack([audio_output(f"{fixtures}/{n}", *a).numpy() for n in names])
    all32 = run(torch.float32)
    exact_fft = run(torch.float32, True)
    all64 = run(torch.float64)
    for i, n in enumerate(names):
        d = lambda a, b: np.abs(a[i] - b[i])
        print(f"{n}: float32 run vs official: max {d(all32, official).max():.2e}; "
              f"official vs exact FFT: max {d(official, exact_fft).max():.2e}, "
              f"{(d(official, exact_fft) > 1e-4).sum()} cells > 1e-4; "
              f"exact FFT vs all float64: max {d(exact_fft, all64).max():.2e}")
    save_file({"audio.output": exact_fft}, f"{fixtures}/audio_output_exact_fft.safetensors")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
