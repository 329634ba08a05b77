//! Registry benchmarks. Sweeps: owner register+unregister pairs at 1 and 2 threads (the machine
//! has 2 cores, so the thread sweep stops at 2) for loopkit's registry (through `Registry` and
//! through a held `LocalShard` handle) against a raw single-owner
//! `list::List` (the floor), the raw list plus one uncontended CAS (the price of the owner
//! unregister's one RMW), `Mutex<HashSet>`, `DashSet` and `sharded-slab`; the cost of a foreign
//! unregister (and of the owner's drain of it); `snapshot()` per item at 10k items while an
//! owner churns, next to a locked `Mutex<HashSet>` copy; and the owners' pair rate while
//! snapshots run back to back, against their rate without snapshots; and the first register into
//! a new registry on a thread with 0 and 10,000 registries dropped before.
//!
//! Run: `cargo bench --bench registry -- --warm-up-time 1 --measurement-time 3`. Other processes
//! share the machine: compare ratios inside one run only.

use std::collections::HashSet;
use std::hint::black_box;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dashmap::DashSet;
use loopkit::list::{Linked, Links, List};
use loopkit::registry::epoch::Epoch;
use loopkit::registry::{Registry, Task};
use sharded_slab::Slab;

#[path = "../tests/support/mod.rs"]
mod support;
use support::harness::{thread_sweep, timed_threads};

/// Pairs per batch (register all, then unregister all).
const BATCH: usize = 64;

struct RawNode {
    links: Links<RawNode>,
    state: AtomicUsize,
}

// SAFETY: `links` projects to the node's own field without a reference; the handle is a bare
// pointer to a node the bench keeps alive (in a `Vec` that is never resized) while it is linked.
unsafe impl Linked for RawNode {
    type Handle = NonNull<RawNode>;
    fn into_ptr(h: Self::Handle) -> NonNull<Self> {
        h
    }
    unsafe fn from_ptr(p: NonNull<Self>) -> Self::Handle {
        p
    }
    unsafe fn links(p: NonNull<Self>) -> NonNull<Links<Self>> {
        // SAFETY: `p` is live (trait contract); projection only.
        unsafe { NonNull::new_unchecked(&raw mut (*p.as_ptr()).links) }
    }
}

fn raw_nodes() -> Vec<RawNode> {
    (0..BATCH)
        .map(|_| RawNode {
            links: Links::new(),
            state: AtomicUsize::new(0),
        })
        .collect()
}

