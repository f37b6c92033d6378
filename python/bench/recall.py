"""LanceDB's approximate index beside mmbind's local HNSW graph, on real embeddings.

One run: a generated world of N files is embedded by mmbind (`mmbind index --approx`, the
trained demo model by default), exported to Parquet and loaded into LanceDB, which builds its
IVF-PQ index; queries are the embeddings of files of another world. Ground truth is exact
search (numpy, float32 inner products; every vector is unit length): a hit counts when its
score reaches the k-th exact score less 1e-5, as ann-benchmarks counts. Then, in interleaved
rounds, the local HNSW graph (a Rust process: crates/index/benches/hnsw_queries.rs) and
LanceDB answer the same queries: recall@k against exact search and per-query latency.

    make bench-scale                 # 100,000 files, 3 rounds (needs `make demo`'s model)
    python python/bench/recall.py --files 20000 --rounds 1 --model demo-out/model
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("LANCE_LOG", "error")  # k-means notes on every partition
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))
from mmbind_scale.table import build_index, connect, create_or_open, ingest, read_part, search  # noqa: E402


def mmbind(*args):
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    binary = os.environ.get("MMBIND", str(REPO / "target" / "release" / "mmbind"))
    subprocess.run([binary, "--backend", "ndarray", *map(str, args)], check=True, env=env)


def prepare(a, wd):
    """World, local index with HNSW, query vectors, exact ground truth, LanceDB table."""
    if not (wd / "ix").exists():
        scenes = a.files // 5
        mmbind("world", "--out", wd / "world", "--scenes", scenes, "--seed", 21, "--quiet")
        mmbind("world", "--out", wd / "qworld", "--scenes", a.queries // 2, "--seed", 22, "--quiet")
        t = time.time()
        mmbind("index", "--model", a.model, "--index", wd / "ix", wd / "world", "--approx", "--quiet")
        print(f"indexed with HNSW in {time.time() - t:.0f} s", file=sys.stderr)
        qlist = wd / "q.txt"
        qfiles = sorted((wd / "qworld" / "vision").iterdir()) + sorted((wd / "qworld" / "audio").iterdir())
        qlist.write_text("".join(f"{p}\n" for p in qfiles[: a.queries]))
        mmbind("embed", "--model", a.model, "--files-from", qlist, "--out", wd / "q.parquet", "--quiet")
        mmbind("export", "--index", wd / "ix", "--out", wd / "ix.parquet", "--quiet")
    q = np.stack(pq.read_table(wd / "q.parquet")["embedding"].to_numpy(zero_copy_only=False)).astype(np.float32)
    np.save(wd / "q.npy", q)
    table, dim, model = read_part(wd / "ix.parquet")
    paths = table["path"].to_pylist()
    x = np.stack(table["embedding"].to_numpy(zero_copy_only=False)).astype(np.float32)
    truth = [float(np.sort(x @ v)[-a.k]) for v in q]  # the k-th exact score
    db_dir = wd / "lance"
    if db_dir.exists():
        shutil.rmtree(db_dir)
    tbl = create_or_open(connect(db_dir), "bench", dim, model)
    ingest(tbl, table, model)
    t = time.time()
    build_index(tbl, "ivf_pq", a.partitions, a.sub_vectors)
    built = time.time() - t
    return q, truth, tbl, built, len(paths)


def lancedb_round(tbl, q, truth, k, settings):
    out = []
    for nprobes, refine in settings:
        for v in q[:3]:
            search(tbl, v, k, nprobes=nprobes, refine=refine)
        lat, found = [], 0
        for v, want in zip(q, truth):
            t = time.perf_counter()
            hits = search(tbl, v, k, nprobes=nprobes, refine=refine)
            lat.append((time.perf_counter() - t) * 1e3)
            found += sum(h["score"] >= want - 1e-5 for h in hits)
        lat.sort()
        out.append({"nprobes": nprobes, "refine": refine, "recall": found / (k * len(q)),
                    "p50_ms": lat[len(lat) // 2], "p95_ms": lat[len(lat) * 95 // 100]})
    return out


def hnsw_round(wd, k, efs):
    p = subprocess.run(
        ["cargo", "bench", "-q", "-p", "mmbind-index", "--bench", "hnsw_queries", "--",
         "--index", str(wd / "ix"), "--queries", str(wd / "q.npy"), "--k", str(k), "--ef", ",".join(map(str, efs))],
        check=True, capture_output=True, text=True, cwd=REPO)
    line = next(l for l in p.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])["hnsw"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(REPO / "demo-out" / "model"))
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--partitions", type=int, help="IVF partitions (default: sqrt(rows), at most rows/256)")
    p.add_argument("--sub-vectors", type=int, help="PQ sub-vectors (default: dim/8)")
    p.add_argument("--workdir", default=str(REPO / "target" / "scale-bench"))
    a = p.parse_args()
    if not (Path(a.model) / "model.json").is_file():
        sys.exit(f"no model at {a.model}: run `make demo` first, or pass --model DIR")
    wd = Path(a.workdir) / f"n{a.files}"
    wd.mkdir(parents=True, exist_ok=True)
    q, truth, tbl, built, n = prepare(a, wd)
    settings = [(10, 1), (20, 5), (20, 10), (40, 10), (80, 20)]
    efs = [32, 64, 128, 256]
    rounds = []
    for r in range(a.rounds):
        rounds.append({"hnsw": hnsw_round(wd, a.k, efs), "lancedb": lancedb_round(tbl, q, truth, a.k, settings)})
    result = {"files": n, "queries": len(q), "k": a.k, "lancedb_index_build_s": built, "rounds": rounds}
    (wd / "result.json").write_text(json.dumps(result, indent=1))
    print(f"{n} files, {len(q)} queries, recall@{a.k} against exact search; latency per query "
          f"(median over {a.rounds} rounds of p50 / p95, ms); LanceDB IVF-PQ built in {built:.1f} s")
    for i, (npr, ref) in enumerate(settings):
        rows = [r["lancedb"][i] for r in rounds]
        print(f"  LanceDB IVF-PQ nprobes {npr:>3} refine {ref:>2}: recall {np.median([x['recall'] for x in rows]):.3f}"
              f"  p50 {np.median([x['p50_ms'] for x in rows]):6.2f}  p95 {np.median([x['p95_ms'] for x in rows]):6.2f}"
              f"  (p50 range {min(x['p50_ms'] for x in rows):.2f}-{max(x['p50_ms'] for x in rows):.2f})")
    for i, ef in enumerate(efs):
        rows = [r["hnsw"][i] for r in rounds]
        print(f"  mmbind HNSW ef {ef:>3}:                recall {np.median([x['recall'] for x in rows]):.3f}"
              f"  p50 {np.median([x['p50_ms'] for x in rows]):6.2f}  p95 {np.median([x['p95_ms'] for x in rows]):6.2f}"
              f"  (p50 range {min(x['p50_ms'] for x in rows):.2f}-{max(x['p50_ms'] for x in rows):.2f})")


if __name__ == "__main__":
    main()
