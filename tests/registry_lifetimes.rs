//! Lifetimes users create with the registry, small enough for Miri (`ci/miri.sh` runs this file
//! under stacked and tree borrows): a task that outlives its registry and the thread that
//! registered it, a registry dropped while other threads hold its tasks, a thread that exits
//! first; a registry dropped while the threads that used it live on (its teardown takes over
//! their shards) or exit at the same time; a panicking `T::drop`. (Registry identity after a
//! drop: `registry_identity.rs`.)

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;

use loopkit::registry::{Registry, Task};

/// A value that counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn task_outlives_registry_and_registering_thread() {
    let t = thread::spawn(|| {
        let reg = Registry::new();
        let t = Task::new(1u32);
        reg.register(&t).unwrap();
        t
    })
    .join()
    .unwrap();
    assert!(t.is_registered(), "nobody unregistered it");
    // The last handle frees the node and then the orphaned shard, whose registry is gone.
    drop(t);
}

#[test]
fn task_outlives_registry_on_live_thread() {
    let reg = Registry::new();
    let t = Task::new(String::from("x"));
    reg.register(&t).unwrap();
    let u = t.clone();
    drop(reg);
    // The registry is gone and its teardown handed this thread's shard over; the task's handles
    // still work, and the last one frees the node and the shard.
    drop(t);
    assert_eq!(u.len(), 1);
    drop(u);
}

#[test]
fn registry_dropped_while_other_threads_hold_tasks() {
    let drops = Arc::new(AtomicUsize::new(0));
    let reg = Registry::new();
    let tasks: Vec<Task<Counted>> = (0..3).map(|_| Task::new(Counted(drops.clone()))).collect();
    for t in &tasks {
        reg.register(t).unwrap();
    }
    let go = Arc::new(Barrier::new(3));
    let holders: Vec<_> = tasks
        .iter()
        .take(2)
        .map(|t| {
            let (t, go) = (t.clone(), go.clone());
            thread::spawn(move || {
                go.wait(); // the registry is dropped by now
                drop(t);
            })
        })
        .collect();
    drop(reg);
    drop(tasks);
    go.wait();
    for h in holders {
        h.join().unwrap();
    }
    assert_eq!(drops.load(SeqCst), 3, "every value dropped exactly once");
}

#[test]
fn thread_exits_first_then_registry_then_task() {
    let drops = Arc::new(AtomicUsize::new(0));
    let reg = Registry::new();
    let (r2, d2) = (reg.clone(), drops.clone());
    let (a, b) = thread::spawn(move || {
        let a = Task::new(Counted(d2.clone()));
        let b = Task::new(Counted(d2));
        r2.register(&a).unwrap();
        r2.register(&b).unwrap();
        (a, b)
    })
    .join()
    .unwrap();
    // An orphan: still visible, still unregistrable from here.
    assert_eq!(reg.snapshot().len(), 2);
    assert!(reg.unregister(&a));
    drop(reg);
    drop(a);
    assert!(b.is_registered());
    drop(b);
    assert_eq!(drops.load(SeqCst), 2);
}

/// Counts its drops; panics in `drop` if `panics`.
struct MaybePanic {
    drops: Arc<AtomicUsize>,
    panics: bool,
}

impl Drop for MaybePanic {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        if self.panics {
            panic!("user drop panics");
        }
    }
}

/// A panicking `T::drop` still unregisters the task and frees its node; the panic reaches the
/// thread that dropped the last handle; other tasks are untouched.
#[test]
fn panicking_value_drop_still_unregisters() {
    let drops = Arc::new(AtomicUsize::new(0));
    let task = |panics| {
        Task::new(MaybePanic {
            drops: drops.clone(),
            panics,
        })
    };
    let reg = Registry::new();
    let keep = task(false);
    reg.register(&keep).unwrap();
    let t = task(true);
    reg.register(&t).unwrap();
    assert_eq!(reg.local_len(), 2);
    assert!(
        catch_unwind(AssertUnwindSafe(|| drop(t))).is_err(),
        "the panic propagates"
    );
    assert_eq!(drops.load(SeqCst), 1, "dropped once");
    assert_eq!(reg.local_len(), 1, "the panicking task is unlinked");
    let snap = reg.snapshot();
    assert!(snap.len() == 1 && Task::ptr_eq(&snap[0], &keep));
    drop(snap);
    reg.assert_valid();
    // Same from another thread (the foreign path: the node is queued for its home).
    let t = task(true);
    reg.register(&t).unwrap();
    let r = thread::spawn(move || catch_unwind(AssertUnwindSafe(|| drop(t))).is_err());
    assert!(
        r.join().unwrap(),
        "the panic propagates on the dropping thread"
    );
    assert_eq!(drops.load(SeqCst), 2);
    assert_eq!(reg.local_len(), 1, "the panicking task is unlinked");
    assert!(reg.unregister(&keep));
    drop(keep);
    assert_eq!(drops.load(SeqCst), 3);
    assert_eq!(reg.local_len(), 0);
}