/// One batch of raw-list pairs; with `cas`, each unregister also does one uncontended CAS.
fn raw_batch(list: &mut List<RawNode>, nodes: &mut [RawNode], cas: bool) {
    for n in nodes.iter_mut() {
        if cas {
            n.state.store(1, Ordering::Release);
        }
        list.push_back(NonNull::from(&mut *n)).unwrap();
    }
    for n in nodes.iter_mut() {
        if cas {
            black_box(
                n.state
                    .compare_exchange(1, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok(),
            );
        }
        // SAFETY: the node is alive (in the Vec) and linked in `list`; one thread.
        black_box(unsafe { list.remove_ptr(NonNull::from(&*n)) });
    }
}

fn loopkit_batch(reg: &Registry<u64>, tasks: &[Task<u64>]) {
    for t in tasks {
        reg.register(t).unwrap();
    }
    for t in tasks {
        black_box(reg.unregister(t));
    }
}

fn set_batch(set: &Mutex<HashSet<usize>>, keys: &[usize]) {
    for &k in keys {
        set.lock().unwrap().insert(k);
    }
    for &k in keys {
        black_box(set.lock().unwrap().remove(&k));
    }
}

fn dash_batch(set: &DashSet<usize>, keys: &[usize]) {
    for &k in keys {
        set.insert(k);
    }
    for &k in keys {
        black_box(set.remove(&k));
    }
}

fn slab_batch(slab: &Slab<usize>, keys: &mut [usize]) {
    for (i, k) in keys.iter_mut().enumerate() {
        *k = slab.insert(i).unwrap();
    }
    for &k in keys.iter() {
        black_box(slab.remove(k));
    }
}

fn keys(base: usize) -> Vec<usize> {
    (0..BATCH).map(|i| base + i * 64).collect()
}

/// Runs `body(thread_index, iters)` on `n` threads at once and returns the wall time.
fn wall<F: Fn(usize, u64) + Sync>(n: usize, iters: u64, body: F) -> Duration {
    timed_threads(n, |i| body(i, iters), || {})
}

fn pairs(c: &mut Criterion) {
    for threads in thread_sweep(&[1, 2]) {
        let mut g = c.benchmark_group(format!("registry/pair/{threads}t"));
        // Elements = pairs done by all threads: time per element is wall time per pair.
        g.throughput(Throughput::Elements((BATCH * threads) as u64));

        let reg = Registry::<u64>::new();
        g.bench_function("loopkit", |b| {
            b.iter_custom(|iters| {
                wall(threads, iters, |_, iters| {
                    let tasks: Vec<_> = (0..BATCH as u64).map(Task::new).collect();
                    for _ in 0..iters {
                        loopkit_batch(&reg, &tasks);
                    }
                })
            })
        });
        g.bench_function("loopkit_local_handle", |b| {
            b.iter_custom(|iters| {
                wall(threads, iters, |_, iters| {
                    let tasks: Vec<_> = (0..BATCH as u64).map(Task::new).collect();
                    let local = reg.local().unwrap();
                    for _ in 0..iters {
                        for t in &tasks {
                            local.register(t).unwrap();
                        }
                        for t in &tasks {
                            black_box(local.unregister(t));
                        }
                    }
                })
            })
        });
        g.bench_function("raw_list", |b| {
            b.iter_custom(|iters| {
                wall(threads, iters, |_, iters| {
                    let mut list = List::new();
                    let mut nodes = raw_nodes();
                    for _ in 0..iters {
                        raw_batch(&mut list, &mut nodes, false);
                    }
                })
            })
        });
        g.bench_function("raw_list+cas", |b| {
            b.iter_custom(|iters| {
                wall(threads, iters, |_, iters| {
                    let mut list = List::new();
                    let mut nodes = raw_nodes();
                    for _ in 0..iters {
                        raw_batch(&mut list, &mut nodes, true);
                    }
                })
            })
        });
        let set = Mutex::new(HashSet::new());
        g.bench_function("mutex_hashset", |b| {
            b.iter_custom(|iters| {
                wall(threads, iters, |i, iters| {
                    let k = keys(i);
                    for _ in 0..iters {
                        set_batch(&set, &k);
                    }
                })
            })
        });
        let dash = DashSet::new();
        g.bench_function("dashset", |b| {
            b.iter_custom(|iters| {
                wall(threads, iters, |i, iters| {
                    let k = keys(i);
                    for _ in 0..iters {
                        dash_batch(&dash, &k);
                    }
                })
            })
        });
        let slab = Slab::new();
        g.bench_function("sharded_slab", |b| {
            b.iter_custom(|iters| {
                wall(threads, iters, |_, iters| {
                    let mut k = vec![0; BATCH];
                    for _ in 0..iters {
                        slab_batch(&slab, &mut k);
                    }
                })
            })
        });
        g.finish();
    }
}

fn foreign(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry/foreign");
    const N: usize = 1024;
    g.throughput(Throughput::Elements(N as u64));
    let reg = Registry::<u64>::new();
    let tasks: Vec<_> = (0..N as u64).map(Task::new).collect();
    // Foreign unregister, timed on the foreign thread; the owner registers outside the timing.
    g.bench_function("unregister_foreign", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for t in &tasks {
                    reg.register(t).unwrap();
                }
                total += thread::scope(|s| {
                    s.spawn(|| {
                        let t0 = Instant::now();
                        for t in &tasks {
                            black_box(reg.unregister(t));
                        }
                        t0.elapsed()
                    })
                    .join()
                    .unwrap()
                });
                reg.drain();
            }
            total
        })
    });
    // The owner's share: draining N foreign unregisters (unlink + state CAS each).
    g.bench_function("owner_drain_of_foreign", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for t in &tasks {
                    reg.register(t).unwrap();
                }
                thread::scope(|s| {
                    s.spawn(|| {
                        for t in &tasks {
                            black_box(reg.unregister(t));
                        }
                    });
                });
                let t0 = Instant::now();
                reg.drain();
                total += t0.elapsed();
            }
            total
        })
    });
    // For comparison: the owner's own unregister of the same batch.
    g.bench_function("unregister_owner", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for t in &tasks {
                    reg.register(t).unwrap();
                }
                let t0 = Instant::now();
                for t in &tasks {
                    black_box(reg.unregister(t));
                }
                total += t0.elapsed();
            }
            total
        })
    });
    g.finish();
}

