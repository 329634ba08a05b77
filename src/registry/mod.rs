//! A per-thread task registry: lock-free register/unregister, cross-thread unregister, thread-exit
//! handover, and a `snapshot()` (asyncio's `all_tasks`) that pauses no thread.
//!
//! CPython 3.14 keeps each asyncio task on a list owned by the thread that created it; a
//! foreign-thread unregister and every `all_tasks()` stop the world. Here the owner's path has no
//! lock and no wait, a foreign unregister pushes onto the owner's remote stack, and a snapshot
//! reads a per-shard mirror of atomic slots under a per-shard epoch pin. [`docs/registry.md`] has
//! the design and the alternatives rejected; [`docs/memory-ordering.md`] lists every edge.
//!
//! [`docs/registry.md`]: crate::docs::registry
//! [`docs/memory-ordering.md`]: crate::docs::memory_ordering
//!
//! Items are [`Task<T>`]: counted handles (like `Arc<T>`) to a node that carries the value, the
//! registry state and the owner list's links. The registry holds no count of its own: dropping
//! the last handle of a registered task unregisters it.
//!
//! # Guarantees of [`Registry::snapshot`]
//!
//! It pauses no thread and is weakly consistent. Linearise register at its return, unregister at
//! its winning CAS, and the drop of a task's last handle as its unregister. Then:
//!
//! * every task registered before the call and not unregistered before it returns is in the
//!   result exactly once;
//! * no task whose unregister completed before the call is in it;
//! * concurrent registers and unregisters may or may not show; no task shows twice;
//! * it never returns a dropped task: each one is upgraded with an increment-if-nonzero, which
//!   fails for a task whose last handle is gone.
//!
//! # State word of a task (`Node.state`)
//!
//! | state | meaning | left by |
//! |---|---|---|
//! | `IDLE` | not registered | owner `register` (Release store) → `REGISTERED`; last drop (CAS) → `IDLE\|DEAD` + push |
//! | `REGISTERED` | linked in its home shard, visible to snapshots | owner `unregister` (CAS) → `IDLE`; foreign `unregister` (CAS) → `REMOTE` + push; last drop (CAS) → `REMOTE\|DEAD` + push |
//! | `REMOTE` | a foreign unregister won; still linked, queued on `remote` | holder drain (CAS) → `IDLE`; last drop (CAS) → `REMOTE\|DEAD` |
//! | `..\|DEAD` | last handle dropped, value dropped | holder drain: unlink, retire, free after the grace period |
//!
//! Exactly one CAS can leave `REGISTERED`, so exactly one of any racing unregisters wins.
//!
//! # State word of a shard (`Shard.owner`, the drain lock)
//!
//! | state | meaning | transitions |
//! |---|---|---|
//! | `OWNED` | its thread is alive and drains it | owner at thread exit → `LOCKED` (store + `fence(SeqCst)`) |
//! | `LOCKED` | a thread holds the drain lock | holder → `ORPHAN` (Release store + `fence(SeqCst)` + re-check) |
//! | `ORPHAN` | owner gone, lock free | any thread with work for it → `LOCKED` (CAS Acquire) |
//!
//! # Complexity
//!
//! | operation | cost |
//! |---|---|
//! | [`Registry::register`] (owner) | O(1); no RMW, no fence (first registration of a task: one CAS + one increment) |
//! | [`Registry::unregister`] (owner) | O(1); one uncontended CAS |
//! | [`Registry::unregister`] (other thread) | O(1) lock-free: CAS + push + one `fence(SeqCst)` |
//! | [`Registry::snapshot`] | O(slots + n log n) over all shards; one CAS per returned task |
//! | thread exit | O(1) handover plus draining what was queued |
//! | a thread's first call into a registry | O(1) expected (a hash table keyed by the registry's id; sweeping dead entries is O(1) amortised) |
//! | drop of the last [`Registry`] handle | O(shards): hands over each shard still owned, frees each shard no task is homed in |
//! | [`Registry::current`] / [`Registry::set_current`] | O(1) / O(1) plain store |
//!
//! A loop that registers many tasks can hold a [`LocalShard`] ([`Registry::local`]) and skip the
//! thread-local lookup on every call.
//!
//! # Examples
//!
//! ```
//! use loopkit::registry::{Registry, Task};
//!
//! let reg = Registry::new();
//! let a = Task::new("a");
//! let b = Task::new("b");
//! reg.register(&a).unwrap();
//! reg.register(&b).unwrap();
//! // another thread unregisters `a` without stopping anyone
//! std::thread::scope(|s| {
//!     s.spawn(|| assert!(reg.unregister(&a)));
//! });
//! assert!(!reg.unregister(&a)); // exactly one unregister wins
//! let all: Vec<&str> = reg.snapshot().iter().map(|t| **t).collect();
//! assert_eq!(all, ["b"]);
//! ```

