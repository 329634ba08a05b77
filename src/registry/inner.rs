//! The shared part of a registry: the list of shards, and the register / unregister / snapshot
//! protocols written against an explicit shard (the public API finds the calling thread's shard
//! through the thread-local map in `local.rs`; the loom models pass shards directly).

use core::ptr::NonNull;

use super::node::{Node, IDLE, REGISTERED, REMOTE};
use super::shard::Shard;
use super::{RegisterError, Task};
use crate::loom::{AtomicPtr, Ordering};

/// The shared part: the list of shards.
pub(crate) struct Inner<T> {
    shards: AtomicPtr<Shard<T>>,
    /// This registry's identity (never reused; see `id.rs`).
    pub(crate) id: u64,
}

impl<T> Inner<T> {
    pub(crate) fn new() -> Self {
        Inner {
            shards: AtomicPtr::new(core::ptr::null_mut()),
            id: super::id::fresh(),
        }
    }

    /// Creates a shard owned by the calling thread and publishes it to snapshots.
    pub(crate) fn new_shard(&self) -> NonNull<Shard<T>> {
        // The pointer that frees the shard one day (`Shard::free`) is this one, from
        // `Box::into_raw`: every `home` and shard-list entry is a copy of it.
        // SAFETY: `Box::into_raw` never returns null.
        let shard = unsafe {
            NonNull::new_unchecked(Box::into_raw(Shard::new(super::id::fresh(), self.id)))
        };
        // Relaxed: the CAS below re-checks.
        let mut head = self.shards.load(Ordering::Relaxed);
        loop {
            // SAFETY: not yet published; we own it.
            // Relaxed: published by the Release CAS below.
            unsafe { shard.as_ref() }
                .next
                .store(head, Ordering::Relaxed);
            // Release: publishes the shard's initialisation; pairs with the Acquire loads in
            // `shards()`.
            match self.shards.compare_exchange_weak(
                head,
                shard.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return shard,
                Err(now) => head = now,
            }
        }
    }

