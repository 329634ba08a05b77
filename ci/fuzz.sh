#!/usr/bin/env bash
# Builds every cargo-fuzz target (AddressSanitizer) and runs each for a fixed time.
# libFuzzer exits non-zero on any crash, leak or failed assertion; the run then fails with the log.
# Usage: ci/fuzz.sh [seconds per target, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
# cargo-fuzz sets `--cfg fuzzing` for every crate, which loopkit ignores (ci/downstream.sh checks
# that); `--cfg loopkit_fuzz` exposes the crate's `ops` routines to the targets (cargo-fuzz
# appends RUSTFLAGS).
export RUSTFLAGS="--cfg loopkit_fuzz ${RUSTFLAGS:-}"
cargo +nightly fuzz build
targets=$(cargo +nightly fuzz list)
[ -n "$targets" ] || { echo "fuzz: no targets"; exit 1; }
log=$(mktemp)
for t in $targets; do
    echo "fuzz: $t for ${secs}s"
    if ! cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=4096 >"$log" 2>&1; then
        cat "$log"
        echo "fuzz: $t FAILED"
        exit 1
    fi
    grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs)' "$log" || tail -n 2 "$log"
done