use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;

use crate::loom::{fence, Ordering};

// The per-shard reclamation epoch: not public API, reachable only for the crate's benches.
#[doc(hidden)]
pub mod epoch;
mod handle;
mod id;
mod inner;
mod local;
mod mirror;
mod node;
mod remote;
mod shard;

pub use handle::LocalShard;

#[cfg(test)]
mod loom_models;
#[cfg(all(test, not(loopkit_loom)))]
mod tests;

#[cfg(any(test, loopkit_fuzz))]
#[doc(hidden)]
pub mod ops;

use inner::{Header, Inner};
use node::{Node, DEAD, IDLE, LINK_MASK, REGISTERED, REMOTE};
use shard::Shard;

/// A counted handle to a task: the value plus its registry state.
///
/// Cloning and dropping are atomic count updates, as for `Arc<T>`. Dropping the last handle of
/// a registered task unregisters it (on any thread).
///
/// # Panics in `T::drop`
///
/// The last handle drops the value first, then unregisters the task and hands its memory back.
/// If `T::drop` panics, the task is still unregistered and its memory still freed (the rest runs
/// while unwinding); the panic then continues on the thread that dropped the last handle. No
/// other task is affected. (`Arc<T>` leaks its allocation in that case; a registry cannot,
/// because a leaked node would stay linked in its shard.)
///
/// # Examples
///
/// ```
/// use loopkit::registry::{Registry, Task};
///
/// let reg = Registry::new();
/// let t = Task::new(5u32);
/// assert!(!t.is_registered());
/// reg.register(&t).unwrap();
/// assert!(t.is_registered() && *t == 5);
/// let u = t.clone();
/// assert!(Task::ptr_eq(&t, &u));
/// ```
pub struct Task<T> {
    ptr: NonNull<Node<T>>,
    _owns: PhantomData<T>,
}

// SAFETY: a `Task` gives `&T` on any thread holding it and drops `T` on whichever thread drops
// the last handle, as `Arc<T>` does, hence `T: Send + Sync`. The node's other fields are atomics
// or holder-only cells (see `shard`).
unsafe impl<T: Send + Sync> Send for Task<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send + Sync> Sync for Task<T> {}

impl<T> Task<T> {
    /// Allocates a task holding `value`, not registered anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = loopkit::registry::Task::new(String::from("job"));
    /// assert_eq!(t.len(), 3);
    /// ```
    pub fn new(value: T) -> Self {
        Task {
            ptr: Node::alloc(value),
            _owns: PhantomData,
        }
    }

    /// Whether both handles point to the same task.
    ///
    /// # Examples
    ///
    /// See [`Task`].
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }

    /// Whether the task is registered now (a racy answer when other threads change it).
    ///
    /// # Examples
    ///
    /// See [`Task`].
    pub fn is_registered(&self) -> bool {
        // SAFETY: our handle keeps the node alive.
        // Acquire: pairs with the Release store in `register`.
        unsafe { Node::state(self.ptr) }.load(Ordering::Acquire) & LINK_MASK == REGISTERED
    }

    /// Takes over one counted reference to `p`.
    ///
    /// # Safety
    /// The caller owns one count on `p` (e.g. from a successful `try_acquire`).
    unsafe fn from_counted(p: NonNull<Node<T>>) -> Self {
        Task {
            ptr: p,
            _owns: PhantomData,
        }
    }
}

