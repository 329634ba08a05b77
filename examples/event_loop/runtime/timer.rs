//! The loop's timer heap (asyncio's `_scheduled`): a binary min-heap ordered by deadline, then
//! by insertion order, so timers with one deadline fire in the order they were set.
//!
//! Cancelling a timer only marks it; the heap drops cancelled entries when they reach the top,
//! or all at once when they outnumber the live ones (asyncio's `_timer_cancelled_count` rule),
//! so a loop that sets and cancels many timeouts does not grow without bound.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::rc::Rc;
use std::time::Instant;

/// A callback that runs on the loop thread.
pub type LocalCallback = Box<dyn FnOnce() + 'static>;

/// Cancels one `call_soon` or `call_later` entry; loop-thread only, like asyncio's
/// `TimerHandle` (the cross-thread handle is the queue's `Handle`).
#[derive(Clone, Default)]
pub struct LocalHandle {
    cancelled: Rc<Cell<bool>>,
    /// Set once the entry ran (or was dropped with the loop): cancelling then does nothing.
    finished: Rc<Cell<bool>>,
    /// The timer heap's count of cancelled entries still in it (none for `call_soon`).
    heap_cancelled: Option<Rc<Cell<usize>>>,
}

impl LocalHandle {
    /// Prevents the callback from running; returns whether it did (false if it already ran or
    /// was cancelled).
    pub fn cancel(&self) -> bool {
        if self.cancelled.get() || self.finished.get() {
            return false;
        }
        self.cancelled.set(true);
        if let Some(c) = &self.heap_cancelled {
            c.set(c.get() + 1);
        }
        true
    }

    /// Whether `cancel` prevented the run.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }

    pub(super) fn finish(&self) {
        self.finished.set(true);
    }
}

impl fmt::Debug for LocalHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalHandle")
            .field("cancelled", &self.cancelled.get())
            .field("finished", &self.finished.get())
            .finish()
    }
}

struct Entry {
    when: Instant,
    seq: u64,
    callback: LocalCallback,
    handle: LocalHandle,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.when == other.when && self.seq == other.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest deadline first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.when, other.seq).cmp(&(self.when, self.seq))
    }
}

/// The timer heap.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Entry>,
    seq: u64,
    cancelled_in_heap: Rc<Cell<usize>>,
}

impl Timers {
    /// Schedules `callback` at `when`.
    pub fn push(&mut self, when: Instant, callback: LocalCallback) -> LocalHandle {
        self.purge_if_mostly_cancelled();
        let handle = LocalHandle {
            heap_cancelled: Some(self.cancelled_in_heap.clone()),
            ..LocalHandle::default()
        };
        self.seq += 1;
        self.heap.push(Entry {
            when,
            seq: self.seq,
            callback,
            handle: handle.clone(),
        });
        handle
    }

    /// Rebuilds the heap without its cancelled entries once they are more than half of it.
    fn purge_if_mostly_cancelled(&mut self) {
        let cancelled = self.cancelled_in_heap.get();
        if cancelled > 16 && cancelled * 2 > self.heap.len() {
            let live: Vec<Entry> = std::mem::take(&mut self.heap)
                .into_iter()
                .filter(|e| !e.handle.is_cancelled())
                .collect();
            self.heap = live.into();
            self.cancelled_in_heap.set(0);
        }
    }

    /// The earliest deadline of a live timer (dropping cancelled ones from the top).
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.skip_cancelled();
        self.heap.peek().map(|e| e.when)
    }

    /// Pops every live timer due at `now`, in deadline order.
    pub fn pop_due(&mut self, now: Instant, mut out: impl FnMut(LocalCallback, LocalHandle)) {
        loop {
            self.skip_cancelled();
            match self.heap.peek() {
                Some(e) if e.when <= now => {
                    let e = self.heap.pop().expect("peeked");
                    out(e.callback, e.handle);
                }
                _ => return,
            }
        }
    }

    fn skip_cancelled(&mut self) {
        while self.heap.peek().is_some_and(|e| e.handle.is_cancelled()) {
            self.heap.pop();
            let c = &self.cancelled_in_heap;
            c.set(c.get().saturating_sub(1));
        }
    }
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("len", &self.heap.len())
            .finish()
    }
}
