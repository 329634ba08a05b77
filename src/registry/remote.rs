//! The remote stack and the drain lock of a shard.
//!
//! Other threads hand work to a shard's holder by pushing nodes onto its `remote` Treiber stack
//! (a foreign unregister, a dead node); the holder takes the whole stack at its next call. While
//! the owner thread lives it is the holder. At thread exit it hands the shard over in O(1): the
//! `owner` word becomes a drain lock that any thread with work for the shard takes, drains and
//! releases (the state table is in the parent module's docs). The lost-request race between a
//! pusher and the exiting owner or a releasing holder is closed by `fence(SeqCst)` pairs.

use core::ptr::{self, NonNull};

use super::node::Node;
use super::shard::Shard;
use crate::loom::{fence, Ordering};

/// `Shard.owner`: a live thread owns the shard.
pub(crate) const OWNED: usize = 0;
/// `Shard.owner`: the owner exited; nobody holds the drain lock.
pub(crate) const ORPHAN: usize = 1;
/// `Shard.owner`: the owner exited; a thread holds the drain lock.
pub(crate) const LOCKED: usize = 2;

impl<T> Shard<T> {
    /// Is a request waiting on the remote stack? (Owner fast path.)
    #[inline]
    pub(crate) fn has_remote(&self) -> bool {
        // Relaxed: only a hint; `drain` takes the stack with an Acquire swap.
        !self.remote.load(Ordering::Relaxed).is_null()
    }

    /// Pushes `n` onto the remote stack, then makes sure a holder will drain it.
    ///
    /// # Safety
    /// The caller won the right to push `n` (a CAS on `n.state` that queues it) and `n` is not on
    /// the stack; the caller holds a reference on this shard for the whole call.
    pub(crate) unsafe fn push_remote(&self, n: NonNull<Node<T>>) {
        // Relaxed: the CAS below re-checks the head.
        let mut head = self.remote.load(Ordering::Relaxed);
        loop {
            // SAFETY: `rnext` is ours until the CAS publishes the node (caller won the push).
            unsafe { Node::rnext(n) }.with_mut(|r| unsafe { *r = head });
            // Release: publishes `rnext`; pairs with the Acquire swap in `drain`.
            match self.remote.compare_exchange_weak(
                head,
                n.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        // SeqCst: store-load edge with the fence in `orphan`/`unlock`: either we see that the
        // owner left (and help), or the holder's next swap/re-check sees our push.
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        if self.owner.load(Ordering::Relaxed) != OWNED {
            self.help();
        }
    }

    /// For orphaned shards: take the drain lock if free, drain, release; repeat while work
    /// arrived. Never waits: if another thread holds the lock, its release re-check sees our work.
    pub(crate) fn help(&self) {
        while self.try_lock() {
            // SAFETY: we hold the drain lock.
            unsafe { self.drain() };
            if !self.unlock() {
                return;
            }
        }
    }

    /// Takes the drain lock of an orphaned shard if it is free.
    pub(crate) fn try_lock(&self) -> bool {
        // Acquire: pairs with the Release in `unlock`, so the previous holder's local writes are
        // visible to us.
        self.owner
            .compare_exchange(ORPHAN, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the drain lock without the re-check (tests that took it with `try_lock`).
    #[cfg(test)]
    pub(crate) fn unlock_for_test(&self) {
        // Release: pairs with the Acquire CAS in `try_lock`.
        self.owner.store(ORPHAN, Ordering::Release);
    }

    /// Releases the drain lock; returns whether work arrived meanwhile.
    pub(super) fn unlock(&self) -> bool {
        // Release: publishes our local writes to the next holder; pairs with the Acquire CAS in
        // `help`.
        self.owner.store(ORPHAN, Ordering::Release);
        // SeqCst: store-load edge with the fence in `push_remote`.
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        !self.remote.load(Ordering::Relaxed).is_null()
    }

    /// Thread exit: hands the shard over (O(1)): take the lock as the owner, drain, release.
    /// Also run by the registry's teardown for the shards of threads that are still alive.
    ///
    /// # Safety
    /// Called once, by the shard's owner: the owner thread, or the thread dropping the
    /// registry's last handle, in place of an owner thread that happens-before it and will never
    /// act as the owner again. Nobody touches the shard as its owner afterwards.
    pub(crate) unsafe fn orphan(&self) {
        // Relaxed: the fence below orders it before our swap of `remote`.
        self.owner.store(LOCKED, Ordering::Relaxed);
        // SeqCst: store-load edge with the fence in `push_remote` (no stranded request).
        fence(Ordering::SeqCst);
        // A current task set by this thread is no longer current anywhere.
        // Release: pairs with the Acquire load in `current_of`.
        self.current.store(ptr::null_mut(), Ordering::Release);
        // SAFETY: we are the owner, now the lock holder.
        unsafe { self.drain() };
        if self.unlock() {
            self.help();
        }
    }

    /// Does an orphaned shard have work a helper could do?
    pub(crate) fn orphan_has_work(&self) -> bool {
        // Relaxed: hints; `help` takes the lock with Acquire.
        self.owner.load(Ordering::Relaxed) == ORPHAN
            && (self.has_remote() || self.retired_hint.load(Ordering::Relaxed) != 0)
    }
}