impl<T> Clone for Task<T> {
    fn clone(&self) -> Self {
        // SAFETY: our handle keeps the node alive.
        // Relaxed: we already hold a count, as in Arc::clone.
        let old = unsafe { Node::refs(self.ptr) }.fetch_add(1, Ordering::Relaxed);
        assert!(
            old < isize::MAX as usize,
            "registry: Task reference count overflow"
        );
        Task {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T> Deref for Task<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: our handle keeps the value alive (it is dropped only when the count hits 0);
        // projection to the value field only.
        unsafe { &(*self.ptr.as_ptr()).value }
    }
}

impl<T: fmt::Debug> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Task").field(&**self).finish()
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        // SAFETY: our handle keeps the node alive until this decrement.
        // Release: our uses of the value happen-before its drop; pairs with the Acquire fence.
        if unsafe { Node::refs(self.ptr) }.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Acquire: pairs with the Release decrements of every other handle.
        fence(Ordering::Acquire);
        // SAFETY: we dropped the last count.
        unsafe { die(self.ptr) };
    }
}

/// The last handle of `p` is gone: drop the value, then unregister the node and hand it to its
/// home shard's holder for freeing.
///
/// The value is dropped first, while the node is still linked: a snapshot that meets it fails
/// its try-acquire (the count is 0) and skips it. If `T::drop` panics, the unregister and the
/// hand-over still run (from a drop guard, during unwinding), so the node is never left linked
/// and its memory is freed; the panic then continues on this thread, as from `Vec`'s drop.
///
/// # Safety
/// The count of `p` just went to 0 on this thread.
unsafe fn die<T>(p: NonNull<Node<T>>) {
    /// Runs [`bury`] when dropped, whether the value's drop returned or unwound.
    struct Bury<T>(NonNull<Node<T>>);
    impl<T> Drop for Bury<T> {
        fn drop(&mut self) {
            // SAFETY: the count of the node went to 0 (`die`'s contract), and this guard runs
            // once, after the value's drop.
            unsafe { bury(self.0) }
        }
    }
    let guard = Bury(p);
    // SAFETY: no handle is left, so nobody reads the value again (try_acquire fails from 0);
    // `ManuallyDrop<T>` is `repr(transparent)`, so the cast points at the `T`.
    unsafe { core::ptr::drop_in_place((&raw mut (*p.as_ptr()).value).cast::<T>()) };
    drop(guard);
}

/// Unregisters a node whose value was dropped and queues it for freeing (or frees it).
///
/// # Safety
/// The count of `p` went to 0 and its value was dropped (or its drop unwound); called once.
unsafe fn bury<T>(p: NonNull<Node<T>>) {
    // Under loom: a read of the node's poison cell after the value's drop, so a model sees the
    // drop ordered (or not) before the holder's free.
    // SAFETY: live: the free needs this call's state change first.
    unsafe { Node::check_alive(p) };
    // SAFETY: the node is live until its holder frees it, which needs our push (below) first.
    // Acquire: pairs with the AcqRel CAS that set `home` (first registration).
    let home = unsafe { Node::home(p) }.load(Ordering::Acquire);
    let Some(home) = NonNull::new(home) else {
        // Never registered: no slot, no current slot, no stack ever held it.
        // SAFETY: unreachable from anywhere, value dropped.
        unsafe { Node::free(p) };
        return;
    };
    // SAFETY: live (not yet queued for freeing).
    let state = unsafe { Node::state(p) };
    // Acquire: pairs with the CAS/stores of the other state transitions.
    let mut s = state.load(Ordering::Acquire);
    let push = loop {
        let (new, push) = match s {
            REGISTERED => (REMOTE | DEAD, true),
            REMOTE => (REMOTE | DEAD, false),
            IDLE => (IDLE | DEAD, true),
            _ => unreachable!("registry: node dies twice (state {s})"),
        };
        // AcqRel: races with the holder's REMOTE -> IDLE CAS in `drain`; pairs with it.
        match state.compare_exchange(s, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break push,
            Err(now) => s = now,
        }
    };
    // SAFETY: the node's reference on `home` (taken at first registration) keeps it alive; we
    // give that reference up only after our last use.
    let shard = unsafe { home.as_ref() };
    if push {
        // SAFETY: our CAS queued the node (no one else pushes a DEAD node); we hold the node's
        // reference on the shard.
        unsafe { shard.push_remote(p) };
    }
    // SAFETY: the node's reference, given up once, here. `home` is the pointer `new_shard`
    // made with `Box::into_raw` (copied into the node by `claim`), so it may free the shard.
    unsafe { Shard::release_ref(home) };
}

