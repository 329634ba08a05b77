//! The shared part of a registry: the list of shards, and the register / unregister / snapshot
//! protocols written against an explicit shard (the public API finds the calling thread's shard
//! through the thread-local map in `local.rs`; the loom models pass shards directly).

use core::mem::ManuallyDrop;
use core::ptr::NonNull;

use super::node::{Node, IDLE, REGISTERED, REMOTE};
use super::remote::OWNED;
use super::shard::Shard;
use super::{RegisterError, Task};
use crate::loom::{fence, AtomicPtr, AtomicUsize, Ordering};

/// The allocation a [`Registry`](super::Registry) handle points to: the shared part and two
/// counts, as `Arc`'s strong and weak counts.
///
/// * `handles` counts the `Registry` handles (and, for the length of its exit hook, a thread that
///   upgraded its entry). When it reaches 0 the shared part is dropped: every shard loses the
///   registry's reference and is freed unless a task homed there still lives.
/// * `refs` is 1 for all handles together plus 1 per thread-local entry naming this registry
///   (`local.rs`). When it reaches 0 the header itself (the two counts and the dropped shared
///   part, a few words) is freed. A thread's entry never touches a shard once `handles` was 0.
pub(crate) struct Header<T> {
    handles: AtomicUsize,
    refs: AtomicUsize,
    /// Dropped (in place) when `handles` reaches 0; never read after that.
    inner: ManuallyDrop<Inner<T>>,
    /// Under loom, every use of the header reads this cell and its free writes it, so a free
    /// that is not ordered after every other use is a loom data race.
    #[cfg(loopkit_loom)]
    poison: crate::loom::UnsafeCell<()>,
    /// Under loom, a header that is never freed fails the model ("Allocation leaked").
    #[cfg(loopkit_loom)]
    _track: loom::alloc::Track<()>,
}

impl<T> Header<T> {
    /// Marks a use of the header (loom only: a read of the poison cell).
    #[inline(always)]
    fn touch(_this: NonNull<Self>) {
        // SAFETY: the caller's count keeps the header allocated; a read of a unit cell.
        #[cfg(loopkit_loom)]
        unsafe { _this.as_ref() }.poison.with(|_| ());
    }
}

impl<T> Header<T> {
    /// A new registry with one handle.
    pub(crate) fn new() -> NonNull<Self> {
        let b = Box::new(Header {
            handles: AtomicUsize::new(1),
            refs: AtomicUsize::new(1),
            inner: ManuallyDrop::new(Inner::new()),
            #[cfg(loopkit_loom)]
            poison: crate::loom::UnsafeCell::new(()),
            #[cfg(loopkit_loom)]
            _track: loom::alloc::Track::new(()),
        });
        // SAFETY: `Box::into_raw` never returns null.
        unsafe { NonNull::new_unchecked(Box::into_raw(b)) }
    }

    /// The shared part.
    ///
    /// # Safety
    /// The caller holds a handle (`handles > 0` for as long as the borrow lives).
    #[inline(always)]
    pub(crate) unsafe fn inner<'a>(this: NonNull<Self>) -> &'a Inner<T> {
        // SAFETY: a handle keeps the shared part from being dropped (caller).
        unsafe { &(*this.as_ptr()).inner }
    }

    /// One more handle; the caller holds one.
    ///
    /// # Safety
    /// The caller holds a handle.
    pub(crate) unsafe fn clone_handle(this: NonNull<Self>) {
        // SAFETY: live while the caller's handle is.
        // Relaxed: the caller's handle keeps the count above 0, as in `Arc::clone`.
        let old = unsafe { this.as_ref() }
            .handles
            .fetch_add(1, Ordering::Relaxed);
        assert!(old < isize::MAX as usize, "registry: handle count overflow");
    }

