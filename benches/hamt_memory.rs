//! HAMT memory: heap bytes per entry of a `u64 -> u64` map with 1,000,000 entries, for
//! loopkit's `Hamt`, `imbl::HashMap`, `rpds::HashTrieMapSync` and `std::collections::HashMap`,
//! each built by in-place inserts with the same `foldhash` hasher. A counting global allocator
//! records the bytes requested (live bytes after the build minus before; allocator headers and
//! rounding are not counted, so the figures are lower bounds on RSS and compare like for like).
//!
//! Run: `cargo bench --bench hamt_memory`.

use foldhash::fast::RandomState;
use loopkit::hamt::Hamt;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
// The bench is its own crate: the counter is the allocator's, not a structure under test.
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // Relaxed: a statistic read after the single-threaded build; no ordering needed.
        LIVE.fetch_add(l.size() as isize, Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // Relaxed: as in `alloc`.
        LIVE.fetch_sub(l.size() as isize, Relaxed);
        // SAFETY: forwarded unchanged; `p` came from this allocator with layout `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // Relaxed: as in `alloc`.
        LIVE.fetch_add(new as isize - l.size() as isize, Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 1_000_000;

fn keys() -> impl Iterator<Item = u64> {
    let mut x = 0u64;
    (0..N).map(move |_| {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

fn measure<M>(build: impl FnOnce() -> M) -> f64 {
    // Relaxed: single-threaded reads of the statistic.
    let before = LIVE.load(Relaxed);
    let m = black_box(build());
    // Relaxed: as above.
    let after = LIVE.load(Relaxed);
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
