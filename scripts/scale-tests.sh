#!/usr/bin/env bash
# The Python side's tests (python/, mmbind-scale) on real engines: a virtual environment with
# ray, lancedb and pyarrow from PyPI, a local Ray cluster (`ray start --head`) with two
# logical GPUs, the release mmbind binary. `make test` runs this after the Rust tests.
#
# The machine has no GPU: lavapipe (Debian's mesa-vulkan-drivers) is wgpu's adapter, and its
# driver manifest is listed twice so that the Vulkan loader shows two adapters (0 and 1,
# both lavapipe). Ray hands GPU 0 and GPU 1 to the two actors, and each actor runs mmbind
# with `--adapter` of its own GPU, as on a host with two real GPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
export MMBIND=${MMBIND:-$target/release/mmbind}
venv=${SCALE_VENV:-$target/scale-venv}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/python" -c "import ray, lancedb, pyarrow, mmbind_scale" 2>/dev/null; then
  echo "scale-tests: creating $venv (ray, lancedb, pyarrow from PyPI)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -e "python[test]"
fi

work=$(mktemp -d)
icd=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
if [ -f "$icd" ]; then
  cp "$icd" "$work/lvp-a.json" && cp "$icd" "$work/lvp-b.json"
  export VK_ICD_FILENAMES="$work/lvp-a.json:$work/lvp-b.json"
fi
# A cluster of its own (its own port and temp dir), stopped however the tests end. Ray 2.5x
# turns token authentication on once ~/.ray/auth_token exists (a local `ray.init()` writes
# it), and then the tests' driver was refused; this cluster is the tests' own, on this host.
export RAY_AUTH_MODE=disabled
port=$(( 20000 + RANDOM % 20000 ))
cleanup() { "$venv/bin/ray" stop --force >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"$venv/bin/ray" start --head --port "$port" --num-gpus 2 --num-cpus 2 --include-dashboard=false \
  --disable-usage-stats --temp-dir "$work/ray" >/dev/null
export RAY_ADDRESS="127.0.0.1:$port"
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests "$@"
