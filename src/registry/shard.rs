//! Internals: the node behind a [`Task`](super::Task), the per-thread shard, the remote stack, the
//! drain lock and the per-shard epoch reclamation. [`docs/registry.md`] is the design; the state
//! tables of the two atomic state words are in the parent module's docs.
//!
//! [`docs/registry.md`]: crate::docs::registry

use core::mem::ManuallyDrop;
use core::ptr::{self, NonNull};

use crate::list::{Linked, Links, List};
use crate::loom::{fence, AtomicPtr, AtomicUsize, Ordering, UnsafeCell};

/// `Node.state`: not registered anywhere.
pub(crate) const IDLE: usize = 0;
/// `Node.state`: linked in its home shard and visible to `snapshot()`.
pub(crate) const REGISTERED: usize = 1;
/// `Node.state`: a foreign unregister won; still linked until the holder drains it.
pub(crate) const REMOTE: usize = 2;
/// `Node.state` bit: the last handle is gone; the holder retires the node.
pub(crate) const DEAD: usize = 4;
/// Mask of the IDLE/REGISTERED/REMOTE part of `Node.state`.
pub(crate) const LINK_MASK: usize = 3;

/// `Shard.owner`: a live thread owns the shard.
pub(crate) const OWNED: usize = 0;
/// `Shard.owner`: the owner exited; nobody holds the drain lock.
pub(crate) const ORPHAN: usize = 1;
/// `Shard.owner`: the owner exited; a thread holds the drain lock.
pub(crate) const LOCKED: usize = 2;

/// Slots per block of the snapshot mirror (tiny under loom/Miri so growth is exercised).
#[cfg(not(any(loopkit_loom, miri)))]
const BLOCK: usize = 128;
#[cfg(any(loopkit_loom, miri))]
const BLOCK: usize = 2;

/// A counted handle's target: the item, its registry state and its owner-side links.
pub(crate) struct Node<T> {
    /// Number of live `Task` handles.
    pub(crate) refs: AtomicUsize,
    /// IDLE / REGISTERED / REMOTE plus the DEAD bit (state table in the module docs).
    pub(crate) state: AtomicUsize,
    /// The shard of first registration; set once by CAS, then immutable.
    pub(crate) home: AtomicPtr<Shard<T>>,
    /// Link in `home.remote`; written only by the thread that won the right to push.
    rnext: UnsafeCell<*mut Node<T>>,
    /// Index of the node's slot in `home`'s mirror; holder-only.
    slot: UnsafeCell<usize>,
    /// Links of the holder's `List`; holder-only.
    links: Links<Node<T>>,
    /// Set when the memory would be freed (loom builds keep the memory so that a late reader is
    /// reported as a data race on this cell instead of reading freed memory).
    #[cfg(loopkit_loom)]
    freed: UnsafeCell<bool>,
    /// The item; dropped in place by the last handle.
    pub(crate) value: ManuallyDrop<T>,
}

impl<T> Node<T> {
    /// Allocates a node with one handle.
    pub(crate) fn alloc(value: T) -> NonNull<Node<T>> {
        let b = Box::new(Node {
            refs: AtomicUsize::new(1),
            state: AtomicUsize::new(IDLE),
            home: AtomicPtr::new(ptr::null_mut()),
            rnext: UnsafeCell::new(ptr::null_mut()),
            slot: UnsafeCell::new(usize::MAX),
            links: Links::new(),
            #[cfg(loopkit_loom)]
            freed: UnsafeCell::new(false),
            value: ManuallyDrop::new(value),
        });
        // SAFETY: `Box::into_raw` never returns null; every handle and every pointer the registry
        // stores is a copy of this one, which `free` gives back to `Box::from_raw`.
        unsafe { NonNull::new_unchecked(Box::into_raw(b)) }
    }

