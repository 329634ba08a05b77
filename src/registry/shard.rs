//! The per-thread shard: the holder-only state (the owner's list, the mirror's free slots, the
//! retired nodes) and what the holder does with it: link, unlink, drain the remote stack, retire
//! and free nodes, free the shard. The node, the mirror, the remote stack and drain lock, and the
//! epoch have a file each. [`docs/registry.md`] is the design; the state tables of the two atomic
//! state words are in the parent module's docs.
//!
//! [`docs/registry.md`]: crate::docs::registry

use core::ptr::{self, NonNull};

use super::epoch::Epoch;
use super::mirror::{Mirror, Slots};
use super::node::{Node, DEAD, IDLE, LINK_MASK, REGISTERED, REMOTE};
use super::remote::OWNED;
use crate::list::List;
use crate::loom::{fence, AtomicPtr, AtomicUsize, Ordering, UnsafeCell};

/// The fields other threads write (the remote stack head: foreign pushes; the epoch's reader
/// counters: every pin) are unpadded: padding them measured no gain (`docs/registry.md`). The
/// padded layout is kept behind `--cfg loopkit_registry_pad` for that comparison only.
#[cfg(not(loopkit_registry_pad))]
type Pad<X> = X;
#[cfg(loopkit_registry_pad)]
type Pad<X> = crossbeam_utils::CachePadded<X>;

#[cfg(not(loopkit_registry_pad))]
#[inline(always)]
fn pad<X>(x: X) -> Pad<X> {
    x
}
#[cfg(loopkit_registry_pad)]
#[inline(always)]
fn pad<X>(x: X) -> Pad<X> {
    crossbeam_utils::CachePadded::new(x)
}

/// What only the holder (owner thread, or drain-lock holder after it exited) touches.
struct Local<T> {
    /// The owner's list of linked nodes (REGISTERED or REMOTE).
    list: List<Node<T>>,
    /// The mirror's block table and free slots.
    slots: Slots<T>,
    /// Retired nodes with the epoch at retirement.
    retired: Vec<(NonNull<Node<T>>, usize)>,
    /// The epoch (the holder is its only writer).
    epoch: usize,
}

impl<T> Local<T> {
    fn new() -> Self {
        Local {
            list: List::new(),
            slots: Slots::new(),
            retired: Vec::new(),
            epoch: 0,
        }
    }
}

/// One thread's part of the registry.
pub(crate) struct Shard<T> {
    /// Stable id, for [`ThreadKey`](super::ThreadKey).
    pub(crate) id: u64,
    /// The id of the registry this shard belongs to (never reused, unlike its address).
    pub(crate) registry: u64,
    /// 1 for the registry plus 1 per node whose home is this shard.
    refs: AtomicUsize,
    /// OWNED / ORPHAN / LOCKED (state table in the module docs; `remote.rs`).
    pub(crate) owner: AtomicUsize,
    /// Treiber stack of nodes waiting for the holder (foreign unregisters, dead nodes).
    pub(super) remote: Pad<AtomicPtr<Node<T>>>,
    /// The snapshot mirror (readers' side).
    pub(super) mirror: Mirror<T>,
    /// Reclamation epoch.
    pub(crate) epoch: Pad<Epoch>,
    /// Number of retired nodes not yet freed (a hint for helpers).
    pub(super) retired_hint: AtomicUsize,
    /// Nodes freed so far (tests only).
    #[cfg(test)]
    pub(crate) freed: AtomicUsize,
    /// The current-task slot.
    pub(crate) current: AtomicPtr<Node<T>>,
    /// Next shard in the registry's list (set before the shard is published).
    pub(crate) next: AtomicPtr<Shard<T>>,
    local: UnsafeCell<Local<T>>,
    /// Under loom, a shard that is never freed fails the model ("Allocation leaked").
    #[cfg(loopkit_loom)]
    _track: loom::alloc::Track<()>,
    /// Set when the shard is freed. Under loom every releaser reads it before its decrement and
    /// a foreign unregister before it reads `registry`, so an access not ordered before the
    /// free, or not after the shard's creation, is reported as a race on this cell.
    #[cfg(loopkit_loom)]
    poison: UnsafeCell<bool>,
}