const SNAP_ITEMS: usize = 10_000;

/// An owner thread that holds `SNAP_ITEMS` registered tasks and churns pairs on 64 more until
/// `stop`, counting pairs in `done`.
fn churning_owner(reg: &Registry<u64>, ready: &Barrier, stop: &AtomicBool, done: &AtomicU64) {
    let held: Vec<_> = (0..SNAP_ITEMS as u64).map(Task::new).collect();
    for t in &held {
        reg.register(t).unwrap();
    }
    let churn: Vec<_> = (0..BATCH as u64).map(Task::new).collect();
    ready.wait();
    while !stop.load(Ordering::Relaxed) {
        loopkit_batch(reg, &churn);
        done.fetch_add(BATCH as u64, Ordering::Relaxed);
    }
}

fn snapshot(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry/snapshot_10k");
    g.throughput(Throughput::Elements(SNAP_ITEMS as u64));
    let reg = Registry::<u64>::new();
    let ready = Barrier::new(2);
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    thread::scope(|s| {
        s.spawn(|| churning_owner(&reg, &ready, &stop, &done));
        ready.wait();
        g.bench_function("loopkit_while_owner_churns", |b| {
            b.iter(|| black_box(reg.snapshot().len()))
        });
        stop.store(true, Ordering::Relaxed);
    });
    let set = Mutex::new((0..SNAP_ITEMS).collect::<HashSet<usize>>());
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let k = keys(1 << 40);
            while !stop.load(Ordering::Relaxed) {
                set_batch(&set, &k);
            }
        });
        g.bench_function("mutex_hashset_copy_while_owner_churns", |b| {
            b.iter(|| {
                black_box(
                    set.lock()
                        .unwrap()
                        .iter()
                        .copied()
                        .collect::<Vec<_>>()
                        .len(),
                )
            })
        });
        stop.store(true, Ordering::Relaxed);
    });
    g.finish();

    // Owners' pair rate while another thread (a) sleeps, (b) spins on private work (the CPU
    // control: on a loaded 2-core machine a second busy thread alone slows the owner), (c) takes
    // snapshots back to back. Printed, not criterion. The same for a `Mutex<HashSet>` owner
    // while another thread copies the set. Windows alternate to average out machine drift.
    #[derive(Clone, Copy, PartialEq)]
    enum Other {
        Sleep,
        Spin,
        Snapshot,
    }
    let window = Duration::from_millis(400);
    let loopkit_rate = |other: Other| -> f64 {
        let reg = Registry::<u64>::new();
        let ready = Barrier::new(2);
        let stop = AtomicBool::new(false);
        let done = AtomicU64::new(0);
        thread::scope(|s| {
            s.spawn(|| churning_owner(&reg, &ready, &stop, &done));
            ready.wait();
            let before = done.load(Ordering::Relaxed);
            let t0 = Instant::now();
            let mut x = 0u64;
            while t0.elapsed() < window {
                match other {
                    Other::Sleep => thread::sleep(Duration::from_millis(1)),
                    Other::Spin => {
                        for i in 0..10_000u64 {
                            x = black_box(x.wrapping_mul(31).wrapping_add(i));
                        }
                    }
                    Other::Snapshot => {
                        black_box(reg.snapshot().len());
                    }
                }
            }
            let pairs = done.load(Ordering::Relaxed) - before;
            stop.store(true, Ordering::Relaxed);
            pairs as f64 / t0.elapsed().as_secs_f64()
        })
    };
    let mutex_rate = |other: Other| -> f64 {
        let set = Mutex::new((0..SNAP_ITEMS).collect::<HashSet<usize>>());
        let stop = AtomicBool::new(false);
        let done = AtomicU64::new(0);
        thread::scope(|s| {
            s.spawn(|| {
                let k = keys(1 << 40);
                while !stop.load(Ordering::Relaxed) {
                    set_batch(&set, &k);
                    done.fetch_add(BATCH as u64, Ordering::Relaxed);
                }
            });
            thread::sleep(Duration::from_millis(20));
            let before = done.load(Ordering::Relaxed);
            let t0 = Instant::now();
            let mut x = 0u64;
            while t0.elapsed() < window {
                match other {
                    Other::Sleep => thread::sleep(Duration::from_millis(1)),
                    Other::Spin => {
                        for i in 0..10_000u64 {
                            x = black_box(x.wrapping_mul(31).wrapping_add(i));
                        }
                    }
                    Other::Snapshot => {
                        black_box(
                            set.lock()
                                .unwrap()
                                .iter()
                                .copied()
                                .collect::<Vec<_>>()
                                .len(),
                        );
                    }
                }
            }
            let pairs = done.load(Ordering::Relaxed) - before;
            stop.store(true, Ordering::Relaxed);
            pairs as f64 / t0.elapsed().as_secs_f64()
        })
    };
    let mut sums = [[0f64; 3]; 2];
    for _round in 0..4 {
        for (j, other) in [Other::Sleep, Other::Spin, Other::Snapshot]
            .into_iter()
            .enumerate()
        {
            sums[0][j] += loopkit_rate(other);
            sums[1][j] += mutex_rate(other);
        }
    }
    for (name, r) in [("loopkit", sums[0]), ("mutex_hashset", sums[1])] {
        println!(
            "registry/owner_rate/{name}: Mpairs/s other-thread-sleeps {:.2}, spins {:.2}, snapshots {:.2}; snapshots/sleeps {:.0}%, snapshots/spins {:.0}%",
            r[0] / 4e6,
            r[1] / 4e6,
            r[2] / 4e6,
            100.0 * r[2] / r[0],
            100.0 * r[2] / r[1]
        );
    }
}