    /// Frees the node's memory (the value was dropped already).
    ///
    /// # Safety
    /// `p` came from [`Node::alloc`], its value was dropped, and no thread can reach it any more.
    pub(crate) unsafe fn free(p: NonNull<Node<T>>) {
        #[cfg(loopkit_loom)]
        {
            // SAFETY: the caller guarantees no other thread reaches the node; under loom the
            // write is checked against every earlier read by snapshot().
            unsafe { &(*p.as_ptr()).freed }.with_mut(|f| unsafe { *f = true });
        }
        #[cfg(not(loopkit_loom))]
        {
            // SAFETY: allocated by Box in `alloc`; unreachable (caller); `value` is
            // `ManuallyDrop`, so the value is not dropped twice.
            drop(unsafe { Box::from_raw(p.as_ptr()) });
        }
    }

    /// Checks (under loom) that the node has not been freed; a no-op otherwise.
    ///
    /// # Safety
    /// `p` came from [`Node::alloc`] (under loom the memory is never returned).
    #[inline]
    pub(crate) unsafe fn check_alive(p: NonNull<Self>) {
        #[cfg(loopkit_loom)]
        // SAFETY: a plain read of the poison flag (field projection, no `&Node`); loom reports
        // it if it races with the write in `free`.
        unsafe { &(*p.as_ptr()).freed }
            .with(|f| assert!(!unsafe { *f }, "registry: node used after free"));
        let _ = p;
    }

    /// The handle count. Field projection only: concurrent code never makes a `&Node`, because
    /// the last handle drops `value` in place while other threads may still touch the atomics.
    ///
    /// # Safety
    /// `p` points to a node whose memory stays allocated for `'a`.
    #[inline(always)]
    pub(crate) unsafe fn refs<'a>(p: NonNull<Self>) -> &'a AtomicUsize {
        // SAFETY: live memory (caller); projection to one field.
        unsafe { &(*p.as_ptr()).refs }
    }

    /// The state word (see [`Node::refs`] for why this is a projection).
    ///
    /// # Safety
    /// As [`Node::refs`].
    #[inline(always)]
    pub(crate) unsafe fn state<'a>(p: NonNull<Self>) -> &'a AtomicUsize {
        // SAFETY: live memory (caller); projection to one field.
        unsafe { &(*p.as_ptr()).state }
    }

    /// The home shard pointer (see [`Node::refs`]).
    ///
    /// # Safety
    /// As [`Node::refs`].
    #[inline(always)]
    pub(crate) unsafe fn home<'a>(p: NonNull<Self>) -> &'a AtomicPtr<Shard<T>> {
        // SAFETY: live memory (caller); projection to one field.
        unsafe { &(*p.as_ptr()).home }
    }

    /// The remote-stack link (see [`Node::refs`]).
    ///
    /// # Safety
    /// As [`Node::refs`].
    #[inline(always)]
    unsafe fn rnext<'a>(p: NonNull<Self>) -> &'a UnsafeCell<*mut Node<T>> {
        // SAFETY: live memory (caller); projection to one field.
        unsafe { &(*p.as_ptr()).rnext }
    }

    /// The slot index (see [`Node::refs`]).
    ///
    /// # Safety
    /// As [`Node::refs`].
    #[inline(always)]
    unsafe fn slot<'a>(p: NonNull<Self>) -> &'a UnsafeCell<usize> {
        // SAFETY: live memory (caller); projection to one field.
        unsafe { &(*p.as_ptr()).slot }
    }

    /// Increment-if-nonzero: takes a new handle unless the last one is already gone.
    ///
    /// # Safety
    /// `p` points to a node whose memory stays allocated during the call (a pinned reader, the
    /// holder, or a handle owner).
    pub(crate) unsafe fn try_acquire(p: NonNull<Self>) -> bool {
        // SAFETY: live memory (caller).
        unsafe { Self::check_alive(p) };
        // SAFETY: live memory (caller).
        let refs = unsafe { Self::refs(p) };
        // Relaxed: the node's memory was published by the Acquire load that found it.
        let mut r = refs.load(Ordering::Relaxed);
        loop {
            if r == 0 {
                return false;
            }
            assert!(
                r < isize::MAX as usize,
                "registry: Task reference count overflow"
            );
            // Acquire on success: pairs with the Release decrements in Task::drop (a revived
            // handle sees every write made through the handles it joins).
            match refs.compare_exchange_weak(r, r + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => r = now,
            }
        }
    }
}

