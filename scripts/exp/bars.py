#!/usr/bin/env python3
"""Issue #20's bars against `mmbind eval --json` reports, one column per report.

    python3 scripts/exp/bars.py seed0=a.json seed1=b.json clip=c.json

Each row is one bar: the figure per report, the bar, and whether every report meets it.
"""
import json
import sys


def pair(r, q, t):
    return next(p for p in r["pairs"] if p["query"] == q and p["target"] == t)


def method(group, name):
    return next(m for m in group["methods"] if m["method"] == name)["success"]


def zero_shot(r, m):
    return next(z["accuracy"] for z in r["zero_shot"] if z["modality"] == m)


def vision_geometry(r):
    return next(g for g in r["geometry"] if g["modality"] == "vision")


def rows(r):
    a = r["arithmetic"]
    # A world without held-out pairs: the bars on all pairs instead.
    held = a["held_out"] or a["all"]
    baselines = max(method(held, m) for m in ["image(A)", "audio(B)", "chance"])
    out = [
        ("arithmetic image(A)+audio(B), held-out", method(held, "image(A) + audio(B)"), 0.7),
        ("  ... above its best baseline by", method(held, "image(A) + audio(B)") - baselines, 0.5),
        ("arithmetic image(A)+audio(B), all", a["success"], None),
        ("arithmetic image(A)+image(B), held-out", method(held, "image(A) + image(B)"), 0.8),
        ("text→vision P@1", pair(r, "text", "vision")["concept_p1"], 0.9),
        ("text→vision P@1, 2 objects held-out", pair(r, "text", "vision")["concept_p1_two_held_out"] or 0.0, 0.85),
    ]
    for m in ["audio", "imu", "thermal", "depth"]:
        out.append((f"{m}→vision P@1", pair(r, m, "vision")["concept_p1"], 0.85))
    for m in ["audio", "imu", "thermal", "depth"]:
        out.append((f"{m}→text P@1 (emergent)", pair(r, m, "text")["concept_p1"], 0.8))
    for z in r["zero_shot"]:
        out.append((f"zero-shot {z['modality']}", z["accuracy"], 0.85))
    g = vision_geometry(r)
    out.append(("vision pair·sum", g["pair_vs_sum"], 0.95))
    out.append(("vision pair·sum, held-out", g["pair_vs_sum_held_out"] or 0.0, None))
    if "pair_vs_sum_centred" in g:
        out.append(("vision pair·sum, mean taken out", g["pair_vs_sum_centred"], None))
    return out


def main():
    names, reports = [], []
    for arg in sys.argv[1:]:
        name, _, path = arg.partition("=")
        names.append(name)
        reports.append(rows(json.load(open(path))))
    print("| bar | " + " | ".join(names) + " | target | met |")
    print("|---|" + "---|" * len(names) + "---|---|")
    for i, (label, _, bar) in enumerate(reports[0]):
        values = [r[i][1] for r in reports]
        met = "" if bar is None else ("yes" if all(v >= bar for v in values) else "no")
        target = "" if bar is None else f"≥ {bar}"
        print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + f" | {target} | {met} |")


if __name__ == "__main__":
    main()
