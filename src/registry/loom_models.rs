//! Loom models of the registry's atomic protocols. Without `--cfg loopkit_loom` each runs once as
//! an ordinary test (and under Miri).
//!
//! Run: `ci/loom.sh registry::loom_models` (`LOOM_MAX_PREEMPTIONS=3`). Each model was shown to
//! fail with one ordering/fence/check weakened; [`docs/registry.md`] ("Loom models") records
//! what.
//!
//! Models of publication spawn their reader before the writer allocates or registers anything,
//! so that nothing the reader touches is ordered before it by the spawn itself.
//!
//! [`docs/registry.md`]: crate::docs::registry
//!
//! The models drive the internal API with an explicit shard per owner thread (the thread-local
//! lookup is not part of any protocol), and end by checking the holder-side invariants.

use core::ptr::NonNull;

use super::shard::Shard;
use super::{Inner, Task};
use crate::loom::{model, thread, Arc, Ordering, UnsafeCell};

/// A shard pointer that may cross threads (each model says which thread is its holder).
#[derive(Clone, Copy)]
struct ShardPtr(NonNull<Shard<Val>>);
// SAFETY: the models respect the holder discipline documented on each use.
unsafe impl Send for ShardPtr {}
// SAFETY: as above.
unsafe impl Sync for ShardPtr {}

impl ShardPtr {
    fn get(&self) -> &Shard<Val> {
        // SAFETY: the registry (`Inner`) each model keeps alive holds a reference on the shard.
        unsafe { self.0.as_ref() }
    }
}

/// A task value that records its own drop in a cell, so a read after drop is a loom race.
struct Val {
    id: u32,
    alive: UnsafeCell<bool>,
}

impl Val {
    fn new(id: u32) -> Self {
        Val {
            id,
            alive: UnsafeCell::new(true),
        }
    }

    fn check(&self) -> u32 {
        // SAFETY: a plain read; loom reports it if it races with the write in `drop`.
        self.alive
            .with(|a| assert!(unsafe { *a }, "registry: snapshot returned a dropped task"));
        self.id
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        // SAFETY: `&mut self`; loom checks it against every unordered read in `check`.
        self.alive.with_mut(|a| unsafe { *a = false });
    }
}

// SAFETY: `alive` is written only in `drop` (exclusive) and read through live handles.
unsafe impl Sync for Val {}

fn setup() -> (Arc<Inner<Val>>, ShardPtr) {
    let inner = Arc::new(Inner::new());
    let shard = ShardPtr(inner.new_shard());
    (inner, shard)
}

/// The owner's checks at the end of a model: queued work processed, invariants hold.
fn owner_finish(shard: ShardPtr) -> usize {
    // SAFETY: called on the owner thread after every other thread joined.
    unsafe {
        shard.get().drain();
        shard.get().assert_valid()
    }
}

/// Owner unregister vs foreign unregister of the same task: exactly one wins, and the task ends
/// unlinked.
#[test]
fn owner_vs_foreign_unregister() {
    model(|| {
        let (inner, shard) = setup();
        let t = Task::new(Val::new(1));
        // SAFETY: this thread owns `shard`.
        unsafe { inner.register_in(shard.0, &t) }.unwrap();
        let (i2, t2) = (inner.clone(), t.clone());
        // SAFETY: `None`: the spawned thread owns no shard.
        let foreign = thread::spawn(move || unsafe { i2.unregister_in(None, &t2) });
        // SAFETY: this thread owns `shard`.
        let mine = unsafe { inner.unregister_in(Some(shard.get()), &t) };
        let theirs = foreign.join().unwrap();
        assert!(
            mine ^ theirs,
            "exactly one unregister must win (owner {mine}, foreign {theirs})"
        );
        assert_eq!(owner_finish(shard), 0, "task still linked");
        assert!(!t.is_registered());
    });
}

