//! The shared part of a context: its entered flag and its published map.
//!
//! # State of `Inner::entered`
//!
//! | state | meaning | transitions |
//! |---|---|---|
//! | `false` | no thread runs in the context | any thread: `enter` (CAS, Acquire) → `true` |
//! | `true` | one thread runs in it (or it is a thread's own base context) | that thread: `exit` (Release store) → `false` |
//!
//! The compare-exchange lets exactly one of racing enterers win; the others get
//! [`ContextError::AlreadyEntered`](super::ContextError::AlreadyEntered). The Release store at
//! exit pairs with the next enterer's Acquire CAS, so the next owner sees every map version the
//! previous owner published (its Relaxed loads of `map` rely on it).
//!
//! # `Inner::map`
//!
//! Never null. Only the thread that has entered the context stores to it (one writer); it
//! publishes each new map version with a Release store and retires the replaced version with
//! `crossbeam-epoch`'s `defer_destroy`. Any thread reads it under an epoch pin with an Acquire
//! load (pairs with that Release store), so a reader sees one whole version, never a freed one.

use super::value::{empty_map, Map};
use crate::loom::{AtomicBool, AtomicU64, Ordering};
use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};
use std::cell::Cell;
use std::sync::{Mutex, PoisonError};

/// Context ids are handed out in blocks so that making a context takes no lock and no atomic
/// read-modify-write except once per `ID_BLOCK` contexts on a thread.
const ID_BLOCK: u64 = 1 << 16;

/// The next free block of context ids (a `static` needs a `const` constructor, which loom's
/// atomics lack; it is locked once per `ID_BLOCK` contexts made on a thread).
static NEXT_ID_BLOCK: Mutex<u64> = Mutex::new(1);

#[cfg(not(loopkit_loom))]
crate::loom::thread_local! {
    /// `(next, end)` of this thread's block of context ids.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}
#[cfg(loopkit_loom)]
crate::loom::thread_local! {
    static IDS: Cell<(u64, u64)> = Cell::new((0, 0));
}

/// A context id, unique for the life of the process (tokens compare contexts by it; an
/// address could be reused by a later context).
fn fresh_context_id() -> u64 {
    IDS.with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            let mut block = NEXT_ID_BLOCK.lock().unwrap_or_else(PoisonError::into_inner);
            next = *block * ID_BLOCK;
            end = next + ID_BLOCK;
            *block += 1;
        }
        ids.set((next + 1, end));
        next
    })
}

/// The shared state behind a [`Context`](super::Context).
pub(crate) struct Inner {
    /// Unique id, for [`Token`](super::Token) checks.
    pub(crate) id: u64,
    /// Whether a thread runs in this context (table above).
    entered: AtomicBool,
    /// The current map version (see the module docs).
    map: Atomic<Map>,
    /// The number of versions published; read and written only by the thread that has entered
    /// the context (a token's reset compares it to undo its own set in O(1)).
    published: AtomicU64,
}

impl Inner {
    /// A context holding `map`; `entered` is `true` for a thread's base context, which is
    /// entered by its thread for the thread's whole life.
    pub(crate) fn new(map: Map, entered: bool) -> Inner {
        Inner {
            id: fresh_context_id(),
            entered: AtomicBool::new(entered),
            map: Atomic::new(map),
            published: AtomicU64::new(0),
        }
    }

    /// An empty, not entered context.
    pub(crate) fn empty() -> Inner {
        Inner::new(empty_map(), false)
    }

    /// Marks the context entered; `false` if some thread already runs in it.
    pub(crate) fn try_enter(&self) -> bool {
        // Acquire on success: pairs with the Release store in `exit` by the previous owner, so
        // this thread's Relaxed loads of `map` see the last version that owner published.
        let (acquire, nothing_read) = (Ordering::Acquire, Ordering::Relaxed);
        // Relaxed on failure: nothing is read.
        let won = self
            .entered
            .compare_exchange(false, true, acquire, nothing_read);
        won.is_ok()
    }

    /// Marks the context not entered. Only its owner calls this, after it has stopped using it.
    pub(crate) fn exit(&self) {
        // Release: hands every map version this owner published to the next enterer's Acquire
        // CAS in `try_enter`.
        self.entered.store(false, Ordering::Release);
    }

