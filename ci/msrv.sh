#!/usr/bin/env bash
# Builds the library (every feature) with the toolchain named by `rust-version` in Cargo.toml,
# so the declared minimum supported Rust version stays true. Tests and benches need newer tools
# (criterion, the peers) and are not part of the promise. ci/setup.sh installs the toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version *= *"\([0-9.]*\)"/\1/p' Cargo.toml)
[ -n "$msrv" ] || { echo "msrv: no rust-version in Cargo.toml"; exit 1; }
echo "msrv: cargo +$msrv build --lib --all-features"
cargo "+$msrv" build --lib --all-features --target-dir target/msrv
