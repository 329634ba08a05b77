//! Unit tests and the proptest model test (single thread unless named otherwise; all run under
//! Miri with cut sizes).
#![cfg(not(loopkit_loom))]

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;

use super::ops::{self, Op};
use super::{
    channel, with_unparker, Callback, HandleState, RecvError, RecvTimeoutError, SendError,
    TryRecvError, Unpark,
};

/// Counts drops of the payloads it hands out.
#[derive(Clone, Default)]
struct Drops(Arc<AtomicUsize>);

struct Tracked(u32, Drops);

impl Drop for Tracked {
    fn drop(&mut self) {
        (self.1).0.fetch_add(1, Ordering::SeqCst); // SeqCst: test counter.
    }
}

impl Drops {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst) // SeqCst: test counter.
    }
    fn item(&self, v: u32) -> Tracked {
        Tracked(v, self.clone())
    }
}

#[test]
fn push_drain_in_order() {
    let (tx, mut rx) = channel::<u32>();
    assert!(rx.is_empty());
    for i in 0..10 {
        tx.push(i).unwrap();
    }
    assert_eq!(rx.len(), 10);
    let mut got = Vec::new();
    assert_eq!(rx.drain(|v| got.push(v)), 10);
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert!(rx.is_empty());
    assert_eq!(rx.try_recv().ok(), None);
    tx.send(11).unwrap();
    assert_eq!(rx.try_recv().ok(), Some(11));
    rx.assert_valid();
}

#[test]
fn drain_runs_only_what_was_present() {
    let (tx, mut rx) = channel::<Callback>();
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 0..3 {
        let (tx2, o) = (tx.clone(), order.clone());
        tx.call_soon(move || {
            o.lock().unwrap().push(i);
            let o2 = o.clone();
            // Pushed during the drain: waits for the next one.
            tx2.call_soon(move || o2.lock().unwrap().push(100 + i))
                .unwrap();
        })
        .unwrap();
    }
    assert_eq!(rx.run_pending(), 3);
    assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
    assert_eq!(rx.len(), 3);
    assert_eq!(rx.run_pending(), 3);
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 100, 101, 102]);
    assert_eq!(rx.run_pending(), 0);
}

#[test]
fn cancel_prevents_run_and_drops_promptly() {
    let drops = Drops::default();
    let (tx, mut rx) = channel::<Tracked>();
    let a = tx.push(drops.item(1)).unwrap();
    let b = tx.push(drops.item(2)).unwrap();
    let c = tx.push(drops.item(3)).unwrap();
    assert!(b.cancel());
    assert_eq!(drops.get(), 1, "dropped by cancel, not later");
    assert!(b.is_cancelled());
    assert!(!b.cancel(), "second cancel prevents nothing");
    drop(c); // dropping a handle does not cancel
    let mut got = Vec::new();
    rx.drain(|t| got.push(t.0));
    assert_eq!(got, [1, 3]);
    assert_eq!(drops.get(), 3);
    assert!(!a.cancel(), "too late");
    assert_eq!(a.state(), HandleState::Done);
    assert!(!a.is_cancelled());
    let a2 = a.clone();
    drop(a);
    assert_eq!(a2.state(), HandleState::Done);
    assert!(format!("{a2:?}").contains("Done"));
}

#[test]
fn cancel_from_inside_the_running_callback() {
    let (tx, mut rx) = channel::<Callback>();
    let slot: Arc<Mutex<Option<super::Handle>>> = Arc::default();
    let seen = Arc::new(Mutex::new(None));
    let (s2, seen2) = (slot.clone(), seen.clone());
    let h = tx
        .call_soon(move || {
            let h = s2.lock().unwrap().take().unwrap();
            *seen2.lock().unwrap() = Some((h.state(), h.cancel(), h.is_cancelled()));
        })
        .unwrap();
    *slot.lock().unwrap() = Some(h.clone());
    assert_eq!(rx.run_pending(), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        Some((HandleState::Running, false, false))
    );
    assert_eq!(h.state(), HandleState::Done);
}

