#!/usr/bin/env bash
# Search benchmark of mmbind-index against FAISS IndexFlatIP on the same vectors.
#
#   crates/index/scripts/bench.sh --quick          # 10k and 100k vectors (dim 1024)
#   crates/index/scripts/bench.sh                  # 10k, 100k and 1M (long: ~12 GB of temp files)
#   crates/index/scripts/bench.sh --sizes 20000 --dim 256
#
# Creates a Python virtual environment with faiss-cpu and numpy (PyPI) on first use, in
# $MMBIND_FAISS_VENV (default: <target dir>/faiss-venv), then runs `cargo bench`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="${MMBIND_FAISS_VENV:-$target/faiss-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import faiss, numpy, threadpoolctl" 2>/dev/null; then
    echo "creating FAISS environment in $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet faiss-cpu numpy threadpoolctl
fi
export MMBIND_FAISS_PYTHON="$venv/bin/python"
cd "$repo"
exec cargo bench -p mmbind-index --bench search -- "$@"
