#!/usr/bin/env bash
# Compiles every benchmark so none rots. To measure, run e.g.
#   cargo bench --bench queue -- --warm-up-time 1 --measurement-time 3
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --no-run
