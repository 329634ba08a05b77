//! Per-thread state: the current context, the read cache, and the thread's base context.
//!
//! Nothing here is shared between threads, so the read cache needs no synchronisation: a hit is
//! two thread-local loads, two compares and a load of the cached pointer; it touches no
//! reference count and performs no atomic read-modify-write.
//!
//! The cache is direct-mapped by variable id. Each slot records the id, the thread's *version*
//! when it was filled, and a pointer to the value (null: the variable is not set). The version is
//! bumped by every set, reset, enter and exit on this thread, which invalidates every slot at
//! once. A cached pointer is only dereferenced while the version it was filled at is current;
//! until then the map version that holds the value is the current map of the current context,
//! which only this thread can replace, so the value is alive.

use super::inner::{Inner, Retired};
use super::value::{value_ptr, Map, Value, VarId};
use super::ContextError;
use crate::loom::Arc;
use core::ptr;
use crossbeam_epoch as epoch;
use std::cell::{Cell, RefCell};

/// Number of read-cache slots (a power of two).
pub(crate) const SLOTS: usize = 64;

/// Nested `with` borrows recorded per thread (`Fast::borrowed`); a deeper one holds a reference
/// count on its value instead. At most 32 (`Fast::kept` is a `u32` mask).
const TRACKED: usize = 16;

/// Replaced versions queued on a thread before one pin hands them all to the epoch.
const RETIRE_BATCH: usize = 8;

/// Versions handed to the epoch between two collections by this thread (the size of one
/// `crossbeam-epoch` bag).
const COLLECT_EVERY: usize = 64;

#[derive(Clone, Copy)]
struct Slot {
    /// Variable id; 0 (no variable has it) marks an empty slot.
    id: u64,
    /// The thread's version when the slot was filled.
    version: u64,
    /// The value's address (see `value_ptr`), or null when the variable is not set.
    ptr: *const (),
}

const EMPTY_SLOT: Slot = Slot {
    id: 0,
    version: 0,
    ptr: ptr::null(),
};

/// The hot per-thread state. It has no destructor, so accessing it costs no
/// registration check.
pub(crate) struct Fast {
    /// The current context; null until the thread first sets a variable (its base context is
    /// empty until then) and again once the thread's locals are being destroyed.
    ctx: Cell<*const Inner>,
    /// Bumped by every set, reset, enter and exit on this thread; starts at 1.
    version: Cell<u64>,
    /// Live `ContextVar::with` borrows on this thread.
    borrows: Cell<usize>,
    /// Versions in `Owner::retired` (a copy of its length, readable without `Owner`'s
    /// registration check).
    queued: Cell<usize>,
    /// Versions handed to the epoch since this thread last collected (see `flush`).
    deferred: Cell<usize>,
    /// Entries in `Owner::guards`.
    guards: Cell<usize>,
    /// The serial of the next guard entry.
    serial: Cell<u64>,
    /// `(variable id, value pointer)` of the live borrow at each depth (below `TRACKED`).
    borrowed: [Cell<(u64, *const ())>; TRACKED],
    /// Bit `d`: `Owner::kept` holds a count on the value the borrow at depth `d` lends.
    kept: Cell<u32>,
    /// The context made after `Owner` was destroyed (see `late_context`), from
    /// `Arc::into_raw`; null if none.
    late: Cell<*const Inner>,
    slots: [Cell<Slot>; SLOTS],
}

impl Fast {
    const fn new() -> Fast {
        Fast {
            ctx: Cell::new(ptr::null()),
            version: Cell::new(1),
            borrows: Cell::new(0),
            queued: Cell::new(0),
            deferred: Cell::new(0),
            guards: Cell::new(0),
            serial: Cell::new(0),
            borrowed: [const { Cell::new((0, ptr::null())) }; TRACKED],
            kept: Cell::new(0),
            late: Cell::new(ptr::null()),
            slots: [const { Cell::new(EMPTY_SLOT) }; SLOTS],
        }
    }

    #[inline]
    fn bump(&self) -> u64 {
        let v = self.version.get() + 1;
        self.version.set(v);
        v
    }

