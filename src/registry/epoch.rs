//! Per-shard reclamation: a two-counter epoch. Readers (snapshot, `current_of`) pin it through an
//! RAII [`Pin`]; the shard's holder, the only writer of the epoch, advances it when no reader of
//! the older parity is left, and frees a node retired at epoch `t` once the epoch reaches `t + 2`.
//!
//! A reader: `e = epoch`; `active[e & 1] += 1`; `fence(SeqCst)`; re-read `epoch`, retry if it
//! moved; ... reads ...; `active[e & 1] -= 1` (Release, when the `Pin` drops). The holder:
//! `fence(SeqCst)`; if `active[(e + 1) & 1] == 0`, store `epoch = e + 1` (Release); at most twice
//! per call. The two `fence(SeqCst)` are the store-load edge: either the holder sees the reader's
//! increment, or the reader sees the new epoch and backs off. [`docs/registry.md`] has the proof.
//!
//! [`docs/registry.md`]: crate::docs::registry
//!
//! Public (and hidden) only so that `benches/registry.rs` can compare it with `crossbeam-epoch`;
//! it is not part of the crate's API.

use crate::loom::{fence, AtomicUsize, Ordering};

/// A shard's epoch and its two reader counters.
#[derive(Debug)]
pub struct Epoch {
    /// The epoch (written by the shard's holder only).
    epoch: AtomicUsize,
    /// Readers pinned in an epoch of each parity.
    active: [AtomicUsize; 2],
}

/// A pinned reader: nodes it reads from the shard's mirror or current slot are not freed until it
/// drops.
#[derive(Debug)]
#[must_use = "a pin protects reads only while it is held"]
pub struct Pin<'a> {
    epoch: &'a Epoch,
    at: usize,
}

impl Epoch {
    /// Epoch 0, no reader.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Epoch {
            epoch: AtomicUsize::new(0),
            active: [AtomicUsize::new(0), AtomicUsize::new(0)],
        }
    }

    /// Pins the epoch for a reader until the returned guard drops.
    pub fn pin(&self) -> Pin<'_> {
        loop {
            // Acquire: pairs with the Release epoch store in `advance`.
            let e = self.epoch.load(Ordering::Acquire);
            // Relaxed: ordered by the fence below.
            self.active[e & 1].fetch_add(1, Ordering::Relaxed);
            // SeqCst: store-load edge with the fence in `advance`.
            fence(Ordering::SeqCst);
            // Acquire: pairs with the Release epoch store in `advance` (the holder's clears of
            // slots and `current` before it are visible).
            if self.epoch.load(Ordering::Acquire) == e {
                return Pin { epoch: self, at: e };
            }
            // Release: pairs with the Acquire load of `active` in `advance`.
            self.active[e & 1].fetch_sub(1, Ordering::Release);
        }
    }

    /// Holder only: advances the epoch (at most twice) while no reader of the older parity is
    /// left. `local` is the holder's copy of the epoch (the holder is the only writer).
    pub fn advance(&self, local: &mut usize) {
        for _ in 0..2 {
            // SeqCst: store-load edge with the fence in `pin`: either we see the reader's
            // increment, or it sees our epoch and backs off.
            fence(Ordering::SeqCst);
            // Acquire: pairs with the Release decrement in `Pin::drop`; a reader's node accesses
            // happen-before our free.
            if self.active[(*local + 1) & 1].load(Ordering::Acquire) != 0 {
                break;
            }
            *local += 1;
            // Release: publishes our slot/current clears to readers that pin the new epoch; pairs
            // with the Acquire re-read in `pin`.
            self.epoch.store(*local, Ordering::Release);
        }
    }

    /// Whether a node retired at epoch `tag` may be freed at epoch `now`: every reader that
    /// could have seen it has unpinned (two advances).
    pub fn expired(tag: usize, now: usize) -> bool {
        tag + 2 <= now
    }
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        // Release: our node reads happen-before a free; pairs with the Acquire load of `active`
        // in `advance`.
        self.epoch.active[self.at & 1].fetch_sub(1, Ordering::Release);
    }
}
