//! A dropped registry's memory is freed on every thread that used it, and a thread's shard lookup
//! stays O(1) however many registries it has used: 60,000 registries created and dropped on one
//! long-lived thread, then the same with a second live thread holding a shard of each one.
//!
//! Memory is the heap's live bytes as the counting allocator sees them (every thread of this
//! binary). Both scenarios run in one test, one after the other, so no other test allocates
//! meanwhile. The time of 1,000 new registries (first lookup on the thread included), before and
//! after the 60,000, is printed to compare by eye: on a shared machine a timing assert would be
//! flaky, so only the memory bound is asserted, with a wide margin (a registry that stayed alive
//! costs kilobytes: 60,000 of them would be over 100 MiB).

mod support;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use loopkit::registry::{Registry, Task};
use support::alloc::{live_bytes, CountingAlloc};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Registries created and dropped per scenario.
const N: u64 = 60_000;
/// Registries per timed batch.
const BATCH: u64 = 1_000;
/// The asserted bound on heap growth over the `N` registries.
const BOUND: isize = 4 << 20;

/// One registry's life on this thread: create, register a task, snapshot, drop both.
fn cycle(i: u64) {
    let reg = Registry::new();
    let t = Task::new(i);
    reg.register(&t).unwrap();
    assert_eq!(reg.snapshot().len(), 1);
    drop(t);
    drop(reg);
}

fn batch(body: &mut impl FnMut(u64), from: u64) -> Duration {
    let start = Instant::now();
    for i in from..from + BATCH {
        body(i);
    }
    start.elapsed()
}

/// Runs `body` `N` times after a warm-up batch; prints and returns the heap growth.
fn measure(name: &str, mut body: impl FnMut(u64)) -> isize {
    batch(&mut body, 0);
    let first = batch(&mut body, BATCH);
    let before = live_bytes();
    for i in 0..N {
        body(i);
    }
    let growth = live_bytes() - before;
    let last = batch(&mut body, N);
    println!(
        "{name}: heap growth over {N} dropped registries: {growth} bytes; \
         {BATCH} new registries: {first:?} before, {last:?} after"
    );
    growth
}

#[test]
fn dropped_registries_are_freed_on_every_thread() {
    // One thread: its map holds an entry per registry it used.
    let growth = thread::spawn(|| measure("one thread", cycle))
        .join()
        .unwrap();
    assert!(
        growth < BOUND,
        "one thread: {growth} bytes kept for dropped registries"
    );

    // Two threads: a second thread registers a task into each registry, and stays alive. It
    // keeps each task until the next registry, so the task outlives its registry and its last
    // drop frees the shard; the registry's teardown hands over the shard and drains the queued
    // node.
    let (to_helper, inbox) = mpsc::channel::<Option<Registry<u64>>>();
    let (ack, acks) = mpsc::channel::<()>();
    let helper = thread::spawn(move || {
        let mut kept: Option<Task<u64>> = None;
        while let Some(reg) = inbox.recv().unwrap() {
            let t = Task::new(1);
            reg.register(&t).unwrap();
            let u = Task::new(2);
            reg.register(&u).unwrap();
            drop(u); // dead, queued on this thread's shard until the teardown drains it
            drop(reg);
            kept = Some(t); // the previous task's last handle: it frees its shard
            ack.send(()).unwrap();
        }
        drop(kept);
    });
    let growth = measure("two threads", |i| {
        let reg = Registry::new();
        let t = Task::new(i);
        reg.register(&t).unwrap();
        to_helper.send(Some(reg.clone())).unwrap();
        acks.recv().unwrap();
        assert_eq!(reg.snapshot().len(), 2, "both threads' tasks");
        drop(t);
        drop(reg);
    });
    to_helper.send(None).unwrap();
    helper.join().unwrap();
    assert!(
        growth < BOUND,
        "two threads: {growth} bytes kept for dropped registries"
    );
}
