#!/usr/bin/env bash
# Miri (nightly) on the single-threaded unit tests and on the loom models run once, under stacked
# borrows, then again under tree borrows. Sizes shrink under cfg(miri) inside the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
base="-Zmiri-disable-isolation"
echo "miri: stacked borrows"
MIRIFLAGS="$base ${MIRIFLAGS:-}" cargo +nightly miri test --lib
echo "miri: tree borrows"
MIRIFLAGS="$base -Zmiri-tree-borrows ${MIRIFLAGS:-}" cargo +nightly miri test --lib