    /// Calls `f` with the current map version, from any thread.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Map) -> R) -> R {
        let guard = epoch::pin();
        // Acquire: pairs with the Release store in `publish`, so the whole map version (its
        // nodes and values) is visible.
        let p = self.map.load(Ordering::Acquire, &guard);
        // A version is retired only through `defer_destroy` (`Retired::destroy`), or freed in
        // `Drop` when no other reference to `self` exists.
        // SAFETY: `map` is never null, and `guard` pins the epoch, so the version `p` points to
        // is not freed before `guard` drops, which is after `f` returns.
        f(unsafe { p.deref() })
    }

    /// The current map version, from the owner thread (the one that has entered `self`).
    ///
    /// # Safety
    ///
    /// 1. The calling thread has entered `self` (it is the only thread that stores to `map`);
    /// 2. the reference is not used after this thread next calls [`publish`](Self::publish) on
    ///    `self` and retires the version (with [`retire`](Self::retire)).
    pub(crate) unsafe fn owner_map(&self) -> &Map {
        // SAFETY: `unprotected` is sound here because nothing is deferred on it and the loaded
        // version cannot be freed concurrently: only this thread (point 1) replaces and retires
        // it, and not while the reference lives (point 2).
        let guard = unsafe { epoch::unprotected() };
        // Relaxed: this thread is the only writer (point 1), so it reads its own last store, or
        // the previous owner's, made visible by the Acquire CAS in `try_enter`.
        let p = self.map.load(Ordering::Relaxed, guard);
        // SAFETY: `map` is never null and `p` stays valid for the borrow (points 1 and 2).
        unsafe { p.deref() }
    }

    /// The number of versions published so far, from the owner thread.
    ///
    /// # Safety
    ///
    /// The calling thread has entered `self`.
    pub(crate) unsafe fn published(&self) -> u64 {
        // Relaxed: only the entered thread writes it (the safety point); between owners the
        // enter Acquire / exit Release pair orders it, as for `map` in `owner_map`.
        self.published.load(Ordering::Relaxed)
    }

    /// Publishes `map` as the current version and returns the replaced one, which the caller
    /// must hand to [`retire`](Self::retire) (now or once no reference into it is left).
    ///
    /// # Safety
    ///
    /// The calling thread has entered `self`.
    pub(crate) unsafe fn publish(&self, map: Map) -> Retired {
        // SAFETY: see `owner_map`: only this thread stores to `map` (the safety point), and the
        // loaded pointer is only handed on, never freed here.
        let guard = unsafe { epoch::unprotected() };
        // Release: publishes the new version (its nodes and values) to the Acquire load in
        // `read`. The swap's own load is the owner's (Relaxed would do; AcqRel costs nothing
        // more on a swap and keeps the pairing obvious).
        let old = self.map.swap(Owned::new(map), Ordering::AcqRel, guard);
        // Relaxed, a load and a store (one writer): see `published`.
        let n = self.published.load(Ordering::Relaxed);
        self.published.store(n + 1, Ordering::Relaxed);
        Retired(old.as_raw())
    }
}

/// A map version that is no longer current but may still be read (by a foreign reader under
/// its pin, or by this thread inside `ContextVar::with`).
#[must_use = "a retired version must be destroyed, or it leaks"]
pub(crate) struct Retired(*const Map);

impl Retired {
    /// The retired version.
    ///
    /// # Safety
    ///
    /// `self` is not destroyed while the reference is used (it is consumed by
    /// [`destroy`](Self::destroy), so the borrow of `self` ends first).
    pub(crate) unsafe fn map(&self) -> &Map {
        // SAFETY: `self.0` came from `publish`, points to a live `Map` (made by `Owned::new`) and
        // is freed only through `destroy`, which consumes `self`.
        unsafe { &*self.0 }
    }

    /// Hands the version to the epoch collector: freed once every thread pinned now unpins.
    ///
    /// # Safety
    ///
    /// No reference into the version, other than those of pinned foreign readers, is used after
    /// this call.
    pub(crate) unsafe fn destroy(self, guard: &Guard) {
        let p: Shared<'_, Map> = Shared::from(self.0);
        // `p` came from `Atomic::swap` in `publish` (a `Box` made by `Owned::new`), it is no
        // longer reachable from `map`, so no new reader can find it, and it is retired exactly
        // once (`Retired` is not `Clone`).
        // SAFETY: readers that loaded `p` are pinned, so the collector frees it only after they
        // unpin; this thread uses it no more (the safety point).
        unsafe { guard.defer_destroy(p) };
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no other reference to the context exists, so no reader is
        // inside `read` on it and no owner can publish; nothing is deferred on `unprotected`.
        let guard = unsafe { epoch::unprotected() };
        // Relaxed: `&mut self` orders every earlier store to `map` before this drop.
        let p = self.map.load(Ordering::Relaxed, guard);
        // SAFETY: `map` is never null; the current version was made by `Owned::new` and was
        // never retired (only replaced versions are), so this is its only release.
        drop(unsafe { p.into_owned() });
    }
}