    /// The value pointer for `id` in the current context (null: not set).
    #[inline]
    fn lookup(&self, id: VarId) -> *const () {
        let slot = &self.slots[id.0 as usize & (SLOTS - 1)];
        let s = slot.get();
        if s.id == id.0 && s.version == self.version.get() {
            return s.ptr;
        }
        self.miss(id)
    }

    #[inline(never)]
    fn miss(&self, id: VarId) -> *const () {
        let ctx = self.ctx.get();
        let ptr = if ctx.is_null() {
            ptr::null()
        } else {
            // A non-null `ctx` is the context this thread has entered (set by `enter` or
            // `current`, cleared by `exit` and `Owner::drop`), kept alive by the `run` frame or
            // by `Owner::base`.
            // SAFETY: so this thread has entered it; the map reference is dropped before this
            // function returns, and no publish happens meanwhile.
            let map = unsafe { (*ctx).owner_map() };
            map.get(&id).map_or(ptr::null(), value_ptr)
        };
        self.fill(id, ptr);
        ptr
    }

    #[inline]
    fn fill(&self, id: VarId, ptr: *const ()) {
        self.slots[id.0 as usize & (SLOTS - 1)].set(Slot {
            id: id.0,
            version: self.version.get(),
            ptr,
        });
    }
}

/// The cold per-thread state, with a destructor.
struct Owner {
    /// The thread's own context, made when it first sets a variable outside any `run`.
    base: RefCell<Option<Arc<Inner>>>,
    /// Map versions replaced on this thread and not yet handed to the epoch (the retire queue;
    /// see [`retire`]).
    retired: RefCell<Vec<Retired>>,
    /// Reference counts on values that live `with` borrows lend, taken when the version
    /// holding them was retired; `(borrow depth, value)`. Released when that borrow ends.
    kept: RefCell<Vec<(usize, Value)>>,
    /// Contexts entered with `Context::enter` on this thread, in entry order (see `enter_guard`).
    guards: RefCell<Vec<GuardEntry>>,
    /// The version the thread's last set replaced, with that set's context id and publish count
    /// (see [`Undo`]): one per thread, so a token held long keeps no other variable's replaced
    /// values alive.
    last: RefCell<Option<(u64, u64, Map)>>,
}

/// A context entered by a guard: held alive here (not by the guard, which may be forgotten), with
/// the context to return to, and whether its guard was dropped (it is left once it is current).
struct GuardEntry {
    inner: Arc<Inner>,
    prev: *const Inner,
    serial: u64,
    dropped: bool,
}

impl Drop for Owner {
    fn drop(&mut self) {
        // The queued versions go to the epoch first (a foreign reader may still read them).
        flush(self);
        // No `with` borrow is live in a thread-local destructor that runs `Owner`'s.
        let kept = core::mem::take(self.kept.get_mut());
        let last = self.last.get_mut().take();
        let guards = core::mem::take(self.guards.get_mut());
        let base = self.base.get_mut().take();
        let _ = FAST.try_with(|fast| {
            fast.kept.set(0);
            drop(kept);
            drop(last);
            // Contexts whose guards were forgotten or outlive the thread's state: left, newest
            // first, then released.
            fast.guards.set(0);
            for e in guards.iter().rev() {
                fast.ctx.set(e.prev);
                fast.bump();
                e.inner.exit();
            }
            drop(guards);
            if let Some(base) = base {
                // Reads and sets after this point (from the values' destructors, or other
                // thread-local destructors) see no context: a set makes a late context.
                leave(fast, Arc::as_ptr(&base));
                drop(base);
            }
            // A value dropped above may have set variables (in a late context), whose values
            // may do the same when dropped: a bounded number of rounds.
            for _ in 0..LATE_ROUNDS {
                let late = fast.late.replace(ptr::null());
                if late.is_null() {
                    break;
                }
                leave(fast, late);
                // SAFETY: `late` came from `Arc::into_raw` in `late_context`, and `fast.late`
                // held that one count, now taken out of it.
                drop(unsafe { Arc::from_raw(late) });
            }
        });
        // A panic cannot leave a thread-local destructor; one raised by a value above is
        // dropped.
        super::value::discard_dropped_panic();
    }
}

