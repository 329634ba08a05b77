//! A counting `std::task::Waker`: how many times a future's waker was woken.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};

/// Counts the wakes of the [`Waker`]s made from it.
#[derive(Debug, Default)]
pub struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    /// A fresh counter, shared by every waker made from it.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A `std::task::Waker` that counts into `self`.
    pub fn waker(self: &Arc<Self>) -> Waker {
        Waker::from(self.clone())
    }

    /// Wakes so far (by value and by reference).
    pub fn count(&self) -> usize {
        // SeqCst: a test counter read after the code under test; orders nothing else.
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        // SeqCst: a test counter; orders nothing else.
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}