/// The last handle dropped while the thread that used the registry lives on: the teardown takes
/// over that thread's shard (draining a dead task queued there), a task homed there outlives the
/// registry and is dropped later on its thread, and the thread's entry for the dead registry is
/// swept when it goes on to use other registries (each swept entry frees the registry's header).
#[test]
fn registry_dropped_while_its_thread_lives() {
    let drops = Arc::new(AtomicUsize::new(0));
    let reg = Registry::new();
    let (r2, d2) = (reg.clone(), drops.clone());
    let (dropped, wait) = mpsc::channel::<()>();
    let (done, finished) = mpsc::channel::<()>();
    let th = thread::spawn(move || {
        let kept = Task::new(Counted(d2.clone()));
        r2.register(&kept).unwrap();
        let dead = Task::new(Counted(d2.clone()));
        r2.register(&dead).unwrap();
        drop(dead); // queued on this thread's shard for its next registry call: there is none
        drop(r2);
        done.send(()).unwrap();
        wait.recv().unwrap(); // the registry is gone now
        assert!(kept.is_registered(), "nobody unregistered it");
        drop(kept); // frees the node, then the shard
                    // Enough other registries for the map to sweep the dead entry.
        for _ in 0..40 {
            let other = Registry::new();
            other.register(&Task::new(Counted(d2.clone()))).unwrap();
        }
    });
    finished.recv().unwrap();
    drop(reg); // the last handle: the teardown runs here, the other thread still lives
    assert_eq!(drops.load(SeqCst), 1, "the dead task's value dropped");
    dropped.send(()).unwrap();
    th.join().unwrap();
    assert_eq!(drops.load(SeqCst), 42, "every value dropped exactly once");
}

/// The last handle dropped on one thread while the other thread that registered into the
/// registry exits (its exit hook finds the registry alive or gone): no order loses the shard or
/// frees it twice; its task outlives both.
#[test]
fn last_drop_races_thread_exit() {
    let drops = Arc::new(AtomicUsize::new(0));
    for _ in 0..if cfg!(miri) { 4 } else { 100 } {
        let reg = Registry::new();
        let (r2, d2) = (reg.clone(), drops.clone());
        let th = thread::spawn(move || {
            let t = Task::new(Counted(d2));
            r2.register(&t).unwrap();
            drop(r2);
            t
        });
        drop(reg);
        let t = th.join().unwrap();
        assert!(t.is_registered());
        drop(t);
    }
    assert_eq!(
        drops.load(SeqCst),
        if cfg!(miri) { 4 } else { 100 },
        "every value dropped exactly once"
    );
}

/// A task value that holds a handle of its own registry, and may panic in its drop.
struct HoldsRegistry {
    reg: Option<Registry<HoldsRegistry>>,
    drops: Arc<AtomicUsize>,
    panics: bool,
}

impl Drop for HoldsRegistry {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        // The registry's last handle: the teardown runs inside this value's drop, while the
        // task that holds it is dying.
        drop(self.reg.take());
        if self.panics {
            panic!("user drop panics");
        }
    }
}

/// The drop of a task's value drops its registry's last handle (on the task's own thread, and
/// on another thread), with and without a panic after it: the teardown runs while the task is
/// dying, the task is still unlinked and freed, and every value is dropped once.
#[test]
fn value_drop_drops_the_last_registry_handle() {
    let drops = Arc::new(AtomicUsize::new(0));
    for (panics, elsewhere) in [(false, false), (true, false), (false, true), (true, true)] {
        let reg = Registry::new();
        let t = Task::new(HoldsRegistry {
            reg: Some(reg.clone()),
            drops: drops.clone(),
            panics,
        });
        reg.register(&t).unwrap();
        let other = Task::new(HoldsRegistry {
            reg: None,
            drops: drops.clone(),
            panics: false,
        });
        reg.register(&other).unwrap();
        drop(reg); // the task's value now holds the last handle
        let unwound = if elsewhere {
            thread::spawn(move || catch_unwind(AssertUnwindSafe(|| drop(t))).is_err())
                .join()
                .unwrap()
        } else {
            catch_unwind(AssertUnwindSafe(|| drop(t))).is_err()
        };
        assert_eq!(unwound, panics, "the panic propagates, and only then");
        assert!(other.is_registered(), "the other task was unregistered");
        drop(other); // frees the last node, then the shard
    }
    assert_eq!(drops.load(SeqCst), 8, "every value dropped exactly once");
}