#[test]
fn panicking_callback_loses_nothing() {
    let (tx, mut rx) = channel::<Callback>();
    let hits = Arc::new(AtomicUsize::new(0));
    for i in 0..5 {
        let hits = hits.clone();
        tx.call_soon(move || {
            if i == 1 {
                panic!("boom (expected by the test)");
            }
            hits.fetch_add(1, Ordering::SeqCst); // SeqCst: test counter.
        })
        .unwrap();
    }
    let err = panic::catch_unwind(AssertUnwindSafe(|| rx.run_pending())).unwrap_err();
    assert_eq!(
        err.downcast_ref::<&str>(),
        Some(&"boom (expected by the test)")
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1); // SeqCst: test counter.
    assert_eq!(rx.len(), 3, "the three after the panic stay queued");
    rx.assert_valid();
    assert_eq!(rx.run_pending(), 3);
    assert_eq!(hits.load(Ordering::SeqCst), 4); // SeqCst: test counter.
}

#[test]
fn close_counts_refuses_and_disposes() {
    let drops = Drops::default();
    let (tx, mut rx) = channel::<Tracked>();
    let h = tx.push(drops.item(1)).unwrap();
    tx.push(drops.item(2)).unwrap();
    tx.push(drops.item(3)).unwrap();
    assert!(h.cancel());
    assert_eq!(rx.close(), 2);
    assert_eq!(rx.close(), 2, "idempotent");
    assert!(tx.is_closed() && rx.is_closed());
    let SendError(back) = tx.push(drops.item(4)).unwrap_err();
    assert_eq!(back.0, 4, "the payload comes back intact");
    drop(back);
    assert_eq!(drops.get(), 2);
    assert_eq!(rx.try_recv().ok().map(|t| t.0), Some(2));
    assert_eq!(drops.get(), 3);
    assert!(!rx.prepare_park(), "one still pending");
    drop(rx); // drops #3 exactly once
    assert_eq!(drops.get(), 4);
    assert!(tx.push(drops.item(5)).is_err());
    assert_eq!(drops.get(), 5);
    let e = SendError(7u8);
    assert_eq!(e.to_string(), "sending on a closed queue");
    assert_eq!(format!("{e:?}"), "SendError(..)");
    assert_eq!(e.into_inner(), 7);
    let _: &dyn std::error::Error = &e;
}

#[test]
fn inline_and_boxed_callbacks_share_the_queue() {
    let (tx, mut rx) = channel::<Callback>();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    tx.call_soon(move || l.lock().unwrap().push("inline"))
        .unwrap();
    let l = log.clone();
    tx.push(Box::new(move || l.lock().unwrap().push("boxed")))
        .unwrap();
    let l = log.clone();
    tx.call_soon_detached(move || l.lock().unwrap().push("detached"))
        .unwrap();
    assert_eq!(rx.run_pending(), 3);
    // `drain` on a callback queue hands out boxes (inline closures are boxed on the way out).
    let l = log.clone();
    tx.call_soon(move || l.lock().unwrap().push("via drain"))
        .unwrap();
    rx.drain(|cb| cb());
    assert_eq!(
        *log.lock().unwrap(),
        ["inline", "boxed", "detached", "via drain"]
    );
    rx.close();
    let flag = Arc::new(AtomicUsize::new(0));
    let fl = flag.clone();
    let SendError(f) = tx
        .call_soon(move || {
            fl.fetch_add(1, Ordering::SeqCst); // SeqCst: test counter.
        })
        .map(drop)
        .unwrap_err();
    f();
    assert_eq!(
        flag.load(Ordering::SeqCst), // SeqCst: test counter.
        1,
        "the closure came back intact"
    );
    assert!(tx.call_soon_detached(|| ()).is_err());
}