/// Contexts a thread-exit cleanup drops one after the other when dropping values sets variables
/// again (see [`late_context`]); a context still made after that is leaked.
const LATE_ROUNDS: usize = 8;

/// Makes `p` no longer current (if it is) and invalidates the read cache.
fn leave(fast: &Fast, p: *const Inner) {
    if fast.ctx.get() == p {
        fast.ctx.set(ptr::null());
    }
    fast.bump();
}

/// The context a thread uses once its `Owner` is destroyed (a set from a value's destructor
/// run by `Owner::drop`, or from another thread-local destructor): made on demand and held by
/// `Fast::late`. `Owner::drop` drops it (and the ones made while dropping it, up to
/// `LATE_ROUNDS`); one made after that lives until the process ends.
#[cold]
fn late_context(fast: &Fast) -> *const Inner {
    let p = fast.late.get();
    if !p.is_null() {
        return p;
    }
    let p = Arc::into_raw(Arc::new(Inner::new(super::value::empty_map(), true)));
    fast.late.set(p);
    p
}

/// Hands every queued version to the epoch, under one pin.
fn flush(owner: &Owner) {
    if owner.retired.borrow().is_empty() {
        return;
    }
    // `pin` may run other garbage's destructors (user code, from any thread's earlier
    // retirements): every state of this thread is final here, a nested set/reset/run from such
    // a destructor queues and flushes on its own (its pin is nested and collects nothing), and a
    // value's destructor never unwinds (`Stored::drop`). If foreign garbage panics, the queue is
    // intact and drained at the next flush.
    let guard = epoch::pin();
    loop {
        // The version is popped only to be handed off at once: nothing runs in between.
        let Some(r) = owner.retired.borrow_mut().pop() else {
            break;
        };
        let _ = FAST.try_with(|fast| {
            fast.queued.set(fast.queued.get().saturating_sub(1));
            fast.deferred.set(fast.deferred.get() + 1);
        });
        // SAFETY: the version was replaced (it is no longer any context's current map), the
        // read cache slots pointing into it were invalidated by the bump that followed its
        // publish, and every value a live `with` borrow lends from it holds a reference count
        // of its own (`keep_borrowed`).
        unsafe { r.destroy(&guard) };
    }
    // The collector frees a bounded number of bags per collection, and a thread collects once
    // per 128 pins; one pin per batch would let garbage outgrow collection. So collect once per
    // bag's worth of versions handed off (user code may run here too: the queue is empty and
    // every state final).
    let full = FAST.try_with(|fast| {
        let full = fast.deferred.get() >= COLLECT_EVERY;
        if full {
            fast.deferred.set(0);
        }
        full
    });
    if matches!(full, Ok(true)) {
        guard.flush();
    }
}

/// Takes a reference count on each value a live `with` borrow lends from `map` (a version being
/// retired), so that only the borrowed values outlive the version, not the version itself.
#[cold]
fn keep_borrowed(fast: &Fast, owner: &Owner, map: &Map) {
    let depth = fast.borrows.get().min(TRACKED);
    for d in 0..depth {
        if fast.kept.get() & (1 << d) != 0 {
            continue;
        }
        let (id, p) = fast.borrowed[d].get();
        if p.is_null() {
            continue;
        }
        if let Some(v) = map.get(&VarId(id)) {
            if value_ptr(v) == p {
                owner.kept.borrow_mut().push((d, v.clone()));
                fast.kept.set(fast.kept.get() | 1 << d);
            }
        }
    }
}

/// Releases the counts `keep_borrowed` took for borrows at `depth` and deeper (they ended).
#[cold]
fn release_kept(fast: &Fast, depth: usize) {
    fast.kept.set(fast.kept.get() & ((1 << depth) - 1));
    let released: Vec<(usize, Value)> = OWNER
        .try_with(|owner| {
            let mut kept = owner.kept.borrow_mut();
            let (gone, stay) = core::mem::take(&mut *kept)
                .into_iter()
                .partition(|(d, _)| *d >= depth);
            *kept = stay;
            gone
        })
        .unwrap_or_default();
    // The borrows are over and every state is final: the values' destructors may do anything.
    drop(released);
    super::value::resume_dropped_panic();
}