/// Why [`Registry::register`] or [`Registry::set_current`] refused.
///
/// # Examples
///
/// ```
/// use loopkit::registry::{RegisterError, Registry, Task};
///
/// let reg = Registry::new();
/// let t = Task::new(());
/// reg.register(&t).unwrap();
/// assert_eq!(reg.register(&t), Err(RegisterError::AlreadyRegistered));
/// assert_eq!(RegisterError::AlreadyRegistered.to_string(), "task is already registered");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterError {
    /// The task is registered already.
    AlreadyRegistered,
    /// The task belongs to another thread's shard (or another registry): a task is registered
    /// only on the thread of its first registration.
    WrongThread,
    /// A foreign unregister of this task is still being handed to this thread; try again later.
    Busy,
    /// The calling thread is exiting (its thread-locals are gone).
    ThreadExiting,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegisterError::AlreadyRegistered => "task is already registered",
            RegisterError::WrongThread => "task belongs to another thread's shard",
            RegisterError::Busy => "a foreign unregister of this task is still in flight",
            RegisterError::ThreadExiting => "the calling thread is exiting",
        })
    }
}

impl std::error::Error for RegisterError {}

/// Names one thread's shard of one registry, for [`Registry::current_of`].
///
/// # Examples
///
/// ```
/// use loopkit::registry::Registry;
///
/// let reg = Registry::<u8>::new();
/// let here = reg.thread_key().unwrap();
/// assert_eq!(reg.thread_key().unwrap(), here);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThreadKey {
    shard: u64,
    registry: u64,
}

/// The registry: one shard per thread that registers, a pause-free [`snapshot`](Self::snapshot)
/// from any thread, and a current-task slot per thread.
///
/// `Registry` is a cheap handle (clone it, or put it in an `Arc` or a `static`). When the last
/// handle goes, the registry's memory is freed at once, on every thread that used it: the shared
/// part, and each thread's shard (a shard in which a task that outlives the registry is homed is
/// freed by that task's last drop). Each such thread keeps only a few words for it, until its
/// thread-local map next sweeps dead entries.
///
/// See the [module docs](self) for the guarantees, the state tables and the complexity table.
///
/// # Examples
///
/// ```
/// use loopkit::registry::{Registry, Task};
///
/// let reg = Registry::new();
/// let tasks: Vec<_> = (0..4).map(Task::new).collect();
/// for t in &tasks {
///     reg.register(t).unwrap();
/// }
/// let r2 = reg.clone();
/// let t3 = tasks[3].clone();
/// std::thread::spawn(move || assert!(r2.unregister(&t3))).join().unwrap();
/// let mut seen: Vec<i32> = reg.snapshot().iter().map(|t| **t).collect();
/// seen.sort();
/// assert_eq!(seen, [0, 1, 2]);
/// ```
pub struct Registry<T> {
    /// One handle: a count in `handles` (see [`Header`]).
    header: NonNull<Header<T>>,
    _owns: PhantomData<Header<T>>,
}

// SAFETY: the shared part holds only atomics and shards whose holder-only state is touched by one
// thread at a time (the drain-lock protocol); tasks cross threads, hence `T: Send + Sync`.
unsafe impl<T: Send + Sync> Send for Registry<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send + Sync> Sync for Registry<T> {}

impl<T> Registry<T> {
    /// The shared part, alive as long as `self`.
    #[inline(always)]
    fn inner(&self) -> &Inner<T> {
        // SAFETY: `self` is a handle.
        unsafe { Header::inner(self.header) }
    }
}

impl<T> Clone for Registry<T> {
    fn clone(&self) -> Self {
        // SAFETY: `self` is a handle.
        unsafe { Header::clone_handle(self.header) };
        Registry {
            header: self.header,
            _owns: PhantomData,
        }
    }
}

/// The last handle frees the registry's memory at once: the shared part, and every shard in
/// which no task is homed any more, whichever threads made them ([`docs/registry.md`]).
///
/// [`docs/registry.md`]: crate::docs::registry
impl<T> Drop for Registry<T> {
    fn drop(&mut self) {
        // SAFETY: our handle, given up once.
        unsafe { Header::drop_handle(self.header) }
    }
}

impl<T> fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("shards", &self.inner().shards().count())
            .finish()
    }
}