impl<T> Shard<T> {
    /// A new shard, owned by the calling thread, with one reference (the registry's).
    pub(crate) fn new(id: u64, registry: u64) -> Box<Self> {
        Box::new(Shard {
            id,
            registry,
            refs: AtomicUsize::new(1),
            owner: AtomicUsize::new(OWNED),
            remote: pad(AtomicPtr::new(ptr::null_mut())),
            mirror: Mirror::new(),
            epoch: pad(Epoch::new()),
            retired_hint: AtomicUsize::new(0),
            #[cfg(test)]
            freed: AtomicUsize::new(0),
            current: AtomicPtr::new(ptr::null_mut()),
            next: AtomicPtr::new(ptr::null_mut()),
            local: UnsafeCell::new(Local::new()),
            #[cfg(loopkit_loom)]
            _track: loom::alloc::Track::new(()),
            #[cfg(loopkit_loom)]
            poison: UnsafeCell::new(false),
        })
    }

    /// Under loom: reads the poison cell (see `poison`); a no-op otherwise.
    #[inline(always)]
    pub(crate) fn check_alive(&self) {
        #[cfg(loopkit_loom)]
        // SAFETY: a plain read; loom reports it if it is unordered with the write in `free`
        // or with the cell's creation.
        self.poison
            .with(|p| assert!(!unsafe { *p }, "registry: shard used after free"));
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

    /// Links `n` (already REGISTERED) into the list and a mirror slot.
    ///
    /// # Safety
    /// Caller is the holder; `n` is a live node homed here and not linked.
    #[inline]
    pub(crate) unsafe fn link(&self, n: NonNull<Node<T>>) {
        // SAFETY: caller is the holder.
        unsafe {
            self.with_local(|local| {
                let idx = local.slots.take(&self.mirror);
                // SAFETY: `n` is live (caller); `slot` is holder-only.
                Node::slot(n).with_mut(|s| *s = idx);
                let pushed = local.list.push_back(n);
                debug_assert!(pushed.is_ok(), "registry: node already in a list");
                local.slots.publish(idx, n);
            })
        }
    }

    /// Unlinks `n` from the list and clears its mirror slot.
    ///
    /// # Safety
    /// Caller is the holder; `n` is linked here.
    #[inline]
    pub(crate) unsafe fn unlink(&self, n: NonNull<Node<T>>) {
        // SAFETY: caller is the holder.
        unsafe {
            self.with_local(|local| {
                // SAFETY: `slot` is holder-only; `n` is live (linked nodes are never freed).
                let idx = Node::slot(n).with(|s| *s);
                local.slots.clear(idx);
                // SAFETY: `n` is live and linked in this list (caller); only the holder runs list
                // operations on it (`Linked` point 6).
                let removed = local.list.remove_ptr(n);
                debug_assert!(removed.is_some(), "registry: node not in its home list");
            })
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
                self.epoch.advance(&mut local.epoch);
                let e = local.epoch;
                local.retired.retain(|&(n, tag)| {
                    if Epoch::expired(tag, e) {
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
        // SAFETY: the caller's reference keeps the shard alive.
        unsafe { this.as_ref() }.check_alive();
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
        #[cfg(loopkit_loom)]
        // SAFETY: exclusive (caller); loom checks the write against every releaser's read.
        unsafe { this.as_ref() }
            .poison
            .with_mut(|p| unsafe { *p = true });
        // SAFETY: exclusive (caller), so we are the holder; dead nodes may still be queued.
        unsafe { this.as_ref().drain() };
        // SAFETY: exclusive (caller); allocated by Box in `Shard::new`.
        let shard = unsafe { Box::from_raw(this.as_ptr()) };
        let local = shard.local.with_mut(|l| {
            // SAFETY: exclusive.
            unsafe { core::mem::replace(&mut *l, Local::new()) }
        });
        debug_assert!(
            local.list.is_empty(),
            "registry: shard freed with linked nodes"
        );
        for (n, _) in local.retired {
            // SAFETY: no reader can exist: the registry is gone (it held a reference).
            unsafe { Node::free(n) };
        }
        // SAFETY: no reader can exist: the registry is gone (it held a reference).
        unsafe { local.slots.free_blocks() };
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
                let mut is_free = vec![false; local.slots.capacity()];
                for &i in local.slots.free_indices() {
                    assert!(
                        !core::mem::replace(&mut is_free[i], true),
                        "registry: slot {i} free twice"
                    );
                }
                for (idx, &free) in is_free.iter().enumerate() {
                    // Relaxed: we are the only writer.
                    let p = local.slots.slot(idx).load(Ordering::Relaxed);
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
                    in_slots + local.slots.free_indices().len(),
                    local.slots.capacity(),
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