#[cfg(not(loopkit_loom))]
crate::loom::thread_local! {
    static FAST: Fast = const { Fast::new() };
    static OWNER: Owner = const {
        Owner {
            base: RefCell::new(None),
            retired: RefCell::new(Vec::new()),
            kept: RefCell::new(Vec::new()),
            guards: RefCell::new(Vec::new()),
            last: RefCell::new(None),
        }
    };
}
#[cfg(loopkit_loom)]
crate::loom::thread_local! {
    static FAST: Fast = Fast::new();
    static OWNER: Owner = Owner {
        base: RefCell::new(None),
        retired: RefCell::new(Vec::new()),
        kept: RefCell::new(Vec::new()),
        guards: RefCell::new(Vec::new()),
        last: RefCell::new(None),
    };
}

/// Ends one `with` borrow. Restores the depth it saw (rather than decrementing: one dependent
/// load-store less per read), then releases what was kept for it.
struct Borrow<'a>(&'a Fast, usize);

impl Drop for Borrow<'_> {
    #[inline]
    fn drop(&mut self) {
        let (fast, depth) = (self.0, self.1);
        fast.borrows.set(depth);
        if depth < TRACKED && fast.kept.get() >> depth != 0 {
            release_kept(fast, depth);
        }
    }
}

/// Calls `f` with the value pointer of `id` in the current context (null: not set). The pointer
/// stays valid until `f` returns, whatever `f` does on this thread: the borrow is recorded in
/// `Fast::borrowed`, and a set that retires the version holding the value first takes a
/// reference count on the value (`keep_borrowed`); past `TRACKED` nested borrows, the count is
/// taken now.
#[inline]
pub(crate) fn with_value<R>(id: VarId, f: impl FnOnce(*const ()) -> R) -> R {
    FAST.with(|fast| {
        let p = fast.lookup(id);
        let depth = fast.borrows.get();
        // Dropped after `_borrow` (declared first): the borrow is over when it releases.
        let _held: Option<Value> = match fast.borrowed.get(depth) {
            Some(slot) => {
                slot.set((id.0, p));
                None
            }
            None => hold(fast, id, p),
        };
        fast.borrows.set(depth + 1);
        let _borrow = Borrow(fast, depth);
        f(p)
    })
}

/// A reference count on the value `p` of `id` in the current context (a borrow too deep to
/// track).
#[cold]
fn hold(fast: &Fast, id: VarId, p: *const ()) -> Option<Value> {
    if p.is_null() {
        return None;
    }
    let ctx = fast.ctx.get();
    // `p` is not null, so it came from the current context's map (`Fast::lookup`).
    // SAFETY: see `Fast::miss`; the reference is dropped before this function returns.
    let map = unsafe { (*ctx).owner_map() };
    let v = map.get(&id).cloned();
    debug_assert_eq!(v.as_ref().map(value_ptr), Some(p));
    v
}

/// The current context, made (as the thread's base context) if there is none yet.
fn current(fast: &Fast) -> &Inner {
    let mut ctx = fast.ctx.get();
    if ctx.is_null() {
        ctx = OWNER
            .try_with(|owner| {
                let mut base = owner.base.borrow_mut();
                let base = base
                    .get_or_insert_with(|| Arc::new(Inner::new(super::value::empty_map(), true)));
                Arc::as_ptr(base)
            })
            .unwrap_or_else(|_| late_context(fast));
        fast.ctx.set(ctx);
    }
    // SAFETY: `ctx` is the entered context (see `Fast::miss`), alive for the borrow of `fast`
    // within this call chain.
    unsafe { &*ctx }
}

/// What a set's token needs to undo that set in O(1): the set's context id and that context's
/// publish count just after the set. The version the set replaced is held by the thread
/// (`Owner::last`), not by the token, and only until the thread's next set: a token kept long
/// keeps no replaced value of another variable alive.
pub(crate) struct Undo {
    ctx: u64,
    published: u64,
}