/// Foreign unregisters vs the owner registering and draining: a foreign `true` is always
/// processed (the task ends unlinked), a foreign `false` leaves it registered.
#[test]
fn foreign_unregister_vs_owner_register_and_drain() {
    model(|| {
        let (inner, shard) = setup();
        let a = Task::new(Val::new(1));
        let b = Task::new(Val::new(2));
        // SAFETY: this thread owns `shard`.
        unsafe { inner.register_in(shard.0, &a) }.unwrap();
        let (i2, a2, b2) = (inner.clone(), a.clone(), b.clone());
        let foreign = thread::spawn(move || {
            // SAFETY: `None`: no shard here.
            unsafe { (i2.unregister_in(None, &a2), i2.unregister_in(None, &b2)) }
        });
        // SAFETY: this thread owns `shard` (the register drains first if work is queued).
        unsafe { inner.register_in(shard.0, &b) }.unwrap();
        // SAFETY: owner.
        unsafe { shard.get().drain() };
        let (ra, rb) = foreign.join().unwrap();
        assert!(ra, "`a` was registered before the foreign thread started");
        let linked = owner_finish(shard);
        assert_eq!(
            linked,
            if rb { 0 } else { 1 },
            "foreign result {rb} vs linked {linked}"
        );
        assert_eq!(b.is_registered(), !rb);
    });
}

/// Thread exit (orphan handover) vs a foreign unregister: the request is never stranded; after
/// both, the orphaned shard has nothing queued and nothing linked.
#[test]
fn thread_exit_vs_foreign_unregister() {
    model(|| {
        let (inner, shard) = setup();
        let t = Task::new(Val::new(1));
        // SAFETY: this thread owns `shard`.
        unsafe { inner.register_in(shard.0, &t) }.unwrap();
        let (i2, t2) = (inner.clone(), t.clone());
        // SAFETY: `None`: no shard here.
        let foreign = thread::spawn(move || unsafe { i2.unregister_in(None, &t2) });
        // SAFETY: the owner exits: called once, never the owner again.
        unsafe { shard.get().orphan() };
        assert!(foreign.join().unwrap(), "the task was registered");
        // Everyone is gone: the lock must be free and the shard fully drained.
        assert!(shard.get().try_lock(), "drain lock left held");
        assert!(
            !shard.get().has_remote(),
            "a foreign unregister was stranded"
        );
        // SAFETY: we hold the lock.
        let linked = unsafe { shard.get().linked_len() };
        assert_eq!(linked, 0, "task still linked in the orphan");
        shard.get().unlock_for_test();
    });
}

/// Snapshot vs the owner unregistering and dropping the task (and freeing it): the snapshot
/// never touches freed memory and never returns a dropped task.
#[test]
fn snapshot_vs_unregister_and_drop() {
    model(|| {
        let (inner, shard) = setup();
        let t = Task::new(Val::new(7));
        // SAFETY: this thread owns `shard`.
        unsafe { inner.register_in(shard.0, &t) }.unwrap();
        let i2 = inner.clone();
        let reader = thread::spawn(move || {
            let snap = i2.snapshot();
            assert!(snap.len() <= 1);
            snap.iter().map(|t| t.check()).sum::<u32>()
        });
        // SAFETY: this thread owns `shard`.
        assert!(unsafe { inner.unregister_in(Some(shard.get()), &t) });
        drop(t); // last handle unless the snapshot holds one
                 // SAFETY: owner: retire and try to free.
        unsafe { shard.get().drain() };
        let seen = reader.join().unwrap();
        assert!(seen == 0 || seen == 7);
        assert_eq!(owner_finish(shard), 0);
    });
}

/// The last handle dropped on either thread while a foreign unregister is being drained: the
/// DEAD bit is never lost (the node is retired and freed exactly once), the task ends unlinked.
#[test]
fn last_drop_vs_drain() {
    model(|| {
        let (inner, shard) = setup();
        let t = Task::new(Val::new(1));
        // SAFETY: this thread owns `shard`.
        unsafe { inner.register_in(shard.0, &t) }.unwrap();
        let (i2, t2) = (inner.clone(), t.clone());
        let foreign = thread::spawn(move || {
            // SAFETY: `None`: no shard here.
            assert!(unsafe { i2.unregister_in(None, &t2) });
            drop(t2); // maybe the last handle
        });
        drop(t); // maybe the last handle
                 // SAFETY: owner.
        unsafe { shard.get().drain() };
        foreign.join().unwrap();
        assert_eq!(owner_finish(shard), 0);
        // Relaxed: every other thread joined.
        let freed = shard.get().freed.load(Ordering::Relaxed);
        assert_eq!(freed, 1, "the dead node was not freed exactly once");
    });
}

