//! The snapshot mirror: a chain of blocks of atomic slots, one slot per linked node, that other
//! threads read while the shard's holder links and unlinks. The holder keeps the block table and
//! the free slot indices ([`Slots`]); readers follow the published chain ([`Mirror::scan`]).
//! Blocks are never freed before the shard, so a reader needs no pin to walk them, only to touch
//! the nodes it finds.

use core::ptr::{self, NonNull};

use super::epoch::Pin;
use super::node::Node;
use crate::loom::{AtomicPtr, Ordering};

/// Slots per block (tiny under loom/Miri so growth is exercised).
#[cfg(not(any(loopkit_loom, miri)))]
pub(crate) const BLOCK: usize = 128;
#[cfg(any(loopkit_loom, miri))]
pub(crate) const BLOCK: usize = 2;

/// One block: slot `i` holds the node linked there, or null.
struct Block<T> {
    slots: Box<[AtomicPtr<Node<T>>]>,
    next: AtomicPtr<Block<T>>,
}

/// The readers' side: the head of the block chain.
pub(crate) struct Mirror<T> {
    blocks: AtomicPtr<Block<T>>,
}

/// The holder's side: the block table and the free slot indices.
pub(crate) struct Slots<T> {
    /// Free slot indices.
    free: Vec<usize>,
    /// Block table: index / BLOCK -> block.
    table: Vec<NonNull<Block<T>>>,
}

impl<T> Mirror<T> {
    pub(crate) fn new() -> Self {
        Mirror {
            blocks: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Collects the non-null slots. The pin keeps the nodes found alive until it drops.
    pub(crate) fn scan(&self, out: &mut Vec<NonNull<Node<T>>>, _pin: &Pin<'_>) {
        // Acquire: pairs with the Release stores in `Slots::grow`.
        let mut b = self.blocks.load(Ordering::Acquire);
        // SAFETY: blocks live until the shard is freed, and the caller holds the shard.
        while let Some(block) = NonNull::new(b).map(|b| unsafe { b.as_ref() }) {
            for slot in block.slots.iter() {
                // Acquire: pairs with the Release store in `publish` (the node is published).
                if let Some(n) = NonNull::new(slot.load(Ordering::Acquire)) {
                    out.push(n);
                }
            }
            // Acquire: pairs with the Release stores in `Slots::grow`.
            b = block.next.load(Ordering::Acquire);
        }
    }
}

impl<T> Slots<T> {
    pub(crate) fn new() -> Self {
        Slots {
            free: Vec::new(),
            table: Vec::new(),
        }
    }

    /// Slot `idx`.
    pub(crate) fn slot(&self, idx: usize) -> &AtomicPtr<Node<T>> {
        // SAFETY: blocks in the table live until `free_blocks`, which takes `self`.
        let block = unsafe { self.table[idx / BLOCK].as_ref() };
        &block.slots[idx % BLOCK]
    }

    /// A free slot index, growing the mirror by a block if none is left.
    #[inline]
    pub(crate) fn take(&mut self, mirror: &Mirror<T>) -> usize {
        match self.free.pop() {
            Some(i) => i,
            None => self.grow(mirror),
        }
    }

    /// Publishes `n` in slot `idx` (from `take`) to readers.
    #[inline]
    pub(crate) fn publish(&self, idx: usize, n: NonNull<Node<T>>) {
        // Release: publishes the node (its allocation and state REGISTERED) to readers; pairs
        // with the Acquire slot load in `Mirror::scan`.
        self.slot(idx).store(n.as_ptr(), Ordering::Release);
    }

    /// Empties slot `idx` and makes it free.
    #[inline]
    pub(crate) fn clear(&mut self, idx: usize) {
        // Release: an unlink that happened-before a scan is seen by it; pairs with the Acquire
        // slot load in `Mirror::scan`.
        self.slot(idx).store(ptr::null_mut(), Ordering::Release);
        self.free.push(idx);
    }

    /// Appends a block and returns one of its indices (the others go to `free`).
    #[cold]
    fn grow(&mut self, mirror: &Mirror<T>) -> usize {
        let slots = (0..BLOCK)
            .map(|_| AtomicPtr::new(ptr::null_mut()))
            .collect();
        let b = Box::into_raw(Box::new(Block {
            slots,
            next: AtomicPtr::new(ptr::null_mut()),
        }));
        // SAFETY: `Box::into_raw` never returns null; this pointer is the one `free_blocks` frees.
        let b = unsafe { NonNull::new_unchecked(b) };
        match self.table.last() {
            // Release: publishes the block's initialised slots; pairs with the Acquire load of
            // `blocks` in `scan`.
            None => mirror.blocks.store(b.as_ptr(), Ordering::Release),
            // SAFETY: table blocks live until `free_blocks`.
            // Release: as above, pairs with the Acquire load of `next` in `scan`.
            Some(last) => unsafe { last.as_ref() }
                .next
                .store(b.as_ptr(), Ordering::Release),
        }
        let base = self.table.len() * BLOCK;
        self.table.push(b);
        self.free.extend((base + 1..base + BLOCK).rev());
        base
    }

    /// Number of slots (free or not).
    pub(crate) fn capacity(&self) -> usize {
        self.table.len() * BLOCK
    }

    /// The free slot indices.
    pub(crate) fn free_indices(&self) -> &[usize] {
        &self.free
    }

    /// Frees every block.
    ///
    /// # Safety
    /// No reader can reach the mirror any more (the shard is being freed).
    pub(crate) unsafe fn free_blocks(self) {
        for b in self.table {
            // SAFETY: allocated by Box in `grow`; unreachable (caller).
            drop(unsafe { Box::from_raw(b.as_ptr()) });
        }
    }
}
