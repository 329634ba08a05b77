//! loom models of the queue's atomic protocols. Without `--cfg loopkit_loom` each runs once as an
//! ordinary test (and under Miri).
//!
//! Run: `RUSTFLAGS="--cfg loopkit_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib
//! --target-dir target/loom queue::loom_models`. What each model catches (the ordering, fence or
//! check that was weakened to see it fail) is recorded in [`docs/queue.md`].
//!
//! [`docs/queue.md`]: crate::docs::queue

use crate::loom::{model, thread, Arc, AtomicUsize, Ordering};

use super::{channel, HandleState, SendError};

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
                        tx.push_detached((p, seq)).unwrap();
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
        tx.push_detached(Tracked {
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
                thread::spawn(move || match tx.push_detached(Tracked { id, drops }) {
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
        tx.push_detached(Tracked {
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