// SAFETY: `links` returns the node's own `Links` field; the list owns no reference count (the
// handle is a bare pointer), and a node sits in at most its home shard's list.
unsafe impl<T> Linked for Node<T> {
    type Handle = NonNull<Node<T>>;

    fn into_ptr(handle: Self::Handle) -> NonNull<Self> {
        handle
    }

    unsafe fn from_ptr(ptr: NonNull<Self>) -> Self::Handle {
        ptr
    }

    unsafe fn links(ptr: NonNull<Self>) -> NonNull<Links<Self>> {
        // SAFETY: `ptr` points to a live node (trait contract); no reference is created.
        unsafe { NonNull::new_unchecked(&raw mut (*ptr.as_ptr()).links) }
    }
}

/// One block of the snapshot mirror: slot `i` holds the node registered there, or null.
struct Block<T> {
    slots: Box<[AtomicPtr<Node<T>>]>,
    next: AtomicPtr<Block<T>>,
}

/// What only the holder (owner thread, or drain-lock holder after it exited) touches.
struct Local<T> {
    /// The owner's list of linked nodes (REGISTERED or REMOTE).
    list: List<Node<T>>,
    /// Free slot indices.
    free: Vec<usize>,
    /// Block table: index / BLOCK -> block.
    table: Vec<NonNull<Block<T>>>,
    /// Retired nodes with the epoch at retirement.
    retired: Vec<(NonNull<Node<T>>, usize)>,
    /// The epoch (the holder is its only writer).
    epoch: usize,
}

/// One thread's part of the registry.
pub(crate) struct Shard<T> {
    /// Stable id, for [`ThreadKey`](super::ThreadKey).
    pub(crate) id: u64,
    /// The id of the registry this shard belongs to (never reused, unlike its address).
    pub(crate) registry: u64,
    /// 1 for the registry plus 1 per node whose home is this shard.
    refs: AtomicUsize,
    /// OWNED / ORPHAN / LOCKED (state table in the module docs).
    pub(crate) owner: AtomicUsize,
    /// Treiber stack of nodes waiting for the holder (foreign unregisters, dead nodes).
    remote: AtomicPtr<Node<T>>,
    /// First block of the snapshot mirror.
    blocks: AtomicPtr<Block<T>>,
    /// Reclamation epoch (written by the holder only).
    epoch: AtomicUsize,
    /// Readers pinned in an epoch of each parity.
    active: [AtomicUsize; 2],
    /// Number of retired nodes not yet freed (a hint for helpers).
    retired_hint: AtomicUsize,
    /// Nodes freed so far (tests only).
    #[cfg(test)]
    pub(crate) freed: AtomicUsize,
    /// The current-task slot.
    pub(crate) current: AtomicPtr<Node<T>>,
    /// Next shard in the registry's list (set before the shard is published).
    pub(crate) next: AtomicPtr<Shard<T>>,
    local: UnsafeCell<Local<T>>,
}

impl<T> Shard<T> {
    /// A new shard, owned by the calling thread, with one reference (the registry's).
    pub(crate) fn new(id: u64, registry: u64) -> Box<Self> {
        Box::new(Shard {
            id,
            registry,
            refs: AtomicUsize::new(1),
            owner: AtomicUsize::new(OWNED),
            remote: AtomicPtr::new(ptr::null_mut()),
            blocks: AtomicPtr::new(ptr::null_mut()),
            epoch: AtomicUsize::new(0),
            active: [AtomicUsize::new(0), AtomicUsize::new(0)],
            retired_hint: AtomicUsize::new(0),
            #[cfg(test)]
            freed: AtomicUsize::new(0),
            current: AtomicPtr::new(ptr::null_mut()),
            next: AtomicPtr::new(ptr::null_mut()),
            local: UnsafeCell::new(Local {
                list: List::new(),
                free: Vec::new(),
                table: Vec::new(),
                retired: Vec::new(),
                epoch: 0,
            }),
        })
    }

