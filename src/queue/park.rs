//! The two halves of the wake mechanism: [`Unpark`] (what a producer calls) and [`Park`] (how the
//! consumer blocks), with [`ThreadParker`] (default), [`EventFdWaker`] (`eventfd` feature, Linux)
//! and `mio::Waker` (`mio` feature, producer half only).

use core::fmt;
use core::time::Duration;

/// The producer half: wakes a consumer that announced a park.
///
/// The queue calls [`unpark`](Unpark::unpark) at most once per park, and only after the consumer
/// announced that it parks ([`Receiver::prepare_park`](super::Receiver::prepare_park), or the
/// park inside [`Receiver::park`](super::Receiver::park) / [`recv`](super::Receiver::recv)); never
/// while the consumer is awake. An unpark may arrive after the consumer stopped waiting (it timed
/// out, or found the work on its own): an implementation must tolerate such a stale unpark,
/// which at most makes a later park return early.
///
/// An `unpark` that panics does not strand the consumer: the push that called it has already
/// queued its payload, the queue re-arms so that the next push (or the last sender's drop) calls
/// `unpark` again, and the panic propagates to the caller of the push.
///
/// # Examples
///
/// A producer half that only counts (a consumer using it blocks in its own selector):
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use loopkit::queue::{self, Unpark};
///
/// #[derive(Debug, Default)]
/// struct Counting(AtomicUsize);
/// impl Unpark for Counting {
///     fn unpark(&self) { self.0.fetch_add(1, Ordering::Relaxed); }
/// }
///
/// let unparker = Arc::new(Counting::default());
/// let (tx, mut rx) = queue::with_unparker::<u32, _>(unparker.clone());
/// tx.push(1).unwrap(); // consumer awake: no unpark
/// assert!(!rx.prepare_park()); // work is waiting: do not block
/// assert_eq!(rx.try_recv(), Ok(1));
/// assert!(rx.prepare_park()); // announced: the next push unparks
/// tx.push(2).unwrap();
/// tx.push(3).unwrap(); // one unpark per park
/// assert!(rx.finish_park());
/// assert_eq!(unparker.0.load(Ordering::Relaxed), 1);
/// ```
pub trait Unpark: Send + Sync + 'static {
    /// Wakes the consumer. Called by a producer, at most once per park.
    fn unpark(&self);
}

impl<U: Unpark + ?Sized> Unpark for std::sync::Arc<U> {
    fn unpark(&self) {
        (**self).unpark()
    }
}

impl<U: Unpark + ?Sized> Unpark for Box<U> {
    fn unpark(&self) {
        (**self).unpark()
    }
}

/// The consumer half: blocks the consumer until its [`Unpark`] half is called.
///
/// Only a type that can block implements `Park`, so only a receiver made with one
/// ([`channel`](super::channel), [`with_parker`](super::with_parker)) has
/// [`park`](super::Receiver::park) and [`recv`](super::Receiver::recv). A consumer woken through
/// something that cannot block on its own (a `mio::Waker`, whose `Poll` belongs to the loop) uses
/// [`with_unparker`](super::with_unparker) and the two-step
/// [`prepare_park`](super::Receiver::prepare_park) / [`finish_park`](super::Receiver::finish_park)
/// around its own wait.
///
/// # Examples
///
/// A parker that counts the unparks of the default one:
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use loopkit::queue::{self, Park, ThreadParker, ThreadUnparker, Unpark};
///
/// #[derive(Debug, Default)]
/// struct Counting { parker: ThreadParker, unparks: Arc<AtomicUsize> }
/// #[derive(Debug)]
/// struct CountingUnparker { inner: ThreadUnparker, unparks: Arc<AtomicUsize> }
///
/// impl Unpark for CountingUnparker {
///     fn unpark(&self) { self.unparks.fetch_add(1, Ordering::Relaxed); self.inner.unpark(); }
/// }
/// impl Park for Counting {
///     type Unparker = CountingUnparker;
///     fn unparker(&self) -> CountingUnparker {
///         CountingUnparker { inner: self.parker.unparker(), unparks: self.unparks.clone() }
///     }
///     fn park(&self, timeout: Option<Duration>) { self.parker.park(timeout) }
/// }
///
/// let parker = Counting::default();
/// let unparks = parker.unparks.clone();
/// let (tx, mut rx) = queue::with_parker::<u32, _>(parker);
/// let t = std::thread::spawn(move || { std::thread::sleep(Duration::from_millis(5)); tx.push(7) });
/// assert_eq!(rx.recv(), Ok(7)); // parks until the push
/// t.join().unwrap().unwrap();
/// assert!(unparks.load(Ordering::Relaxed) <= 1);
/// ```
pub trait Park: Send + 'static {
    /// The producer half that wakes this parker.
    type Unparker: Unpark;

    /// Makes the producer half (called once, when the queue is created).
    fn unparker(&self) -> Self::Unparker;

    /// Blocks the calling thread until the unparker is called or `timeout` passes (`None`: no
    /// timeout). An unpark that came before the call makes it return at once. Spurious returns
    /// are allowed.
    fn park(&self, timeout: Option<Duration>);
}

