#!/usr/bin/env python3
"""FAISS IndexFlatIP reference for mmbind-index's benchmark (benches/search.rs).

Loads the same vectors and queries the Rust benchmark used (.npy, float32), builds an exact
inner-product index, and prints one JSON line: build time, single-query latencies, batch
throughput, peak RSS. Also writes the batch's top-k ids so the benchmark can check that both
engines return the same neighbours.
"""
import argparse
import json
import os
import resource
import statistics
import time

import numpy as np
import faiss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--single", type=int, default=50, help="single queries timed one by one")
    ap.add_argument("--batch", type=int, default=1000, help="queries in the throughput batch")
    ap.add_argument("--ids-out", help="write the batch's top-k ids (int64 .npy) here")
    a = ap.parse_args()

    xb = np.load(a.db, mmap_mode="r")
    xq = np.ascontiguousarray(np.load(a.queries), dtype=np.float32)
    n, d = xb.shape

    t = time.perf_counter()
    index = faiss.IndexFlatIP(d)
    step = 65536
    for i in range(0, n, step):  # chunked: no second full copy of the data in memory
        index.add(np.ascontiguousarray(xb[i : i + step], dtype=np.float32))
    build_s = time.perf_counter() - t

    for i in range(3):  # warm-up (page in, thread pool)
        index.search(xq[i : i + 1], a.k)
    lat = []
    for i in range(a.single):
        q = xq[i % len(xq) : i % len(xq) + 1]
        t = time.perf_counter()
        index.search(q, a.k)
        lat.append((time.perf_counter() - t) * 1e3)

    # FAISS parallelises a single query poorly (OpenMP over queries); also time it on one
    # thread and report the better of the two.
    nt = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    for i in range(3):
        index.search(xq[i : i + 1], a.k)
    lat1 = []
    for i in range(a.single):
        q = xq[i % len(xq) : i % len(xq) + 1]
        t = time.perf_counter()
        index.search(q, a.k)
        lat1.append((time.perf_counter() - t) * 1e3)
    faiss.omp_set_num_threads(nt)

    nb = min(a.batch, len(xq))
    index.search(xq[: min(nb, 64)], a.k)  # warm-up of the BLAS path
    t = time.perf_counter()
    _, ids = index.search(xq[:nb], a.k)
    batch_s = time.perf_counter() - t
    if a.ids_out:
        np.save(a.ids_out, ids.astype(np.int64))

    out = {
        "n": int(n),
        "dim": int(d),
        "build_s": build_s,
        "single_median_ms": min(statistics.median(lat), statistics.median(lat1)),
        "single_median_ms_all_threads": statistics.median(lat),
        "single_median_ms_1_thread": statistics.median(lat1),
        "single_p90_ms": sorted(lat)[int(0.9 * (len(lat) - 1))],
        "batch_queries": int(nb),
        "batch_s": batch_s,
        "batch_qps": nb / batch_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": faiss.omp_get_max_threads(),
        "faiss": faiss.__version__,
        "numpy": np.__version__,
        "compile": faiss.get_compile_options() if hasattr(faiss, "get_compile_options") else "",
        "openblas_env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
    }
    try:
        from threadpoolctl import threadpool_info

        out["blas"] = [
            {k: x.get(k) for k in ("internal_api", "version", "architecture", "num_threads")} for x in threadpool_info()
        ]
    except Exception:
        pass
    print(json.dumps(out))


if __name__ == "__main__":
    main()