    /// Runs `f` on the holder-only state.
    ///
    /// # Safety
    /// The caller is the shard's holder (its owner thread, or the drain-lock holder), and `f`
    /// does not re-enter `with_local`.
    unsafe fn with_local<R>(&self, f: impl FnOnce(&mut Local<T>) -> R) -> R {
        // SAFETY: only the holder touches `local` (caller), and there is one holder at a time:
        // the owner until it stores LOCKED, then whoever wins the ORPHAN -> LOCKED CAS.
        self.local.with_mut(|l| f(unsafe { &mut *l }))
    }

    /// Slot `idx` of the mirror.
    fn slot(local: &Local<T>, idx: usize) -> &AtomicPtr<Node<T>> {
        // SAFETY: blocks in the table live until the shard is freed.
        let block = unsafe { local.table[idx / BLOCK].as_ref() };
        &block.slots[idx % BLOCK]
    }

    /// Links `n` (already REGISTERED) into the list and a mirror slot.
    ///
    /// # Safety
    /// Caller is the holder; `n` is a live node homed here and not linked.
    pub(crate) unsafe fn link(&self, n: NonNull<Node<T>>) {
        // SAFETY: caller is the holder.
        unsafe {
            self.with_local(|local| {
                let idx = match local.free.pop() {
                    Some(i) => i,
                    None => self.grow(local),
                };
                // SAFETY: `n` is live (caller); `slot` is holder-only.
                Node::slot(n).with_mut(|s| *s = idx);
                let pushed = local.list.push_back(n);
                debug_assert!(pushed.is_ok(), "registry: node already in a list");
                // Release: publishes the node (its allocation and state REGISTERED) to
                // snapshot(); pairs with the Acquire slot load in `scan`.
                Self::slot(local, idx).store(n.as_ptr(), Ordering::Release);
            })
        }
    }

    /// Appends a block to the mirror and returns a free index (the others go to `free`).
    fn grow(&self, local: &mut Local<T>) -> usize {
        let slots = (0..BLOCK)
            .map(|_| AtomicPtr::new(ptr::null_mut()))
            .collect();
        let b = Box::into_raw(Box::new(Block {
            slots,
            next: AtomicPtr::new(ptr::null_mut()),
        }));
        // SAFETY: `Box::into_raw` never returns null; this pointer is the one `free` frees.
        let b = unsafe { NonNull::new_unchecked(b) };
        match local.table.last() {
            // Release: publishes the block's initialised slots; pairs with the Acquire load of
            // `blocks` in `scan`.
            None => self.blocks.store(b.as_ptr(), Ordering::Release),
            // SAFETY: table blocks live until the shard is freed.
            // Release: as above, pairs with the Acquire load of `next` in `scan`.
            Some(last) => unsafe { last.as_ref() }
                .next
                .store(b.as_ptr(), Ordering::Release),
        }
        let base = local.table.len() * BLOCK;
        local.table.push(b);
        local.free.extend((base + 1..base + BLOCK).rev());
        base
    }