#[test]
fn park_protocol_single_thread() {
    let (tx, mut rx) = channel::<u8>();
    assert!(rx.prepare_park());
    assert!(!rx.finish_park());
    // Times out with nothing queued.
    assert!(!rx.park_timeout(Duration::from_millis(1)));
    tx.push(1).unwrap();
    assert!(!rx.prepare_park(), "work waiting: do not sleep");
    assert!(rx.park_timeout(Duration::from_secs(60)), "returns at once");
    rx.park(); // returns at once too
               // A push after the announcement sets NOTIFIED (and would wake).
    assert_eq!(rx.try_recv().ok(), Some(1));
    assert!(rx.prepare_park());
    tx.push(2).unwrap();
    assert!(rx.finish_park(), "the push woke this park");
    assert!(format!("{rx:?} {tx:?}").contains("Receiver"));
}

/// A producer half that counts its unparks.
#[derive(Debug, Default)]
struct Counting {
    wakes: AtomicUsize,
}

impl Unpark for Counting {
    fn unpark(&self) {
        self.wakes.fetch_add(1, Ordering::SeqCst); // SeqCst: test counter.
    }
}

#[test]
fn one_wake_per_park_single_thread() {
    let w = Arc::new(Counting::default());
    let (tx, mut rx) = with_unparker::<u32, _>(w.clone());
    for _ in 0..10 {
        tx.push(0).unwrap(); // consumer awake: no wake
    }
    assert_eq!(w.wakes.load(Ordering::SeqCst), 0); // SeqCst: test counter.
    rx.drain(drop);
    for round in 1..4 {
        assert!(rx.prepare_park());
        for _ in 0..5 {
            tx.push(0).unwrap();
        }
        assert_eq!(w.wakes.load(Ordering::SeqCst), round, "one wake per park"); // SeqCst: test counter.
        assert!(rx.finish_park());
        assert_eq!(rx.drain(drop), 5);
    }
}

#[test]
fn handle_outlives_receiver_and_sender() {
    let drops = Drops::default();
    let (tx, rx) = channel::<Tracked>();
    let h = tx.push(drops.item(1)).unwrap();
    drop(tx);
    drop(rx);
    assert_eq!(drops.get(), 1);
    assert_eq!(h.state(), HandleState::Done);
    assert!(!h.cancel());
}

#[test]
fn cancel_from_another_thread_drops_there() {
    let (tx, mut rx) = channel::<Callback>();
    thread_local!(static HERE: Cell<bool> = const { Cell::new(false) });
    struct OnDrop(Arc<Mutex<Option<bool>>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(HERE.with(|h| h.get()));
        }
    }
    let where_dropped = Arc::new(Mutex::new(None));
    let guard = OnDrop(where_dropped.clone());
    let h = tx.call_soon(move || drop(guard)).unwrap();
    std::thread::spawn(move || {
        HERE.with(|x| x.set(true));
        assert!(h.cancel());
    })
    .join()
    .unwrap();
    assert_eq!(
        *where_dropped.lock().unwrap(),
        Some(true),
        "dropped on the cancelling thread"
    );
    assert_eq!(rx.run_pending(), 0);
}

#[test]
fn ops_decode_covers_every_op() {
    let ops = ops::decode(&[0, 1, 2, 5, 3, 6, 4, 5, 3, 6, 8, 7, 8, 9]);
    assert_eq!(
        ops,
        [
            Op::Push,
            Op::Send,
            Op::Cancel(5),
            Op::DropHandle(6),
            Op::Drain,
            Op::DrainPanic(3),
            Op::RecvDeadline,
            Op::TryRecv,
            Op::Close,
            Op::TryRecv,
            Op::PreparePark
        ]
    );
    ops::run(&ops);
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Push),
        2 => Just(Op::Send),
        3 => (0..16usize).prop_map(Op::Cancel),
        2 => (0..16usize).prop_map(Op::DropHandle),
        2 => Just(Op::Drain),
        1 => (0..4u8).prop_map(Op::DrainPanic),
        2 => Just(Op::RecvDeadline),
        2 => Just(Op::TryRecv),
        1 => Just(Op::Close),
        1 => Just(Op::PreparePark),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 2 } else { 256 },
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn model_agrees(ops in prop::collection::vec(op(), 0..if cfg!(miri) { 20 } else { 80 })) {
        ops::run(&ops);
    }

    /// The fuzz target's input path: `decode` of any bytes, then the same routine.
    #[test]
    fn decoded_bytes_agree(bytes in prop::collection::vec(any::<u8>(), 0..if cfg!(miri) { 24 } else { 240 })) {
        ops::run(&ops::decode(&bytes));
    }
}

