#!/usr/bin/env bash
# The main job on the embedded default data:
#   world → train → eval → index → query → add
# Everything lands in $OUT (default demo-out/); rerunning reuses the world and the model.
set -euo pipefail
bin=${1:-target/release/mmbind}
out=${2:-demo-out}
scenes=${MMBIND_DEMO_SCENES:-12000}
# The training recipe is `train --preset tiny`'s own (crates/mmbind/src/train/recipe.rs): graded targets
# for vision+text, then every other modality bound to the frozen vision encoder. These
# variables override it for experiments (e.g. MMBIND_DEMO_EPOCHS=3,text=9).
train_flags=()
[ -n "${MMBIND_DEMO_EPOCHS:-}" ] && train_flags+=(--epochs "$MMBIND_DEMO_EPOCHS")
[ -n "${MMBIND_DEMO_LR:-}" ] && train_flags+=(--lr "$MMBIND_DEMO_LR")
[ -n "${MMBIND_DEMO_BATCH:-}" ] && train_flags+=(--batch-size "$MMBIND_DEMO_BATCH")
[ -n "${MMBIND_DEMO_TARGETS:-}" ] && train_flags+=(--targets "$MMBIND_DEMO_TARGETS")
# Twelve concept pairs (every concept in two) appear only in the test split: arithmetic and
# two-object retrieval are reported for pairs the model never saw together.
holdout=${MMBIND_DEMO_HOLDOUT:-12}
mkdir -p "$out"
say() { printf '\n== %s\n' "$*" >&2; }

say "world: $scenes synthetic scenes of six modalities"
# A world written before held-out pairs existed (generator version 3) is rewritten.
if [ ! -f "$out/world/pairs.jsonl" ] || ! grep -q '"holdout_pairs"' "$out/world/world.json" 2>/dev/null; then
  "$bin" world --out "$out/world" --scenes "$scenes" --seed 0 --holdout-pairs "$holdout"
fi

say "train: vision+text, then audio, depth, thermal and IMU bound to the frozen vision encoder"
if [ -f "$out/model/checkpoints/LATEST" ]; then
  "$bin" train --data "$out/world" --model "$out/model" --resume   # finishes an interrupted run; no-op when done
else
  "$bin" train --data "$out/world" --model "$out/model" --preset tiny ${train_flags[@]+"${train_flags[@]}"}
fi

say "eval: held-out scenes (trained and emergent pairs, zero-shot, arithmetic with its baselines, geometry)"
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

say "serve: search it in a browser (Ctrl-C stops)"
echo "  $bin serve --index $out/index    # then open http://127.0.0.1:7878/"