    /// Unlinks `n` from the list and clears its mirror slot.
    ///
    /// # Safety
    /// Caller is the holder; `n` is linked here.
    pub(crate) unsafe fn unlink(&self, n: NonNull<Node<T>>) {
        // SAFETY: caller is the holder.
        unsafe {
            self.with_local(|local| {
                // SAFETY: `slot` is holder-only; `n` is live (linked nodes are never freed).
                let idx = Node::slot(n).with(|s| *s);
                // Release: an unlink that happened-before a snapshot is seen by it; pairs with
                // the Acquire slot load in `scan`.
                Self::slot(local, idx).store(ptr::null_mut(), Ordering::Release);
                local.free.push(idx);
                // SAFETY: `n` is live and linked in this list (caller); only the holder runs list
                // operations on it (`Linked` point 6).
                let removed = local.list.remove_ptr(n);
                debug_assert!(removed.is_some(), "registry: node not in its home list");
            })
        }
    }

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
    fn unlock(&self) -> bool {
        // Release: publishes our local writes to the next holder; pairs with the Acquire CAS in
        // `help`.
        self.owner.store(ORPHAN, Ordering::Release);
        // SeqCst: store-load edge with the fence in `push_remote`.
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        !self.remote.load(Ordering::Relaxed).is_null()
    }

    /// Thread exit: hands the shard over (O(1)): take the lock as the owner, drain, release.
    ///
    /// # Safety
    /// Called once, by the owner thread, which never touches the shard as owner again.
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

    /// Processes every queued node: unlink foreign-unregistered ones, retire dead ones, then try
    /// to free retired nodes whose grace period is over.
    ///
    /// # Safety
    /// Caller is the holder.
    pub(crate) unsafe fn drain(&self) {
        // Acquire: pairs with the Release CAS in `push_remote`: every queued node's `rnext` is
        // visible.
        let mut p = self.remote.swap(ptr::null_mut(), Ordering::Acquire);
        while let Some(n) = NonNull::new(p) {
            // SAFETY: queued nodes are live (only the holder frees, after retiring). Read `rnext`
            // before any state change lets another thread push the node again.
            p = unsafe { Node::rnext(n) }.with(|r| unsafe { *r });
            // SAFETY: as above.
            let state = unsafe { Node::state(n) };
            // Acquire: pairs with the AcqRel CAS that queued the node.
            let s = state.load(Ordering::Acquire);
            if s & LINK_MASK == REMOTE {
                // SAFETY: holder; REMOTE nodes are linked here.
                unsafe { self.unlink(n) };
            }
            // AcqRel: races only with the last-handle drop setting DEAD; pairs with its CAS.
            if s & DEAD == 0
                && state
                    .compare_exchange(REMOTE, IDLE, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                continue;
            }
            // SAFETY: holder; the node is DEAD and unlinked.
            unsafe { self.retire(n) };
        }
        // SAFETY: holder.
        unsafe { self.reclaim() };
    }

    /// Queues a dead, unlinked node for freeing after the grace period.
    ///
    /// # Safety
    /// Caller is the holder; `n` is DEAD, homed here, unlinked.
    unsafe fn retire(&self, n: NonNull<Node<T>>) {
        // Relaxed: we are the only writer of `current` besides the owner's plain store, and we
        // are the owner or the lock holder.
        if self.current.load(Ordering::Relaxed) == n.as_ptr() {
            // Release: pairs with the Acquire load in `current_of`; the epoch store publishes it
            // to later readers.
            self.current.store(ptr::null_mut(), Ordering::Release);
        }
        // SAFETY: caller is the holder.
        unsafe {
            self.with_local(|local| {
                local.retired.push((n, local.epoch));
                // Relaxed: a hint for helpers only.
                self.retired_hint
                    .store(local.retired.len(), Ordering::Relaxed);
            })
        }
    }

