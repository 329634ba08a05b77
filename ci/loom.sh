#!/usr/bin/env bash
# Every loom model, exhaustively scheduled with a preemption bound of 2. The models live in
# `src/*/loom_models.rs`; without --cfg loopkit_loom the same code runs once as ordinary unit tests.
# A separate target dir keeps the loom build from invalidating the normal one.
# Usage: ci/loom.sh [filter ...]   (default: every module's loom_models)
set -euo pipefail
cd "$(dirname "$0")/.."
# crossbeam_loom: crossbeam-epoch (and crossbeam-utils) run on loom's atomics too, so the context
# models check the epoch reclamation they rely on.
export RUSTFLAGS="--cfg loopkit_loom --cfg crossbeam_loom ${RUSTFLAGS:-}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
filters=("$@")
[ ${#filters[@]} -gt 0 ] || filters=(registry::loom_models hamt::loom_models queue::loom_models context::loom_models)
cargo test --release --lib --target-dir target/loom --no-run
for f in "${filters[@]}"; do
    echo "loom: $f (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)"
    start=$(date +%s)
    out=$(cargo test --release --lib --target-dir target/loom "$f" 2>&1) || { echo "$out"; exit 1; }
    echo "$out" | grep -E '^test |test result' || true
    # A filter that matches nothing would pass vacuously: refuse it.
    if echo "$out" | grep -q 'running 0 tests'; then echo "loom: filter $f ran no test"; exit 1; fi
    echo "loom: $f took $(( $(date +%s) - start )) s"
done