/// The registry's per-shard two-counter epoch against `crossbeam-epoch`, same run: a reader's pin
/// (a snapshot pins once per shard; crossbeam would pin once per snapshot) and the holder's
/// reclamation of dead nodes (retire 64, advance, free what is safe; crossbeam: pin, defer 64
/// destructions, which it runs once its global epoch allows).
fn epochs(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry/epoch");
    let e = Epoch::new();
    g.bench_function("pin_unpin/loopkit_per_shard", |b| {
        b.iter(|| drop(black_box(e.pin())))
    });
    g.bench_function("pin_unpin/crossbeam", |b| {
        b.iter(|| drop(black_box(crossbeam_epoch::pin())))
    });
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("retire_free_64/loopkit", |b| {
        let e = Epoch::new();
        let mut now = 0;
        let mut retired: Vec<(*mut u64, usize)> = Vec::new();
        b.iter(|| {
            for i in 0..BATCH as u64 {
                retired.push((Box::into_raw(Box::new(i)), now));
            }
            e.advance(&mut now);
            retired.retain(|&(p, tag)| {
                if Epoch::expired(tag, now) {
                    // SAFETY: from `Box::into_raw` above, freed once (removed from the list).
                    drop(unsafe { Box::from_raw(p) });
                    false
                } else {
                    true
                }
            });
        });
        for (p, _) in retired {
            // SAFETY: as above.
            drop(unsafe { Box::from_raw(p) });
        }
    });
    g.bench_function("retire_free_64/crossbeam", |b| {
        b.iter(|| {
            let guard = crossbeam_epoch::pin();
            for i in 0..BATCH as u64 {
                let p = crossbeam_epoch::Owned::new(i).into_shared(&guard);
                // SAFETY: `p` was never shared; it is destroyed once, after the grace period.
                unsafe { guard.defer_destroy(p) };
            }
        })
    });
    g.finish();
}

/// The first register into a new registry (its creation, the thread's shard lookup and the new
/// shard, one register, then the drop of the task and the registry) on a thread where `dead`
/// registries, each registered into once, were dropped before the sample began. Each sample runs
/// on a fresh thread, so every sample starts from the same count; its own iterations each leave
/// one more dropped registry behind.
fn first_register(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry/first_register");
    for dead in [0usize, 10_000] {
        g.bench_function(format!("{dead}_dead"), |b| {
            b.iter_custom(|iters| {
                thread::spawn(move || {
                    for i in 0..dead as u64 {
                        let reg = Registry::new();
                        reg.register(&Task::new(i)).unwrap();
                    }
                    let start = Instant::now();
                    for i in 0..iters {
                        let reg = Registry::new();
                        let t = Task::new(i);
                        reg.register(black_box(&t)).unwrap();
                        drop(t);
                        drop(black_box(reg));
                    }
                    start.elapsed()
                })
                .join()
                .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, pairs, foreign, snapshot, epochs, first_register);
criterion_main!(benches);
