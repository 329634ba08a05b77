//! The thread-local map from registry to the calling thread's shard, and the thread-exit hook
//! that hands each shard over (O(1)) when the thread ends.
//!
//! The map is keyed by the registry's id (a hash table: O(1) expected, whatever the number of
//! registries the thread has used), with a one-entry cache in front of it for the hot path. An
//! entry holds a reference on the registry's [`Header`] only, never a handle: it keeps neither
//! the shared part nor the shard alive. When the last handle goes, the registry's teardown takes
//! over every shard whose thread still owns it (`Inner`'s drop), and the thread's entry becomes
//! dead: a few words (the entry and the header) that the next sweep of the map frees. A sweep
//! runs when an entry is added and the map has doubled since the last sweep (and holds at least
//! 32), so sweeping costs O(1) amortised per new shard and the map never holds more than twice
//! the entries live at its last sweep, or 32.

use core::cell::{Cell, RefCell};
use core::hash::{BuildHasherDefault, Hasher};
use core::ptr::NonNull;
use std::collections::HashMap;

use super::inner::Header;
use super::shard::Shard;
use crate::loom::thread_local;

/// One registry this thread has a shard in. Type-erased: `thread_local!` cannot be generic.
struct Entry {
    /// The registry's header (`*const Header<T>`); the entry owns one reference on it.
    header: *const (),
    /// The shard (`*const Shard<T>`), the pointer `Inner::new_shard` returned. Used only while a
    /// handle of the registry exists (a lookup through one, or the exit hook after an upgrade).
    shard: *const (),
    /// The functions for the entry's `T`.
    vt: &'static Vt,
}

/// What the map does with an entry, for its `T`.
struct Vt {
    /// Thread exit: `exit::<T>`.
    exit: unsafe fn(*const (), *const ()),
    /// Is the registry gone? `Header::<T>::is_dead`.
    dead: unsafe fn(*const ()) -> bool,
    /// Gives up the entry's reference on the header: `Header::<T>::release`.
    release: unsafe fn(*const ()),
}

/// The table for one `T` (a promoted constant: one `'static` per type).
struct VtOf<T>(core::marker::PhantomData<T>);

impl<T> VtOf<T> {
    const VT: Vt = Vt {
        exit: exit::<T>,
        dead: dead::<T>,
        release: release::<T>,
    };
}

/// Hashes a registry id: ids are consecutive integers, and a multiplication by an odd constant
/// (Fibonacci hashing) spreads them over both the low bits (the bucket) and the high bits (the
/// control byte) of the hash table.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The map is swept for dead entries when it reaches this size at the least.
const MIN_SWEEP: usize = 32;

/// All entries of this thread (the one-entry cache for the hot path is `CACHE`).
struct Local {
    map: RefCell<Map>,
}

struct Map {
    entries: HashMap<u64, Entry, BuildHasherDefault<IdHasher>>,
    /// Sweep dead entries when an insertion finds the map this long.
    sweep_at: usize,
}