    /// Iterates over every shard ever created (they live as long as `self`).
    pub(crate) fn shards(&self) -> impl Iterator<Item = &Shard<T>> + '_ {
        // Acquire: pairs with the Release CAS in `new_shard`.
        let mut p = self.shards.load(Ordering::Acquire);
        core::iter::from_fn(move || {
            // SAFETY: shards are freed only after `self` releases its reference on them.
            let s = unsafe { NonNull::new(p)?.as_ref() };
            // Acquire: the pointer was published by the Release CAS in `new_shard`.
            p = s.next.load(Ordering::Acquire);
            Some(s)
        })
    }

    /// Owner-thread register of `task` in `shard`.
    ///
    /// # Safety
    /// `shard` is a shard of `self` (the pointer `new_shard` returned) and the calling thread is
    /// its owner.
    pub(crate) unsafe fn register_in(
        &self,
        shard_ptr: NonNull<Shard<T>>,
        task: &Task<T>,
    ) -> Result<(), RegisterError> {
        // SAFETY: owner (caller).
        unsafe { Self::claim(shard_ptr, task)? };
        // SAFETY: the registry's reference keeps the shard alive (caller: a shard of `self`).
        let shard = unsafe { shard_ptr.as_ref() };
        let p = task.ptr;
        // SAFETY: our handle keeps the node alive.
        let state = unsafe { Node::state(p) };
        // Acquire: pairs with the CAS of a foreign unregister (REMOTE) / the drain (IDLE).
        let mut s = state.load(Ordering::Acquire);
        if s == REMOTE {
            // SAFETY: owner.
            unsafe { shard.drain() };
            // Acquire: as above.
            s = state.load(Ordering::Acquire);
        }
        match s {
            IDLE => {}
            REGISTERED => return Err(RegisterError::AlreadyRegistered),
            _ => return Err(RegisterError::Busy),
        }
        // Release: publishes the registration to foreign unregisters (Acquire load / CAS) and,
        // with the slot store in `link`, to snapshots. A plain store: with our handle alive and
        // the node IDLE and homed here, no other thread may change the state (see the table).
        state.store(REGISTERED, Ordering::Release);
        // SAFETY: owner; the node is homed here, REGISTERED, not linked.
        unsafe { shard.link(p) };
        Ok(())
    }

    /// Checks `task` is homed in `shard` (homing it there on first use). Drains first.
    ///
    /// The node keeps a copy of `shard_ptr` as its home, through which the last reference frees
    /// the shard; so it must be the pointer from `new_shard`, never one derived from a `&Shard`.
    ///
    /// # Safety
    /// `shard_ptr` is a live shard as returned by [`Inner::new_shard`], and the calling thread is
    /// its owner.
    pub(crate) unsafe fn claim(
        shard_ptr: NonNull<Shard<T>>,
        task: &Task<T>,
    ) -> Result<(), RegisterError> {
        // SAFETY: live (caller).
        let shard = unsafe { shard_ptr.as_ref() };
        if shard.has_remote() {
            // SAFETY: owner (caller).
            unsafe { shard.drain() };
        }
        let me = shard_ptr.as_ptr();
        // SAFETY: our handle keeps the node alive.
        let home = unsafe { Node::home(task.ptr) };
        // Relaxed: set once; a non-null value we compare with our own address.
        let h = home.load(Ordering::Relaxed);
        if h == me {
            return Ok(());
        }
        if !h.is_null() {
            return Err(RegisterError::WrongThread);
        }
        // AcqRel: first registration; pairs with the Acquire load of `home` in `die`.
        match home.compare_exchange(
            core::ptr::null_mut(),
            me,
            Ordering::AcqRel,
            Ordering::Relaxed,
        ) {
            Ok(_) => {
                shard.acquire_ref();
                Ok(())
            }
            Err(_) => Err(RegisterError::WrongThread),
        }
    }

    /// Unregister of `task`; `mine` is the calling thread's shard in this registry, if any.
    ///
    /// # Safety
    /// If `mine` is given, the calling thread is its owner and it belongs to `self`.
    pub(crate) unsafe fn unregister_in(&self, mine: Option<&Shard<T>>, task: &Task<T>) -> bool {
        let p = task.ptr;
        if let Some(shard) = mine {
            if shard.has_remote() {
                // SAFETY: owner (caller).
                unsafe { shard.drain() };
            }
        }
        // SAFETY: our handle keeps the node alive.
        // Acquire: pairs with the AcqRel CAS that set `home`.
        let Some(home) = NonNull::new(unsafe { Node::home(p) }.load(Ordering::Acquire)) else {
            return false;
        };
        // SAFETY: the node's reference on its home keeps the shard alive while our handle lives.
        let home_ref = unsafe { home.as_ref() };
        // Under loom: a read of the shard's own memory, which the `home` edge must publish.
        home_ref.check_alive();
        if home_ref.registry != self.id {
            return false;
        }
        // SAFETY: our handle keeps the node alive.
        let state = unsafe { Node::state(p) };
        if mine.is_some_and(|m| core::ptr::eq(m, home_ref)) {
            // AcqRel: the single winner among racing unregisters; pairs with the other CASes
            // out of REGISTERED (foreign unregister, last drop).
            if state
                .compare_exchange(REGISTERED, IDLE, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                return false;
            }
            // SAFETY: owner; the node was REGISTERED here, so it is linked here.
            unsafe { home_ref.unlink(p) };
            true
        } else {
            // AcqRel: the single winner among racing unregisters; Release orders it before the
            // push, Acquire pairs with `register`'s Release store.
            if state
                .compare_exchange(REGISTERED, REMOTE, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                return false;
            }
            // SAFETY: our CAS queued the node; our handle's node holds a reference on `home`.
            unsafe { home_ref.push_remote(p) };
            true
        }
    }

    /// The snapshot (see the module docs for its guarantees).
    pub(crate) fn snapshot(&self) -> Vec<Task<T>> {
        let mut out = Vec::new();
        let mut found = Vec::new();
        let mut discard = Vec::new();
        for shard in self.shards() {
            found.clear();
            let pin = shard.epoch.pin();
            shard.mirror.scan(&mut found, &pin);
            for &p in &found {
                // SAFETY: pinned: a node seen in a slot is not freed before we unpin.
                if !unsafe { Node::try_acquire(p) } {
                    continue;
                }
                // SAFETY: we hold a count now.
                let task = unsafe { Task::from_counted(p) };
                // SAFETY: pinned (and counted).
                // Acquire: pairs with the Release store in `register` and the unregister CASes.
                if unsafe { Node::state(p) }.load(Ordering::Acquire) == REGISTERED {
                    out.push(task);
                } else {
                    discard.push(task);
                }
            }
            drop(pin);
            // Dropping a handle may queue work on a shard: do it unpinned.
            discard.clear();
            if shard.orphan_has_work() {
                shard.help();
            }
        }
        out.sort_unstable_by_key(|t| t.ptr);
        out.dedup_by_key(|t| t.ptr);
        out
    }

    /// Sets (or clears) the current task of `shard`: a plain store.
    ///
    /// # Safety
    /// As [`Inner::claim`]: `shard_ptr` is from `new_shard`, and the caller is its owner.
    pub(crate) unsafe fn set_current_in(
        shard_ptr: NonNull<Shard<T>>,
        task: Option<&Task<T>>,
    ) -> Result<(), RegisterError> {
        let p = match task {
            Some(t) => {
                // SAFETY: as this function's contract.
                unsafe { Self::claim(shard_ptr, t)? };
                t.ptr.as_ptr()
            }
            None => core::ptr::null_mut(),
        };
        // SAFETY: live (caller).
        let shard = unsafe { shard_ptr.as_ref() };
        // Release: publishes the node to readers; pairs with the Acquire load in `current_in`.
        shard.current.store(p, Ordering::Release);
        Ok(())
    }

    /// The current task of `shard`, read from any thread.
    pub(crate) fn current_in(shard: &Shard<T>) -> Option<Task<T>> {
        let pin = shard.epoch.pin();
        // Acquire: pairs with the Release store in `set_current`.
        let p = NonNull::new(shard.current.load(Ordering::Acquire));
        // SAFETY: pinned: a node seen in `current` is not freed before we unpin.
        let t = p.filter(|&p| unsafe { Node::try_acquire(p) }).map(|p| {
            // SAFETY: we hold a count.
            unsafe { Task::from_counted(p) }
        });
        drop(pin);
        t
    }

    /// Checks every shard this thread may inspect (its own, and orphans it can lock).
    ///
    /// # Safety
    /// `mine`, if given, is the calling thread's shard of `self`.
    pub(crate) unsafe fn assert_valid_in(&self, mine: Option<&Shard<T>>) -> usize {
        let mut linked = 0;
        for shard in self.shards() {
            if mine.is_some_and(|m| core::ptr::eq(m, shard)) {
                // SAFETY: owner.
                linked += unsafe { shard.assert_valid() };
            }
        }
        linked
    }
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        // Acquire: pairs with the Release CAS in `new_shard`.
        let mut p = self.shards.load(Ordering::Acquire);
        while let Some(s) = NonNull::new(p) {
            // SAFETY: the registry's reference keeps the shard alive until released below.
            // Acquire: as above.
            p = unsafe { s.as_ref() }.next.load(Ordering::Acquire);
            // SAFETY: the registry's reference, given up once.
            unsafe { Shard::release_ref(s) };
        }
    }
}
