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
    assert_eq!(rx.try_pop(), None);
    tx.push_detached(11).unwrap();
    assert_eq!(rx.try_pop(), Some(11));
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
    assert_eq!(rx.try_pop().map(|t| t.0), Some(2));
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
    assert_eq!(rx.try_pop(), Some(1));
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
            Op::PushDetached,
            Op::Cancel(5),
            Op::DropHandle(6),
            Op::Drain,
            Op::DrainPanic(3),
            Op::TryPop,
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
        2 => Just(Op::PushDetached),
        3 => (0..16usize).prop_map(Op::Cancel),
        2 => (0..16usize).prop_map(Op::DropHandle),
        2 => Just(Op::Drain),
        1 => (0..4u8).prop_map(Op::DrainPanic),
        2 => Just(Op::TryPop),
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
    assert_eq!(rx.try_pop(), Some(2));
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