/// A panic in a generic `drain` reaches the caller; the rest stays queued.
#[test]
fn panic_in_drain_is_reported_to_caller() {
    let (tx, mut rx) = channel::<u8>();
    tx.push(1).unwrap();
    tx.push(2).unwrap();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        rx.drain(|_| panic!("first (expected)"))
    }));
    assert!(r.is_err());
    assert_eq!(rx.try_recv().ok(), Some(2));
}

#[test]
fn disconnect_empty_vs_disconnected() {
    let (tx, mut rx) = channel::<u32>();
    let tx2 = tx.clone();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.push(1).unwrap();
    drop(tx);
    assert!(!rx.is_disconnected(), "a clone is still alive");
    tx2.push(2).unwrap();
    drop(tx2);
    assert!(rx.is_disconnected());
    assert!(!rx.prepare_park(), "work waiting");
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(
        rx.recv_timeout(Duration::MAX),
        Err(RecvTimeoutError::Disconnected)
    );
    assert!(!rx.prepare_park(), "nothing can arrive: never park");
    rx.park(); // returns at once
    assert!(!rx.park_timeout(Duration::MAX));
    for e in [TryRecvError::Empty, TryRecvError::Disconnected] {
        assert!(!e.to_string().is_empty());
    }
    assert!(!RecvError.to_string().is_empty());
    assert!(!RecvTimeoutError::Timeout.to_string().is_empty());
}

#[test]
fn close_disconnects_the_receiver() {
    let (tx, mut rx) = channel::<u32>();
    tx.push(1).unwrap();
    let h = tx.push(2).unwrap();
    assert!(h.cancel());
    assert_eq!(rx.close(), 1);
    assert!(rx.is_disconnected() && tx.is_closed());
    assert_eq!(
        rx.recv(),
        Ok(1),
        "accepted before the close: still received"
    );
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(tx.push(3).unwrap_err().into_inner(), 3);
}

#[test]
fn park_timeout_saturates() {
    let (tx, mut rx) = channel::<u32>();
    tx.push(1).unwrap();
    assert!(
        rx.park_timeout(Duration::MAX),
        "work waiting: returns at once"
    );
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
    if cfg!(miri) {
        return; // real blocking below
    }
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        tx.push(2).unwrap();
        tx
    });
    // Parks with PARKED set and a deadline past `Instant`'s range: must not panic.
    while !rx.park_timeout(Duration::MAX) {}
    assert_eq!(rx.recv_timeout(Duration::new(u64::MAX, 999_999_999)), Ok(2));
    drop(t.join().unwrap());
    assert_eq!(
        rx.recv_timeout(Duration::MAX),
        Err(RecvTimeoutError::Disconnected)
    );
}

#[test]
fn recv_timeout_times_out() {
    let (_tx, mut rx) = channel::<u32>();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(2)),
        Err(RecvTimeoutError::Timeout)
    );
    assert_eq!(
        rx.recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Timeout)
    );
}