/// The default consumer half: blocks the thread that holds the receiver
/// (`crossbeam_utils::sync::Parker`), so a receiver may move between threads.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use loopkit::queue::{self, ThreadParker};
///
/// let (tx, mut rx) = queue::with_parker::<u32, _>(ThreadParker::new());
/// let t = std::thread::spawn(move || tx.push(7).map(drop));
/// assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(7));
/// t.join().unwrap().unwrap();
/// ```
#[derive(Default)]
pub struct ThreadParker {
    inner: imp::Parker,
}

/// The producer half of a [`ThreadParker`] (`crossbeam_utils::sync::Unparker`).
///
/// # Examples
///
/// ```
/// use loopkit::queue::{Park, ThreadParker, Unpark};
/// let parker = ThreadParker::new();
/// parker.unparker().unpark(); // a token: the next park returns at once
/// parker.park(None);
/// ```
#[derive(Clone)]
pub struct ThreadUnparker {
    inner: imp::Unparker,
}

impl ThreadParker {
    /// A parker with no token.
    pub fn new() -> Self {
        ThreadParker {
            inner: imp::Parker::default(),
        }
    }
}

impl fmt::Debug for ThreadParker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadParker").finish_non_exhaustive()
    }
}

impl fmt::Debug for ThreadUnparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadUnparker").finish_non_exhaustive()
    }
}

impl Unpark for ThreadUnparker {
    fn unpark(&self) {
        self.inner.unpark();
    }
}

impl Park for ThreadParker {
    type Unparker = ThreadUnparker;

    fn unparker(&self) -> ThreadUnparker {
        ThreadUnparker {
            inner: self.inner.unparker(),
        }
    }

    fn park(&self, timeout: Option<Duration>) {
        self.inner.park(timeout);
    }
}

/// A receiver made by [`with_unparker`](super::with_unparker): its consumer blocks in its own
/// selector, so it has no [`park`](super::Receiver::park) (this type does not implement
/// [`Park`]); it uses [`prepare_park`](super::Receiver::prepare_park) /
/// [`finish_park`](super::Receiver::finish_park) or [`poll_recv`](super::Receiver::poll_recv).
///
/// # Examples
///
/// ```
/// use loopkit::queue::{self, NoPark, Receiver};
/// # #[derive(Debug)] struct Nop;
/// # impl loopkit::queue::Unpark for Nop { fn unpark(&self) {} }
/// let (tx, mut rx): (_, Receiver<u8, NoPark>) = queue::with_unparker(Nop);
/// tx.push(1).unwrap();
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPark;

#[cfg(not(loopkit_loom))]
mod imp {
    use core::time::Duration;

    /// `crossbeam_utils::sync::Parker`: a token parker, not tied to a thread.
    #[derive(Default)]
    pub(super) struct Parker(crossbeam_utils::sync::Parker);

    #[derive(Clone)]
    pub(super) struct Unparker(crossbeam_utils::sync::Unparker);

    impl Parker {
        pub(super) fn unparker(&self) -> Unparker {
            Unparker(self.0.unparker().clone())
        }
        pub(super) fn park(&self, timeout: Option<Duration>) {
            match timeout {
                // Saturates: a timeout past `Instant`'s range parks without one.
                Some(d) => self.0.park_timeout(d),
                None => self.0.park(),
            }
        }
    }

    impl Unparker {
        pub(super) fn unpark(&self) {
            self.0.unpark();
        }
    }
}

#[cfg(loopkit_loom)]
mod imp {
    //! Under loom: a token parker on loom's `Mutex` + `Condvar`, with crossbeam's contract (an
    //! unpark before a park makes it return at once). Timeouts are ignored: under loom a timed
    //! park's deadline passes before it reaches the parker (see `Deadline` in `recv.rs`).
    use core::time::Duration;

