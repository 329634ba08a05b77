//! loom models of the queue's atomic protocols. Without `--cfg loopkit_loom` each runs once as an
//! ordinary test (and under Miri).
//!
//! Run: `RUSTFLAGS="--cfg loopkit_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib
//! --target-dir target/loom queue::loom_models`. What each model catches (the ordering, fence or
//! check that was weakened to see it fail) is recorded in [`docs/queue.md`].
//!
//! [`docs/queue.md`]: crate::docs::queue

use core::task::{Context, Poll};

use crate::loom::{model, thread, Arc, AtomicUsize, Ordering, UnsafeCell};

use super::atomic_waker::AtomicWaker;
use super::{channel, HandleState, SendError, TryRecvError};

/// A payload that counts its drops (loom-tracked counter).
struct Tracked {
    id: usize,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        // Relaxed: a counter read after `join`, which orders it.
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

/// Two producers push while the consumer drains and parks whenever it finds nothing: it must be
/// woken for every push (a lost wakeup deadlocks the model), see each producer's items in order,
/// and read every payload after its initialisation (loom checks the `UnsafeCell` accesses).
#[test]
fn two_producers_parking_consumer() {
    // Producer 0 pushes two items (to check its order), producer 1 one (keeps the model small).
    const COUNTS: [usize; 2] = [2, 1];
    const TOTAL: usize = 3;
    model(|| {
        let (tx, mut rx) = channel::<(usize, usize)>();
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || {
                    for seq in 0..COUNTS[p] {
                        tx.send((p, seq)).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = [0; 2];
        let mut seen = 0;
        while seen < TOTAL {
            seen += rx.drain(|(p, seq)| {
                assert_eq!(seq, next[p], "per-producer FIFO");
                next[p] += 1;
            });
            if seen < TOTAL {
                rx.park();
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        assert!(rx.is_empty());
    });
}

/// A cancel on another thread races the consumer's drain: exactly one of them wins, the payload
/// is dropped exactly once, and the node is freed after both are done with it.
#[test]
fn cancel_vs_run() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = channel::<Tracked>();
        let h = tx
            .push(Tracked {
                id: 1,
                drops: drops.clone(),
            })
            .unwrap();
        // A second item, so the drain passes the first node (and drops the queue's reference
        // to it) while the canceller may still hold its handle.
        tx.send(Tracked {
            id: 2,
            drops: drops.clone(),
        })
        .unwrap();
        let canceller = thread::spawn(move || {
            let won = h.cancel();
            assert_eq!(h.is_cancelled(), won);
            won
        });
        let r = ran.clone();
        rx.drain(|t| {
            if t.id == 1 {
                // Relaxed: read after `join`.
                r.fetch_add(1, Ordering::Relaxed);
            }
        });
        drop(rx);
        let cancelled = canceller.join().unwrap();
        // Relaxed: both counters were written before `join` (or on this thread).
        let ran = ran.load(Ordering::Relaxed);
        assert_eq!(ran + usize::from(cancelled), 1, "ran + prevented = pushed");
        assert_eq!(
            drops.load(Ordering::Relaxed), // Relaxed: written before the joins above.
            2,
            "each payload dropped exactly once"
        );
        drop(tx);
    });
}

/// `close` races two pushes: each push is refused with its payload back, or accepted and
/// counted by `close`, and then run by the drain exactly once.
#[test]
fn close_vs_push() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = channel::<Tracked>();
        let producers: Vec<_> = (0..2)
            .map(|id| {
                let tx = tx.clone();
                let drops = drops.clone();
                thread::spawn(move || match tx.send(Tracked { id, drops }) {
                    Ok(()) => true,
                    Err(SendError(back)) => {
                        assert_eq!(back.id, id, "the refused payload comes back intact");
                        false
                    }
                })
            })
            .collect();
        drop(tx);
        let pending = rx.close();
        let ran = rx.drain(|_| ());
        assert_eq!(
            ran, pending,
            "close counted exactly what the drain then ran"
        );
        let accepted = producers
            .into_iter()
            .map(|p| usize::from(p.join().unwrap()))
            .sum::<usize>();
        assert_eq!(
            accepted, pending,
            "every accepted push was counted by close"
        );
        drop(rx);
        // Relaxed: read after the joins.
        assert_eq!(
            drops.load(Ordering::Relaxed), // Relaxed: written before the joins above.
            2,
            "each payload dropped exactly once"
        );
    });
}

