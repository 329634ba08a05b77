//! Sweeps MPSC throughput with one closure per item (1, 2 and 4 producers / 1 consumer) for `loopkit::queue` (closure stored inline in the node; boxed
//! closure; inline closure with a `Handle` returned and dropped) against the queues a user would
//! pick instead: `crossbeam_channel::unbounded`, `std::sync::mpsc`, `crossbeam_queue::SegQueue`,
//! `tokio::sync::mpsc::unbounded_channel`, `cordyceps::MpscQueue` and `Mutex<VecDeque>`, all in
//! one run. Then wake latency (push on one thread -> callback start on the parked consumer;
//! group `queue_wake_latency`, with a p50/p90/p99 table printed after it) against a
//! `std::sync::mpsc` receiver blocked in `recv()` (and crossbeam-channel's).
//!
//! Each measured iteration moves `BATCH` items; consumers run every closure. Blocking channels
//! are drained with their blocking `recv`; non-blocking queues are polled with a
//! `crossbeam_utils::Backoff`; loopkit's consumer runs `run_pending()`, spins with the same
//! `Backoff` while empty, then parks (`Receiver::park`), as an event loop would.
//!
//! An interleaved summary (group `queue_interleaved`: every peer once per round, at least 21
//! rounds, medians and paired ratios printed after it) is the steadier comparison on a shared
//! machine.
//!
//! `cargo bench --bench queue -- --warm-up-time 1 --measurement-time 3`; criterion's own filter
//! picks groups, e.g. `cargo bench --bench queue -- queue_interleaved`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use cordyceps::mpsc_queue::{self, MpscQueue};
use cordyceps::Linked;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use crossbeam_utils::Backoff;
use loopkit::queue::{self, Callback};

#[path = "../tests/support/mod.rs"]
mod support;
use support::harness::{thread_sweep, timed_threads};

/// Items per measured iteration.
const BATCH: usize = 20_000;

/// The closure every item carries (captures one word).
fn job(i: usize) -> impl FnOnce() + Send + 'static {
    move || {
        black_box(i);
    }
}

fn boxed(i: usize) -> Callback {
    Box::new(job(i))
}

/// Runs `produce(per)` on `producers` threads and `consume(total)` on this thread, released
/// together, and returns the wall time until all are done (`per = total / producers`).
fn run<F, C>(producers: usize, total: usize, produce: F, consume: C) -> Duration
where
    F: Fn(usize) + Sync,
    C: FnOnce(usize),
{
    let per = total / producers;
    timed_threads(producers, |_| produce(per), || consume(per * producers))
}

/// loopkit's event-loop style consumer: run what is there, spin briefly, then park.
fn loopkit_consume(rx: &mut queue::Receiver<Callback>, total: usize) {
    let mut ran = 0;
    while ran < total {
        let n = rx.run_pending();
        ran += n;
        if n == 0 {
            let backoff = Backoff::new();
            while !rx.has_ready() && !backoff.is_completed() {
                backoff.snooze();
            }
            if !rx.has_ready() {
                rx.park();
            }
        }
    }
}

fn loopkit_inline(producers: usize, total: usize) -> Duration {
    let (tx, mut rx) = queue::channel::<Callback>();
    run(
        producers,
        total,
        move |n| {
            for i in 0..n {
                tx.call_soon_detached(job(i)).unwrap();
            }
        },
        |total| loopkit_consume(&mut rx, total),
    )
}

fn loopkit_inline_handle(producers: usize, total: usize) -> Duration {
    let (tx, mut rx) = queue::channel::<Callback>();
    run(
        producers,
        total,
        move |n| {
            for i in 0..n {
                drop(tx.call_soon(job(i)).unwrap());
            }
        },
        |total| loopkit_consume(&mut rx, total),
    )
}

fn loopkit_boxed(producers: usize, total: usize) -> Duration {
    let (tx, mut rx) = queue::channel::<Callback>();
    run(
        producers,
        total,
        move |n| {
            for i in 0..n {
                tx.send(boxed(i)).unwrap();
            }
        },
        |total| loopkit_consume(&mut rx, total),
    )
}