#[test]
fn last_sender_drop_wakes_a_parked_consumer_once() {
    let w = Arc::new(Counting::default());
    let (tx, mut rx) = with_unparker::<u32, _>(w.clone());
    let tx2 = tx.clone();
    assert!(rx.prepare_park());
    drop(tx);
    assert_eq!(w.wakes.load(Ordering::SeqCst), 0, "a clone is alive"); // SeqCst: test counter.
    drop(tx2);
    assert_eq!(w.wakes.load(Ordering::SeqCst), 1, "the last drop woke"); // SeqCst: test counter.
    assert!(rx.finish_park());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn send_takes_borrowed_values_and_gives_them_back() {
    let words = [String::from("a"), String::from("b")];
    let (tx, mut rx) = channel::<&str>();
    tx.send(&words[0]).unwrap();
    tx.send(&words[1]).unwrap();
    assert_eq!(rx.try_recv(), Ok("a"));
    rx.close();
    assert_eq!(
        tx.send(&words[0]),
        Err(SendError("a")),
        "refused: value back"
    );
    assert_eq!(rx.try_recv(), Ok("b"), "accepted before the close");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    drop(rx);
    assert_eq!(tx.send("x").unwrap_err().into_inner(), "x");
}

#[test]
fn send_of_a_non_send_type_stays_on_its_thread() {
    let (tx, mut rx) = channel::<std::rc::Rc<u32>>();
    let v = std::rc::Rc::new(5);
    tx.send(v.clone()).unwrap();
    assert_eq!(std::rc::Rc::strong_count(&v), 2);
    assert_eq!(rx.try_recv().as_deref(), Ok(&5));
    tx.send(v.clone()).unwrap();
    drop(rx); // drops the queued clone
    assert_eq!(std::rc::Rc::strong_count(&v), 1);
}

#[test]
fn same_channel() {
    let (a, _ra) = channel::<u8>();
    let (b, _rb) = channel::<u8>();
    let a2 = a.clone();
    assert!(a.same_channel(&a2) && a2.same_channel(&a));
    assert!(!a.same_channel(&b) && !b.same_channel(&a2));
}

#[test]
fn recv_deadline_takes_times_out_and_disconnects() {
    use std::time::Instant;
    let (tx, mut rx) = channel::<u32>();
    let past = Instant::now();
    assert_eq!(rx.recv_deadline(past), Err(RecvTimeoutError::Timeout));
    let soon = Instant::now() + Duration::from_millis(2);
    assert_eq!(rx.recv_deadline(soon), Err(RecvTimeoutError::Timeout));
    assert!(Instant::now() >= soon, "returned before the deadline");
    tx.send(1).unwrap();
    assert_eq!(
        rx.recv_deadline(past),
        Ok(1),
        "queued: a past deadline still takes it"
    );
    let h = tx.push(2).unwrap();
    assert!(h.cancel());
    assert_eq!(
        rx.recv_deadline(past),
        Err(RecvTimeoutError::Timeout),
        "cancelled: skipped"
    );
    tx.send(3).unwrap();
    drop(tx);
    assert_eq!(
        rx.recv_deadline(past),
        Ok(3),
        "queued before the disconnect"
    );
    assert_eq!(rx.recv_deadline(past), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn recv_deadline_is_woken_by_a_send() {
    use std::time::Instant;
    let (tx, mut rx) = channel::<u32>();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        tx.send(9).unwrap();
        tx
    });
    let far = Instant::now() + Duration::from_secs(600);
    assert_eq!(rx.recv_deadline(far), Ok(9));
    drop(t.join().unwrap());
    assert_eq!(rx.recv_deadline(far), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn iter_blocks_until_disconnect() {
    let n = if cfg!(miri) { 8 } else { 1000 };
    let (tx, mut rx) = channel::<u32>();
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..n {
                    tx.send(p * n + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut got: Vec<u32> = rx.iter().collect();
    for p in producers {
        p.join().unwrap();
    }
    got.sort_unstable();
    assert_eq!(got, (0..2 * n).collect::<Vec<_>>());
    assert_eq!(rx.iter().next(), None, "stays ended");
    assert_eq!(rx.recv(), Err(RecvError));
}

#[test]
fn iter_ends_at_close_after_the_accepted_payloads() {
    let (tx, mut rx) = channel::<u32>();
    tx.send(1).unwrap();
    let h = tx.push(2).unwrap();
    tx.send(3).unwrap();
    assert!(h.cancel());
    rx.close();
    let mut seen = Vec::new();
    for v in &mut rx {
        seen.push(v);
    }
    assert_eq!(
        seen,
        [1, 3],
        "cancelled skipped; ends at close with a sender alive"
    );
    drop(tx);
}

#[test]
fn into_iter_owns_the_receiver_and_drops_the_rest() {
    let drops = Drops::default();
    let (tx, rx) = channel::<Tracked>();
    for i in 0..4 {
        tx.send(drops.item(i)).unwrap();
    }
    let mut it = rx.into_iter();
    assert_eq!(it.next().map(|t| t.0), Some(0));
    assert_eq!(drops.get(), 1);
    drop(it); // drops the receiver: closes and drops the three left
    assert_eq!(drops.get(), 4);
    assert!(tx.is_closed());
    assert_eq!(tx.send(drops.item(9)).unwrap_err().0 .0, 9);
    assert_eq!(drops.get(), 5);
    let (tx, rx) = channel::<u32>();
    tx.send(7).unwrap();
    drop(tx);
    let all: Vec<u32> = rx.into_iter().collect();
    assert_eq!(all, [7]);
}

/// A payload whose drop sends another payload into the same queue (re-entry) and, when asked,
/// panics.
struct Reenter {
    tx: Option<super::Sender<Reenter>>,
    drops: Drops,
    panic: bool,
}

impl Drop for Reenter {
    fn drop(&mut self) {
        (self.drops).0.fetch_add(1, Ordering::SeqCst); // SeqCst: test counter.
        if let Some(tx) = self.tx.take() {
            let back = tx.send(Reenter {
                tx: None,
                drops: self.drops.clone(),
                panic: false,
            });
            // The queue is closed by now (the receiver is being dropped): refused, value back
            // (and dropped here, counted).
            assert!(
                back.is_err(),
                "send into a receiver being dropped was accepted"
            );
        }
        if self.panic {
            panic!("payload drop panic (expected by the test)");
        }
    }
}

#[test]
fn into_iter_drop_with_reentering_and_panicking_payloads_drops_all() {
    let drops = Drops::default();
    let (tx, rx) = channel::<Reenter>();
    for i in 0..4 {
        tx.send(Reenter {
            tx: Some(tx.clone()),
            drops: drops.clone(),
            panic: i == 1,
        })
        .unwrap();
    }
    let it = rx.into_iter();
    let r = panic::catch_unwind(AssertUnwindSafe(move || drop(it)));
    assert!(r.is_err(), "the payload's panic propagates");
    // 4 queued payloads + the 4 refused re-entering sends, each dropped exactly once.
    assert_eq!(drops.get(), 8);
    assert!(tx.is_closed());
}

#[test]
fn recv_async_pending_then_ready_then_disconnected() {
    use core::future::Future;
    use core::pin::pin;
    use core::task::{Context, Poll};
    let counter = crate::support::waker::CountingWaker::new();
    let waker = counter.waker();
    let mut cx = Context::from_waker(&waker);
    let (tx, mut rx) = channel::<u32>();
    {
        let mut fut = pin!(rx.recv_async());
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(counter.count(), 0);
        tx.send(1).unwrap();
        assert_eq!(counter.count(), 1, "the send woke the task");
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
    }
    // A future dropped while pending takes nothing.
    assert_eq!(pin!(rx.recv_async()).poll(&mut cx), Poll::Pending);
    tx.send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
    tx.send(3).unwrap();
    drop(tx);
    assert_eq!(pin!(rx.recv_async()).poll(&mut cx), Poll::Ready(Ok(3)));
    assert_eq!(
        pin!(rx.recv_async()).poll(&mut cx),
        Poll::Ready(Err(RecvError))
    );
}

#[cfg(feature = "futures-core")]
#[test]
fn stream_yields_until_disconnect() {
    use core::pin::Pin;
    use core::task::{Context, Poll};
    use futures_core::Stream;
    let counter = crate::support::waker::CountingWaker::new();
    let waker = counter.waker();
    let mut cx = Context::from_waker(&waker);
    let (tx, mut rx) = channel::<u32>();
    assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Pending);
    tx.send(4).unwrap();
    assert_eq!(counter.count(), 1);
    assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(Some(4)));
    assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Pending);
    drop(tx);
    assert_eq!(counter.count(), 2, "the disconnect woke the task");
    assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(None));
}