/// Two threads unregister tasks of an orphaned shard at once: each pushes and tries the drain
/// lock; whoever loses the lock relies on the holder's re-check. Nothing is stranded.
#[test]
fn two_helpers_on_orphan() {
    model(|| {
        let (inner, shard) = setup();
        let a = Task::new(Val::new(1));
        let b = Task::new(Val::new(2));
        // SAFETY: this thread owns `shard`.
        unsafe {
            inner.register_in(shard.0, &a).unwrap();
            inner.register_in(shard.0, &b).unwrap();
            // The owner exits before the others start.
            shard.get().orphan();
        }
        let spawn = |t: &Task<Val>| {
            let (i, t) = (inner.clone(), t.clone());
            // SAFETY: `None`: no shard here.
            thread::spawn(move || assert!(unsafe { i.unregister_in(None, &t) }))
        };
        let (ha, hb) = (spawn(&a), spawn(&b));
        ha.join().unwrap();
        hb.join().unwrap();
        assert!(shard.get().try_lock(), "drain lock left held");
        assert!(
            !shard.get().has_remote(),
            "an unregister was stranded on the orphan"
        );
        // SAFETY: we hold the lock.
        assert_eq!(unsafe { shard.get().linked_len() }, 0);
        shard.get().unlock_for_test();
    });
}

/// Snapshot concurrent with the first registrations in a registry: the shard is created and
/// published, its first block is published, and the third register grows a second block, all
/// after the reader thread started. The snapshot may see any prefix, never a task twice, and
/// never touches anything unpublished (loom reports a read of memory whose initialisation does
/// not happen-before it).
#[test]
fn snapshot_vs_register_grow_and_new_shard() {
    model(|| {
        let inner = Arc::new(Inner::<Val>::new());
        let i2 = inner.clone();
        let reader = thread::spawn(move || {
            let snap = i2.snapshot();
            snap.iter().map(|t| t.check()).collect::<Vec<u32>>()
        });
        let shard = ShardPtr(inner.new_shard());
        // Each task is allocated just before its register, so for the second one (in the slot
        // after the first's, in an already published block) the slot store is its only
        // publication.
        let tasks: Vec<Task<Val>> = (1..=3)
            .map(|i| {
                let t = Task::new(Val::new(i));
                // SAFETY: this thread owns `shard`.
                unsafe { inner.register_in(shard.0, &t) }.unwrap();
                t
            })
            .collect();
        let mut seen = reader.join().unwrap();
        let n = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), n, "a task returned twice");
        assert!(seen.iter().all(|id| (1..=3).contains(id)));
        assert_eq!(owner_finish(shard), 3);
        assert_eq!(
            inner.snapshot().len(),
            3,
            "every register is visible once joined"
        );
        drop(tasks);
    });
}

/// `current_of` (pinned) on another thread against the owner setting a task current, dropping
/// its last handle and retiring and freeing it: the reader gets the task or nothing, never a
/// task it cannot see initialised, never freed memory.
#[test]
fn current_of_vs_set_current_and_free() {
    model(|| {
        let (inner, shard) = setup();
        let reader = thread::spawn(move || Inner::current_in(shard.get()).map(|t| t.check()));
        let t = Task::new(Val::new(5));
        // SAFETY: this thread owns `shard`, which `new_shard` returned.
        unsafe { Inner::set_current_in(shard.0, Some(&t)) }.unwrap();
        drop(t); // the last handle unless the reader holds one
                 // SAFETY: owner: retire (clears `current`) and try to free, twice (two epoch steps).
        unsafe {
            shard.get().drain();
            shard.get().drain();
        }
        let seen = reader.join().unwrap();
        assert!(seen.is_none() || seen == Some(5));
        assert_eq!(owner_finish(shard), 0);
        // Relaxed: every other thread joined.
        assert_eq!(shard.get().freed.load(Ordering::Relaxed), 1, "freed once");
        assert!(Inner::current_in(shard.get()).is_none());
        drop(inner);
    });
}

