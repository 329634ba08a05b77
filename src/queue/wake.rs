//! The pluggable wake mechanism: [`Wake`], [`ThreadWaker`] (default), [`EventFdWaker`]
//! (`eventfd` feature, Linux) and the `mio::Waker` adapter (`mio` feature).

use core::fmt;
use core::time::Duration;

use crate::loom::{thread, Arc, Mutex};

/// How a producer wakes a parked consumer, and how the consumer blocks.
///
/// The queue calls [`wake`](Wake::wake) at most once per park, and only when the consumer has
/// announced that it is parking; it never calls it while the consumer is awake. A wake may arrive
/// after the consumer already stopped waiting (it timed out, or found work on its own): the
/// implementation must tolerate such a stale wake, which at most makes a later block return early.
///
/// [`Receiver::park`](super::Receiver::park) calls [`register`](Wake::register) and then
/// [`block`](Wake::block). A loop that blocks in its own selector (epoll, `mio::Poll`) uses
/// [`Receiver::prepare_park`](super::Receiver::prepare_park) /
/// [`finish_park`](super::Receiver::finish_park) around its own wait instead and never reaches
/// `block`.
///
/// # Examples
///
/// A waker that counts its wake calls (the kind of thing the tests use):
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use loopkit::queue::{self, ThreadWaker, Wake};
///
/// #[derive(Debug, Default)]
/// struct Counting { wakes: AtomicUsize, inner: ThreadWaker }
///
/// impl Wake for Counting {
///     fn wake(&self) { self.wakes.fetch_add(1, Ordering::Relaxed); self.inner.wake(); }
///     fn register(&self) { self.inner.register(); }
///     fn block(&self, timeout: Option<std::time::Duration>) { self.inner.block(timeout) }
/// }
///
/// let waker = Arc::new(Counting::default());
/// let (tx, mut rx) = queue::with_waker::<u32, _>(waker.clone());
/// tx.push(1).unwrap();            // consumer awake: no wake call
/// assert_eq!(waker.wakes.load(Ordering::Relaxed), 0);
/// assert_eq!(rx.drain(|_| ()), 1);
/// ```
pub trait Wake: Send + Sync + 'static {
    /// Wakes the consumer. Called by a producer, at most once per park.
    fn wake(&self);

    /// Called by the consumer just before it announces that it parks, so that a wake issued
    /// right after the announcement reaches it (for example, records the consumer thread).
    /// The default does nothing.
    fn register(&self) {}

    /// Blocks the calling consumer until [`wake`](Wake::wake) is called or `timeout` passes.
    /// Spurious returns are allowed. The default yields once: wakers for an external selector
    /// are used with the two-step form and never block here.
    fn block(&self, timeout: Option<Duration>) {
        let _ = timeout;
        thread::yield_now();
    }
}

impl<W: Wake + ?Sized> Wake for Arc<W> {
    fn wake(&self) {
        (**self).wake()
    }
    fn register(&self) {
        (**self).register()
    }
    fn block(&self, timeout: Option<Duration>) {
        (**self).block(timeout)
    }
}

impl<W: Wake + ?Sized> Wake for Box<W> {
    fn wake(&self) {
        (**self).wake()
    }
    fn register(&self) {
        (**self).register()
    }
    fn block(&self, timeout: Option<Duration>) {
        (**self).block(timeout)
    }
}

/// The default waker: `std::thread::park` / `Thread::unpark`.
///
/// [`register`](Wake::register) records the consumer's thread (so a `Receiver` may move between
/// threads); the record sits behind a mutex that only the park slow path touches (a consumer
/// about to park, a producer about to wake it), never a push to an awake consumer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use loopkit::queue::{self, ThreadWaker};
///
/// let (tx, mut rx) = queue::with_waker::<u32, _>(ThreadWaker::new());
/// let t = std::thread::spawn(move || tx.push(7).map(drop));
/// while rx.is_empty() {
///     rx.park_timeout(Duration::from_millis(10));
/// }
/// t.join().unwrap().unwrap();
/// assert_eq!(rx.try_pop(), Some(7));
/// ```
#[derive(Default)]
pub struct ThreadWaker {
    thread: Mutex<Option<thread::Thread>>,
}

impl ThreadWaker {
    /// A waker with no consumer thread recorded yet.
    pub fn new() -> Self {
        ThreadWaker {
            thread: Mutex::new(None),
        }
    }
}

impl fmt::Debug for ThreadWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadWaker").finish_non_exhaustive()
    }
}

impl Wake for ThreadWaker {
    fn wake(&self) {
        let guard = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = guard.as_ref() {
            t.unpark();
        }
    }

    fn register(&self) {
        let mut guard = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let me = thread::current();
        if guard.as_ref().map(|t| t.id()) != Some(me.id()) {
            *guard = Some(me);
        }
    }

