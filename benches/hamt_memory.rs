//! HAMT memory: heap bytes per entry of a `u64 -> u64` map with 1,000,000 entries, for
//! loopkit's `Hamt`, `imbl::HashMap`, `rpds::HashTrieMapSync` and `std::collections::HashMap`,
//! each built by in-place inserts with the same `foldhash` hasher. A counting global allocator
//! records the bytes requested (live bytes after the build minus before; allocator headers and
//! rounding are not counted, so the figures are lower bounds on RSS and compare like for like).
//!
//! Run: `cargo bench --bench hamt_memory`.

use foldhash::fast::RandomState;
use loopkit::hamt::Hamt;
use std::collections::HashMap;
use std::hint::black_box;

#[path = "../tests/support/mod.rs"]
mod support;

use support::alloc::{live_bytes, CountingAlloc};
use support::rng::Rng;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const N: usize = 1_000_000;

/// The same splitmix64 keys as `benches/hamt.rs` uses.
fn keys() -> impl Iterator<Item = u64> {
    Rng::new(0).take(N)
}

fn measure<M>(build: impl FnOnce() -> M) -> f64 {
    let before = live_bytes();
    let m = black_box(build());
    let after = live_bytes();
    drop(m);
    (after - before) as f64 / N as f64
}

fn main() {
    let s = RandomState::default();
    let rows = [
        (
            "loopkit Hamt",
            measure(|| {
                let mut m = Hamt::with_hasher(s.clone());
                keys().for_each(|k| {
                    m.insert_mut(k, k);
                });
                m
            }),
        ),
        (
            "loopkit Hamt (persistent inserts)",
            measure(|| keys().fold(Hamt::with_hasher(s.clone()), |m, k| m.insert(k, k))),
        ),
        (
            "imbl::HashMap",
            measure(|| {
                let mut m = imbl::GenericHashMap::<
                    u64,
                    u64,
                    RandomState,
                    imbl::shared_ptr::DefaultSharedPtr,
                >::with_hasher(s.clone());
                keys().for_each(|k| {
                    m.insert(k, k);
                });
                m
            }),
        ),
        (
            "rpds::HashTrieMapSync",
            measure(|| {
                let mut m =
                    rpds::HashTrieMapSync::<u64, u64, RandomState>::new_with_hasher_and_ptr_kind(
                        s.clone(),
                    );
                keys().for_each(|k| m.insert_mut(k, k));
                m
            }),
        ),
        (
            "std HashMap",
            measure(|| {
                let mut m = HashMap::with_hasher(s.clone());
                keys().for_each(|k| {
                    m.insert(k, k);
                });
                m
            }),
        ),
    ];
    let imbl = rows[2].1;
    println!("| map ({N} u64 -> u64 entries) | bytes/entry | vs imbl |");
    println!("|---|---:|---:|");
    for (name, b) in rows {
        println!("| {name} | {b:.2} | {:.2}x |", b / imbl);
    }
}
