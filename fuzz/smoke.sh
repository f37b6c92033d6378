#!/usr/bin/env bash
# CI smoke: builds every fuzz target and runs each for a few seconds from the committed seeds,
# failing on the first crash, panic, OOM (> 1 GB RSS) or slow input (> 10 s).
#
#   fuzz/smoke.sh                 (SMOKE_SECONDS per target, default 5)
#
# The corpus grown during the smoke goes to a temporary directory, so the tree stays clean;
# a finding is saved under fuzz/artifacts/<target>/ (keep it as a CI artifact) and the
# target's log is printed.
set -euo pipefail
cd "$(dirname "$0")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export FUZZ_SECONDS=${SMOKE_SECONDS:-5}
export FUZZ_KEEP_GOING=0
export FUZZ_CORPUS=$tmp/corpus
export FUZZ_LOGS=$tmp/logs
start=$(date +%s)
if ./fuzz.sh "$@"; then
    echo "fuzz smoke passed in $(( $(date +%s) - start )) s"
else
    rc=$?
    for log in "$tmp"/logs/*.log; do
        if grep -qE 'ERROR: (libFuzzer|AddressSanitizer)' "$log"; then
            echo "===== $log"
            grep -vE '^#[0-9]+|^INFO:' "$log" | tail -n 60
        fi
    done
    echo "fuzz smoke FAILED (rc $rc) after $(( $(date +%s) - start )) s" >&2
    exit 1
fi
