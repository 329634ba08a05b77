//! The receiving API on top of the list mechanics: park/wake (`prepare_park`, `finish_park`,
//! `park`), the channel forms (`try_recv`, `recv`, `recv_timeout`, `recv_deadline`, `iter`,
//! `try_iter`, `IntoIterator`) and the async forms (`poll_ready`, `poll_recv`, `recv_async`,
//! and `Stream` with the `futures-core` feature).
//!
//! Every way of waiting goes through the same announcement, the `PARKED` CAS on `ctl` in
//! [`Receiver::prepare_park`]; see the [module docs](super#park-close-word-ctl).

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::time::Instant;

use crate::loom::{spin_loop, Ordering};

use super::inner::{started, CLOSED, DISCONNECTED, NOTIFIED, PARKED};
use super::{Park, Receiver, RecvError, RecvTimeoutError, TryRecvError};

/// A point in time to park until, or none; `Duration`s too large for `Instant` saturate to
/// none (as `std::thread::park_timeout` accepts any duration).
#[derive(Clone, Copy)]
struct Deadline(
    #[cfg(not(loopkit_loom))] Option<std::time::Instant>,
    // Under loom: whether a timeout was given (it counts as passed before the first park).
    #[cfg(loopkit_loom)] bool,
);

impl Deadline {
    fn at(instant: Instant) -> Deadline {
        #[cfg(not(loopkit_loom))]
        return Deadline(Some(instant));
        // Under loom, as in `after`: a deadline counts as passed before the first park.
        #[cfg(loopkit_loom)]
        {
            let _ = instant;
            Deadline(true)
        }
    }

    fn after(timeout: Option<Duration>) -> Deadline {
        #[cfg(not(loopkit_loom))]
        return Deadline(timeout.and_then(|d| std::time::Instant::now().checked_add(d)));
        // Under loom there is no clock: a timeout passes at once, so a timed park announces,
        // finds its deadline gone and finishes, racing whatever push comes meanwhile.
        #[cfg(loopkit_loom)]
        Deadline(timeout.is_some())
    }

    /// The time left (`Some(None)`: no deadline), or `None` once it passed.
    fn remaining(self) -> Option<Option<Duration>> {
        #[cfg(not(loopkit_loom))]
        return match self.0 {
            None => Some(None),
            Some(d) => match d.checked_duration_since(std::time::Instant::now()) {
                Some(r) if !r.is_zero() => Some(Some(r)),
                _ => None,
            },
        };
        #[cfg(loopkit_loom)]
        if self.0 {
            None
        } else {
            Some(None)
        }
    }
}

impl<T, P> Receiver<T, P> {
    /// The consumer half of the wake mechanism (for example an
    /// [`EventFdWaker`](super::EventFdWaker) whose fd goes into an epoll set).
    pub fn parker(&self) -> &P {
        &self.parker
    }

    /// Whether nothing can be queued any more: every [`Sender`](super::Sender) is gone, or the
    /// queue was [closed](Receiver::close). Payloads already queued can still be received.
    pub fn is_disconnected(&self) -> bool {
        // Acquire: pairs with the AcqRel `fetch_or(DISCONNECTED)` of the last sender.
        self.closed_at.is_some() || self.inner.hot.ctl.load(Ordering::Acquire) & DISCONNECTED != 0
    }

    /// Whether every accepted push has been consumed and nothing can be pushed any more.
    fn is_finished(&self) -> bool {
        // Acquire: pairs with the AcqRel `fetch_or(DISCONNECTED)` of the last sender, which
        // every push of every sender happens-before: seeing the flag, we see their counts.
        let s = self.inner.hot.ctl.load(Ordering::Acquire);
        let total = self.closed_at.unwrap_or(started(s));
        total == self.consumed && (self.closed_at.is_some() || s & DISCONNECTED != 0)
    }

