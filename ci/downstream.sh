#!/usr/bin/env bash
# Builds loopkit the way a downstream crate does, under the global cfgs other tools set for the
# whole build: `--cfg loom` (a user's own loom tests) and `--cfg fuzzing` (cargo-fuzz). A scratch
# crate, generated under target/, depends on loopkit by path with every feature, and asserts (at
# compile time and at run time) that the HAMT has its real layout: 32-way nodes and the full
# 64-bit hash. loopkit's own test configurations must not leak into such builds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir="$root/target/downstream"
mkdir -p "$dir/src"
cat >"$dir/Cargo.toml" <<TOML
[package]
name = "loopkit-downstream"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
loopkit = { path = "$root", features = ["eventfd", "mio", "arbitrary", "serde", "futures-core"] }

[workspace]
TOML
cat >"$dir/src/main.rs" <<'RS'
use loopkit::hamt::{Hamt, __layout};

// The real layout, whatever cfgs the downstream build sets.
const _: () = assert!(__layout::BITS == 5 && __layout::HASH_BITS == 64 && __layout::LEVELS == 13);

fn main() {
    let m: Hamt<u64, u64> = (0..1000).map(|i| (i, i)).collect();
    assert_eq!(m.get(&7), Some(&7));
    println!(
        "downstream: BITS {} HASH_BITS {} LEVELS {}",
        __layout::BITS,
        __layout::HASH_BITS,
        __layout::LEVELS
    );
}
RS
# The scratch crate resolves the same dependency versions as loopkit itself.
cp Cargo.lock "$dir/Cargo.lock"
for cfg in loom fuzzing; do
    echo "downstream: RUSTFLAGS=\"--cfg $cfg\" cargo run"
    RUSTFLAGS="--cfg $cfg" cargo run --quiet --manifest-path "$dir/Cargo.toml" \
        --target-dir "$dir/target-$cfg"
done
