//! Memory under a long borrow: 300,000 sets while a `ContextVar::with` borrow is live on the
//! same thread, and while another thread runs a long `Context::with` closure, against the same
//! sets with no borrow. Prints the growth of live heap bytes and of the resident set; asserts only
//! a generous bound (a borrow must not keep every replaced version alive).
//!
//! `cargo test --release --test context_memory -- --nocapture` prints the figures.

use loopkit::context::{Context, ContextVar};
use std::sync::mpsc;
use std::thread;

mod support;

#[global_allocator]
static GLOBAL: support::alloc::CountingAlloc = support::alloc::CountingAlloc;

const SETS: u64 = if cfg!(miri) { 1_000 } else { 300_000 };
/// Generous: 300,000 parked versions of a one-entry map take far more (tens of MiB).
const BOUND: isize = 8 << 20;

static V: ContextVar<u64> = ContextVar::new("v");
static LENT: ContextVar<String> = ContextVar::new("lent");

/// Live heap bytes and resident bytes gained while `f` runs its sets (measured before `f`
/// returns, so a borrow inside it is still live).
fn growth(f: impl FnOnce(&dyn Fn() -> (isize, isize))) -> (isize, isize) {
    let live0 = support::alloc::live_bytes();
    let rss0 = support::rss::resident_bytes().unwrap_or(0) as isize;
    let out = std::cell::Cell::new((0, 0));
    f(&|| {
        let live = support::alloc::live_bytes() - live0;
        let rss = support::rss::resident_bytes().unwrap_or(0) as isize - rss0;
        out.set((live, rss));
        (live, rss)
    });
    out.get()
}

fn sets() {
    for i in 0..SETS {
        let _ = V.set(i);
    }
}

#[test]
fn sets_under_a_long_borrow_stay_bounded() {
    let ctx = Context::new();
    ctx.run(|| {
        let _t = LENT.set("lent".repeat(4));
        let (base_live, base_rss) = growth(|m| {
            sets();
            m();
        });
        let (same_live, same_rss) = growth(|m| {
            LENT.with(|lent| {
                sets();
                m();
                assert_eq!(lent.map(String::len), Some(16));
            });
        });
        println!(
            "{SETS} sets: no borrow: live {} KiB, rss {} KiB; inside a long `with` on the same \
             thread: live {} KiB, rss {} KiB",
            base_live >> 10,
            base_rss >> 10,
            same_live >> 10,
            same_rss >> 10
        );
        assert!(same_live - base_live < BOUND, "{same_live} vs {base_live}");
    })
    .unwrap();
}

#[test]
fn sets_while_another_thread_reads_stay_bounded() {
    let read = Context::new();
    read.run(|| LENT.set("read".to_string())).unwrap();
    let (inside, wait_inside) = mpsc::channel();
    let (release, wait_release) = mpsc::channel::<()>();
    let reader = {
        let read = read.clone();
        thread::spawn(move || {
            read.with(&LENT, |v| {
                assert_eq!(v.map(String::as_str), Some("read"));
                inside.send(()).unwrap();
                wait_release.recv().unwrap();
            })
        })
    };
    wait_inside.recv().unwrap();
    let ctx = Context::new();
    let (live, rss) = ctx
        .run(|| {
            growth(|m| {
                sets();
                m();
            })
        })
        .unwrap();
    release.send(()).unwrap();
    reader.join().unwrap();
    println!(
        "{SETS} sets while another thread runs a long `Context::with`: live {} KiB, rss {} KiB",
        live >> 10,
        rss >> 10
    );
    assert!(live < BOUND, "{live}");
}