impl Map {
    /// Frees the entries of registries that are gone. O(entries).
    fn sweep(&mut self) {
        self.entries.retain(|_, e| {
            // SAFETY: the entry owns a reference on the header, so it is allocated; `vt` matches
            // the entry's `T` (set together).
            if unsafe { (e.vt.dead)(e.header) } {
                // SAFETY: as above; the entry is removed, so its reference is given up once.
                unsafe { (e.vt.release)(e.header) };
                false
            } else {
                true
            }
        });
        let live = self.entries.len();
        self.sweep_at = (2 * live).max(MIN_SWEEP);
        if self.entries.capacity() > 4 * self.sweep_at {
            self.entries.shrink_to(self.sweep_at);
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // From now on every lookup takes the slow path and finds the thread exiting: no call may
        // use a shard as its owner after it was handed over.
        // `try_with`: the cache has no destructor, but be safe if it is gone.
        let _ = CACHE.try_with(|c| c.set((0, core::ptr::null())));
        for (_, e) in self.map.get_mut().entries.drain() {
            // SAFETY: each entry is run once; `vt` matches the entry's `T` (set together).
            unsafe { (e.vt.exit)(e.header, e.shard) };
        }
    }
}

thread_local! {
    // loom's `thread_local!` has no `const { .. }` form; this is the same source for both.
    #[allow(clippy::missing_const_for_thread_local)]
    static LOCAL: Local = Local {
        map: RefCell::new(Map {
            entries: HashMap::default(),
            sweep_at: MIN_SWEEP,
        }),
    };
}

// The hot-path cache (registry id, shard): a `const` thread-local without a destructor, so a hit
// is a plain thread-local read. Ids start at 1, so the empty cache never matches. An id is never
// reused, so the cached shard of a registry that is gone is never returned: a lookup comes
// through a live handle, whose id differs.
#[cfg(not(loopkit_loom))]
thread_local! {
    static CACHE: Cell<(u64, *const ())> = const { Cell::new((0, core::ptr::null())) };
}
#[cfg(loopkit_loom)]
thread_local! {
    static CACHE: Cell<(u64, *const ())> = Cell::new((0, core::ptr::null()));
}

/// Thread exit for one entry: if the registry still has a handle, take one for the length of
/// the hand-over, so the teardown cannot run meanwhile, and hand the shard over; otherwise the
/// teardown (which ran or runs on the thread that dropped the last handle) hands it over and
/// this thread must not touch it. Then give up the entry's reference on the header.
///
/// # Safety
/// `header` is a `*const Header<T>` on which the entry owns a reference, and `shard` the
/// exiting thread's shard of that registry; called once per entry, by the owner thread.
unsafe fn exit<T>(header: *const (), shard: *const ()) {
    // SAFETY: the entry's reference keeps the header allocated (caller).
    let h = unsafe { NonNull::new_unchecked(header as *mut Header<T>) };
    // SAFETY: as above.
    if unsafe { Header::upgrade(h) } {
        // SAFETY: the handle we took keeps the registry, hence its reference on the shard, alive;
        // the teardown has not started (it runs when `handles` reaches 0, after our decrement
        // below), so this thread is still the owner, and it hands over once.
        unsafe { (*(shard as *const Shard<T>)).orphan() };
        // SAFETY: the handle taken above, given up once; may run the teardown here.
        unsafe { Header::drop_handle(h) };
    }
    // SAFETY: the entry's reference, given up once.
    unsafe { Header::release(h) };
}

/// # Safety
/// As [`Header::is_dead`]: `header` is a `*const Header<T>` the caller holds a reference on.
unsafe fn dead<T>(header: *const ()) -> bool {
    // SAFETY: caller.
    unsafe { Header::is_dead(NonNull::new_unchecked(header as *mut Header<T>)) }
}

/// # Safety
/// As [`Header::release`]: `header` is a `*const Header<T>`; the caller gives up its reference.
unsafe fn release<T>(header: *const ()) {
    // SAFETY: caller.
    unsafe { Header::release(NonNull::new_unchecked(header as *mut Header<T>)) }
}

/// The calling thread's shard of the registry (created if `create`). `None` outside: the thread
/// is exiting (thread-locals destroyed). Inside: `None` if there is no shard and `!create`.
///
/// # Safety
/// The caller holds a handle of `header` for the whole call and as long as it uses the shard.
#[inline]
pub(super) unsafe fn shard_of<T: Send + Sync + 'static>(
    header: NonNull<Header<T>>,
    create: bool,
) -> Option<Option<NonNull<Shard<T>>>> {
    // SAFETY: the caller's handle.
    let inner = unsafe { Header::inner(header) };
    let key = inner.id;
    if let Ok((k, shard)) = CACHE.try_with(Cell::get) {
        if k == key {
            return Some(NonNull::new(shard as *mut Shard<T>));
        }
    }
    LOCAL
        .try_with(|l| {
            let mut map = l.map.borrow_mut();
            let shard = match map.entries.get(&key) {
                Some(e) => e.shard,
                None if create => {
                    if map.entries.len() >= map.sweep_at {
                        map.sweep();
                    }
                    let s = inner.new_shard().as_ptr() as *const ();
                    // SAFETY: the caller's handle.
                    unsafe { Header::acquire_ref(header) };
                    map.entries.insert(
                        key,
                        Entry {
                            header: header.as_ptr() as *const (),
                            shard: s,
                            vt: &VtOf::<T>::VT,
                        },
                    );
                    s
                }
                None => return None,
            };
            let _ = CACHE.try_with(|c| c.set((key, shard)));
            NonNull::new(shard as *mut Shard<T>)
        })
        .ok()
}

/// The number of entries in the calling thread's map, live and dead (tests).
#[cfg(all(test, not(loopkit_loom)))]
pub(crate) fn entries() -> usize {
    LOCAL.with(|l| l.map.borrow().entries.len())
}