fn crossbeam_channel(producers: usize, total: usize) -> Duration {
    let (tx, rx) = crossbeam_channel::unbounded::<Callback>();
    run(
        producers,
        total,
        move |n| {
            for i in 0..n {
                tx.send(boxed(i)).unwrap();
            }
        },
        |total| {
            for _ in 0..total {
                rx.recv().unwrap()();
            }
        },
    )
}

fn std_mpsc(producers: usize, total: usize) -> Duration {
    let (tx, rx) = std::sync::mpsc::channel::<Callback>();
    run(
        producers,
        total,
        move |n| {
            for i in 0..n {
                tx.send(boxed(i)).unwrap();
            }
        },
        |total| {
            for _ in 0..total {
                rx.recv().unwrap()();
            }
        },
    )
}

fn tokio_unbounded(producers: usize, total: usize) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Callback>();
    run(
        producers,
        total,
        move |n| {
            for i in 0..n {
                tx.send(boxed(i)).unwrap();
            }
        },
        |total| {
            for _ in 0..total {
                rx.blocking_recv().unwrap()();
            }
        },
    )
}

fn seg_queue(producers: usize, total: usize) -> Duration {
    let q = Arc::new(crossbeam_queue::SegQueue::<Callback>::new());
    let qp = q.clone();
    run(
        producers,
        total,
        move |n| {
            for i in 0..n {
                qp.push(boxed(i));
            }
        },
        |total| {
            let mut ran = 0;
            let backoff = Backoff::new();
            while ran < total {
                match q.pop() {
                    Some(f) => {
                        f();
                        ran += 1;
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
        },
    )
}

fn mutex_deque(producers: usize, total: usize) -> Duration {
    let q = Arc::new(Mutex::new(VecDeque::<Callback>::new()));
    let qp = q.clone();
    run(
        producers,
        total,
        move |n| {
            for i in 0..n {
                qp.lock().unwrap().push_back(boxed(i));
            }
        },
        |total| {
            let mut ran = 0;
            let mut local = VecDeque::new();
            let backoff = Backoff::new();
            while ran < total {
                // What an event loop does: swap the whole batch out under the lock.
                std::mem::swap(&mut local, &mut *q.lock().unwrap());
                if local.is_empty() {
                    backoff.snooze();
                    continue;
                }
                backoff.reset();
                ran += local.len();
                for f in local.drain(..) {
                    f();
                }
            }
        },
    )
}

/// A cordyceps queue entry: the intrusive links plus the boxed closure.
#[derive(Default)]
struct Entry {
    links: mpsc_queue::Links<Entry>,
    f: std::cell::Cell<Option<Callback>>,
}

// SAFETY: entries are owned by `Pin<Box<Entry>>` handles, never move while linked (they are
// heap-pinned), and `links` returns a pointer into the entry without creating a reference.
unsafe impl Linked<mpsc_queue::Links<Entry>> for Entry {
    type Handle = Pin<Box<Entry>>;

    fn into_ptr(handle: Pin<Box<Entry>>) -> NonNull<Entry> {
        // SAFETY: the box is leaked and only turned back into a pinned box by `from_ptr`.
        NonNull::from(Box::leak(unsafe { Pin::into_inner_unchecked(handle) }))
    }

    unsafe fn from_ptr(ptr: NonNull<Entry>) -> Pin<Box<Entry>> {
        // SAFETY: `ptr` came from `into_ptr` (the queue's contract), so it owns a pinned box.
        unsafe { Pin::new_unchecked(Box::from_raw(ptr.as_ptr())) }
    }

    unsafe fn links(target: NonNull<Entry>) -> NonNull<mpsc_queue::Links<Entry>> {
        // SAFETY: `target` is a live entry (the queue's contract); `&raw mut` avoids a reference,
        // and a field of a non-null pointer is non-null.
        unsafe { NonNull::new_unchecked(&raw mut (*target.as_ptr()).links) }
    }
}

fn cordyceps(producers: usize, total: usize) -> Duration {
    let q = Arc::new(MpscQueue::<Entry>::new_with_stub(
        Box::pin(Entry::default()),
    ));
    let qp = q.clone();
    run(
        producers,
        total,
        move |n| {
            for i in 0..n {
                qp.enqueue(Box::pin(Entry {
                    links: mpsc_queue::Links::new(),
                    f: std::cell::Cell::new(Some(boxed(i))),
                }));
            }
        },
        |total| {
            let consumer = q.consume();
            let mut ran = 0;
            let backoff = Backoff::new();
            while ran < total {
                match consumer.dequeue() {
                    Some(e) => {
                        (e.f.take().unwrap())();
                        ran += 1;
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
        },
    )
}

type Peer = (&'static str, fn(usize, usize) -> Duration);

const PEERS: &[Peer] = &[
    ("loopkit_inline", loopkit_inline),
    ("loopkit_inline_handle", loopkit_inline_handle),
    ("loopkit_boxed", loopkit_boxed),
    ("crossbeam_channel", crossbeam_channel),
    ("std_mpsc", std_mpsc),
    ("segqueue", seg_queue),
    ("tokio_unbounded", tokio_unbounded),
    ("cordyceps", cordyceps),
    ("mutex_vecdeque", mutex_deque),
];

fn throughput(c: &mut Criterion) {
    for producers in thread_sweep(&[1, 2, 4]) {
        let mut g = c.benchmark_group(format!("queue_throughput_{producers}p1c"));
        g.throughput(Throughput::Elements(BATCH as u64));
        g.sample_size(20);
        for (name, f) in PEERS {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| f(producers, iters as usize * BATCH))
            });
        }
        g.finish();
    }
}

/// Wake-latency samples (ns): the producer sleeps so the consumer is parked, stamps a time,
/// pushes a closure, and the closure measures the elapsed time when it starts.
fn latency_samples(samples: usize, kind: &str) -> Vec<u64> {
    let out = Arc::new(Mutex::new(Vec::with_capacity(samples)));
    let record = |out: &Arc<Mutex<Vec<u64>>>, t0: Instant| {
        let d = t0.elapsed().as_nanos() as u64;
        out.lock().unwrap().push(d);
    };
    match kind {
        "loopkit" => {
            let (tx, mut rx) = queue::channel::<Callback>();
            let consumer = thread::spawn(move || {
                let mut ran = 0;
                while ran < samples {
                    ran += rx.run_pending();
                    if ran < samples {
                        rx.park();
                    }
                }
            });
            for _ in 0..samples {
                thread::sleep(Duration::from_micros(200));
                let out = out.clone();
                let t0 = Instant::now();
                tx.call_soon_detached(move || record(&out, t0)).unwrap();
            }
            consumer.join().unwrap();
        }
        "std_mpsc" => {
            let (tx, rx) = std::sync::mpsc::channel::<Callback>();
            let consumer = thread::spawn(move || {
                for _ in 0..samples {
                    rx.recv().unwrap()();
                }
            });
            for _ in 0..samples {
                thread::sleep(Duration::from_micros(200));
                let out = out.clone();
                let t0 = Instant::now();
                tx.send(Box::new(move || record(&out, t0))).unwrap();
            }
            consumer.join().unwrap();
        }
        "crossbeam_channel" => {
            let (tx, rx) = crossbeam_channel::unbounded::<Callback>();
            let consumer = thread::spawn(move || {
                for _ in 0..samples {
                    rx.recv().unwrap()();
                }
            });
            for _ in 0..samples {
                thread::sleep(Duration::from_micros(200));
                let out = out.clone();
                let t0 = Instant::now();
                tx.send(Box::new(move || record(&out, t0))).unwrap();
            }
            consumer.join().unwrap();
        }
        _ => unreachable!(),
    }
    let mut v = std::mem::take(&mut *out.lock().unwrap());
    v.sort_unstable();
    v
}

/// Wake latency per consumer kind, as criterion benchmarks (`queue_wake_latency/<kind>`): each
/// iteration is one sample, and criterion's time is the sum of the samples' latencies, so its
/// mean is the mean latency. The group's own sampling settings keep it short whatever
/// `--measurement-time` says, because each sample also sleeps 200 us. For the percentiles, the
/// first call of each benchmark also takes `SAMPLES` samples, whose p50/p90/p99 are printed as
/// a table after the group.
fn wake_latency(c: &mut Criterion) {
    const KINDS: [&str; 3] = ["loopkit", "std_mpsc", "crossbeam_channel"];
    const SAMPLES: usize = 3_000;
    let mut samples: Vec<Vec<u64>> = vec![Vec::new(); KINDS.len()];
    let mut g = c.benchmark_group("queue_wake_latency");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(20))
        .measurement_time(Duration::from_millis(60));
    for (kind, kept) in KINDS.iter().zip(samples.iter_mut()) {
        g.bench_function(*kind, |b| {
            if kept.is_empty() {
                *kept = latency_samples(SAMPLES, kind);
            }
            b.iter_custom(|iters| {
                Duration::from_nanos(latency_samples(iters as usize, kind).iter().sum())
            })
        });
    }
    g.finish();
    if samples.iter().any(Vec::is_empty) {
        return; // filtered out
    }
    println!("\nwake latency (push -> callback start on a parked consumer), {SAMPLES} samples, ns");
    println!("| consumer | p50 | p90 | p99 |");
    println!("|---|---|---|---|");
    let pct = |v: &[u64], p: f64| v[((v.len() as f64 - 1.0) * p) as usize];
    for (kind, v) in KINDS.iter().zip(samples.iter_mut()) {
        println!(
            "| {kind} | {} | {} | {} |",
            pct(v, 0.5),
            pct(v, 0.9),
            pct(v, 0.99)
        );
    }
    println!(
        "p50 ratio loopkit / std_mpsc = {:.2}",
        pct(&samples[0], 0.5) as f64 / pct(&samples[1], 0.5) as f64
    );
}

/// Interleaved throughput (`queue_interleaved/<P>p1c`): each criterion iteration is one round
/// that runs every peer once on `ITEMS` items, the order rotating every round; criterion's time
/// is the round's total. After the group, the rounds' per-peer times are printed: the median
/// ns/item per peer and, for the ratios, the median over rounds of the *paired* ratio (peer time
/// / our time in the same round), so slow changes in the background load cancel out. On a
/// shared, loaded machine this is much steadier than comparing criterion's groups, which run one
/// peer after another. At least 21 rounds are measured (the sample count, one round each).
fn interleaved_throughput(c: &mut Criterion) {
    const ITEMS: usize = 200_000;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    for producers in thread_sweep(&[1, 2, 4]) {
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); PEERS.len()];
        let mut g = c.benchmark_group("queue_interleaved");
        g.sampling_mode(SamplingMode::Flat).sample_size(21);
        g.bench_function(format!("{producers}p1c"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let round = times[0].len();
                    for k in 0..PEERS.len() {
                        let i = (k + round) % PEERS.len();
                        let d = (PEERS[i].1)(producers, ITEMS);
                        times[i].push(d.as_nanos() as f64 / ITEMS as f64);
                        total += d;
                    }
                }
                total
            })
        });
        g.finish();
        let rounds = times[0].len();
        if rounds == 0 {
            continue; // filtered out
        }
        let idx = |name: &str| PEERS.iter().position(|p| p.0 == name).unwrap();
        let paired = |num: usize, den: usize| {
            let mut r: Vec<f64> = (0..rounds).map(|k| times[num][k] / times[den][k]).collect();
            median(&mut r)
        };
        let (ours, cb, tokio) = (
            idx("loopkit_inline"),
            idx("crossbeam_channel"),
            idx("tokio_unbounded"),
        );
        println!(
            "\ninterleaved throughput {producers}P1C, one closure per item, {rounds} rounds x {ITEMS} items"
        );
        println!(
            "| queue | ns/item (median) | Mitems/s | loopkit_inline speed-up over it (median of paired ratios) |"
        );
        println!("|---|---|---|---|");
        for (i, (name, _)) in PEERS.iter().enumerate() {
            let m = median(&mut times[i].clone());
            println!(
                "| {name} | {m:.1} | {:.2} | {:.2}x |",
                1e3 / m,
                paired(i, ours)
            );
        }
        println!(
            "targets: vs crossbeam-channel {:.2}x, vs tokio {:.2}x",
            paired(cb, ours),
            paired(tokio, ours)
        );
    }
}

criterion_group!(benches, wake_latency, interleaved_throughput, throughput);
criterion_main!(benches);
