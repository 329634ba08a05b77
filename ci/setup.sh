#!/usr/bin/env bash
# Installs what the checkers need and fails if it cannot: a nightly toolchain with Miri and
# rust-src, clippy/rustfmt on stable, the toolchain named by `rust-version` (ci/msrv.sh), and
# cargo-fuzz. Nothing is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "setup: installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
for c in miri rust-src; do
    if ! rustup +nightly component list --installed | grep -q "^$c"; then
        echo "setup: adding nightly component $c"
        rustup component add --toolchain nightly "$c"
    fi
done
for c in clippy rustfmt; do
    if ! rustup component list --installed | grep -q "^$c"; then
        echo "setup: adding stable component $c"
        rustup component add "$c"
    fi
done
msrv=$(sed -n 's/^rust-version *= *"\([0-9.]*\)"/\1/p' Cargo.toml)
[ -n "$msrv" ] || { echo "setup: no rust-version in Cargo.toml"; exit 1; }
if ! rustup toolchain list | grep -q "^$msrv"; then
    echo "setup: installing the MSRV toolchain $msrv"
    rustup toolchain install "$msrv" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "setup: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
cargo +nightly miri setup >/dev/null
echo "setup: $(rustc --version); $(rustc +nightly --version); $(rustc "+$msrv" --version); $(cargo fuzz --version)"
