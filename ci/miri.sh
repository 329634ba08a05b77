#!/usr/bin/env bash
# Miri (nightly) on the unit tests (single-threaded tests, and the loom models run once) under
# stacked borrows, then the list's tests and its allocation test, and the hamt's tests, again under
# tree borrows (the list and the hamt nodes are where raw-pointer aliasing matters most). Sizes
# shrink under cfg(miri) in the tests.
# The registry's lifetime tests (tasks outliving their registry and thread, a registry dropped
# while its threads live on or exit at the same time, identity reuse, a panicking drop) run under
# both borrow models, and its loom models (run once) under tree borrows.
# The context tests run under tree borrows only (crossbeam-epoch needs it), at the end.
# Usage: ci/miri.sh [test filter]
set -euo pipefail
cd "$(dirname "$0")/.."
# A backtrace per caught panic makes Miri crawl (the panic-safety tests catch dozens).
export RUST_BACKTRACE=0
base="-Zmiri-disable-isolation"
filter="${1:-}"
echo "miri: stacked borrows, every unit test ${filter:+matching $filter}"
# `context::` runs under tree borrows below: crossbeam-epoch (its reclamation) is not
# compatible with stacked borrows (crossbeam runs its own Miri tests under tree borrows).
MIRIFLAGS="$base ${MIRIFLAGS:-}" cargo +nightly miri test --lib -- $filter --skip context::
echo "miri: tree borrows, list"
MIRIFLAGS="$base -Zmiri-tree-borrows ${MIRIFLAGS:-}" cargo +nightly miri test --lib list::
MIRIFLAGS="$base -Zmiri-tree-borrows ${MIRIFLAGS:-}" cargo +nightly miri test --test list_alloc
echo "miri: tree borrows, hamt (raw node allocations)"
MIRIFLAGS="$base -Zmiri-tree-borrows ${MIRIFLAGS:-}" cargo +nightly miri test --lib hamt::
echo "miri: stacked and tree borrows, registry lifetimes; tree borrows, registry loom models"
for model in "" "-Zmiri-tree-borrows"; do
    MIRIFLAGS="$base $model ${MIRIFLAGS:-}" cargo +nightly miri test --test registry_lifetimes --test registry_identity
done
MIRIFLAGS="$base -Zmiri-tree-borrows ${MIRIFLAGS:-}" cargo +nightly miri test --lib registry::loom_models
# -Zmiri-ignore-leaks: the epoch collector's global garbage queue lives in a `static` reached
# through tagged integer pointers, which Miri's leak check cannot follow; the context tests count
# the drops of every value they make instead.
echo "miri: tree borrows, context"
MIRIFLAGS="$base -Zmiri-tree-borrows -Zmiri-ignore-leaks ${MIRIFLAGS:-}" cargo +nightly miri test --lib context::
