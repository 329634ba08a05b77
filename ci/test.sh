#!/usr/bin/env bash
# The README's test command (unit, integration, stress, proptest, doctests, README doctests),
# then every optional feature (`eventfd`, `mio`, `arbitrary`, `serde`, `futures-core`) without
# re-running the doctests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test
cargo test --all-features --lib --tests