    use crate::loom::{Arc, Condvar, Mutex};

    #[derive(Default)]
    struct Token {
        set: Mutex<bool>,
        cv: Condvar,
    }

    #[derive(Default)]
    pub(super) struct Parker(Arc<Token>);

    #[derive(Clone)]
    pub(super) struct Unparker(Arc<Token>);

    impl Parker {
        pub(super) fn unparker(&self) -> Unparker {
            Unparker(self.0.clone())
        }
        pub(super) fn park(&self, _timeout: Option<Duration>) {
            let mut set = self.0.set.lock().unwrap();
            while !*set {
                set = self.0.cv.wait(set).unwrap();
            }
            *set = false;
        }
    }

    impl Unparker {
        pub(super) fn unpark(&self) {
            *self.0.set.lock().unwrap() = true;
            self.0.cv.notify_one();
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

    use crate::loom::Arc;

    use super::{Park, Unpark};

    /// A Linux `eventfd` as both halves: an unpark writes 1 to the eventfd, a park polls it.
    ///
    /// Clones share the fd. Register [`as_raw_fd`](AsRawFd::as_raw_fd) (readable) with epoll to
    /// wake an epoll loop that uses [`Receiver::prepare_park`](crate::queue::Receiver::prepare_park)
    /// / [`finish_park`](crate::queue::Receiver::finish_park), and call [`reset`](Self::reset)
    /// after the fd reports readable; or let [`Receiver::park`](crate::queue::Receiver::park)
    /// poll it. The fd is non-blocking and close-on-exec.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(all(feature = "eventfd", target_os = "linux"))] {
    /// use std::time::Duration;
    /// use loopkit::queue::{self, EventFdWaker, Park};
    ///
    /// let (tx, mut rx) = queue::with_parker::<u32, _>(EventFdWaker::new().unwrap());
    /// assert!(rx.prepare_park());           // nothing queued: about to sleep
    /// tx.push(5).unwrap();                  // parked consumer: one eventfd write
    /// rx.parker().park(Some(Duration::from_secs(5)));
    /// rx.finish_park();
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// # }
    /// ```
    #[derive(Clone, Debug)]
    pub struct EventFdWaker {
        fd: Arc<OwnedFd>,
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
            Ok(EventFdWaker { fd: Arc::new(fd) })
        }

        /// Reads the counter back to zero; returns whether an unpark was pending.
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

    impl Unpark for EventFdWaker {
        fn unpark(&self) {
            let one = 1u64;
            // SAFETY: `one` is a valid 8-byte buffer and the fd is open (owned). A full counter
            // (EAGAIN) already means "unpark pending", so the result can be ignored.
            let _ = unsafe {
                libc::write(
                    self.fd.as_raw_fd(),
                    (&raw const one).cast::<libc::c_void>(),
                    8,
                )
            };
        }
    }

    impl Park for EventFdWaker {
        type Unparker = EventFdWaker;

        fn unparker(&self) -> EventFdWaker {
            self.clone()
        }

        fn park(&self, timeout: Option<Duration>) {
            // Saturates: a timeout beyond `i32::MAX` ms (about 24 days) polls for that long.
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

/// `mio::Waker` as the producer half (`mio` feature): an unpark wakes the `mio::Poll` the waker
/// was registered with. It is not a [`Park`]: only the loop's own `Poll` blocks, so use it with
/// [`with_unparker`](super::with_unparker) and `prepare_park()`, `poll.poll(..)`,
/// `finish_park()`.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "mio")] {
/// use loopkit::queue;
/// use mio::{Events, Poll, Token, Waker};
///
/// let mut poll = Poll::new().unwrap();
/// let waker = Waker::new(poll.registry(), Token(0)).unwrap();
/// let (tx, mut rx) = queue::with_unparker::<u32, _>(waker);
/// let mut events = Events::with_capacity(8);
/// let t = std::thread::spawn(move || tx.push(9).map(drop));
/// loop {
///     if rx.try_recv() == Ok(9) { break; }
///     if rx.prepare_park() {
///         poll.poll(&mut events, Some(std::time::Duration::from_secs(5))).unwrap();
///         rx.finish_park();
///     }
/// }
/// t.join().unwrap().unwrap();
/// # }
/// ```
#[cfg(feature = "mio")]
impl Unpark for mio::Waker {
    fn unpark(&self) {
        // A failed wake leaves the consumer to its timeout; there is nobody to report it to.
        let _ = mio::Waker::wake(self);
    }
}
