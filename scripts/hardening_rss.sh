#!/usr/bin/env bash
# Peak memory (max RSS) of `mmbind embed` on each hostile file of the hardening report and on
# the largest inputs the default limits accept. Prints a Markdown table (docs/hardening.md).
#
#   scripts/hardening_rss.sh [target/release/mmbind] [WORKDIR]
#
# Needs GNU time (`apt-get install time`) and a Python with Pillow and numpy
# (PYTHON=/path/to/python to choose it). Writes about 700 MB of inputs into WORKDIR.
set -euo pipefail
BIN=$(realpath "${1:-target/release/mmbind}")
WORK=${2:-$(mktemp -d)}
PY=${PYTHON:-python3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
FIX=$REPO/../shared/fixtures/imagebind
mkdir -p "$WORK"
cd "$WORK"

"$BIN" import imagebind --checkpoint "$FIX/tiny_imagebind.pth" \
  --config "$REPO/tests/fixtures/tiny_kwargs.json" --out model >/dev/null

"$PY" - "$FIX" <<'EOF'
import struct, sys, wave
import numpy as np
from PIL import Image

fix = sys.argv[1]
# The report's hostile files.
jpg = bytearray(open(f"{fix}/image_320x240.jpg", "rb").read())
sof = next(i for i in range(len(jpg) - 9) if jpg[i] == 0xFF and jpg[i + 1] in (0xC0, 0xC1, 0xC2))
jpg[sof + 5:sof + 9] = struct.pack(">HH", 65500, 65500)
open("bomb.jpg", "wb").write(jpg)
Image.new("RGB", (100000, 1), (1, 2, 3)).save("wide.png")
Image.fromarray(np.full((20000, 1), 1000, np.uint16)).save("tall16.png")
hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (200000, 200000), }"
hdr += b" " * (63 - (10 + len(hdr)) % 64) + b"\n"
open("huge.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr)
open("word.txt", "w").write("q" * 1_000_000)
open("word2m.txt", "w").write("q" * 2_000_000)
with wave.open("long.wav", "wb") as w:
    w.setnchannels(1); w.setsampwidth(1); w.setframerate(8000)
    w.writeframes(bytes((np.arange(8000 * 660) // 8 % 32 + 112).astype(np.uint8)))

# The largest inputs the defaults accept.
rng = np.random.default_rng(0)
side = 7071  # 49,999,041 pixels
Image.fromarray(rng.integers(0, 256, (side, side, 3), np.uint8)).save("max.jpg", quality=90)
y, x = np.mgrid[0:side, 0:side]
rgba16 = np.stack([x * 9 % 65536, y * 9 % 65536, (x + y) * 5 % 65536, np.full_like(x, 65535)], -1)
Image.fromarray(rgba16[..., 0].astype(np.uint16)).save("max-gray16.png")
try:  # Pillow cannot write 16-bit RGBA; 8-bit RGBA is the next largest it can.
    Image.fromarray((rgba16 >> 8).astype(np.uint8), "RGBA").save("max-rgba.png")
except Exception as e:
    print("skip max-rgba.png:", e)
np.save("max-depth.npy", rng.uniform(0.5, 9.0, (4096, 4096)))  # 16.8M float64
with wave.open("max.wav", "wb") as w:
    w.setnchannels(2); w.setsampwidth(2); w.setframerate(48000)
    w.writeframes((rng.normal(0, 3000, 48000 * 600 * 2)).astype("<i2").tobytes())
rows = 16 * 1024 * 1024 // 6
np.savetxt("max-imu.csv", rng.normal(0, 1, (rows, 6)), fmt="%.3f", delimiter=",")
EOF

measure() { # flag file label
  local kb secs result
  /usr/bin/time -o time.txt -f "%M %e" "$BIN" embed --backend ndarray --model model "$1" "$2" \
    >/dev/null 2>err.txt || true
  read -r kb secs < <(tail -1 time.txt)
  result=embedded
  grep -q "over the limit\|not a regular\|truncated\|corrupt" err.txt && result="refused: $(grep -o "over the limit of [0-9]* (raise it with --limit [a-z-]*\|truncated\|corrupt" err.txt | head -1 | sed 's/ (raise it with --limit / (/; s/$/)/')"
  printf '| %s | %s | %s | %d MB | %s s | %s |\n' "$3" "$2" "$(du -h "$2" | cut -f1)" \
    "$((kb / 1024))" "$secs" "$result"
}

echo "| case | file | size | peak RSS | time | result |"
echo "|---|---|---|---|---|---|"
measure --text-file word.txt "1 MB single-word text (under text-bytes)"
measure --vision bomb.jpg "JPEG claiming 65500x65500"
measure --vision wide.png "PNG 100000x1"
measure --depth tall16.png "depth 1x20000"
measure --thermal tall16.png "thermal 1x20000"
measure --depth huge.npy ".npy declaring 200000x200000 (depth)"
measure --imu huge.npy ".npy declaring 200000x200000 (IMU)"
measure --text-file word2m.txt "2 MB text"
measure --audio long.wav "WAV of 660 s"
measure --vision max.jpg "JPEG 7071x7071 (at the pixel limit)"
measure --vision max-rgba.png "RGBA PNG 7071x7071"
measure --thermal max-gray16.png "16-bit thermal PNG 7071x7071"
measure --depth max-gray16.png "16-bit depth PNG 7071x7071"
measure --depth max-depth.npy "float64 depth .npy 4096x4096 (at npy-elements)"
measure --audio max.wav "WAV 600 s, 48 kHz stereo (at audio-seconds)"
measure --imu max-imu.csv "IMU CSV of 16.7M values (at npy-elements)"
