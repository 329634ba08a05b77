#!/usr/bin/env bash
# Formatting, clippy with every warning an error, and rustdoc with every warning an error.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features