/// Whether `last` (an `Owner::last` entry) is the one `undo`'s set stored.
fn is_last(last: &Option<(u64, u64, Map)>, undo: &Undo) -> bool {
    matches!(last, Some((c, p, _)) if *c == undo.ctx && *p == undo.published)
}

/// Sets (`Some`) or removes (`None`) `id` in the current context. Returns the current context's
/// id, the previous value, and (when `undo`) what a reset needs to undo this change in O(1).
///
/// The thread's state (the context's published version, the thread's version, the read cache)
/// is final before anything that can run user code: the replaced version is queued, and the
/// queue is drained (`drain`) last, where a value's destructor may re-enter the API.
pub(crate) fn replace(
    id: VarId,
    value: Option<Value>,
    undo: bool,
) -> (u64, Option<Value>, Option<Undo>) {
    let (out, stale) = FAST.with(|fast| {
        let ctx = current(fast);
        // SAFETY: this thread has entered `ctx`; the reference is dropped before `publish`.
        let map = unsafe { ctx.owner_map() };
        let old = map.get(&id).cloned();
        let new_ptr = value.as_ref().map_or(ptr::null(), value_ptr);
        let new: Map = match value {
            Some(v) => map.insert_with(id, v, Arc::ptr_eq),
            None => map.remove(&id),
        };
        // An unchanged map is the current version itself: dropping `new` releases one count on
        // its root, which the current version still holds (no value is dropped).
        let (retired, undo, stale) = if new.ptr_eq(map) {
            (None, None, None)
        } else {
            // A second count on the root of the version being replaced (still alive: it is
            // retired below), so dropping it here drops no value.
            let prev = undo.then(|| map.clone());
            // SAFETY: this thread has entered `ctx`.
            let retired = unsafe { ctx.publish(new) };
            // SAFETY: as above.
            let published = unsafe { ctx.published() };
            // The thread keeps the replaced version for this set's reset; the one it kept for
            // its previous set is dropped once the state is final (it may hold the last count
            // on values).
            let kept = prev.and_then(|prev| {
                OWNER
                    .try_with(|owner| owner.last.replace(Some((ctx.id, published, prev))))
                    .ok()
            });
            let undo = kept.is_some().then_some(Undo {
                ctx: ctx.id,
                published,
            });
            (Some(retired), undo, kept.flatten())
        };
        fast.bump();
        fast.fill(id, new_ptr);
        if let Some(r) = retired {
            retire(fast, r);
        }
        ((ctx.id, old, undo), stale)
    });
    drop(stale);
    drain();
    out
}

/// Undoes the set that made `undo` if nothing was published in the current context since
/// (the usual `set` .. `reset` pair) and the thread still holds the version that set replaced:
/// publishes it, and points the cache at `old` (the value before the set, null: not set).
/// Gives `undo` back otherwise; the caller then resets with a trie operation.
///
/// The caller has checked that the current context is the one the set happened in.
pub(crate) fn undo(id: VarId, undo: Undo, old: *const ()) -> Result<(), Undo> {
    FAST.with(|fast| {
        let ctx = current(fast);
        // SAFETY: this thread has entered `ctx`.
        if ctx.id != undo.ctx || unsafe { ctx.published() } != undo.published {
            return Err(undo);
        }
        let prev = OWNER
            .try_with(|owner| {
                let mut last = owner.last.borrow_mut();
                if is_last(&last, &undo) {
                    last.take().map(|(_, _, prev)| prev)
                } else {
                    None
                }
            })
            .ok()
            .flatten();
        let Some(prev) = prev else {
            return Err(undo);
        };
        // Nothing was published since the set: the current version is the one it made, which
        // differs from `prev` only in `id`, whose value in `prev` is `old`.
        // SAFETY: this thread has entered `ctx`.
        let retired = unsafe { ctx.publish(prev) };
        fast.bump();
        fast.fill(id, old);
        retire(fast, retired);
        Ok(())
    })?;
    drain();
    Ok(())
}