    /// Advances the epoch (at most twice) if old readers are gone and frees what is safe.
    ///
    /// # Safety
    /// Caller is the holder.
    pub(crate) unsafe fn reclaim(&self) {
        // SAFETY: caller is the holder.
        unsafe {
            self.with_local(|local| {
                if local.retired.is_empty() {
                    return;
                }
                for _ in 0..2 {
                    // SeqCst: store-load edge with the fence in `pin`: either we see the
                    // reader's increment, or it sees our epoch and backs off.
                    fence(Ordering::SeqCst);
                    // Acquire: pairs with the Release decrement in `unpin`; a reader's node
                    // accesses happen-before our free.
                    if self.active[(local.epoch + 1) & 1].load(Ordering::Acquire) != 0 {
                        break;
                    }
                    local.epoch += 1;
                    // Release: publishes our slot/current clears to readers that pin the new
                    // epoch; pairs with the Acquire re-read in `pin`.
                    self.epoch.store(local.epoch, Ordering::Release);
                }
                let e = local.epoch;
                local.retired.retain(|&(n, tag)| {
                    if tag + 2 <= e {
                        // SAFETY: unlinked, slot and current cleared, value dropped, and every
                        // reader that could have seen it has unpinned (two epoch advances).
                        Node::free(n);
                        // Relaxed: a test counter.
                        #[cfg(test)]
                        self.freed.fetch_add(1, Ordering::Relaxed);
                        false
                    } else {
                        true
                    }
                });
                // Relaxed: a hint for helpers only.
                self.retired_hint
                    .store(local.retired.len(), Ordering::Relaxed);
            })
        }
    }

    /// Pins the shard's epoch for a reader; returns the epoch to pass to [`Shard::unpin`].
    pub(crate) fn pin(&self) -> usize {
        loop {
            // Acquire: pairs with the Release epoch store in `reclaim`.
            let e = self.epoch.load(Ordering::Acquire);
            // Relaxed: ordered by the fence below.
            self.active[e & 1].fetch_add(1, Ordering::Relaxed);
            // SeqCst: store-load edge with the fence in `reclaim`.
            fence(Ordering::SeqCst);
            // Acquire: pairs with the Release epoch store in `reclaim` (its clears are visible).
            if self.epoch.load(Ordering::Acquire) == e {
                return e;
            }
            // Release: pairs with the Acquire load of `active` in `reclaim`.
            self.active[e & 1].fetch_sub(1, Ordering::Release);
        }
    }

    /// Unpins a reader pinned at `e`.
    pub(crate) fn unpin(&self, e: usize) {
        // Release: our node reads happen-before a free; pairs with the Acquire load of `active`
        // in `reclaim`.
        self.active[e & 1].fetch_sub(1, Ordering::Release);
    }

    /// Collects the non-null mirror slots. Must be pinned.
    pub(crate) fn scan(&self, out: &mut Vec<NonNull<Node<T>>>) {
        // Acquire: pairs with the Release store in `grow`.
        let mut b = self.blocks.load(Ordering::Acquire);
        // SAFETY: blocks live until the shard is freed, and the caller holds the registry.
        while let Some(block) = NonNull::new(b).map(|b| unsafe { b.as_ref() }) {
            for slot in block.slots.iter() {
                // Acquire: pairs with the Release store in `link` (the node is published).
                if let Some(n) = NonNull::new(slot.load(Ordering::Acquire)) {
                    out.push(n);
                }
            }
            // Acquire: pairs with the Release store in `grow`.
            b = block.next.load(Ordering::Acquire);
        }
    }

    /// Does an orphaned shard have work a helper could do?
    pub(crate) fn orphan_has_work(&self) -> bool {
        // Relaxed: hints; `help` takes the lock with Acquire.
        self.owner.load(Ordering::Relaxed) == ORPHAN
            && (self.has_remote() || self.retired_hint.load(Ordering::Relaxed) != 0)
    }