/// The last reference to a node is dropped by either the handle (on another thread) or the
/// drain: whichever is last frees the node, after every access of the other.
#[test]
fn drop_last_handle_vs_drain() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = channel::<Tracked>();
        let h = tx
            .push(Tracked {
                id: 7,
                drops: drops.clone(),
            })
            .unwrap();
        // A second item, so the drain passes the first node and drops its reference to it.
        tx.send(Tracked {
            id: 8,
            drops: drops.clone(),
        })
        .unwrap();
        let holder = thread::spawn(move || {
            let s = h.state();
            assert!(
                s == HandleState::Pending || s == HandleState::Running || s == HandleState::Done
            );
            drop(h);
        });
        assert_eq!(rx.drain(|t| assert!(t.id == 7 || t.id == 8)), 2);
        drop(rx);
        holder.join().unwrap();
        // Relaxed: read after `join`.
        assert_eq!(drops.load(Ordering::Relaxed), 2);
        drop(tx);
    });
}

/// The last sender's drop races the consumer's park: the consumer must end in `Disconnected`
/// after receiving the one item, never sleep on (a lost disconnect deadlocks the model).
#[test]
fn last_sender_drop_vs_park() {
    model(|| {
        let (tx, mut rx) = channel::<usize>();
        let tx2 = tx.clone();
        let a = thread::spawn(move || {
            tx.send(1).unwrap();
        });
        let b = thread::spawn(move || drop(tx2));
        let mut got = 0;
        loop {
            match rx.try_recv() {
                Ok(v) => got += v,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => rx.park(),
            }
        }
        assert_eq!(got, 1, "the item pushed before the disconnect was received");
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// A cell the consumer's callback writes and a handle holder reads once the handle says
/// `Done`: loom checks that the read happens-after the write.
struct Effect(UnsafeCell<usize>);

// SAFETY: accesses are ordered by the queue's state word (that ordering is what the model checks).
unsafe impl Sync for Effect {}
// SAFETY: as above.
unsafe impl Send for Effect {}

/// A handle seen in state `Done` shows the callback's effects: both for a node the consumer
/// passes (its reference dropped with the `RUNNING -> DONE` step) and for the last node (kept as
/// the dummy, `DONE` set on its own).
#[test]
fn done_shows_the_callbacks_effects() {
    model(|| {
        let effects = Arc::new([Effect(UnsafeCell::new(0)), Effect(UnsafeCell::new(0))]);
        let (tx, mut rx) = channel::<usize>();
        let handles = [tx.push(0).unwrap(), tx.push(1).unwrap()];
        let e = effects.clone();
        let observer = thread::spawn(move || {
            for (i, h) in handles.iter().enumerate() {
                while h.state() != HandleState::Done {
                    thread::yield_now();
                }
                // SAFETY: `Done` (Acquire) was seen after the callback's write (the model checks
                // this ordering).
                let v = e[i].0.with(|p| unsafe { *p });
                assert_eq!(v, i + 1, "the callback's write is visible");
            }
        });
        rx.drain(|i| {
            // SAFETY: only the callback writes, before its handle turns `Done`.
            effects[i].0.with_mut(|p| unsafe { *p = i + 1 });
        });
        observer.join().unwrap();
        drop(tx);
    });
}

/// The handle's last use of the node (here `state()` and its drop) happens-before the
/// consumer frees the node without any RMW, having seen one reference with its claim load.
#[test]
fn handle_use_before_exclusive_free() {
    model(|| {
        let (tx, mut rx) = channel::<usize>();
        let h = tx.push(5).unwrap();
        tx.send(6).unwrap(); // so the drain passes (and frees) the first node
        let holder = thread::spawn(move || {
            let _ = h.state();
            drop(h);
        });
        // Lets the holder run first in some schedules: loom's bounded search does not otherwise
        // reach a drop before the claim.
        thread::yield_now();
        let mut got = Vec::new();
        while got.len() < 2 {
            rx.drain(|v| got.push(v));
        }
        assert_eq!(got, [5, 6]);
        drop(rx);
        holder.join().unwrap();
        drop(tx);
    });
}

/// Three producers, one push each, against a draining consumer: the swap-then-link ring of
/// three inconsistent windows at once; every push is received exactly once, each after its
/// initialisation (loom checks the payload accesses). The consumer spins (yields) instead of
/// parking: the park protocol is the two-producer model's, and with three producers it would
/// not finish at this bound within minutes.
#[test]
fn three_producers_draining_consumer() {
    model(|| {
        let (tx, mut rx) = channel::<usize>();
        let producers: Vec<_> = (0..3)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || tx.send(p).unwrap())
            })
            .collect();
        drop(tx);
        let mut seen = [false; 3];
        let mut n = 0;
        while n < 3 {
            let ran = rx.drain(|p| {
                assert!(!seen[p], "received twice");
                seen[p] = true;
            });
            if ran == 0 {
                thread::yield_now();
            }
            n += ran;
        }
        assert_eq!(seen, [true; 3]);
        for p in producers {
            p.join().unwrap();
        }
    });
}