impl<T: Send + Sync + 'static> Default for Registry<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync + 'static> Registry<T> {
    /// An empty registry.
    ///
    /// # Examples
    ///
    /// ```
    /// let reg = loopkit::registry::Registry::<u32>::new();
    /// assert!(reg.snapshot().is_empty());
    /// ```
    pub fn new() -> Self {
        Registry {
            header: Header::new(),
            _owns: PhantomData,
        }
    }

    /// The calling thread's shard, creating it if `create`: the pointer `Inner::new_shard`
    /// returned (the one a node keeps as its home).
    pub(crate) fn mine_ptr(
        &self,
        create: bool,
    ) -> Result<Option<NonNull<Shard<T>>>, RegisterError> {
        // SAFETY: `self` is a handle, and the shard is used only while it (or a borrow of it)
        // lives.
        unsafe { local::shard_of(self.header, create) }.ok_or(RegisterError::ThreadExiting)
    }

    /// The calling thread's shard, creating it if `create`.
    pub(crate) fn mine(&self, create: bool) -> Result<Option<&Shard<T>>, RegisterError> {
        let shard = self.mine_ptr(create)?;
        // SAFETY: `self` keeps the registry alive, whose reference keeps the shard alive.
        Ok(shard.map(|s| unsafe { s.as_ref() }))
    }

    /// Registers `task` on the calling thread's shard. No lock, no wait, no atomic
    /// read-modify-write (except on a task's first registration).
    ///
    /// # Errors
    ///
    /// [`RegisterError::AlreadyRegistered`]; [`RegisterError::WrongThread`] if the task was first
    /// registered on another thread (or in another registry); [`RegisterError::Busy`] if another
    /// thread's unregister of it is still in flight; [`RegisterError::ThreadExiting`].
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::registry::{RegisterError, Registry, Task};
    ///
    /// let reg = Registry::new();
    /// let t = Task::new(1);
    /// reg.register(&t).unwrap();
    /// let t2 = t.clone();
    /// let r2 = reg.clone();
    /// std::thread::spawn(move || {
    ///     assert!(r2.unregister(&t2));
    ///     assert_eq!(r2.register(&t2), Err(RegisterError::WrongThread));
    /// }).join().unwrap();
    /// reg.register(&t).unwrap(); // home thread may register it again
    /// ```
    pub fn register(&self, task: &Task<T>) -> Result<(), RegisterError> {
        let shard = self.mine_ptr(true)?.expect("shard created");
        // SAFETY: our thread owns its own shard of this registry.
        unsafe { self.inner().register_in(shard, task) }
    }

    /// Unregisters `task` from any thread; returns whether it was registered. Exactly one of any
    /// number of racing calls returns `true`. On the owner thread: O(1), one uncontended CAS. On
    /// another thread: lock-free; the owner unlinks it at its next call.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::registry::{Registry, Task};
    ///
    /// let reg = Registry::new();
    /// let t = Task::new(());
    /// assert!(!reg.unregister(&t)); // never registered
    /// reg.register(&t).unwrap();
    /// assert!(reg.unregister(&t));
    /// assert!(!reg.unregister(&t)); // idempotent
    /// ```
    pub fn unregister(&self, task: &Task<T>) -> bool {
        let mine = self.mine(false).ok().flatten();
        // SAFETY: `mine` is our own shard of this registry.
        unsafe { self.inner().unregister_in(mine, task) }
    }

    /// Every registered task, from any thread, pausing no thread. Weakly consistent: see the
    /// guarantees in the [module docs](self#guarantees-of-registrysnapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::registry::{Registry, Task};
    ///
    /// let reg = Registry::new();
    /// let t = Task::new("x");
    /// reg.register(&t).unwrap();
    /// let snap = reg.snapshot();
    /// assert!(snap.len() == 1 && Task::ptr_eq(&snap[0], &t));
    /// ```
    pub fn snapshot(&self) -> Vec<Task<T>> {
        self.inner().snapshot()
    }

