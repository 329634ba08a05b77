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
    /// Map versions wait in `Owner::retired` (replaced while a borrow was live).
    pending: Cell<bool>,
    slots: [Cell<Slot>; SLOTS],
}

impl Fast {
    const fn new() -> Fast {
        Fast {
            ctx: Cell::new(ptr::null()),
            version: Cell::new(1),
            borrows: Cell::new(0),
            pending: Cell::new(false),
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
    /// Map versions replaced while a `ContextVar::with` borrow was live on this thread; retired
    /// when the last borrow ends.
    retired: RefCell<Vec<Retired>>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        flush(self);
        let base = self.base.get_mut().take();
        if let Some(base) = base {
            // Reads after this point (from other thread-local destructors) see no context.
            let _ = FAST.try_with(|fast| {
                if fast.ctx.get() == Arc::as_ptr(&base) {
                    fast.ctx.set(ptr::null());
                }
                fast.bump();
            });
            drop(base);
        }
    }
}

fn flush(owner: &Owner) {
    let retired = core::mem::take(&mut *owner.retired.borrow_mut());
    if retired.is_empty() {
        return;
    }
    let guard = epoch::pin();
    for r in retired {
        // SAFETY: versions are queued only while a borrow was live; the last borrow has ended
        // (or the thread is exiting), so no reference of this thread points into them.
        unsafe { r.destroy(&guard) };
    }
}

#[cfg(not(loopkit_loom))]
crate::loom::thread_local! {
    static FAST: Fast = const { Fast::new() };
    static OWNER: Owner = const {
        Owner { base: RefCell::new(None), retired: RefCell::new(Vec::new()) }
    };
}
#[cfg(loopkit_loom)]
crate::loom::thread_local! {
    static FAST: Fast = Fast::new();
    static OWNER: Owner = Owner { base: RefCell::new(None), retired: RefCell::new(Vec::new()) };
}

/// Ends one `with` borrow; retires what waited for it when it was the last.
/// Restores the depth it saw (rather than decrementing: one dependent load-store less per read).
struct Borrow<'a>(&'a Fast, usize);

impl Drop for Borrow<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.borrows.set(self.1);
        if self.1 == 0 && self.0.pending.get() {
            self.0.pending.set(false);
            let _ = OWNER.try_with(flush);
        }
    }
}

/// Calls `f` with the value pointer of `id` in the current context (null: not set). The pointer
/// stays valid until `f` returns, whatever `f` does on this thread.
#[inline]
pub(crate) fn with_value<R>(id: VarId, f: impl FnOnce(*const ()) -> R) -> R {
    FAST.with(|fast| {
        let p = fast.lookup(id);
        let depth = fast.borrows.get();
        fast.borrows.set(depth + 1);
        let _borrow = Borrow(fast, depth);
        f(p)
    })
}

/// The current context, made (as the thread's base context) if there is none yet.
fn current(fast: &Fast) -> &Inner {
    let mut ctx = fast.ctx.get();
    if ctx.is_null() {
        ctx = OWNER
            .try_with(|owner| {
                let mut base = owner.base.borrow_mut();
                let base = base.get_or_insert_with(|| Arc::new(Inner::new(super::value::empty_map(), true)));
                Arc::as_ptr(base)
            })
            .expect("loopkit::context: a variable was set while this thread's locals were being destroyed");
        fast.ctx.set(ctx);
    }
    // SAFETY: `ctx` is the entered context (see `Fast::miss`), alive for the borrow of `fast`
    // within this call chain.
    unsafe { &*ctx }
}

/// Sets (`Some`) or removes (`None`) `id` in the current context. Returns the current context's
/// id and the previous value.
pub(crate) fn replace(id: VarId, value: Option<Value>) -> (u64, Option<Value>) {
    FAST.with(|fast| {
        let ctx = current(fast);
        // SAFETY: this thread has entered `ctx`; the reference is dropped before `publish`.
        let map = unsafe { ctx.owner_map() };
        let old = map.get(&id).cloned();
        let new_ptr = value.as_ref().map_or(ptr::null(), value_ptr);
        let new: Map = match value {
            Some(v) => map.insert_with(id, v, Arc::ptr_eq),
            None => map.remove(&id),
        };
        if !new.ptr_eq(map) {
            // SAFETY: this thread has entered `ctx`.
            let retired = unsafe { ctx.publish(new) };
            retire(fast, retired);
        }
        fast.bump();
        fast.fill(id, new_ptr);
        (ctx.id, old)
    })
}

fn retire(fast: &Fast, retired: Retired) {
    if fast.borrows.get() == 0 {
        let guard = epoch::pin();
        // SAFETY: no `with` borrow is live on this thread, and the cache slots that point into
        // the version were invalidated by the version bump that follows before any read.
        unsafe { retired.destroy(&guard) };
    } else {
        // A `with` closure on this thread may hold a reference into it: keep it until the last
        // borrow ends (`Borrow::drop` flushes). If `OWNER` is already destroyed (the borrow is
        // on a thread-local destructor's stack), the version leaks: freeing it could pull the
        // value from under the borrow.
        let _ = OWNER.try_with(|owner| owner.retired.borrow_mut().push(retired));
        fast.pending.set(true);
    }
}

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
    FAST.with(|fast| {
        fast.ctx.set(prev);
        fast.bump();
    });
    inner.exit();
}