/// A shard with `a` and `b` registered and then unregistered through the foreign path (queued on
/// `remote`, not drained), and `c` homed there as the current task (no slot; its death pushes a
/// free request).
fn pending_two(inner: &Inner<Val>, shard: ShardPtr) -> (Task<Val>, Task<Val>, Task<Val>) {
    let (a, b) = (Task::new(Val::new(1)), Task::new(Val::new(2)));
    let c = Task::new(Val::new(3));
    // SAFETY: this thread owns `shard` (from `new_shard`); `None`: the foreign path.
    unsafe {
        inner.register_in(shard.0, &a).unwrap();
        inner.register_in(shard.0, &b).unwrap();
        Inner::set_current_in(shard.0, Some(&c)).unwrap();
        assert!(inner.unregister_in(None, &a) && inner.unregister_in(None, &b));
    }
    (a, b, c)
}

/// After every thread joined: the orphan's lock is free, nothing is queued or linked; then the
/// last handles of `rest` are dropped here and every node has been freed exactly once.
fn orphan_finish(shard: ShardPtr, rest: Vec<Task<Val>>, nodes: usize) {
    assert!(shard.get().try_lock(), "drain lock left held");
    assert!(
        !shard.get().has_remote(),
        "a request was stranded on the orphan"
    );
    // SAFETY: we hold the lock.
    let linked = unsafe { shard.get().linked_len() };
    assert_eq!(linked, 0, "a task still linked");
    shard.get().unlock_for_test();
    drop(rest); // each last drop helps the orphan: retire and free
                // Relaxed: every other thread joined.
    assert_eq!(
        shard.get().freed.load(Ordering::Relaxed),
        nodes,
        "each node freed once"
    );
}

/// Thread exit with two foreign unregisters still queued, concurrent with a snapshot: the
/// snapshot never returns the unregistered tasks (their unregisters finished before it began),
/// nothing is stranded.
#[test]
fn exit_with_pending_unregisters_vs_snapshot() {
    model(|| {
        let (inner, shard) = setup();
        let (a, b, c) = pending_two(&inner, shard);
        let i2 = inner.clone();
        let reader = thread::spawn(move || i2.snapshot().len());
        // SAFETY: the owner exits: called once, never the owner again.
        unsafe { shard.get().orphan() };
        assert_eq!(
            reader.join().unwrap(),
            0,
            "snapshot returned an unregistered task"
        );
        orphan_finish(shard, vec![a, b, c], 3);
    });
}

/// Thread exit with two foreign unregisters still queued, concurrent with the last handle of a
/// third task dropped on another thread (`die` -> `push_remote` -> `help` once it sees the
/// orphan): nothing is stranded, every node is freed exactly once.
#[test]
fn exit_with_pending_unregisters_vs_last_drop() {
    model(|| {
        let (inner, shard) = setup();
        let (a, b, c) = pending_two(&inner, shard);
        let dropper = thread::spawn(move || drop(c));
        // SAFETY: the owner exits: called once, never the owner again.
        unsafe { shard.get().orphan() };
        dropper.join().unwrap();
        orphan_finish(shard, vec![a, b], 3);
    });
}

/// Models with three threads, run at a lower preemption bound (`ci/loom.sh`).
mod wide {
    use super::*;

    /// Both of the above at once: thread exit with two foreign unregisters queued, a snapshot,
    /// and the last drop of a third task homed on the exiting thread.
    #[test]
    fn exit_with_pending_unregisters_vs_snapshot_and_last_drop() {
        model(|| {
            let (inner, shard) = setup();
            let (a, b, c) = pending_two(&inner, shard);
            let i2 = inner.clone();
            let reader = thread::spawn(move || i2.snapshot().len());
            let dropper = thread::spawn(move || drop(c));
            // SAFETY: the owner exits: called once, never the owner again.
            unsafe { shard.get().orphan() };
            assert_eq!(
                reader.join().unwrap(),
                0,
                "snapshot returned an unregistered task"
            );
            dropper.join().unwrap();
            orphan_finish(shard, vec![a, b], 3);
        });
    }
}