/// A token that can no longer undo in O(1) (dropped, or reset otherwise): releases the version
/// the thread holds for it, if it still does.
pub(crate) fn forget_undo(undo: Undo) {
    let stale = OWNER
        .try_with(|owner| {
            let mut last = owner.last.borrow_mut();
            if is_last(&last, &undo) {
                last.take()
            } else {
                None
            }
        })
        .ok()
        .flatten();
    // Outside the borrow: dropping the version may drop values, whose destructors may set.
    drop(stale);
}

/// Queues a replaced version (no user code runs here). A value a live `with` borrow lends from
/// it gets a reference count of its own first.
fn retire(fast: &Fast, retired: Retired) {
    let mut item = Some(retired);
    let _ = OWNER.try_with(|owner| {
        if let Some(r) = item.take() {
            if fast.borrows.get() != 0 {
                // SAFETY: `r` is not destroyed yet (it is queued below).
                keep_borrowed(fast, owner, unsafe { r.map() });
            }
            owner.retired.borrow_mut().push(r);
            fast.queued.set(fast.queued.get() + 1);
        }
    });
    if let Some(r) = item {
        // The thread's locals are being destroyed.
        if fast.borrows.get() == 0 {
            let guard = epoch::pin();
            // SAFETY: as in `flush`; no borrow is live.
            unsafe { r.destroy(&guard) };
        }
        // Else a borrow on a thread-local destructor's stack may lend from it: it leaks.
    }
}

/// Hands the queued versions to the epoch once `RETIRE_BATCH` have gathered, then resumes a
/// panic a value's destructor raised meanwhile on this thread.
fn drain() {
    if FAST.with(|fast| fast.queued.get()) >= RETIRE_BATCH {
        let _ = OWNER.try_with(flush);
    }
    super::value::resume_dropped_panic();
}

/// Hands this thread's queued versions to the epoch now (tests that count drops).
#[cfg(test)]
pub(crate) fn flush_queue() {
    let _ = OWNER.try_with(flush);
}

/// Hands every queued version to the epoch (when the thread leaves a context: a thread that
/// goes idle keeps nothing queued). A panic a value's destructor raises meanwhile waits for the
/// thread's next set, reset, `Token` drop or `Context::with` (`run` reports only its own
/// closure's panics; a plain `get` does not resume it).
#[cold]
fn drain_all() {
    let _ = OWNER.try_with(flush);
}

pub(crate) use super::value::resume_dropped_panic;

/// The id of the current context (`None` if the thread has made none yet).
pub(crate) fn current_id() -> Option<u64> {
    FAST.with(|fast| {
        let ctx = fast.ctx.get();
        // SAFETY: see `Fast::miss`.
        (!ctx.is_null()).then(|| unsafe { (*ctx).id })
    })
}

/// A copy of the current context's map (empty if the thread has none yet).
pub(crate) fn current_map() -> Map {
    FAST.with(|fast| {
        let ctx = fast.ctx.get();
        if ctx.is_null() {
            super::value::empty_map()
        } else {
            // SAFETY: see `Fast::miss`; the clone is taken before anything can publish.
            unsafe { (*ctx).owner_map() }.clone()
        }
    })
}

/// Makes `inner` the current context; returns the previous one for [`exit`].
pub(crate) fn enter(inner: &Inner) -> Result<*const Inner, ContextError> {
    if !inner.try_enter() {
        return Err(ContextError::AlreadyEntered);
    }
    Ok(FAST.with(|fast| {
        let prev = fast.ctx.replace(inner);
        fast.bump();
        prev
    }))
}

/// Leaves `inner` (entered by [`enter`], which returned `prev`) and makes `prev` current again.
pub(crate) fn exit(inner: &Inner, prev: *const Inner) {
    let (queued, guards) = FAST.with(|fast| {
        if fast.guards.get() != 0 && !core::ptr::eq(fast.ctx.get(), inner) {
            // A guard made inside the run outlives it: its contexts are left with the run.
            let released = leave_guards_above(fast, inner);
            fast.ctx.set(prev);
            fast.bump();
            return (fast.queued.get(), released);
        }
        fast.ctx.set(prev);
        fast.bump();
        (fast.queued.get(), Vec::new())
    });
    inner.exit();
    if !guards.is_empty() || FAST.with(|fast| fast.guards.get()) != 0 {
        // Guards dropped while this run was on top of them may be left now.
        let released = FAST.with(settle_guards);
        // The state is final: dropping the contexts may drop values.
        drop((guards, released));
    }
    // The state is final: the queue may run user code now.
    if queued != 0 {
        drain_all();
    }
}