    /// A node takes a reference on its (new) home shard.
    pub(crate) fn acquire_ref(&self) {
        // Relaxed: the caller already holds a reference (the registry's), as in Arc::clone.
        self.refs.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops a reference; frees the shard when it was the last.
    ///
    /// # Safety
    /// `this` is a live shard allocated by `Shard::new` + `Box::into_raw`, and the caller owns
    /// one of its references, which it gives up.
    pub(crate) unsafe fn release_ref(this: NonNull<Shard<T>>) {
        // SAFETY: the caller's reference keeps the shard alive until this decrement.
        // Release: pairs with the Acquire fence below in the last releaser.
        if unsafe { this.as_ref() }
            .refs
            .fetch_sub(1, Ordering::Release)
            != 1
        {
            return;
        }
        // Acquire: pairs with every earlier Release decrement.
        fence(Ordering::Acquire);
        // SAFETY: last reference: nobody else reaches the shard.
        unsafe { Self::free(this) };
    }

    /// Frees a shard nobody references: retired nodes, blocks, the shard.
    ///
    /// # Safety
    /// No thread can reach `this` any more.
    unsafe fn free(this: NonNull<Shard<T>>) {
        // SAFETY: exclusive (caller), so we are the holder; dead nodes may still be queued.
        unsafe { this.as_ref().drain() };
        // SAFETY: exclusive (caller); allocated by Box in `Shard::new`.
        let shard = unsafe { Box::from_raw(this.as_ptr()) };
        let local = shard.local.with_mut(|l| {
            // SAFETY: exclusive.
            unsafe {
                core::mem::replace(
                    &mut *l,
                    Local {
                        list: List::new(),
                        free: Vec::new(),
                        table: Vec::new(),
                        retired: Vec::new(),
                        epoch: 0,
                    },
                )
            }
        });
        debug_assert!(
            local.list.is_empty(),
            "registry: shard freed with linked nodes"
        );
        for (n, _) in local.retired {
            // SAFETY: no reader can exist: the registry is gone (it held a reference).
            unsafe { Node::free(n) };
        }
        for b in local.table {
            // SAFETY: allocated by Box in `grow`; unreachable now.
            drop(unsafe { Box::from_raw(b.as_ptr()) });
        }
    }

    /// Checks the holder-side invariants. Returns the number of linked nodes.
    ///
    /// # Safety
    /// Caller is the holder.
    pub(crate) unsafe fn assert_valid(&self) -> usize {
        // SAFETY: caller is the holder.
        unsafe {
            self.with_local(|local| {
                local.list.assert_valid();
                let mut in_slots = 0;
                let mut is_free = vec![false; local.table.len() * BLOCK];
                for &i in &local.free {
                    assert!(
                        !core::mem::replace(&mut is_free[i], true),
                        "registry: slot {i} free twice"
                    );
                }
                for (idx, &free) in is_free.iter().enumerate() {
                    // Relaxed: we are the only writer.
                    let p = Self::slot(local, idx).load(Ordering::Relaxed);
                    let Some(n) = NonNull::new(p) else {
                        assert!(free, "registry: empty slot {idx} not free");
                        continue;
                    };
                    in_slots += 1;
                    assert!(!free, "registry: occupied slot {idx} is on the free list");
                    assert_eq!(
                        Node::slot(n).with(|s| *s),
                        idx,
                        "registry: node's slot index is stale"
                    );
                    // Relaxed: set once before linking, by us.
                    assert_eq!(
                        Node::home(n).load(Ordering::Relaxed),
                        self as *const _ as *mut _,
                        "registry: linked node homed elsewhere"
                    );
                    // Relaxed: a consistency check in a quiescent test.
                    let s = Node::state(n).load(Ordering::Relaxed) & LINK_MASK;
                    assert!(
                        s == REGISTERED || s == REMOTE,
                        "registry: linked node in state {s}"
                    );
                }
                assert_eq!(
                    in_slots,
                    local.list.len(),
                    "registry: list length != occupied slots"
                );
                assert_eq!(
                    in_slots + local.free.len(),
                    local.table.len() * BLOCK,
                    "registry: slot accounting"
                );
                in_slots
            })
        }
    }

    /// Number of linked nodes (REGISTERED or REMOTE).
    ///
    /// # Safety
    /// Caller is the holder.
    pub(crate) unsafe fn linked_len(&self) -> usize {
        // SAFETY: caller is the holder.
        unsafe { self.with_local(|local| local.list.len()) }
    }
}

impl<T> core::fmt::Debug for Shard<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Relaxed: diagnostics only.
        f.debug_struct("Shard")
            .field("id", &self.id)
            .field("owner", &self.owner.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