/// The registry's last count dropped (releasing its reference on an orphaned shard) while
/// another thread drops the last handle of a task homed there (`die` pushes, helps drain, then
/// releases the node's reference): whoever releases last frees the shard, after the other's
/// accesses to it (loom reports the holder-only state touched by both if they are unordered).
#[test]
fn registry_drop_vs_last_task_drop() {
    model(|| {
        let (inner, shard) = setup();
        let t = Task::new(Val::new(1));
        // SAFETY: this thread owns `shard`; it exits right after.
        unsafe {
            inner.register_in(shard.0, &t).unwrap();
            shard.get().orphan();
        }
        let dropper = thread::spawn(move || drop(t));
        drop(inner); // the registry's reference on the shard
        dropper.join().unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// A registry's last handle against the threads that used it (the teardown in `Inner`'s drop and
// the thread-exit hook in `local.rs`). These models drive the public API: the thread-local entry
// and its exit hook are the protocol here. Shards and registry headers carry a loom `Track`, so
// one that is never freed fails the model ("Allocation leaked"). loom's `join` returns when the
// thread's closure does, before its thread-local destructors (the exit hook) run, so a check
// after `join` may not assume the hook has run.

mod teardown {
    use super::super::node::Node;
    use super::super::remote::ORPHAN;
    use super::super::Registry;
    use super::*;

    /// The `owner` word of `t`'s home shard (`t`'s node keeps the shard alive).
    fn home_owner(t: &Task<Val>) -> usize {
        // SAFETY: our handle keeps the node alive.
        // Relaxed: the caller knows the hand-over happened-before (see each model).
        let home = unsafe { Node::home(t.ptr) }.load(Ordering::Relaxed);
        // SAFETY: the node's reference on its home keeps the shard alive.
        // Relaxed: as above.
        unsafe { &*home }.owner.load(Ordering::Relaxed)
    }

    /// A thread registers a task, drops its handle and exits (its entry's exit hook upgrades,
    /// or finds the registry gone) while this thread drops the last handle: the exiting
    /// thread's shard is handed over once, by the hook or by the teardown, after every use of it
    /// by its owner (loom reports the holder-only state touched by both otherwise); the registry
    /// header is freed once, after every other use of it; the shard and the header are freed
    /// (the task, which outlives both, frees the shard).
    #[test]
    fn last_drop_vs_thread_exit() {
        model(|| {
            let reg = Registry::new();
            let r2 = reg.clone();
            let th = thread::spawn(move || {
                let t = Task::new(Val::new(1));
                r2.register(&t).unwrap();
                drop(r2);
                t // outlives the registry and the thread; the exit hook runs after this
            });
            drop(reg);
            let t = th.join().unwrap();
            assert!(t.is_registered(), "nobody unregistered the task");
            assert_eq!(t.check(), 1);
            drop(t); // frees the node and the shard, now or in the exit hook
        });
    }

    /// The last handle dropped on either thread: the teardown takes over the shard of this
    /// thread, which lives on, after this thread's last use of it (a register after the spawn,
    /// ordered before a teardown on the other thread only by this thread's handle drop), drains
    /// the other thread's foreign unregister queued there, and hands it over; a task homed there
    /// dropped afterwards is freed at once (its drop helps drain the orphan) while another keeps
    /// the shard alive. The other thread has no shard, hence no exit hook that could delay the
    /// teardown past its `join`.
    #[test]
    fn teardown_takes_over_a_live_threads_shard() {
        model(|| {
            let reg = Registry::new();
            let m = Task::new(Val::new(1));
            reg.register(&m).unwrap();
            let (r2, m1) = (reg.clone(), m.clone());
            let th = thread::spawn(move || {
                assert!(r2.unregister(&m1), "the foreign unregister lost");
                drop(r2);
                drop(m1);
            });
            let m2 = Task::new(Val::new(2));
            reg.register(&m2).unwrap();
            drop(reg);
            th.join().unwrap();
            assert_eq!(
                home_owner(&m2),
                ORPHAN,
                "the live thread's shard was not handed over"
            );
            assert!(!m.is_registered() && m2.is_registered());
            // SAFETY: `m2` keeps the node, and its reference the shard, alive.
            // Relaxed: `home` was set by this thread.
            let home = unsafe { &*Node::home(m2.ptr).load(Ordering::Relaxed) };
            drop(m);
            // Relaxed: a test counter, written by this thread's help.
            assert_eq!(
                home.freed.load(Ordering::Relaxed),
                1,
                "a dead task was not freed"
            );
            assert_eq!(m2.check(), 2);
            drop(m2);
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Re-registration after a drained foreign unregister, the first claim published through `home`,
// and the public API (thread-local lookup, `current`, thread exit, two shards).

/// A task queued through the foreign path; a spawned thread retries the foreign unregister
/// while the owner registers the task again (its register drains: reads `rnext`, REMOTE ->
/// IDLE, then stores REGISTERED). The retry's second push writes `rnext` again: that write must
/// come after the drain's read, ordered only by the REGISTERED store and the foreign CAS.
#[test]
fn reregister_vs_foreign_unregister_retry() {
    model(|| {
        let (inner, shard) = setup();
        let t = Task::new(Val::new(1));
        // SAFETY: this thread owns `shard`; `None`: the foreign path, from this thread.
        unsafe {
            inner.register_in(shard.0, &t).unwrap();
            assert!(inner.unregister_in(None, &t));
        }
        let (i2, t2) = (inner.clone(), t.clone());
        let foreign = thread::spawn(move || {
            // SAFETY: `None`: no shard here.
            while !unsafe { i2.unregister_in(None, &t2) } {
                thread::yield_now();
            }
        });
        // SAFETY: this thread owns `shard` (the register drains the queued request first).
        unsafe { inner.register_in(shard.0, &t) }.unwrap();
        foreign.join().unwrap();
        assert_eq!(owner_finish(shard), 0, "the second unregister was lost");
        assert!(!t.is_registered());
    });
}

/// A handle cloned to another thread before the task's first registration (before its shard
/// even exists): the foreign unregister finds `home` set or not; if set, the shard it reaches
/// through it is initialised (loom checks the read of the shard's memory), and a `true` is
/// processed by the owner.
#[test]
fn foreign_unregister_of_a_task_cloned_before_its_shard() {
    model(|| {
        let inner = Arc::new(Inner::<Val>::new());
        let t = Task::new(Val::new(1));
        let (i2, t2) = (inner.clone(), t.clone());
        // SAFETY: `None`: no shard here.
        let foreign = thread::spawn(move || unsafe { i2.unregister_in(None, &t2) });
        let shard = ShardPtr(inner.new_shard());
        // SAFETY: this thread owns `shard`, which `new_shard` returned.
        unsafe { inner.register_in(shard.0, &t) }.unwrap();
        let won = foreign.join().unwrap();
        assert_eq!(owner_finish(shard), usize::from(!won));
        assert_eq!(t.is_registered(), !won);
    });
}

/// The public API on two threads: a worker registers through the thread-local lookup (creating
/// its shard while the main thread creates its own through `set_current`), sets and reads its
/// current task, and exits (the thread-local destructor orphans its shard); the main thread
/// reads its own current task, snapshots, then unregisters the worker's task on the orphan.
/// Both shards are published, the hand-over happens, nothing is stranded. (Only one task is ever
/// registered: a snapshot sorts its result by address, which varies between loom iterations.)
#[test]
fn public_api_two_shards_and_thread_exit() {
    use super::Registry;
    model(|| {
        let reg = Registry::<Val>::new();
        let r2 = reg.clone();
        let worker = thread::spawn(move || {
            let a = Task::new(Val::new(2));
            r2.register(&a).unwrap();
            r2.set_current(Some(&a)).unwrap();
            let cur = r2.current().expect("the current task");
            assert!(Task::ptr_eq(&cur, &a));
            a
        });
        let t = Task::new(Val::new(1));
        reg.set_current(Some(&t)).unwrap();
        let cur = reg.current().expect("this thread's current task");
        assert!(Task::ptr_eq(&cur, &t), "another thread's current task");
        drop(cur);
        assert!(reg.snapshot().iter().all(|x| x.check() == 2));
        let a = worker.join().unwrap();
        assert_eq!(reg.snapshot().len(), 1, "the worker's task is visible");
        assert!(reg.unregister(&a), "the orphan's task was registered");
        let mine = reg.mine(false).unwrap().expect("this thread's shard");
        let mut shards = 0;
        for s in reg.inner().shards() {
            shards += 1;
            if core::ptr::eq(mine, s) {
                continue;
            }
            // loom runs a thread's thread-local destructors after it has notified its joiner,
            // so the hand-over may still be running: wait until the shard is an orphan with
            // nothing queued (a lost hand-over or a stranded request spins until loom's branch
            // limit fails the model).
            // Acquire: pairs with the Release in `unlock`.
            while s.owner.load(Ordering::Acquire) != super::remote::ORPHAN || s.has_remote() {
                thread::yield_now();
            }
        }
        assert_eq!(shards, 2, "both shards are published");
        drop(a);
        assert!(reg.snapshot().is_empty());
        reg.set_current(None).unwrap();
        assert!(reg.current().is_none());
    });
}
