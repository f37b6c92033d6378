#!/usr/bin/env bash
# The main job on the embedded default data:
#   world → train → eval → index → query → add
# Everything lands in $OUT (default demo-out/); rerunning reuses the world and the model.
set -euo pipefail
bin=${1:-target/release/mmbind}
out=${2:-demo-out}
scenes=${MMBIND_DEMO_SCENES:-1500}
epochs=${MMBIND_DEMO_EPOCHS:-10}
mkdir -p "$out"
say() { printf '\n== %s\n' "$*" >&2; }

say "world: $scenes synthetic scenes of six modalities"
if [ ! -f "$out/world/pairs.jsonl" ]; then
  "$bin" world --out "$out/world" --scenes "$scenes" --seed 0
fi

say "train: vision+text, then audio, depth, thermal and IMU bound to the frozen vision encoder"
if [ -f "$out/model/checkpoints/LATEST" ]; then
  "$bin" train --data "$out/world" --model "$out/model" --resume   # finishes an interrupted run; no-op when done
else
  "$bin" train --data "$out/world" --model "$out/model" --preset tiny --epochs "$epochs"
fi

say "eval: held-out scenes (trained pairs, emergent pairs, zero-shot, arithmetic)"
"$bin" eval --data "$out/world" --model "$out/model" | tee "$out/eval.txt"

if "$bin" index --help >/dev/null 2>&1; then
  say "index: every test image of the world"
  "$bin" index --model "$out/model" --index "$out/index" --modality-of 'depth/*=depth' --modality-of 'thermal/*=thermal' "$out/world/vision"
  test_audio=$(ls "$out/world/audio" | tail -n 1)
  say "query: the images closest to audio/$test_audio"
  "$bin" query --index "$out/index" --model "$out/model" --audio "$out/world/audio/$test_audio" --top-k 5
  say "add: an image + a sound → images holding both"
  "$bin" add --index "$out/index" --model "$out/model" --vision "$out/world/vision/$(ls "$out/world/vision" | tail -n 2 | head -n 1)" --audio "$out/world/audio/$test_audio" --top-k 5
fi
