//! The queue from async code: `poll_recv` / `poll_ready` driven by a minimal executor that
//! re-polls a future only after its waker was woken (so a lost task wakeup is a hang, which the
//! watchdog turns into a failure), with the wakes counted.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use loopkit::queue::{channel, with_unparker, Callback, NoPark, Receiver, Unpark};
use support::rng::Rng;
use support::waker::CountingWaker;
use support::watchdog::Watchdog;

mod support;

/// What [`block_on`] saw: how often the future returned `Pending`, and the waker's wakes.
#[derive(Debug)]
struct Run<T> {
    out: T,
    pendings: usize,
    wakes: usize,
}

/// The smallest executor that can lose nothing silently: poll; on `Pending`, wait (yielding)
/// until the waker's count moves, then poll again.
fn block_on<F: Future>(f: F) -> Run<F::Output> {
    let counter = CountingWaker::new();
    let waker = counter.waker();
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    let mut pendings = 0;
    loop {
        let seen = counter.count();
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(out) => {
                return Run {
                    out,
                    pendings,
                    wakes: counter.count(),
                }
            }
            Poll::Pending => {
                pendings += 1;
                while counter.count() == seen {
                    thread::yield_now();
                }
            }
        }
    }
}

/// An unparker that counts (the async receivers below never park a thread).
#[derive(Debug, Default)]
struct CountUnparks(AtomicUsize);

impl Unpark for CountUnparks {
    fn unpark(&self) {
        self.0.fetch_add(1, Ordering::SeqCst); // SeqCst: test counter.
    }
}

/// Two producers push with random pauses; an async consumer receives everything in
/// per-producer order and ends at the disconnect. Wakes never exceed the `Pending`s.
#[test]
fn poll_recv_receives_everything_then_none() {
    let _w = Watchdog::new("poll_recv_receives_everything", Duration::from_secs(60));
    const PER: usize = if cfg!(miri) { 20 } else { 2_000 };
    let (tx, mut rx) = channel::<(usize, usize)>();
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(p as u64 + 1);
                for seq in 0..PER {
                    tx.send((p, seq)).unwrap();
                    if rng.below(64) == 0 {
                        thread::sleep(Duration::from_micros(50));
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let run = block_on(async {
        let mut next = [0usize; 2];
        while let Some((p, seq)) = poll_fn(|cx| rx.poll_recv(cx)).await {
            assert_eq!(seq, next[p], "producer {p}: gap, duplicate or reordering");
            next[p] += 1;
        }
        next
    });
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(run.out, [PER; 2]);
    assert!(
        run.wakes <= run.pendings,
        "at most one wake per Pending ({} wakes, {} pendings)",
        run.wakes,
        run.pendings
    );
}

/// `poll_ready` + `run_pending` on a callback queue whose consumer has no parker at all
/// (`with_unparker`): the executor's waker is the only wake path it needs.
#[test]
fn poll_ready_then_run_pending() {
    let _w = Watchdog::new("poll_ready_then_run_pending", Duration::from_secs(60));
    const N: usize = if cfg!(miri) { 20 } else { 5_000 };
    let unparks = Arc::new(CountUnparks::default());
    let (tx, mut rx): (_, Receiver<Callback, NoPark>) = with_unparker(unparks.clone());
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let producer = thread::spawn(move || {
        for i in 0..N {
            let r = r.clone();
            tx.call_soon_detached(move || {
                r.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
            if i % 256 == 0 {
                thread::sleep(Duration::from_micros(100));
            }
        }
    });
    let run = block_on(async {
        let mut total = 0;
        while poll_fn(|cx| rx.poll_ready(cx)).await {
            total += rx.run_pending();
        }
        total
    });
    producer.join().unwrap();
    assert_eq!(run.out, N);
    assert_eq!(ran.load(Ordering::Relaxed), N);
    assert!(run.wakes <= run.pendings);
    // Both halves are told about each park, once each.
    assert_eq!(unparks.0.load(Ordering::SeqCst), run.wakes); // SeqCst: test counter.
}

/// The last sender's drop wakes a pending task, exactly once; the task then sees `None`.
#[test]
fn disconnect_wakes_a_pending_task() {
    let (tx, mut rx) = channel::<u8>();
    let counter = CountingWaker::new();
    let waker = counter.waker();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    let tx2 = tx.clone();
    drop(tx);
    assert_eq!(counter.count(), 0, "a sender is still alive");
    drop(tx2);
    assert_eq!(counter.count(), 1, "the last drop woke the task");
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
    assert_eq!(counter.count(), 1);
}

/// The waker of the latest poll is the one woken; a stale one is not; a herd of pushes at one
/// `Pending` wakes once.
#[test]
fn latest_waker_is_woken_once_per_pending() {
    let (tx, mut rx) = channel::<u8>();
    let (a, b) = (CountingWaker::new(), CountingWaker::new());
    let (wa, wb) = (a.waker(), b.waker());
    assert_eq!(rx.poll_recv(&mut Context::from_waker(&wa)), Poll::Pending);
    assert_eq!(rx.poll_recv(&mut Context::from_waker(&wb)), Poll::Pending);
    for i in 0..10 {
        tx.push(i).unwrap();
    }
    assert_eq!(
        (a.count(), b.count()),
        (0, 1),
        "only the latest waker, once"
    );
    let mut cx = Context::from_waker(&wb);
    for i in 0..10 {
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(i)));
    }
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    tx.push(10).unwrap();
    assert_eq!(b.count(), 2);
    // Cancelled handles are skipped by `poll_recv`.
    let h = tx.push(11).unwrap();
    assert!(h.cancel());
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(10)));
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    drop(tx);
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
}

/// The blocking API after a `Pending` (the task's park still announced), then async again.
#[test]
fn poll_recv_between_sync_receives() {
    let (tx, mut rx) = channel::<u8>();
    let w = CountingWaker::new();
    let waker = w.waker();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    // Back to the blocking API while the task's park is still announced.
    tx.push(1).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(1));
    tx.push(2).unwrap();
    assert_eq!(w.count(), 1, "the push woke the task's announced park");
    tx.push(2).unwrap();
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(2)));
}
