//! A task waker that panics, or re-enters the queue, inside the wake of a push: the task's waker
//! stays registered, so the next push (or the last sender's drop) wakes the task again, and the
//! panic reaches the pusher with its payload still queued.
//!
//! The wakes are counted with the shared counting waker; the waker under test forwards to it and
//! panics (or pushes) on the wakes it is told to.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll, Wake, Waker};

use loopkit::queue::{channel, Sender};
use support::waker::CountingWaker;

mod support;

/// Marks the panics these tests provoke; any other panic is reported as usual.
const EXPECTED: &str = "expected panic";

fn quiet_expected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&EXPECTED) {
                default(info);
            }
        }));
    });
}

/// A task waker that counts every wake into `count` and panics on the wakes numbered in
/// `panic_on` (counting from 1).
struct Flaky {
    count: Arc<CountingWaker>,
    calls: AtomicUsize,
    panic_on: Vec<usize>,
}

impl Flaky {
    fn waker(panic_on: Vec<usize>) -> (Waker, Arc<CountingWaker>) {
        let count = CountingWaker::new();
        let w = Waker::from(Arc::new(Flaky {
            count: count.clone(),
            calls: AtomicUsize::new(0),
            panic_on,
        }));
        (w, count)
    }
}

impl Wake for Flaky {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.count.waker().wake();
        // Relaxed: a call counter on this waker alone.
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.panic_on.contains(&n) {
            panic::panic_any(EXPECTED);
        }
    }
}

/// The first wake panics inside the push that made it; the pushes after it wake the task again,
/// and the task then receives every payload, the one whose push panicked included.
#[test]
fn panicking_task_waker_stays_registered_for_the_next_push() {
    quiet_expected_panics();
    let (waker, wakes) = Flaky::waker(vec![1]);
    let mut cx = Context::from_waker(&waker);
    let (tx, mut rx) = channel::<u32>();
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    let first = panic::catch_unwind(AssertUnwindSafe(|| tx.send(0)));
    assert!(first.is_err(), "the waker's panic reaches the pusher");
    assert_eq!(wakes.count(), 1);
    for i in 1..5 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 5);
    assert!(
        wakes.count() >= 2,
        "the pushes after the panicking wake did not wake the task (wakes: {})",
        wakes.count()
    );
    // The executor polls the woken task: everything is there, in order.
    for i in 0..5 {
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(i)));
    }
    drop(tx);
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
}

/// The first wake panics and no other push follows: the last sender's drop wakes the task.
#[test]
fn panicking_task_waker_is_woken_by_the_disconnect() {
    quiet_expected_panics();
    let (waker, wakes) = Flaky::waker(vec![1]);
    let mut cx = Context::from_waker(&waker);
    let (tx, mut rx) = channel::<u32>();
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    let first = panic::catch_unwind(AssertUnwindSafe(|| tx.send(7)));
    assert!(first.is_err(), "the waker's panic reaches the pusher");
    drop(tx);
    assert_eq!(
        wakes.count(),
        2,
        "the disconnect did not wake the task after the panicking wake"
    );
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(7)));
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
}

/// Every wake panics: each push reports the panic, none loses its payload, and each one finds
/// the waker still registered.
#[test]
fn always_panicking_task_waker_is_called_by_every_push() {
    quiet_expected_panics();
    let (waker, wakes) = Flaky::waker((1..=3).collect());
    let mut cx = Context::from_waker(&waker);
    let (tx, mut rx) = channel::<u32>();
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    for i in 0..3 {
        let r = panic::catch_unwind(AssertUnwindSafe(|| tx.send(i)));
        assert!(r.is_err(), "push {i}: the waker's panic reaches the pusher");
        assert_eq!(wakes.count(), i as usize + 1);
    }
    for i in 0..3 {
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(i)));
    }
}

/// A task waker that pushes into the queue from inside its wake (re-enters the producer side
/// while the push that woke it is still in `notify`).
struct Reentrant {
    tx: Mutex<Option<Sender<u32>>>,
    count: Arc<CountingWaker>,
}

impl Wake for Reentrant {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.count.waker().wake();
        if let Some(tx) = self.tx.lock().unwrap().take() {
            tx.send(100).unwrap();
        }
    }
}

/// A wake that pushes: the inner push sees the park already being woken and does not wake
/// again; both payloads are received, and the task is woken once for the park.
#[test]
fn reentrant_task_waker_pushes_from_its_wake() {
    let (tx, mut rx) = channel::<u32>();
    let count = CountingWaker::new();
    let inner = Arc::new(Reentrant {
        tx: Mutex::new(Some(tx.clone())),
        count: count.clone(),
    });
    let waker = Waker::from(inner.clone());
    let mut cx = Context::from_waker(&waker);
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    tx.send(1).unwrap();
    assert_eq!(count.count(), 1, "one wake for one park");
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(1)));
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(100)));
    drop(tx);
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
}