    /// Takes the oldest payload that is not cancelled, telling "nothing now" ([`Empty`]) from
    /// "nothing ever again" ([`Disconnected`]: every sender is gone or the queue was closed,
    /// and everything queued was received).
    ///
    /// [`Empty`]: TryRecvError::Empty
    /// [`Disconnected`]: TryRecvError::Disconnected
    ///
    /// ```
    /// use loopkit::queue::{self, TryRecvError};
    /// let (tx, mut rx) = queue::channel::<&str>();
    /// tx.push("a").unwrap();
    /// assert_eq!(rx.try_recv(), Ok("a"));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        if let Some(v) = self.pop_payload() {
            return Ok(v);
        }
        if !self.is_disconnected() {
            return Err(TryRecvError::Empty);
        }
        // Disconnected: every push of every sender happened-before the flag we just read, so
        // every link is visible now; one more pop sees all of them. (After `close` with senders
        // alive, a push accepted before the close may still be linking: that is `Empty`.)
        if let Some(v) = self.pop_payload() {
            return Ok(v);
        }
        if self.is_finished() {
            Err(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// An iterator over the payloads queued now: [`try_recv`](Receiver::try_recv) until it
    /// fails.
    ///
    /// ```
    /// let (tx, mut rx) = loopkit::queue::channel::<u8>();
    /// for i in 0..3 { tx.push(i).unwrap(); }
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
    /// ```
    pub fn try_iter(&mut self) -> TryIter<'_, T, P> {
        TryIter { rx: self }
    }

    /// Announces that the consumer is about to block. Returns `false` (and announces nothing)
    /// if an accepted push is waiting (drain instead of blocking) or nothing can arrive any more
    /// ([`is_disconnected`](Receiver::is_disconnected) with nothing queued). After `true`, block
    /// (in [`Park::park`] or your own selector) and then call
    /// [`finish_park`](Receiver::finish_park): any push from now on, and the last sender's drop,
    /// wakes the consumer, one [`Unpark::unpark`](super::Unpark::unpark) per park however many
    /// producers push.
    pub fn prepare_park(&mut self) -> bool {
        let ctl = &self.inner.hot.ctl;
        // Relaxed: the CAS below re-reads the latest value.
        let mut s = ctl.load(Ordering::Relaxed);
        loop {
            let total = self.closed_at.unwrap_or(started(s));
            if total != self.consumed || s & (DISCONNECTED | CLOSED) != 0 {
                return false;
            }
            // Clearing NOTIFIED drops a stale flag left by a producer that saw the previous park.
            let new = (s | PARKED) & !NOTIFIED;
            // Release: publishes what we did before (the task-waker registration) to the
            // producer that sees PARKED; pairs with the Acquire `fetch_add` in `enqueue` and the
            // AcqRel `fetch_or` in `disconnect`. The push-vs-park decision itself is this CAS's
            // place in `ctl`'s modification order: a push (or the disconnect) ordered before it
            // is seen in `s` (so we do not park), one ordered after it sees PARKED (and wakes).
            match ctl.compare_exchange_weak(s, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    self.announced = true;
                    return true;
                }
                Err(actual) => s = actual,
            }
        }
    }

    /// Announces that the consumer is awake again (after [`prepare_park`](Receiver::prepare_park)
    /// returned `true`). Returns whether a producer (or the last sender's drop) woke this park.
    pub fn finish_park(&mut self) -> bool {
        self.announced = false;
        // Acquire: pairs with the Release `fetch_or(NOTIFIED)` in `notify`, so the waking
        // producer's node is linked and visible.
        let prev = self
            .inner
            .hot
            .ctl
            .fetch_and(!(PARKED | NOTIFIED), Ordering::Acquire); // Acquire: pairs with `notify`.
        prev & NOTIFIED != 0
    }

    /// Ready with `true` when a payload (or a cancelled handle to skip) is linked at the
    /// consumer end, with `false` once the queue is empty and disconnected; otherwise registers
    /// the task's waker and returns `Pending`. The next push (or the last sender's drop) wakes
    /// the task, once, with the same no-lost-wakeup guarantee as [`park`](Receiver::park). Then
    /// drain with [`run_pending`](Receiver::run_pending) / [`drain`](Receiver::drain).
    ///
    /// Works on any executor; the waker of the latest call is the one woken.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.announced {
            self.finish_park();
        }
        loop {
            if self.has_ready() {
                return Poll::Ready(true);
            }
            if self.is_finished() {
                return Poll::Ready(false);
            }
            // Registered before the PARKED CAS (Release), so the producer that sees PARKED
            // (Acquire) wakes this waker.
            self.inner.task.register(cx.waker());
            if self.prepare_park() {
                return Poll::Pending;
            }
            // A push is counted but still linking (or the last sender left meanwhile).
            spin_loop();
        }
    }

    /// Receives the oldest payload that is not cancelled: `Ready(Some(payload))`, `Ready(None)`
    /// once the queue is empty and disconnected, or `Pending` with the task's waker registered
    /// (see [`poll_ready`](Receiver::poll_ready)).
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::task::{Context, Poll, Waker};
    /// let (tx, mut rx) = loopkit::queue::channel::<u8>();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    /// tx.push(4).unwrap();
    /// assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(4)));
    /// drop(tx);
    /// assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
    /// # let _ = poll_fn(|cx| rx.poll_recv(cx)); // in an async fn: `.await`
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        loop {
            match self.poll_ready(cx) {
                Poll::Ready(true) => match self.try_recv() {
                    Ok(v) => return Poll::Ready(Some(v)),
                    Err(TryRecvError::Disconnected) => return Poll::Ready(None),
                    // Only cancelled handles were linked: look again.
                    Err(TryRecvError::Empty) => {}
                },
                Poll::Ready(false) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Receives the oldest payload that is not cancelled, from async code: a future resolving
    /// to `Ok(payload)`, or to `Err(RecvError)` once the queue is empty and disconnected (every
    /// sender gone, or closed). Built on [`poll_recv`](Receiver::poll_recv), so it runs on any
    /// executor and a push never goes unnoticed. [`recv`](Receiver::recv) is the blocking form.
    ///
    /// Dropping the future before it completes loses nothing: a payload is only taken in the
    /// poll that returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use loopkit::queue::{self, RecvError};
    ///
    /// let (tx, mut rx) = queue::channel::<u8>();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// {
    ///     let mut fut = pin!(rx.recv_async()); // in an async fn: `rx.recv_async().await`
    ///     assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending);
    ///     tx.send(7).unwrap(); // wakes the waker registered by the poll above
    ///     assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
    /// }
    /// drop(tx);
    /// assert_eq!(pin!(rx.recv_async()).poll(&mut cx), Poll::Ready(Err(RecvError)));
    /// ```
    pub fn recv_async(&mut self) -> RecvFut<'_, T, P> {
        RecvFut { rx: self }
    }
}

