#!/usr/bin/env bash
# Builds the fuzz targets and runs each one in turn for FUZZ_SECONDS.
#
#   fuzz/fuzz.sh [TARGET...]            (all targets when none is named)
#
# Environment:
#   FUZZ_SECONDS     seconds per target (default 60)
#   FUZZ_KEEP_GOING  1: keep fuzzing after a crash / OOM / timeout and collect every finding
#                    (libFuzzer fork mode); 0: stop at the first one (default 1)
#   FUZZ_CORPUS      where the growing corpora live (default fuzz/corpus; seeds/ is read-only)
#   FUZZ_LOGS        where each target's libFuzzer log goes (default fuzz/target/logs)
#   FUZZ_FLAGS       extra libFuzzer flags (e.g. "-runs=1000000" or "-max_len=65536")
#   FUZZ_SANITIZER   cargo fuzz --sanitizer (default address; "none" runs ~2x faster)
#   FUZZ_TARGET_DIR  cargo target dir of the fuzz build (default fuzz/target; CI can cache it)
#   FUZZ_BUILD_FLAGS extra `cargo fuzz build` flags (e.g. "--no-default-features": the modality
#                    targets alone, without SQLite, usearch and the checkpoint readers)
#   FUZZ_NO_BUILD    1: use the binaries already built
# Every run has an RSS limit of 1 GB and a 10 s time limit per input. Prints one summary line
# per target (runs, exec/s, coverage, findings) and exits 1 if any target found something.
set -euo pipefail

cd "$(dirname "$0")"
FUZZ_DIR=$PWD
ALL_TARGETS=(image audio depth thermal imu text pairs_row batch_request index_matrix index_graph checkpoint parquet_rows)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")

SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
KEEP_GOING=${FUZZ_KEEP_GOING:-1}
CORPUS=${FUZZ_CORPUS:-$FUZZ_DIR/corpus}
LOGS=${FUZZ_LOGS:-$FUZZ_DIR/target/fuzz-logs}
SANITIZER=${FUZZ_SANITIZER:-address}
TRIPLE=$(rustc +nightly -vV | sed -n 's/^host: //p')
TARGET_DIR=${FUZZ_TARGET_DIR:-$FUZZ_DIR/target}
BIN_DIR=$TARGET_DIR/$TRIPLE/release
# shellcheck disable=SC2206
BUILD=(cargo +nightly fuzz build --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR" ${FUZZ_BUILD_FLAGS:-})

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
    # `cargo fuzz build` without a name builds every target in one cargo call.
    if [ $# -eq 0 ]; then
        "${BUILD[@]}" >&2 || { echo "fuzz build failed" >&2; exit 2; }
    else
        for t in "${TARGETS[@]}"; do
            "${BUILD[@]}" "$t" >&2 || { echo "fuzz build failed" >&2; exit 2; }
        done
    fi
fi

mkdir -p "$LOGS"
# The targets' scratch files and template indexes (src/lib.rs): one directory per fuzzing
# process, so a fork-mode run leaves one per job; keep them all under one directory for this
# run (in RAM where /dev/shm exists) and remove it at the end.
if [ -z "${MMBIND_FUZZ_TMP:-}" ]; then
    shm=/dev/shm; [ -d "$shm" ] || shm=${TMPDIR:-/tmp}
    MMBIND_FUZZ_TMP=$(mktemp -d "$shm/mmbind-fuzz-run.XXXXXX")
    export MMBIND_FUZZ_TMP
    trap 'rm -rf "$MMBIND_FUZZ_TMP"' EXIT
fi
status=0
printf '%-13s %10s %8s %7s %7s %6s  %s\n' target runs exec/s cov ft corpus result
for t in "${TARGETS[@]}"; do
    if [ ! -x "$BIN_DIR/$t" ]; then
        printf '%-13s %10s %8s %7s %7s %6s  %s\n' "$t" - - - - - "not built (features?)"
        continue
    fi
    mkdir -p "$CORPUS/$t" "$FUZZ_DIR/artifacts/$t"
    seeds=()
    [ -d "$FUZZ_DIR/seeds/$t" ] && seeds=("$FUZZ_DIR/seeds/$t")
    flags=(-rss_limit_mb=1024 -timeout=10
           -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1
           -artifact_prefix="$FUZZ_DIR/artifacts/$t/")
    [ "$KEEP_GOING" = 1 ] && flags+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
    # shellcheck disable=SC2206
    flags+=(${FUZZ_FLAGS:-})
    log="$LOGS/$t.log"
    set +e
    # The scratch files of the targets go to /dev/shm (see src/lib.rs); run from the corpus
    # dir so fork mode's temporary files stay out of the source tree.
    (cd "$CORPUS" && "$BIN_DIR/$t" "${flags[@]}" "$CORPUS/$t" "${seeds[@]}") >"$log" 2>&1
    rc=$?
    set -e
    # Statistics: the last status line ("#N ... cov: C ft: F corp: K/.. exec/s: E").
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
    cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.*corp: ([0-9]+).*/\1/p' <<<"$last")
    eps=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last")
    # Findings: fork mode counts them ("oom/timeout/crash: O/T/C"); otherwise the report.
    if grep -q 'oom/timeout/crash:' <<<"$last"; then
        read -r ooms timeouts crashes < <(sed -nE 's|.*oom/timeout/crash: ([0-9]+)/([0-9]+)/([0-9]+).*|\1 \2 \3|p' <<<"$last")
    else
        # Without fork mode libFuzzer stops at the first finding: 0 or 1 of one kind.
        ooms=0 timeouts=0 crashes=0
        if grep -qE 'ERROR: libFuzzer: out-of-memory|AddressSanitizer: (out of memory|allocation-size-too-big)' "$log"; then
            ooms=1
        elif grep -q 'ERROR: libFuzzer: timeout' "$log"; then
            timeouts=1
        # (Not "panicked at": a panic mmbind catches is printed and is not a crash.)
        elif grep -qE 'ERROR: libFuzzer: deadly signal|ERROR: AddressSanitizer' "$log" || [ "$rc" -ne 0 ]; then
            crashes=1
        fi
    fi
    result="ok"
    if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ] || [ "$ooms" -gt 0 ] || [ "$timeouts" -gt 0 ]; then
        result="FOUND: crash/panic $crashes, oom $ooms, timeout $timeouts (rc $rc; see $log, artifacts/$t/)"
        status=1
    fi
    printf '%-13s %10s %8s %7s %7s %6s  %s\n' "$t" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
exit $status
