#!/usr/bin/env bash
# Every loom model, exhaustively scheduled up to a preemption bound per filter. The models live in
# `src/*/loom_models.rs`; without --cfg loopkit_loom the same code runs once as ordinary unit tests.
# A separate target dir keeps the loom build from invalidating the normal one.
# Usage: ci/loom.sh [filter ...]   (default: the table below; named filters run at
#                                   LOOM_MAX_PREEMPTIONS, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
# crossbeam_loom: crossbeam-epoch (and crossbeam-utils) run on loom's atomics too, so the context
# models check the epoch reclamation they rely on.
export RUSTFLAGS="--cfg loopkit_loom --cfg crossbeam_loom ${RUSTFLAGS:-}"
# One line per filter: "<preemption bound> <test filter> [extra test-binary arguments]".
# Bound 3 where it finishes in seconds; the three-thread registry model runs at 2, and so does the
# queue (at 3 it took 19 to 101 s on the shared 2-core machine, depending on load).
runs=(
    "3 registry::loom_models --skip registry::loom_models::wide"
    "2 registry::loom_models::wide"
    "3 hamt::loom_models"
    "2 queue::loom_models"
    "2 context::loom_models"
)
if [ $# -gt 0 ]; then
    runs=()
    for f in "$@"; do runs+=("${LOOM_MAX_PREEMPTIONS:-3} $f"); done
fi
cargo test --release --lib --target-dir target/loom --no-run
for run in "${runs[@]}"; do
    read -r bound f extra <<<"$run"
    echo "loom: $f ${extra:+($extra) }(LOOM_MAX_PREEMPTIONS=$bound)"
    start=$(date +%s)
    # shellcheck disable=SC2086 # $extra is a list of arguments
    out=$(LOOM_MAX_PREEMPTIONS=$bound cargo test --release --lib --target-dir target/loom "$f" -- $extra 2>&1) || { echo "$out"; exit 1; }
    echo "$out" | grep -E '^test |test result' || true
    # A filter that matches nothing would pass vacuously: refuse it.
    if echo "$out" | grep -q 'running 0 tests'; then echo "loom: filter $f ran no test"; exit 1; fi
    echo "loom: $f took $(( $(date +%s) - start )) s"
done
