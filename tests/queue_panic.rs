//! Panic safety of the queue, with ledgers: a panicking `Unpark::unpark` neither strands the
//! consumer nor leaks the node; a panicking payload `Drop` in `Receiver::drop` stops no other
//! drop (the first panic is resumed afterwards) and leaves every handle in a final state.
//!
//! Leaks are measured with the counting allocator (live bytes before and after each scenario);
//! the tests of this file run one at a time so that they do not see each other's allocations,
//! and the expected panics are kept out of the captured output (which would allocate).

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::thread;
use std::time::Duration;

use loopkit::queue::{
    with_parker, Callback, HandleState, Park, ThreadParker, ThreadUnparker, TryRecvError, Unpark,
};
use support::alloc::{live_bytes, CountingAlloc};
use support::watchdog::Watchdog;

mod support;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Marks the panics these tests provoke; any other panic is reported as usual.
const EXPECTED: &str = "expected panic";

/// One test at a time (live bytes are global), with the provoked panics silenced.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let ours = info.payload().downcast_ref::<&str>() == Some(&EXPECTED);
            if !ours {
                default(info);
            }
        }));
    });
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The default parker, whose producer half panics on the unparks numbered in `panic_on`
/// (counting from 1) and counts every call.
#[derive(Debug, Default)]
struct Flaky {
    inner: ThreadParker,
    calls: Arc<AtomicUsize>,
    panic_on: Vec<usize>,
}

#[derive(Debug)]
struct FlakyUnparker {
    inner: ThreadUnparker,
    calls: Arc<AtomicUsize>,
    panic_on: Vec<usize>,
}

impl Unpark for FlakyUnparker {
    fn unpark(&self) {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1; // SeqCst: test counter.
        if self.panic_on.contains(&n) {
            panic::panic_any(EXPECTED);
        }
        self.inner.unpark();
    }
}

impl Park for Flaky {
    type Unparker = FlakyUnparker;
    fn unparker(&self) -> FlakyUnparker {
        FlakyUnparker {
            inner: self.inner.unparker(),
            calls: self.calls.clone(),
            panic_on: self.panic_on.clone(),
        }
    }
    fn park(&self, timeout: Option<Duration>) {
        self.inner.park(timeout);
    }
}

/// A payload that records its drop in a ledger and panics on drop if told to.
struct Item {
    id: usize,
    panics: bool,
    ledger: Arc<Mutex<Vec<usize>>>,
}

impl Drop for Item {
    fn drop(&mut self) {
        self.ledger.lock().unwrap().push(self.id);
        if self.panics {
            panic::panic_any(EXPECTED);
        }
    }
}

/// Live bytes are back at `before` (or lower: a thread of an earlier test may still be exiting
/// and freeing its own memory; a leaked node or handle would show as growth).
fn assert_no_leak(before: isize) {
    let now = live_bytes();
    assert!(now <= before, "{} bytes leaked", now - before);
}

fn ledger() -> Arc<Mutex<Vec<usize>>> {
    Arc::new(Mutex::new(Vec::new()))
}

fn sorted(l: &Mutex<Vec<usize>>) -> Vec<usize> {
    let mut v = l.lock().unwrap().clone();
    v.sort_unstable();
    v
}

/// The push whose unpark panics has still queued its payload and frees its handle; the next
/// push unparks again (the flag was re-armed), so the park is woken; nothing leaks.
fn panicking_unpark_rearms_and_leaks_nothing() {
    let _serial = serial();
    let before = live_bytes();
    {
        let calls = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = with_parker::<Callback, _>(Flaky {
            calls: calls.clone(),
            panic_on: vec![1],
            ..Flaky::default()
        });
        let ran = Arc::new(Mutex::new(Vec::new()));
        let (r1, r2) = (ran.clone(), ran.clone());
        assert!(rx.prepare_park());
        let first = panic::catch_unwind(AssertUnwindSafe(|| {
            tx.call_soon(move || r1.lock().unwrap().push(1)).map(drop)
        }));
        assert!(first.is_err(), "the unpark's panic reaches the pusher");
        assert_eq!(calls.load(Ordering::SeqCst), 1); // SeqCst: test counter.
        assert_eq!(rx.len(), 1, "the payload was queued before the unpark");
        // The second push unparks again: the panicking one did not keep the job.
        let h = tx.call_soon(move || r2.lock().unwrap().push(2)).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "re-armed: one more unpark"); // SeqCst: test counter.
        assert!(rx.finish_park(), "the park was woken");
        assert_eq!(rx.run_pending(), 2);
        assert_eq!(*ran.lock().unwrap(), [1, 2], "each ran once, in order");
        assert_eq!(h.state(), HandleState::Done);
        // A third park and push: the protocol is back to one unpark per park.
        assert!(rx.prepare_park());
        tx.call_soon_detached(|| ()).unwrap();
        tx.call_soon_detached(|| ()).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3); // SeqCst: test counter.
        assert!(rx.finish_park());
        assert_eq!(rx.run_pending(), 2);
    }
    assert_no_leak(before);
}