/// The future of [`Receiver::recv_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvFut<'a, T, P = super::ThreadParker> {
    rx: &'a mut Receiver<T, P>,
}

impl<T, P> Future for RecvFut<'_, T, P> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `RecvFut` is `Unpin` (it holds only a reference).
        match self.get_mut().rx.poll_recv(cx) {
            Poll::Ready(Some(v)) => Poll::Ready(Ok(v)),
            Poll::Ready(None) => Poll::Ready(Err(RecvError)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, P> fmt::Debug for RecvFut<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFut").finish_non_exhaustive()
    }
}

/// With the `futures-core` feature: the receiver as a stream of payloads, ending once the queue
/// is empty and disconnected ([`poll_recv`](Receiver::poll_recv) as `poll_next`).
///
/// ```
/// use std::pin::Pin;
/// use std::task::{Context, Poll, Waker};
/// use futures_core::Stream;
///
/// let (tx, mut rx) = loopkit::queue::channel::<u8>();
/// let mut cx = Context::from_waker(Waker::noop());
/// tx.send(1).unwrap();
/// drop(tx);
/// assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(Some(1)));
/// assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(None));
/// ```
#[cfg(feature = "futures-core")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures-core")))]
impl<T, P> futures_core::Stream for Receiver<T, P> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Cancelled handles are counted by `len` but never yielded, so it is no lower bound.
        (0, None)
    }
}

impl<T, P: Park> Receiver<T, P> {
    /// Parks until a push arrives or the queue is disconnected (returns at once if a push is
    /// waiting). Spurious returns are possible; check with [`try_recv`](Receiver::try_recv).
    pub fn park(&mut self) {
        self.park_until(Deadline::after(None));
    }

    /// Parks until a push arrives, the queue is disconnected, or `timeout` passes. Returns
    /// whether work is waiting. Any duration is accepted (`Duration::MAX` parks without limit).
    pub fn park_timeout(&mut self, timeout: Duration) -> bool {
        self.park_until(Deadline::after(Some(timeout)))
    }

    fn park_until(&mut self, deadline: Deadline) -> bool {
        if !self.prepare_park() {
            // Work is waiting, a push is between its count and its link (let it finish), or
            // the queue is disconnected.
            spin_loop();
            return !self.is_empty();
        }
        while let Some(remaining) = deadline.remaining() {
            self.parker.park(remaining);
            // Acquire: pairs with the Release `fetch_or(NOTIFIED)` in `notify`.
            if self.inner.hot.ctl.load(Ordering::Acquire) & NOTIFIED != 0 {
                break;
            }
        }
        self.finish_park();
        !self.is_empty()
    }

    /// Receives the oldest payload that is not cancelled, parking while the queue is empty;
    /// `Err(RecvError)` once it is empty and disconnected (every sender gone, or closed).
    ///
    /// ```
    /// let (tx, mut rx) = loopkit::queue::channel::<u32>();
    /// let t = std::thread::spawn(move || { for i in 0..3 { tx.push(i).unwrap(); } });
    /// let mut got = Vec::new();
    /// while let Ok(v) = rx.recv() { got.push(v); } // ends when the sender is dropped
    /// t.join().unwrap();
    /// assert_eq!(got, [0, 1, 2]);
    /// ```
    pub fn recv(&mut self) -> Result<T, RecvError> {
        loop {
            match self.try_recv() {
                Ok(v) => return Ok(v),
                Err(TryRecvError::Disconnected) => return Err(RecvError),
                Err(TryRecvError::Empty) => self.park(),
            }
        }
    }