/// A minimal executor's waker for the models: unparks the consumer thread (loom's park).
struct Unparks(thread::Thread);

impl std::task::Wake for Unparks {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// `poll_recv` from a task races a push and the last sender's drop: the task is woken for the
/// push (or sees it before it registers), then sees the disconnect; a lost task wakeup
/// deadlocks the model.
#[test]
fn poll_recv_vs_push() {
    model(|| {
        let (tx, mut rx) = channel::<usize>();
        let producer = thread::spawn(move || {
            tx.send(3).unwrap();
        });
        let waker = std::task::Waker::from(std::sync::Arc::new(Unparks(thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut got = Vec::new();
        loop {
            match rx.poll_recv(&mut cx) {
                Poll::Ready(Some(v)) => got.push(v),
                Poll::Ready(None) => break,
                Poll::Pending => thread::park(),
            }
        }
        assert_eq!(got, [3]);
        producer.join().unwrap();
    });
}

/// The task-waker slot alone: a registration races a wake; the wake after a completed
/// registration reaches the registered waker, and the slot is never accessed by both at once.
#[test]
fn atomic_waker_register_vs_wake() {
    model(|| {
        let slot = Arc::new(AtomicWaker::new());
        let flag = Arc::new(AtomicUsize::new(0));
        let (s, f) = (slot.clone(), flag.clone());
        let waker_thread = thread::spawn(move || {
            // Release: publishes nothing but the flag; the slot's state word orders the rest.
            f.store(1, Ordering::Release);
            s.wake();
        });
        let waker = std::task::Waker::from(std::sync::Arc::new(Unparks(thread::current())));
        // Register twice (as a task polled twice) so a wake can fall in either registration.
        slot.register(&waker);
        slot.register(&waker);
        // Acquire: pairs with the Release store above.
        while flag.load(Ordering::Acquire) == 0 {
            thread::park();
        }
        waker_thread.join().unwrap();
    });
}

/// Counts the wakes of the `std::task::Waker`s made from it (a loom-tracked counter).
struct CountWakes(AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        // Relaxed: read after `join`.
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A stale wake races the registration; after it, a wake that is ordered after the completed
/// registration runs. Whichever way the race goes, the registered waker is woken at least once:
/// a registration that a wake interrupted must not lose its waker.
#[test]
fn atomic_waker_registration_is_never_lost() {
    model(|| {
        let slot = Arc::new(AtomicWaker::new());
        let s = slot.clone();
        let stale = thread::spawn(move || s.wake());
        let count = std::sync::Arc::new(CountWakes(AtomicUsize::new(0)));
        slot.register(&std::task::Waker::from(count.clone()));
        stale.join().unwrap();
        slot.wake();
        // Relaxed: every wake ran on this thread or before the join.
        assert!(
            count.0.load(Ordering::Relaxed) >= 1,
            "the registered waker was lost"
        );
    });
}

/// The producer keeps its `Sender` until after the join, so only the push itself can wake the
/// consumer (no disconnect comes to the rescue): the consumer blocks through the real park path
/// (`try_recv`, then `park`), and a `prepare_park` that announced a park over a counted push
/// would sleep for ever.
#[test]
fn park_woken_by_a_push_alone() {
    model(|| {
        let (tx, mut rx) = channel::<usize>();
        let producer = thread::spawn(move || {
            tx.send(4).unwrap();
            tx
        });
        let got = loop {
            match rx.try_recv() {
                Ok(v) => break v,
                Err(TryRecvError::Empty) => rx.park(),
                Err(TryRecvError::Disconnected) => panic!("a sender is still alive"),
            }
        };
        assert_eq!(got, 4);
        let tx = producer.join().unwrap();
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

/// One thread wakes the slot twice while the registrant registers once: a registration that a
/// wake interrupts takes the waker back and hands the slot back (`WAITING`), and the second
/// wake's take must come after that hand-back (loom checks the slot accesses).
#[test]
fn atomic_waker_two_wakes_vs_register() {
    model(|| {
        let slot = Arc::new(AtomicWaker::new());
        let s = slot.clone();
        let waker_thread = thread::spawn(move || {
            s.wake();
            s.wake();
        });
        let count = std::sync::Arc::new(CountWakes(AtomicUsize::new(0)));
        slot.register(&std::task::Waker::from(count.clone()));
        waker_thread.join().unwrap();
        slot.wake();
        // Relaxed: every wake ran on this thread or before the join.
        assert!(
            count.0.load(Ordering::Relaxed) >= 1,
            "the registered waker was lost"
        );
    });
}

/// A cell one sender writes before it drops, read by the consumer once it sees the disconnect.
struct Written(UnsafeCell<usize>);

// SAFETY: the write happens-before the read through the sender count and the disconnect (that
// ordering is what the model checks).
unsafe impl Sync for Written {}
// SAFETY: as above.
unsafe impl Send for Written {}

/// Sender A writes a cell and drops; sender B drops; the consumer parks until `Disconnected` and
/// then reads the cell: whichever sender is last, A's write must happen-before the consumer's
/// read, through the senders' count and the disconnect flag.
#[test]
fn disconnect_carries_every_senders_writes() {
    model(|| {
        let cell = Arc::new(Written(UnsafeCell::new(0)));
        let (tx, mut rx) = channel::<usize>();
        let tx2 = tx.clone();
        let c = cell.clone();
        let a = thread::spawn(move || {
            // SAFETY: the only write; the consumer reads after the disconnect (checked by loom).
            c.0.with_mut(|p| unsafe { *p = 9 });
            drop(tx);
        });
        let b = thread::spawn(move || drop(tx2));
        loop {
            match rx.try_recv() {
                Ok(_) => panic!("nothing was pushed"),
                Err(TryRecvError::Empty) => rx.park(),
                Err(TryRecvError::Disconnected) => break,
            }
        }
        // SAFETY: every sender is gone, and A wrote before its drop (the model checks it).
        let v = cell.0.with(|p| unsafe { *p });
        assert_eq!(v, 9, "A's write is visible after the disconnect");
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// The consumer parks (real park path) until a push wakes it, then closes and drains, while the
/// producer cancels its handle and pushes a second payload: every accepted payload is run or
/// prevented exactly once, `close` counted at least what the drain then ran, a refused payload
/// comes back, and each payload is dropped exactly once.
#[test]
fn close_after_park_vs_cancel_and_push() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = channel::<Tracked>();
        let d = drops.clone();
        let producer = thread::spawn(move || {
            let h = tx
                .push(Tracked {
                    id: 1,
                    drops: d.clone(),
                })
                .unwrap();
            let won = h.cancel();
            let accepted = match tx.send(Tracked { id: 2, drops: d }) {
                Ok(()) => true,
                Err(SendError(back)) => {
                    assert_eq!(back.id, 2, "the refused payload comes back intact");
                    false
                }
            };
            (won, accepted, tx)
        });
        while rx.is_empty() {
            rx.park();
        }
        let pending = rx.close();
        let mut ran = 0;
        rx.drain(|t| {
            assert!(t.id == 1 || t.id == 2);
            ran += 1;
        });
        assert!(ran <= pending, "close counted what the drain then ran");
        let (won, accepted, tx) = producer.join().unwrap();
        assert_eq!(
            ran + usize::from(won),
            1 + usize::from(accepted),
            "each accepted payload ran or was prevented, once"
        );
        assert!(
            pending <= 1 + usize::from(accepted),
            "close counts only accepted payloads"
        );
        drop(rx);
        drop(tx);
        // Relaxed: every drop ran on this thread or before the join.
        assert_eq!(
            drops.load(Ordering::Relaxed),
            2,
            "each payload dropped once"
        );
    });
}

/// A timed park races a push (under loom the timeout passes as soon as the park is announced):
/// the announcement is withdrawn (no stale `PARKED`), the item is not lost, and a later untimed
/// park is still woken by a push, the producer's `Sender` staying alive so that only pushes wake.
#[test]
fn park_timeout_vs_push() {
    model(|| {
        let (tx, mut rx) = channel::<usize>();
        let producer = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            tx
        });
        let _ = rx.park_timeout(core::time::Duration::from_millis(1));
        // Relaxed: our own last RMW on `ctl` (the withdrawal) is what this reads or follows.
        let ctl = rx.inner.hot.ctl.load(Ordering::Relaxed);
        assert_eq!(
            ctl & super::inner::PARKED,
            0,
            "a timed-out park left PARKED"
        );
        assert!(!rx.announced, "a timed-out park left its announcement");
        let mut got = Vec::new();
        while got.len() < 2 {
            match rx.recv_timeout(core::time::Duration::from_millis(1)) {
                Ok(v) => got.push(v),
                Err(_) => got.push(rx.recv().unwrap()),
            }
        }
        assert_eq!(got, [1, 2]);
        let tx = producer.join().unwrap();
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}
