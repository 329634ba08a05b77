//! Counting wakers: a `std::task::Waker` that counts `wake` calls, and a macro that defines a
//! counting implementation of a parking `Wake` trait (the queue's) around its default waker.

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

/// Defines `struct $name`, an implementation of the parking wake trait `$wake` (methods `wake`,
/// `register`, `block(Option<Duration>)`) that counts `wake` calls and delegates everything to
/// an inner `$inner: Default + $wake`; `$name::wakes()` reads the count. The trait is named by
/// the caller, so this file depends on no crate type:
/// `support::counting_wake!(Counting, loopkit::queue::Wake, loopkit::queue::ThreadWaker);`
macro_rules! counting_wake {
    ($name:ident, $wake:path, $inner:ty) => {
        /// Counts `wake` calls on top of an inner waker that does the parking.
        #[derive(Debug, Default)]
        struct $name {
            wakes: ::std::sync::atomic::AtomicUsize,
            inner: $inner,
        }

        impl $name {
            /// `wake` calls so far.
            fn wakes(&self) -> usize {
                // SeqCst: a test counter; orders nothing else.
                self.wakes.load(::std::sync::atomic::Ordering::SeqCst)
            }
        }

        impl $wake for $name {
            fn wake(&self) {
                // SeqCst: a test counter; orders nothing else.
                self.wakes
                    .fetch_add(1, ::std::sync::atomic::Ordering::SeqCst);
                self.inner.wake();
            }
            fn register(&self) {
                self.inner.register();
            }
            fn block(&self, timeout: ::core::option::Option<::std::time::Duration>) {
                self.inner.block(timeout);
            }
        }
    };
}
pub(crate) use counting_wake;