    /// Like [`recv`](Receiver::recv), giving up after `timeout` (any duration is accepted).
    ///
    /// ```
    /// use std::time::Duration;
    /// use loopkit::queue::{self, RecvTimeoutError};
    /// let (tx, mut rx) = queue::channel::<u32>();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
    /// tx.push(1).unwrap();
    /// assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(Deadline::after(Some(timeout)))
    }

    /// Like [`recv`](Receiver::recv), giving up at `deadline` (a deadline in the past still
    /// takes a payload that is already queued).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use loopkit::queue::{self, RecvTimeoutError};
    /// let (tx, mut rx) = queue::channel::<u32>();
    /// let soon = Instant::now() + Duration::from_millis(1);
    /// assert_eq!(rx.recv_deadline(soon), Err(RecvTimeoutError::Timeout));
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.recv_deadline(soon), Ok(1)); // queued: no wait needed
    /// drop(tx);
    /// assert_eq!(rx.recv_deadline(soon), Err(RecvTimeoutError::Disconnected));
    /// ```
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Deadline::at(deadline))
    }

    /// A blocking iterator: [`recv`](Receiver::recv) until the queue is empty and disconnected
    /// (every sender gone, or closed).
    ///
    /// ```
    /// let (tx, mut rx) = loopkit::queue::channel::<u32>();
    /// let t = std::thread::spawn(move || { for i in 0..3 { tx.send(i).unwrap(); } });
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]); // ends when `tx` is dropped
    /// t.join().unwrap();
    /// ```
    pub fn iter(&mut self) -> Iter<'_, T, P> {
        Iter { rx: self }
    }

    fn recv_until(&mut self, deadline: Deadline) -> Result<T, RecvTimeoutError> {
        loop {
            match self.try_recv() {
                Ok(v) => return Ok(v),
                Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {}
            }
            if deadline.remaining().is_none() {
                return Err(RecvTimeoutError::Timeout);
            }
            self.park_until(deadline);
        }
    }
}

/// The iterator of [`Receiver::try_iter`]: the payloads queued now, without blocking.
pub struct TryIter<'a, T, P> {
    rx: &'a mut Receiver<T, P>,
}

impl<T, P> Iterator for TryIter<'_, T, P> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T, P> fmt::Debug for TryIter<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter").finish_non_exhaustive()
    }
}

/// The blocking iterator of [`Receiver::iter`] (and of `&mut Receiver` in a `for` loop).
pub struct Iter<'a, T, P = super::ThreadParker> {
    rx: &'a mut Receiver<T, P>,
}

impl<T, P: Park> Iterator for Iter<'_, T, P> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T, P> fmt::Debug for Iter<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// The owning blocking iterator of a [`Receiver`] (`for v in rx`): [`recv`](Receiver::recv)
/// until the queue is empty and disconnected; dropping it drops the receiver (closing the
/// queue).
pub struct IntoIter<T, P = super::ThreadParker> {
    rx: Receiver<T, P>,
}

impl<T, P: Park> Iterator for IntoIter<T, P> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T, P> fmt::Debug for IntoIter<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter").finish_non_exhaustive()
    }
}

/// ```
/// let (tx, rx) = loopkit::queue::channel::<u32>();
/// std::thread::spawn(move || { for i in 0..3 { tx.send(i).unwrap(); } });
/// let mut sum = 0;
/// for v in rx { sum += v; } // blocks; ends when the sender is dropped
/// assert_eq!(sum, 3);
/// ```
impl<T, P: Park> IntoIterator for Receiver<T, P> {
    type Item = T;
    type IntoIter = IntoIter<T, P>;

    fn into_iter(self) -> IntoIter<T, P> {
        IntoIter { rx: self }
    }
}

/// ```
/// let (tx, mut rx) = loopkit::queue::channel::<u32>();
/// tx.send(1).unwrap();
/// drop(tx);
/// for v in &mut rx { assert_eq!(v, 1); } // blocks; ends at disconnect
/// assert!(rx.is_disconnected());
/// ```
impl<'a, T, P: Park> IntoIterator for &'a mut Receiver<T, P> {
    type Item = T;
    type IntoIter = Iter<'a, T, P>;

    fn into_iter(self) -> Iter<'a, T, P> {
        self.iter()
    }
}
