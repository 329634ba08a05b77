//! The node behind a [`Task`](super::Task): its handle count, its state word (the table is in the
//! parent module's docs), its home shard, and the holder-only fields the shard keeps in it.

use core::mem::ManuallyDrop;
use core::ptr::{self, NonNull};

use super::shard::Shard;
use crate::list::{Linked, Links};
use crate::loom::{AtomicPtr, AtomicUsize, Ordering, UnsafeCell};

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
    pub(super) unsafe fn rnext<'a>(p: NonNull<Self>) -> &'a UnsafeCell<*mut Node<T>> {
        // SAFETY: live memory (caller); projection to one field.
        unsafe { &(*p.as_ptr()).rnext }
    }

    /// The slot index (see [`Node::refs`]).
    ///
    /// # Safety
    /// As [`Node::refs`].
    #[inline(always)]
    pub(super) unsafe fn slot<'a>(p: NonNull<Self>) -> &'a UnsafeCell<usize> {
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
