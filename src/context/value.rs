//! What a context's map holds: variable ids as keys, type-erased shared values.

use crate::hamt::Hamt;
use crate::loom::Arc;
use core::any::Any;
use core::fmt;
use core::hash::{BuildHasher, Hasher};
use core::mem::ManuallyDrop;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, PoisonError};

/// A variable's key: unique for the life of the process, never reused (a dropped variable's id
/// is never handed to another one, so a stale entry can never be read as another type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct VarId(pub(crate) u64);

/// The next variable id. A `static` needs a `const` constructor, which loom's atomics lack; the
/// lock is taken once per variable (at its first use), never on a read or a set.
static NEXT_VAR_ID: Mutex<u64> = Mutex::new(1);

impl VarId {
    /// A fresh id (ids start at 1: 0 marks an empty read-cache slot).
    pub(crate) fn fresh() -> VarId {
        let mut next = NEXT_VAR_ID.lock().unwrap_or_else(PoisonError::into_inner);
        let id = *next;
        *next += 1;
        VarId(id)
    }
}

/// A variable's name: borrowed for the `const` constructors, shared for owned names, so that
/// every value stored under the variable carries it for [`Entry::name`](super::Entry::name)
/// without copying the string.
#[derive(Clone)]
pub(crate) enum Name {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    pub(crate) fn from_string(s: String) -> Name {
        Name::Shared(arc_str(s))
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Name::Static(s) => s,
            Name::Shared(s) => s,
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// One value set in a context: the value and the name of the variable that set it.
///
/// Its `Drop` never unwinds: a panic from `T`'s destructor is caught and kept for this thread
/// (see [`resume_dropped_panic`]), so a map, an epoch bag or a retire queue that drops many
/// values drops every one of them, whatever one of them does.
pub(crate) struct Stored<T> {
    pub(crate) name: Name,
    pub(crate) value: ManuallyDrop<T>,
}

impl<T> Stored<T> {
    pub(crate) fn new(name: Name, value: T) -> Stored<T> {
        Stored {
            name,
            value: ManuallyDrop::new(value),
        }
    }
}

impl<T> Drop for Stored<T> {
    fn drop(&mut self) {
        if !core::mem::needs_drop::<T>() {
            return;
        }
        let value = &mut self.value;
        // `value` is not used after this call whatever happens (`AssertUnwindSafe`).
        let r = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the value is dropped exactly once, here (this is `Stored`'s destructor).
            unsafe { ManuallyDrop::drop(value) }
        }));
        if let Err(payload) = r {
            keep_dropped_panic(payload);
        }
    }
}

#[cfg(not(loopkit_loom))]
crate::loom::thread_local! {
    /// The first panic caught from a value's destructor on this thread, not yet resumed.
    static DROP_PANIC: Cell<Option<Box<dyn Any + Send>>> = const { Cell::new(None) };
}
#[cfg(loopkit_loom)]
crate::loom::thread_local! {
    static DROP_PANIC: Cell<Option<Box<dyn Any + Send>>> = Cell::new(None);
}

/// Keeps `payload` until [`resume_dropped_panic`]; a second one while the first waits is
/// dropped (as a `Vec` whose elements panic twice would abort, this keeps one). When the thread's
/// locals are gone the payload is dropped.
fn keep_dropped_panic(payload: Box<dyn Any + Send>) {
    let rest = DROP_PANIC.try_with(|slot| {
        let first = slot.take();
        let (keep, rest) = match first {
            Some(first) => (first, Some(payload)),
            None => (payload, None),
        };
        slot.set(Some(keep));
        rest
    });
    // A payload's own destructor is user code too; it runs with every structure consistent.
    drop(rest);
}

/// Drops a kept panic without resuming it (where a panic cannot propagate: a thread-local
/// destructor).
pub(crate) fn discard_dropped_panic() {
    let payload = DROP_PANIC.try_with(Cell::take).ok().flatten();
    // A payload whose own destructor panics would abort here as anywhere in a destructor.
    drop(payload);
}

