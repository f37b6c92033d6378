#!/usr/bin/env python3
"""How well can a world's IMU traces tell which objects a scene holds?

A yardstick for the IMU encoder, not part of mmbind: hand-made features of each trace
(per channel: peaks of the high-passed signal over its median, the spectrum of its energy
envelope in 0.5 Hz bands, the log power of the signal in 0.5 Hz bands up to 6 Hz), one
gradient-boosted classifier per concept trained on the training split's traces, read on the
test split. It prints how often the exact set of objects is found (one- and two-object
scenes) and, for every other object A, how often "the clock and A" is told from "A alone".

    python3 scripts/exp/imu_bound.py WORLD [--quiet CONCEPT]

Needs numpy and scikit-learn. docs/compose.md (session 21) has its figures on the demo's world.
"""

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

RATE_HZ = 100.0


def features(path):
    x = np.loadtxt(path, delimiter=",", skiprows=1)[:, 1:]  # drop the time column
    f = np.fft.rfftfreq(2048, 1.0 / RATE_HZ)
    out = []
    for c in range(6):
        s = x[:, c]
        hp = (s - np.convolve(s, np.ones(5) / 5, "same"))[5:-5]
        a = np.sort(np.abs(hp))
        med = np.median(a) + 1e-6
        e = hp**2 - (hp**2).mean()
        env = np.abs(np.fft.rfft(e, 2048)) ** 2
        ref = env[(f > 5) & (f < 45)].mean() + 1e-12
        bands = np.arange(0.5, 6, 0.5)
        out += [a[-1] / med, a[-4:].mean() / med, a[-10:].mean() / med, med, s.std()]
        out.append(np.log(np.abs(s).max() + 1e-9))
        out += [np.log(env[(f > lo) & (f < lo + 0.5)].max() / ref) for lo in bands]
        power = np.abs(np.fft.rfft(s - s.mean(), 2048)) ** 2
        out += [np.log(power[(f > lo) & (f < lo + 0.5)].sum() + 1e-9) for lo in np.arange(0, 6, 0.5)]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("world", type=Path)
    ap.add_argument("--quiet", default="clock", help="the object to look for beside others")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.world / "pairs.jsonl") if '"imu"' in line]
    with ProcessPoolExecutor() as ex:
        x = np.array(list(ex.map(features, [args.world / r["imu"] for r in rows], chunksize=64)))
    concepts = sorted({c for r in rows for c in r["concepts"]})
    y = np.array([[c in r["concepts"] for c in concepts] for r in rows])
    split = np.array([r["split"] for r in rows])
    train, test = split == "train", split == "test"
    p = np.zeros((test.sum(), len(concepts)))
    for j in range(len(concepts)):
        model = HistGradientBoostingClassifier(max_iter=300, random_state=0)
        p[:, j] = model.fit(x[train], y[train, j]).predict_proba(x[test])[:, 1]
    yt = y[test]
    n = yt.sum(1)
    # The most likely object, and the second where it is more likely than not.
    order = np.argsort(-p, 1)
    pred = np.zeros_like(yt)
    pred[np.arange(len(p)), order[:, 0]] = True
    second = p[np.arange(len(p)), order[:, 1]] > 0.5
    pred[np.arange(len(p))[second], order[second, 1]] = True
    exact = (pred == yt).all(1)
    print(f"exact set of objects, test: all {exact.mean():.3f}, one-object "
          f"{exact[n == 1].mean():.3f}, two-object {exact[n == 2].mean():.3f}")
    q = concepts.index(args.quiet)
    for j, c in enumerate(concepts):
        if j == q:
            continue
        alone = yt[:, j] & (n == 1)
        both = yt[:, j] & yt[:, q] & (n == 2)
        print(f"{c:8s} {args.quiet} heard beside it {np.mean(p[both, q] > 0.5):.2f} "
              f"(n={both.sum()}), heard in it alone {np.mean(p[alone, q] > 0.5):.2f} "
              f"(n={alone.sum()})")


if __name__ == "__main__":
    main()