    fn block(&self, timeout: Option<Duration>) {
        #[cfg(loopkit_loom)]
        {
            let _ = timeout;
            thread::park();
        }
        #[cfg(not(loopkit_loom))]
        match timeout {
            Some(d) => thread::park_timeout(d),
            None => thread::park(),
        }
    }
}

#[cfg(all(feature = "eventfd", target_os = "linux"))]
pub use self::eventfd::EventFdWaker;

#[cfg(all(feature = "eventfd", target_os = "linux"))]
mod eventfd {
    use core::time::Duration;
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

    use super::Wake;

    /// A Linux `eventfd` waker: a push to a parked consumer writes 1 to the eventfd.
    ///
    /// Register [`as_raw_fd`](AsRawFd::as_raw_fd) with epoll (readable) to wake an epoll loop
    /// that uses [`Receiver::prepare_park`](crate::queue::Receiver::prepare_park) /
    /// [`finish_park`](crate::queue::Receiver::finish_park), and call [`reset`](Self::reset)
    /// after the fd reports readable. [`Wake::block`] polls the fd itself, so
    /// [`Receiver::park`](crate::queue::Receiver::park) works too. The fd is non-blocking and
    /// close-on-exec.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(all(feature = "eventfd", target_os = "linux"))] {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use loopkit::queue::{self, EventFdWaker};
    ///
    /// let waker = Arc::new(EventFdWaker::new().unwrap());
    /// let (tx, mut rx) = queue::with_waker::<u32, _>(waker.clone());
    /// assert!(rx.prepare_park());          // nothing queued: about to sleep
    /// tx.push(5).unwrap();                 // parked consumer: one eventfd write
    /// waker.block(Some(Duration::from_secs(5)));
    /// rx.finish_park();
    /// assert_eq!(rx.try_pop(), Some(5));
    /// # use loopkit::queue::Wake; }
    /// ```
    #[derive(Debug)]
    pub struct EventFdWaker {
        fd: OwnedFd,
    }

    impl EventFdWaker {
        /// Creates a non-blocking, close-on-exec eventfd with a zero counter.
        pub fn new() -> io::Result<Self> {
            // SAFETY: `eventfd` has no memory-safety preconditions; the flags are valid.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            Ok(EventFdWaker { fd })
        }

        /// Reads the counter back to zero; returns whether a wake was pending.
        pub fn reset(&self) -> bool {
            let mut buf = 0u64;
            // SAFETY: `buf` is a valid, writable 8-byte buffer and the fd is open (owned).
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    (&raw mut buf).cast::<libc::c_void>(),
                    8,
                )
            };
            n == 8
        }
    }

    impl AsRawFd for EventFdWaker {
        fn as_raw_fd(&self) -> RawFd {
            self.fd.as_raw_fd()
        }
    }

    impl AsFd for EventFdWaker {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }
    }

    impl Wake for EventFdWaker {
        fn wake(&self) {
            let one = 1u64;
            // SAFETY: `one` is a valid 8-byte buffer and the fd is open (owned). A full counter
            // (EAGAIN) already means "wake pending", so the result can be ignored.
            let _ = unsafe {
                libc::write(
                    self.fd.as_raw_fd(),
                    (&raw const one).cast::<libc::c_void>(),
                    8,
                )
            };
        }

        fn block(&self, timeout: Option<Duration>) {
            let ms = match timeout {
                None => -1,
                Some(d) => i32::try_from(d.as_millis().max(1)).unwrap_or(i32::MAX),
            };
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `pfd` is one valid, writable `pollfd` and the count is 1.
            let _ = unsafe { libc::poll(&raw mut pfd, 1, ms) };
            self.reset();
        }
    }
}

/// `mio::Waker` as a queue waker (`mio` feature): a push to a parked consumer wakes the
/// `mio::Poll` the waker was registered with.
///
/// Use it with the two-step form: `prepare_park()`, `poll.poll(..)`, `finish_park()`.
/// `block` keeps the default (yield), since only the loop's own `Poll` can block.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "mio")] {
/// use std::sync::Arc;
/// use loopkit::queue;
/// use mio::{Events, Poll, Token, Waker};
///
/// let mut poll = Poll::new().unwrap();
/// let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
/// let (tx, mut rx) = queue::with_waker::<u32, _>(waker);
/// let mut events = Events::with_capacity(8);
/// let t = std::thread::spawn(move || tx.push(9).map(drop));
/// loop {
///     if rx.try_pop() == Some(9) { break; }
///     if rx.prepare_park() {
///         poll.poll(&mut events, Some(std::time::Duration::from_secs(5))).unwrap();
///         rx.finish_park();
///     }
/// }
/// t.join().unwrap().unwrap();
/// # }
/// ```
#[cfg(feature = "mio")]
impl Wake for mio::Waker {
    fn wake(&self) {
        // A failed wake leaves the consumer to its timeout; there is nobody to report it to.
        let _ = mio::Waker::wake(self);
    }
}