/// Resumes the panic a value's destructor raised on this thread (in a set, a reset, an epoch
/// collection, a context's drop), once the operation that dropped it has finished its work.
/// Does nothing while the thread is already unwinding (the panic then waits for the next call).
pub(crate) fn resume_dropped_panic() {
    if std::thread::panicking() {
        return;
    }
    if let Ok(Some(payload)) = DROP_PANIC.try_with(Cell::take) {
        std::panic::resume_unwind(payload);
    }
}

/// The type-erased view of a [`Stored<T>`].
pub(crate) trait Erased: Any + Send + Sync {
    fn name(&self) -> &str;
    fn value_any(&self) -> &(dyn Any + Send + Sync);
}

impl<T: Send + Sync + 'static> Erased for Stored<T> {
    fn name(&self) -> &str {
        self.name.as_str()
    }
    fn value_any(&self) -> &(dyn Any + Send + Sync) {
        &*self.value
    }
}

/// A shared, type-erased value. Cloning it is one reference-count increment.
pub(crate) type Value = Arc<dyn Erased>;

/// The map of a context.
pub(crate) type Map = Hamt<VarId, Value, IdHasher>;

/// An empty context map.
pub(crate) fn empty_map() -> Map {
    Hamt::with_hasher(IdHasher)
}

/// Boxes `stored` as a [`Value`].
pub(crate) fn erase<T: Send + Sync + 'static>(stored: Stored<T>) -> Value {
    #[cfg(not(loopkit_loom))]
    {
        Arc::new(stored)
    }
    // loom's `Arc` has no unsized coercion; it adopts a std `Arc` instead.
    #[cfg(loopkit_loom)]
    {
        let std_arc: std::sync::Arc<dyn Erased> = std::sync::Arc::new(stored);
        Arc::from_std(std_arc)
    }
}

fn arc_str(s: String) -> Arc<str> {
    #[cfg(not(loopkit_loom))]
    {
        Arc::from(s)
    }
    #[cfg(loopkit_loom)]
    {
        Arc::from_std(std::sync::Arc::from(s))
    }
}

/// The address of the `T` inside `value`, which must have been made by [`erase`] from a
/// `Stored<T>`.
#[inline]
pub(crate) fn value_ptr(value: &Value) -> *const () {
    Arc::as_ptr(value) as *const ()
}

/// Reads the `T` behind a pointer from [`value_ptr`].
///
/// # Safety
///
/// 1. `ptr` came from [`value_ptr`] on a value made from a `Stored<T>` with this very `T`;
/// 2. that value is kept alive for `'a` (a map version holding it is not retired before `'a`
///    ends).
#[inline]
pub(crate) unsafe fn value_ref<'a, T>(ptr: *const ()) -> &'a T {
    // SAFETY: by point 1 `ptr` is the address of a live `Stored<T>` (the data pointer of the
    // `Arc<dyn Erased>` made from it); by point 2 it stays allocated and unmodified (values are
    // never mutated after `erase`) for `'a`.
    unsafe { &(*(ptr as *const Stored<T>)).value }
}

/// The hasher for variable ids: ids are small consecutive integers, so one multiply by an odd
/// constant (a bijection) spreads them over every trie level; no seed is needed since ids are
/// not chosen by an adversary.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdHasher;

/// The state of [`IdHasher`].
#[derive(Default)]
pub(crate) struct IdHash(u64);

impl Hasher for IdHash {
    #[inline]
    fn finish(&self) -> u64 {
        // Fibonacci hashing, then fold the high half down so the low bits (the first trie
        // levels) depend on every bit of the id.
        let h = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 32)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for IdHasher {
    type Hasher = IdHash;
    #[inline]
    fn build_hasher(&self) -> IdHash {
        IdHash(0)
    }
}
