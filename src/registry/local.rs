//! The thread-local map from registry to the calling thread's shard, and the thread-exit hook
//! that hands each shard over (O(1)) when the thread ends.

use core::cell::{Cell, RefCell};
use core::ptr::NonNull;

use super::shard::Shard;
use super::Inner;
use crate::loom::{thread_local, Arc};

/// One registry this thread has a shard in. Type-erased: `thread_local!` cannot be generic.
struct Entry {
    /// `Arc::as_ptr` of the registry's shared part (the key).
    key: *const (),
    /// The shard (`*const Shard<T>`).
    shard: *const (),
    /// The count on the registry this entry holds (`Arc::into_raw`).
    inner: *const (),
    /// Orphans the shard and releases the count: `exit::<T>`.
    exit: unsafe fn(*const (), *const ()),
}

/// All entries of this thread (the one-entry cache for the hot path is `CACHE`).
struct Local {
    entries: RefCell<Vec<Entry>>,
}

impl Drop for Local {
    fn drop(&mut self) {
        // From now on every lookup takes the slow path and finds the thread exiting: no call may
        // use a shard as its owner after it was handed over.
        // `try_with`: the cache has no destructor, but be safe if it is gone.
        let _ = CACHE.try_with(|c| c.set((core::ptr::null(), core::ptr::null())));
        for e in self.entries.get_mut().drain(..) {
            // SAFETY: each entry is run once; `exit` matches the entry's `T` (set together).
            unsafe { (e.exit)(e.shard, e.inner) };
        }
    }
}

thread_local! {
    // loom's `thread_local!` has no `const { .. }` form; this is the same source for both.
    #[allow(clippy::missing_const_for_thread_local)]
    static LOCAL: Local = Local { entries: RefCell::new(Vec::new()) };
}

// The hot-path cache (registry key, shard): a `const` thread-local without a destructor, so a hit
// is a plain thread-local read.
#[cfg(not(loopkit_loom))]
thread_local! {
    static CACHE: Cell<(*const (), *const ())> = const { Cell::new((core::ptr::null(), core::ptr::null())) };
}
#[cfg(loopkit_loom)]
thread_local! {
    static CACHE: Cell<(*const (), *const ())> = Cell::new((core::ptr::null(), core::ptr::null()));
}

/// Thread exit for one shard: hand it over, then give up this thread's count on the registry.
///
/// # Safety
/// `shard` is a `*const Shard<T>` owned by the exiting thread and `inner` came from
/// `Arc::<Inner<T>>::into_raw`; called once per entry.
unsafe fn exit<T>(shard: *const (), inner: *const ()) {
    // SAFETY: owner thread, once (caller); the registry count below keeps the shard alive.
    unsafe { (*(shard as *const Shard<T>)).orphan() };
    // SAFETY: the entry's count, from `Arc::into_raw` (caller).
    drop(unsafe { Arc::from_raw(inner as *const Inner<T>) });
}

/// The calling thread's shard of `inner` (created if `create`). `None` outside: the thread is
/// exiting (thread-locals destroyed). Inside: `None` if there is no shard and `!create`.
pub(super) fn shard_of<T: Send + Sync + 'static>(
    inner: &Arc<Inner<T>>,
    create: bool,
) -> Option<Option<NonNull<Shard<T>>>> {
    let key = Arc::as_ptr(inner) as *const ();
    if let Ok((k, shard)) = CACHE.try_with(Cell::get) {
        if k == key {
            return Some(NonNull::new(shard as *mut Shard<T>));
        }
    }
    LOCAL
        .try_with(|l| {
            let mut entries = l.entries.borrow_mut();
            let found = entries.iter().find(|e| e.key == key).map(|e| e.shard);
            let shard = match found {
                Some(s) => s,
                None if create => {
                    let s = inner.new_shard().as_ptr() as *const ();
                    let count = Arc::into_raw(inner.clone()) as *const ();
                    entries.push(Entry {
                        key,
                        shard: s,
                        inner: count,
                        exit: exit::<T>,
                    });
                    s
                }
                None => return None,
            };
            let _ = CACHE.try_with(|c| c.set((key, shard)));
            NonNull::new(shard as *mut Shard<T>)
        })
        .ok()
}
