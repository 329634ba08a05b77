//! Loom models of the registry's atomic protocols: the four the issue names, plus the last-drop
//! vs drain race and two helpers on an orphan. Without
//! `--cfg loopkit_loom` each runs once as an ordinary test (and under Miri).
//!
//! Run: `RUSTFLAGS="--cfg loopkit_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib
//! --target-dir target/loom registry::loom_models`. Each model was shown to fail with one
//! ordering/fence/check weakened; [`docs/registry.md`] ("Loom models") records what and how.
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
