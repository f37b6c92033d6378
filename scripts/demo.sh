#!/usr/bin/env bash
# The main job on the embedded default data:
#   world → train → eval → index → query → add
# Everything lands in $OUT (default demo-out/); rerunning reuses the world and the model.
set -euo pipefail
bin=${1:-target/release/mmbind}
out=${2:-demo-out}
scenes=${MMBIND_DEMO_SCENES:-6000}
# Most of the time budget goes to vision+text: every other modality binds to its vision space
# (6 → 8 epochs took text→vision P@1 from 0.85 to 0.91; 7 and 8 now measure the same, 0.90
# and 0.89). The frozen phases run two at a time; depth and thermal learn slowest and get
# the most epochs (on the demo's vision encoder, zero-shot depth 0.62 / 0.70 / 0.74 after
# 6 / 8 / 10 epochs, thermal 0.86 / 0.88 after 5 / 7). Depth's 10 epochs take about as long
# as audio's 3, thermal's 7 and IMU's 5 together, so the two lanes end together. IMU 10
# would lift IMU→vision P@1 from 0.72 to 0.79 but cost 47 s (8 min 50 s in all): too little
# margin when this host runs slow.
epochs=${MMBIND_DEMO_EPOCHS:-3,text=7,thermal=7,depth=10,imu=5}
lr=${MMBIND_DEMO_LR:-2e-3}
# Depth and IMU learn more from twice the steps at half the batch, for the same time on depth.
batch=${MMBIND_DEMO_BATCH:-32,depth=16,imu=16}
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
  "$bin" train --data "$out/world" --model "$out/model" --preset tiny --epochs "$epochs" --lr "$lr" --batch-size "$batch"
fi

say "eval: held-out scenes (trained pairs, emergent pairs, zero-shot, arithmetic)"
"$bin" eval --data "$out/world" --model "$out/model" | tee "$out/eval.txt"

concepts() {  # what a world file shows: its test scene's concepts, or its training caption
  local scene c; scene=$(basename "${1%.*}")
  c=$(grep -m1 "\"id\":\"$scene\"" "$out/world/pairs.jsonl" | sed -n 's/.*"concepts":\[\([^]]*\)\].*/\1/p' | tr -d '"')
  [ -n "$c" ] || c=$(grep -m1 "\"id\":\"$scene-text\"" "$out/world/pairs.jsonl" | sed -n 's/.*"text":"\([^"]*\)".*/caption: \1/p')
  printf '%s' "$c"
}
show() {  # paths on stdin → "path  [concepts]"
  while read -r p; do printf '  %-22s [%s]\n' "${p##*/world/}" "$(concepts "$p")"; done
}

# The held-out scenes only: the training scenes would add 15,000 files and half a minute.
say "index: the images, depth maps and thermal images of the held-out scenes"
mapfile -t held_out < <(grep '"split":"test"' "$out/world/pairs.jsonl" | sed 's/.*"scene":"\([^"]*\)".*/\1/' |
  while read -r s; do printf '%s\n' "$out/world/vision/$s.png" "$out/world/depth/$s.png" "$out/world/thermal/$s.png"; done)
"$bin" index --model "$out/model" --index "$out/index" \
  --modality-of 'depth/*.png=depth' --modality-of 'thermal/*.png=thermal' "${held_out[@]}"

# The last two held-out scenes: one's sound as a query, then image + sound.
scenes=$(grep '"split":"test"' "$out/world/pairs.jsonl" | tail -n 2 | sed 's/.*"scene":"\([^"]*\)".*/\1/')
sa=$(sed -n 1p <<<"$scenes"); sb=$(sed -n 2p <<<"$scenes")
q=$out/world/audio/$sb.wav
say "query: the 5 files closest to audio/$sb.wav [$(concepts "$q")]"
"$bin" query --index "$out/index" --audio "$q" --top-k 5 --format paths | show

v=$out/world/vision/$sa.png
say "add: vision/$sa.png [$(concepts "$v")] + audio/$sb.wav [$(concepts "$q")] → images"
"$bin" add --index "$out/index" --vision "$v" --audio "$q" --modality vision --top-k 5 --format paths | show
