#!/usr/bin/env bash
# Recall@10 of the approximate (HNSW) index against exact search, on real embeddings: a
# trained model's embeddings of a large synthetic world (5 file modalities per scene), queried
# with held-out captions through `mmbind batch`.
#
#   scripts/recall.sh MODEL_DIR [SCENES=20000] [WORK=recall-out] [EF="16 32 64 128"]
#
# 20,000 scenes give 100,000 indexed files. Prints one line per ef: recall@10 and the mean
# time per query of each method, as `batch` measured them end to end (embedding included).
set -euo pipefail
model=${1:?usage: scripts/recall.sh MODEL_DIR [SCENES] [WORK] [EF...]}
scenes=${2:-20000}
work=${3:-recall-out}
efs=${4:-16 32 64 128}
bin=${MMBIND:-target/release/mmbind}
mkdir -p "$work"

if [ ! -f "$work/world/pairs.jsonl" ]; then
  "$bin" world --out "$work/world" --scenes "$scenes" --seed 7
fi
w=$work/world
time "$bin" index --model "$model" --index "$work/index" --approx --format json \
  --modality-of 'depth/*.png=depth' --modality-of 'thermal/*.png=thermal' \
  "$w/vision" "$w/audio" "$w/depth" "$w/thermal" "$w/imu" | tee "$work/index.json"

python3 - "$w/pairs.jsonl" "$work" "$efs" <<'EOF'
import json, subprocess, sys, os, time
pairs, work, efs = sys.argv[1], sys.argv[2], [int(e) for e in sys.argv[3].split()]
captions = [json.loads(l)["text"] for l in open(pairs) if '"text"' in l][:1000]
bin = os.environ.get("MMBIND", "target/release/mmbind")
def run(extra):
    reqs = "".join(json.dumps({"id": i, "op": "query", "input": {"text": c}, "top_k": 10, **extra}) + "\n"
                   for i, c in enumerate(captions))
    t = time.time()
    out = subprocess.run([bin, "batch", "--quiet", "--index", f"{work}/index"], input=reqs,
                         capture_output=True, text=True, check=True).stdout
    dt = (time.time() - t) / len(captions)
    return [[r["path"] for r in json.loads(l)["results"]] for l in out.splitlines()], dt
exact, t_exact = run({"exact": True})
print(f"{len(captions)} caption queries, top 10; exact: {1e3 * t_exact:.2f} ms/query (batch, embedding included)")
for ef in efs:
    approx, t = run({"approx": True, "ef": ef})
    hits = sum(len(set(a) & set(e)) for a, e in zip(approx, exact))
    print(f"ef {ef:4d}: recall@10 {hits / (10 * len(exact)):.4f}  {1e3 * t:.2f} ms/query")
EOF