/// A consumer blocked in `recv()` with no timeout: the producer's first unpark panics, its
/// second push wakes the consumer, which receives both items. A watchdog turns a stranded
/// consumer into a failure.
fn panicking_unpark_does_not_strand_a_blocked_consumer() {
    let _serial = serial();
    let _w = Watchdog::new("panicking_unpark_blocked", Duration::from_secs(60));
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = with_parker::<usize, _>(Flaky {
        calls: calls.clone(),
        panic_on: vec![1],
        ..Flaky::default()
    });
    let consumer = thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(v) = rx.recv() {
            got.push(v);
        }
        got
    });
    // Wait until the consumer has announced its park (the first unpark happens then).
    let mut pushed = Vec::new();
    for id in 0..2 {
        thread::sleep(Duration::from_millis(20));
        let r = panic::catch_unwind(AssertUnwindSafe(|| tx.send(id)));
        // The push itself succeeded or panicked in the unpark; the payload is queued either way.
        if let Ok(res) = r {
            res.unwrap();
        }
        pushed.push(id);
    }
    drop(tx); // disconnects: the consumer's loop ends
    let got = consumer.join().unwrap();
    assert_eq!(got, pushed, "every payload received once, in order");
    assert!(calls.load(Ordering::SeqCst) >= 1); // SeqCst: test counter.
}

/// Dropping the receiver drops every queued payload even when some `Drop`s panic; the first
/// panic is resumed after the rest; every handle ends `Done` and `cancel()` answers `false`.
fn panicking_payload_drops_in_receiver_drop_stop_no_other() {
    let _serial = serial();
    let before = live_bytes();
    {
        let drops = ledger();
        let (tx, rx) = with_parker::<Item, _>(ThreadParker::new());
        let handles: Vec<_> = (0..6)
            .map(|id| {
                tx.push(Item {
                    id,
                    panics: id == 1 || id == 4,
                    ledger: drops.clone(),
                })
                .unwrap()
            })
            .collect();
        let cancelled = handles[2].cancel();
        assert!(cancelled);
        let r = panic::catch_unwind(AssertUnwindSafe(move || drop(rx)));
        let payload = r.expect_err("the first Drop panic is resumed");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&EXPECTED));
        assert_eq!(
            sorted(&drops),
            [0, 1, 2, 3, 4, 5],
            "every payload dropped once"
        );
        for (id, h) in handles.iter().enumerate() {
            let want = if id == 2 {
                HandleState::Cancelled
            } else {
                HandleState::Done
            };
            assert_eq!(h.state(), want, "handle #{id}");
            assert!(!h.cancel(), "cancel after the receiver is gone (#{id})");
        }
        assert!(tx.is_closed());
        let back = tx
            .push(Item {
                id: 9,
                panics: false,
                ledger: drops.clone(),
            })
            .unwrap_err()
            .into_inner();
        assert_eq!(back.id, 9);
        drop(back);
        assert_eq!(sorted(&drops), [0, 1, 2, 3, 4, 5, 9]);
    }
    assert_no_leak(before);
}

/// A `Drop` panic inside `cancel()` propagates to the canceller; the handle is `Cancelled`, the
/// consumer skips the node, and the rest of the queue is untouched.
fn panicking_drop_in_cancel() {
    let _serial = serial();
    let before = live_bytes();
    {
        let drops = ledger();
        let (tx, mut rx) = with_parker::<Item, _>(ThreadParker::new());
        let item = |id, panics| Item {
            id,
            panics,
            ledger: drops.clone(),
        };
        let h0 = tx.push(item(0, true)).unwrap();
        tx.send(item(1, false)).unwrap();
        assert!(panic::catch_unwind(AssertUnwindSafe(|| h0.cancel())).is_err());
        assert_eq!(h0.state(), HandleState::Cancelled);
        assert!(!h0.cancel());
        let mut got = Vec::new();
        rx.drain(|it| got.push(it.id));
        assert_eq!(got, [1]);
        assert_eq!(sorted(&drops), [0, 1]);
        drop(tx);
        assert_eq!(
            rx.try_recv().map(|it| it.id),
            Err(TryRecvError::Disconnected)
        );
    }
    assert_no_leak(before);
}

/// The scenarios run one after another on one test thread: live bytes are global, and a test
/// harness running other tests in parallel (spawning their threads, recording their results)
/// allocates while a scenario measures.
#[test]
fn panicking_wakers_and_payloads_lose_and_leak_nothing() {
    panicking_unpark_rearms_and_leaks_nothing();
    panicking_unpark_does_not_strand_a_blocked_consumer();
    panicking_payload_drops_in_receiver_drop_stop_no_other();
    panicking_drop_in_cancel();
}