    /// Sets (or clears) the calling thread's current task: a plain store.
    ///
    /// # Errors
    ///
    /// [`RegisterError::WrongThread`] if the task belongs to another thread's shard;
    /// [`RegisterError::ThreadExiting`].
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::registry::{Registry, Task};
    ///
    /// let reg = Registry::new();
    /// let t = Task::new(7);
    /// reg.set_current(Some(&t)).unwrap();
    /// assert_eq!(reg.current().map(|c| *c), Some(7));
    /// reg.set_current(None).unwrap();
    /// assert!(reg.current().is_none());
    /// ```
    pub fn set_current(&self, task: Option<&Task<T>>) -> Result<(), RegisterError> {
        let shard = self.mine_ptr(true)?.expect("shard created");
        // SAFETY: our own shard, from `new_shard`.
        unsafe { Inner::set_current_in(shard, task) }
    }

    /// The calling thread's current task.
    ///
    /// # Examples
    ///
    /// See [`Registry::set_current`].
    pub fn current(&self) -> Option<Task<T>> {
        let shard = self.mine(false).ok().flatten()?;
        // No pin: nodes homed here are freed only by this shard's holder, which is this thread.
        // Acquire: pairs with the Release store in `set_current` (our own, program order).
        let p = NonNull::new(shard.current.load(Ordering::Acquire))?;
        // SAFETY: only this thread frees the node (above), and it is not doing so now.
        unsafe { Node::try_acquire(p) }.then(|| {
            // SAFETY: we hold the count the try-acquire took.
            unsafe { Task::from_counted(p) }
        })
    }

    /// The calling thread's key, for other threads' [`Registry::current_of`].
    ///
    /// # Errors
    ///
    /// [`RegisterError::ThreadExiting`].
    ///
    /// # Examples
    ///
    /// See [`ThreadKey`] and [`Registry::current_of`].
    pub fn thread_key(&self) -> Result<ThreadKey, RegisterError> {
        let shard = self.mine(true)?.expect("shard created").id;
        Ok(ThreadKey {
            shard,
            registry: self.inner().id,
        })
    }

    /// Another thread's current task, read without pausing it (it may be changing). `None` for
    /// a key of another registry.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::registry::{Registry, Task};
    ///
    /// let reg = Registry::new();
    /// let t = Task::new("main");
    /// reg.set_current(Some(&t)).unwrap();
    /// let key = reg.thread_key().unwrap();
    /// let r2 = reg.clone();
    /// let seen = std::thread::spawn(move || r2.current_of(key).map(|c| *c)).join().unwrap();
    /// assert_eq!(seen, Some("main"));
    /// ```
    pub fn current_of(&self, key: ThreadKey) -> Option<Task<T>> {
        if key.registry != self.inner().id {
            return None; // a key of another registry
        }
        self.inner()
            .shards()
            .find(|s| s.id == key.shard)
            .and_then(Inner::current_in)
    }

    /// Processes now what other threads queued for this thread (their unregisters, dead tasks).
    /// Every owner call does this first; an idle thread can call it to free memory sooner.
    ///
    /// # Examples
    ///
    /// ```
    /// let reg = loopkit::registry::Registry::<u8>::new();
    /// reg.drain();
    /// ```
    pub fn drain(&self) {
        if let Ok(Some(shard)) = self.mine(false) {
            // SAFETY: our own shard.
            unsafe { shard.drain() };
        }
    }

    /// The number of tasks linked in the calling thread's shard, after draining.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::registry::{Registry, Task};
    ///
    /// let reg = Registry::new();
    /// let t = Task::new(0);
    /// reg.register(&t).unwrap();
    /// assert_eq!(reg.local_len(), 1);
    /// ```
    pub fn local_len(&self) -> usize {
        match self.mine(false) {
            Ok(Some(shard)) => {
                // SAFETY: our own shard.
                unsafe {
                    shard.drain();
                    shard.linked_len()
                }
            }
            _ => 0,
        }
    }

    /// Checks the calling thread's shard (after draining it): the list is valid, every occupied
    /// slot holds a node homed here in a linked state with a matching slot index, and the list
    /// length equals the occupied slots. Panics with a labelled message otherwise. A test
    /// helper, not part of the public API.
    #[doc(hidden)]
    pub fn assert_valid(&self) {
        let mine = self.mine(false).ok().flatten();
        if let Some(shard) = mine {
            // SAFETY: our own shard.
            unsafe { shard.drain() };
        }
        // SAFETY: `mine` is our own shard.
        unsafe { self.inner().assert_valid_in(mine) };
    }
}
