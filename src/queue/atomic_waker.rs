//! A one-slot `std::task::Waker` registration that a single registrant (the consumer, through
//! `&mut Receiver`) updates while any number of producers may take and wake it.
//!
//! # State word
//!
//! | state | meaning | who enters it |
//! |---|---|---|
//! | `WAITING` (0) | the slot is idle: whoever moves the state out of it owns the slot | end of `register`, end of `take` |
//! | `REGISTERING` (1) | the registrant is writing the slot | `register` (CAS from `WAITING`) |
//! | `WAKING` (2) | a waker is taking the slot | `take` (`fetch_or` from `WAITING`) |
//! | `REGISTERING \| WAKING` (3) | a wake came while the registrant wrote: the registrant wakes the new waker itself | `take` (`fetch_or` from `REGISTERING`) |
//!
//! A `take` that finds the state other than `WAITING` leaves the slot alone: either a register
//! is in progress (it sees `WAKING` at its closing CAS and wakes the waker it just stored), or
//! another `take` holds the slot (and wakes it). A `register` that finds `WAKING` cannot write the
//! slot; the wake in progress may have taken the previous waker, so it wakes the new one itself.
//! No wake that is ordered after a completed `register` can miss the waker it stored.

use core::task::Waker;

use crate::loom::{AtomicUsize, Ordering, UnsafeCell};

const WAITING: usize = 0;
const REGISTERING: usize = 0b01;
const WAKING: usize = 0b10;

pub(super) struct AtomicWaker {
    state: AtomicUsize,
    slot: UnsafeCell<Option<Waker>>,
}

// SAFETY: the slot is only touched by the thread that moved `state` out of `WAITING` (see the
// state table), so the `Waker` (which is `Send + Sync`) is never accessed concurrently.
unsafe impl Sync for AtomicWaker {}
// SAFETY: as above; `Waker: Send`.
unsafe impl Send for AtomicWaker {}

impl AtomicWaker {
    pub(super) fn new() -> Self {
        AtomicWaker {
            state: AtomicUsize::new(WAITING),
            slot: UnsafeCell::new(None),
        }
    }

    /// Stores `waker` for the next [`wake`](AtomicWaker::wake). Only one thread registers at a
    /// time (the caller guarantees it, here through `&mut Receiver`).
    pub(super) fn register(&self, waker: &Waker) {
        // Cloned before the slot is taken, so a panicking clone leaves the state untouched.
        let new = waker.clone();
        // Acquire: pairs with the Release `fetch_and` at the end of `take` (and with our own
        // previous register), so the slot is ours to write after the last taker's accesses.
        match self.state.compare_exchange(
            WAITING,
            REGISTERING,
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // SAFETY: we moved the state out of WAITING, so we own the slot until we put it
                // back (see the state table).
                let old = self.slot.with_mut(|p| unsafe {
                    match &*p {
                        Some(w) if w.will_wake(&new) => Some(new),
                        _ => (*p).replace(new),
                    }
                });
                // AcqRel. Release: publishes the slot write to the next `take` (its AcqRel
                // `fetch_or`). Acquire (failure): a `take` that set WAKING meanwhile handed the
                // slot to us.
                match self.state.compare_exchange(
                    REGISTERING,
                    WAITING,
                    Ordering::AcqRel, // AcqRel: see above; pairs with `take`'s fetch_or.
                    Ordering::Acquire, // Acquire: pairs with `take`'s fetch_or.
                ) {
                    Ok(_) => drop(old),
                    Err(actual) => {
                        debug_assert_eq!(actual, REGISTERING | WAKING);
                        // A wake came while we wrote: it left the slot to us. Take the waker,
                        // give the slot back, then wake it (outside the slot, so a panicking
                        // waker cannot leave the state behind).
                        // SAFETY: the state is still not WAITING, so we still own the slot.
                        let w = self.slot.with_mut(|p| unsafe { (*p).take() });
                        // Release: hands the slot back; pairs with the next Acquire CAS above
                        // or `take`'s fetch_or.
                        self.state.store(WAITING, Ordering::Release);
                        drop(old);
                        if let Some(w) = w {
                            w.wake();
                        }
                    }
                }
            }
            // A wake is taking the slot: it may have taken the previous waker, so this one is
            // woken now (the task is polled again and re-registers).
            Err(_) => new.wake(),
        }
    }

    /// Takes the registered waker, if any, and wakes it.
    ///
    /// If the waker panics, it is put back into the slot (unless the registrant stored a newer
    /// one meanwhile) before the panic propagates, so the next wake calls it again: a panicking
    /// wake does not unregister the task.
    pub(super) fn wake(&self) {
        if let Some(w) = self.take() {
            let mut restore = Restore {
                slot: self,
                waker: Some(w),
            };
            if let Some(w) = &restore.waker {
                w.wake_by_ref();
            }
            // The wake completed: the guard lets go of the waker before it is dropped (a
            // panicking drop has woken already, so there is nothing to put back).
            drop(restore.waker.take());
        }
    }

    /// Puts `w` back after its wake panicked, if the slot is free and still empty. A slot that a
    /// registration or another wake holds is left alone: a registration in progress means the
    /// task is being polled (and our `WAKING` bit makes it wake its new waker itself), and
    /// another wake has taken whatever the slot held.
    fn restore(&self, w: Waker) {
        // AcqRel, as in `take`: Acquire pairs with the Release that ended the last slot access
        // (`register`'s closing CAS or hand-back store, `take`'s `fetch_and`); Release hands our
        // bit to a registrant that fails its closing CAS on it.
        match self.state.fetch_or(WAKING, Ordering::AcqRel) {
            WAITING => {
                // SAFETY: we moved the state out of WAITING, so we own the slot.
                let spare = self.slot.with_mut(|p| unsafe {
                    if (*p).is_none() {
                        *p = Some(w);
                        None
                    } else {
                        Some(w)
                    }
                });
                // Release: hands the slot back after our access; pairs with the Acquire CAS in
                // `register` and the AcqRel `fetch_or` of the next `take`.
                self.state.fetch_and(!WAKING, Ordering::Release);
                drop(spare);
            }
            _ => drop(w),
        }
    }

    fn take(&self) -> Option<Waker> {
        // AcqRel. Acquire: pairs with the Release CAS that ended the last `register`, so the
        // stored waker is visible. Release: a registrant that fails its closing CAS on our
        // WAKING sees everything before it.
        match self.state.fetch_or(WAKING, Ordering::AcqRel) {
            WAITING => {
                // SAFETY: we moved the state out of WAITING, so we own the slot.
                let w = self.slot.with_mut(|p| unsafe { (*p).take() });
                // Release: hands the slot back after our access; pairs with the Acquire CAS in
                // `register` and the AcqRel `fetch_or` of the next `take`.
                self.state.fetch_and(!WAKING, Ordering::Release);
                w
            }
            _ => None,
        }
    }
}

/// Puts a waker whose wake is unwinding back into the slot ([`AtomicWaker::restore`]).
struct Restore<'a> {
    slot: &'a AtomicWaker,
    waker: Option<Waker>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.waker.take() {
            self.slot.restore(w);
        }
    }
}