    /// A handle for a thread-local entry, unless the registry is gone (increment if non-zero).
    ///
    /// # Safety
    /// The caller holds a reference (`refs`) on the header.
    pub(crate) unsafe fn upgrade(this: NonNull<Self>) -> bool {
        Self::touch(this);
        // SAFETY: the caller's reference keeps the header allocated.
        let handles = unsafe { &this.as_ref().handles };
        // Relaxed: the CAS below re-checks.
        let mut n = handles.load(Ordering::Relaxed);
        loop {
            if n == 0 {
                return false;
            }
            // Relaxed: the RMW alone decides the race with the last handle's decrement (from 0
            // nothing increments). Unlike `Weak::upgrade` no Acquire is needed: the caller reads
            // nothing of the shared part, only its own shard, whose other writers publish through
            // `remote`; and if our decrement turns out the last, its Acquire fence pairs with
            // every earlier handle's Release decrement (our RMW continues their release sequence).
            match handles.compare_exchange_weak(n, n + 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
    }

    /// Gives up a handle; the last one drops the shared part (see [`Inner`]'s drop) and then
    /// the handles' reference on the header.
    ///
    /// # Safety
    /// The caller gives up one handle it holds and uses neither it nor borrows of the shared
    /// part afterwards.
    pub(crate) unsafe fn drop_handle(this: NonNull<Self>) {
        // SAFETY: live while the caller's handle is.
        // Release: every use of the registry through this handle (the owner's writes to its
        // shard included) happens-before the teardown; pairs with the Acquire fence below.
        if unsafe { this.as_ref() }
            .handles
            .fetch_sub(1, Ordering::Release)
            != 1
        {
            return;
        }
        // Acquire: pairs with the Release decrements of every other handle.
        fence(Ordering::Acquire);
        Self::touch(this);
        // SAFETY: the last handle: nobody reaches the shared part any more (an entry's upgrade
        // fails from 0). Dropped once; never read again.
        unsafe { ManuallyDrop::drop(&mut (*this.as_ptr()).inner) };
        // SAFETY: the handles' reference, given up once.
        unsafe { Self::release(this) };
    }

    /// Gives up a reference on the header; the last frees it.
    ///
    /// # Safety
    /// The caller owns one reference on the header and does not use it afterwards.
    pub(crate) unsafe fn release(this: NonNull<Self>) {
        // SAFETY: the caller's reference keeps the header allocated until this decrement.
        // Release: pairs with the Acquire fence in the last releaser, as in `Arc`'s drop.
        if unsafe { this.as_ref() }
            .refs
            .fetch_sub(1, Ordering::Release)
            != 1
        {
            return;
        }
        // Acquire: pairs with the Release decrements of every other reference.
        fence(Ordering::Acquire);
        // SAFETY: the last reference: no other use of the header remains (loom checks it).
        #[cfg(loopkit_loom)]
        unsafe { this.as_ref() }.poison.with_mut(|_| ());
        // SAFETY: the last reference; allocated by `Box` in `Header::new`. The shared part was
        // dropped already (the handles' reference goes only after), and `ManuallyDrop` keeps the
        // box from dropping it again.
        drop(unsafe { Box::from_raw(this.as_ptr()) });
    }

    /// A reference for a thread-local entry.
    ///
    /// # Safety
    /// The caller holds a handle.
    pub(crate) unsafe fn acquire_ref(this: NonNull<Self>) {
        // SAFETY: live while the caller's handle is.
        // Relaxed: the caller's handle keeps the count above 0, as in `Arc::downgrade`.
        unsafe { this.as_ref() }
            .refs
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Has the last handle gone? (A dead entry can be pruned.)
    ///
    /// # Safety
    /// The caller holds a reference on the header.
    pub(crate) unsafe fn is_dead(this: NonNull<Self>) -> bool {
        Self::touch(this);
        // SAFETY: the caller's reference keeps the header allocated.
        // Relaxed: a 0 is final (nothing increments from 0) and the pruner only drops its own
        // reference, which publishes nothing.
        unsafe { this.as_ref() }.handles.load(Ordering::Relaxed) == 0
    }
}

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

/// The registry's teardown, run when its last handle goes: every shard whose thread still owns
/// it is handed over as at that thread's exit (the thread will never use it again: its entry's
/// upgrade fails from now on), then the registry's reference on each shard is released. A shard
/// with no task homed in it is freed here; otherwise the last such task's drop frees it.
impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        // Acquire: pairs with the Release CAS in `new_shard`.
        let mut p = self.shards.load(Ordering::Acquire);
        while let Some(s) = NonNull::new(p) {
            // SAFETY: the registry's reference keeps the shard alive until released below.
            let shard = unsafe { s.as_ref() };
            // Acquire: as above.
            p = shard.next.load(Ordering::Acquire);
            // Relaxed: only the owner thread moves `owner` away from OWNED, and it did so (if at
            // all) while holding a handle, before that handle's Release decrement, which the
            // last handle's Acquire fence ordered before this drop.
            if shard.owner.load(Ordering::Relaxed) == OWNED {
                // SAFETY: the owner thread's last use of the shard as its holder was under a
                // handle, so it happens-before this drop, and it will never act as the owner
                // again (its entry's upgrade fails once `handles` is 0): this thread is now the
                // shard's owner, and hands it over once.
                unsafe { shard.orphan() };
            }
            // SAFETY: the registry's reference, given up once.
            unsafe { Shard::release_ref(s) };
        }
    }
}