/// Enters `inner` for a `Context::enter` guard; returns the entry's serial for
/// [`exit_guard`].
pub(crate) fn enter_guard(inner: &Arc<Inner>) -> Result<u64, ContextError> {
    if !inner.try_enter() {
        return Err(ContextError::AlreadyEntered);
    }
    let entered = OWNER.try_with(|owner| {
        FAST.with(|fast| {
            let serial = fast.serial.get();
            fast.serial.set(serial + 1);
            let prev = fast.ctx.replace(Arc::as_ptr(inner));
            fast.bump();
            owner.guards.borrow_mut().push(GuardEntry {
                inner: inner.clone(),
                prev,
                serial,
                dropped: false,
            });
            fast.guards.set(fast.guards.get() + 1);
            serial
        })
    });
    entered.map_err(|_| {
        // The thread's state is being destroyed: nothing can hold the context entered.
        inner.exit();
        ContextError::AlreadyEntered
    })
}

/// Ends the guard entry `serial`: its context is left now if it is current, else when it
/// becomes current (the guards made after it are dropped, the runs inside it return).
pub(crate) fn exit_guard(serial: u64) {
    let released = OWNER.try_with(|owner| {
        let mut guards = owner.guards.borrow_mut();
        if let Some(e) = guards.iter_mut().find(|e| e.serial == serial) {
            e.dropped = true;
        }
        drop(guards);
        FAST.with(settle_guards)
    });
    let left = released.as_ref().is_ok_and(|r| !r.is_empty());
    // The state is final: dropping a context may drop values.
    drop(released);
    // As at the end of a `run`: a thread that leaves a context keeps nothing queued.
    if left && FAST.with(|fast| fast.queued.get()) != 0 {
        drain_all();
    }
}

/// Leaves the dropped guard entries that are current, newest first; returns their contexts to
/// be released by the caller once the state is final.
fn settle_guards(fast: &Fast) -> Vec<Arc<Inner>> {
    leave_guards_while(fast, |_, e| e.dropped)
}

/// Leaves the guard entries above `run`'s context (current, entered by guards inside the run).
#[cold]
fn leave_guards_above(fast: &Fast, run: &Inner) -> Vec<Arc<Inner>> {
    leave_guards_while(fast, |fast, _| !core::ptr::eq(fast.ctx.get(), run))
}

/// Leaves guard entries from the top of the stack while the top one is the current context and
/// `more` holds for it; returns their contexts, to be released by the caller once the state is
/// final.
fn leave_guards_while(
    fast: &Fast,
    mut more: impl FnMut(&Fast, &GuardEntry) -> bool,
) -> Vec<Arc<Inner>> {
    let mut released = Vec::new();
    let _ = OWNER.try_with(|owner| loop {
        let mut guards = owner.guards.borrow_mut();
        let Some(top) = guards.last() else { break };
        if Arc::as_ptr(&top.inner) != fast.ctx.get() || !more(fast, top) {
            break;
        }
        let Some(e) = guards.pop() else { break };
        drop(guards);
        fast.guards.set(fast.guards.get() - 1);
        leave_entered(fast, owner, &e.inner, e.prev);
        released.push(e.inner);
    });
    released
}

/// Makes `prev` current instead of `inner` (a guard's context) and marks `inner` not entered. A
/// value a live `with` borrow lends from `inner` gets a count of its own first: once left,
/// another thread may enter `inner` and replace its version.
fn leave_entered(fast: &Fast, owner: &Owner, inner: &Inner, prev: *const Inner) {
    if fast.borrows.get() != 0 {
        // SAFETY: this thread has entered `inner`; the reference is used only in this call.
        keep_borrowed(fast, owner, unsafe { inner.owner_map() });
    }
    fast.ctx.set(prev);
    fast.bump();
    inner.exit();
}
