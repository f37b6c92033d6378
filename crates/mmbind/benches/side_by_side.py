#!/usr/bin/env python3
"""mmbind's encoders (or training steps) beside PyTorch eager's, in one invocation, on the
same CPUs.

Runs `cargo bench --bench encoders -- --cpu-only` (mmbind's CPU path) and
`benches/reference/torch_encoders.py --device cpu` (ImageBind's encoders in PyTorch, random
weights, same geometry, batch 8, float32, no_grad) in alternating order for --rounds rounds,
both pinned to the same cores with the same number of threads, and prints per row the
embeddings/s of each side (median and range over rounds) and the ratio mmbind ÷ PyTorch
(median and range of the per-round ratios).

    python3 benches/side_by_side.py --python /path/to/venv/bin/python [--rounds 3]
        [--cpus 0,1] [--threads 2] [--seconds 1] [--only tiny-fixture/vision]
    python3 benches/side_by_side.py --what train --cpus 0 --threads 1 ...

`--what train` compares one training step of each phase of the tiny preset, batch 64:
`cargo bench --bench train -- --quick --phases-only` (its second epoch; mmbind trains on one
thread per phase) against `benches/reference/torch_train.py`.

The reference environment: `python3 -m venv ref && ref/bin/pip install torch==2.5.1 numpy`
(PyPI's wheel; any recent torch works). `docs/speed.md` records the results.
"""
import argparse, os, re, statistics, subprocess, sys

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--python", default=sys.executable, help="the interpreter that has torch")
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--cpus", default="0,1", help="taskset CPU list for both sides")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seconds", type=float, default=1.0, help="per measurement")
ap.add_argument("--only", action="append", default=[])
ap.add_argument("--what", choices=["encoders", "train"], default="encoders")
args = ap.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # crates/mmbind
# cargo runs at the workspace root over every member, as `make test` builds: a build of this
# crate alone unifies its dependencies' features differently and compiles burn a second time.
repo = os.path.dirname(os.path.dirname(root))
only = sum((["--only", o] for o in args.only), [])
env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))

subprocess.run(["cargo", "bench", "--workspace", "--bench", args.what, "--no-run"], cwd=repo, check=True,
               stdout=subprocess.DEVNULL)
pin = ["taskset", "-c", args.cpus]
if args.what == "encoders":
    sides = {
        "mmbind": [*pin, "cargo", "bench", "-q", "--workspace", "--bench", "encoders", "--", "--cpu-only",
                   "--seconds", str(args.seconds), *only],
        "torch": [*pin, args.python, os.path.join(root, "benches/reference/torch_encoders.py"), "--device", "cpu",
                  "--threads", str(args.threads), "--seconds", str(args.seconds), *only],
    }
    key_of = lambda cells: (cells[0], cells[2])  # config, modality
else:
    sides = {
        "mmbind": [*pin, "cargo", "bench", "-q", "--workspace", "--bench", "train", "--", "--quick",
                   "--phases-only"],
        "torch": [*pin, args.python, os.path.join(root, "benches/reference/torch_train.py"), "--threads",
                  str(args.threads), "--seconds", str(args.seconds), *only],
    }
    key_of = lambda cells: ("tiny preset", cells[1])  # phase

def table(out):
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        # encoders: | config | backend | modality | ms | emb/s |; train: | backend | phase | samples/s |
        col = 4 if args.what == "encoders" else 2
        if len(cells) > col and re.fullmatch(r"[0-9.]+", cells[col]):
            rows[key_of(cells)] = float(cells[col])
    return rows

runs = {name: [] for name in sides}
for r in range(args.rounds):
    order = list(sides) if r % 2 == 0 else list(sides)[::-1]
    for name in order:
        out = subprocess.run(sides[name], cwd=repo, env=env, check=True, capture_output=True, text=True)
        runs[name].append(table(out.stdout))
        print(f"round {r + 1}/{args.rounds}: {name} done", file=sys.stderr, flush=True)

def spread(xs, fmt):
    return f"{fmt(statistics.median(xs))} ({fmt(min(xs))}–{fmt(max(xs))})"

unit = "emb/s" if args.what == "encoders" else "samples/s"
print(f"| config | {'modality' if args.what == 'encoders' else 'phase'} | PyTorch {unit} | mmbind {unit} | mmbind ÷ PyTorch |")
print("|---|---|---|---|---|")
ratios = []
for key in runs["torch"][0]:
    if not all(key in t for t in runs["mmbind"]):
        continue
    t = [x[key] for x in runs["torch"]]
    m = [x[key] for x in runs["mmbind"]]
    q = [a / b for a, b in zip(m, t)]
    ratios.append(statistics.median(q))
    f1 = lambda v: f"{v:.1f}"
    f2 = lambda v: f"{v:.2f}×"
    print(f"| {key[0]} | {key[1]} | {spread(t, f1)} | {spread(m, f1)} | {spread(q, f2)} |")
if ratios:
    print(f"\n{len(ratios)} rows, {args.rounds} rounds, cpus {args.cpus}, {args.threads} threads: "
          f"median ratio {statistics.median(ratios):.2f}×, lowest {min(ratios):.2f}×, "
          f"{sum(r >= 1.0 for r in ratios)} rows at ≥ 1.0×")
