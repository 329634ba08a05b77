//! MPSC handle queue: any thread pushes a cancellable handle, one loop thread drains, a parked
//! loop is woken by the next push, never twice and never not at all.
//!
//! This is the Rust core of asyncio's `call_soon_threadsafe` + `_write_to_self` +
//! `Handle.cancel()`. A push from any thread is wait-free and allocates exactly once: the
//! [`Handle`] *is* the queue node (Dmitry Vyukov's intrusive MPSC queue). Unlike `call_soon`
//! from a foreign thread (which queues without waking a sleeping loop, the classic asyncio hang),
//! every push here wakes a parked or parking consumer, and unlike `call_soon_threadsafe` it skips
//! the wake syscall when the consumer is awake.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use loopkit::queue::{self, Callback};
//!
//! let (tx, mut rx) = queue::channel::<Callback>();
//! let hits = Arc::new(AtomicUsize::new(0));
//! let h = hits.clone();
//! let t = std::thread::spawn(move || {
//!     tx.call_soon(move || { h.fetch_add(1, Ordering::Relaxed); }).unwrap();
//! });
//! // The loop: run what is there, park when idle (a push wakes it).
//! while hits.load(Ordering::Relaxed) == 0 {
//!     if rx.run_pending() == 0 {
//!         rx.park_timeout(Duration::from_secs(1));
//!     }
//! }
//! t.join().unwrap();
//! ```
//!
//! Payloads are any `T` ([`Sender::send`]; the halves cross threads when `T: Send`), and
//! `T: Send + 'static` for a cancellable [`Handle`] ([`Sender::push`]); for `T =` [`Callback`]
//! (`Box<dyn FnOnce() + Send>`),
//! [`Sender::call_soon`] stores the closure inline in the node (no `Box`), and
//! [`Receiver::run_pending`] runs it in place. [`docs/queue.md`] has the full design.
//!
//! [`docs/queue.md`]: crate::docs::queue
//!
//! # Queue structure
//!
//! Producers `swap` themselves into `head` and then link the previous head's `next` to
//! themselves; the consumer follows `next` pointers from `tail`. Between a producer's swap and
//! its link the list is briefly disconnected (the *inconsistent window*); the consumer waits
//! there (spin, then yield) only when it knows the missing node was already swapped in (it is at
//! or before the drain's end snapshot). The last consumed node stays at the consumer end as a
//! dummy until a successor is linked (a stub plays that part before the first push).
//!
//! # Handle state word
//!
//! Each node has one `AtomicUsize`: lifecycle in bits 0-1, reference count (the queue's
//! reference plus one per [`Handle`]) in the bits above.
//!
//! | state | meaning | next states | who moves it |
//! |---|---|---|---|
//! | `PENDING` (0) | queued, payload owned by the node | `RUNNING`, `CANCELLED` | consumer claim (CAS) / `Handle::cancel` (CAS) |
//! | `RUNNING` (1) | the consumer took the payload and runs (or drops) it | `DONE` | consumer, with the release of its reference (one `fetch_sub`) |
//! | `DONE` (2) | ran, or dropped unrun by the receiver's drop | final | - |
//! | `CANCELLED` (3) | a cancel won; the canceller dropped the payload | final | - |
//!
//! The reference count only goes down after the initial `2` (`push`) or `1` (`send`),
//! except that `Handle::clone` adds one. Whoever takes it to zero frees the node (`Release`
//! decrement, `Acquire` fence). When the consumer sees a count of 1 (only its own reference, with
//! an `Acquire` load) no handle exists and none can appear, so it runs and frees the node
//! without any read-modify-write and without ever leaving `PENDING`.
//!
//! # Park/close word (`ctl`)
//!
//! | bits | name | set by | cleared by |
//! |---|---|---|---|
//! | 0 | `CLOSED` | `Receiver::close` (`fetch_or`) | never |
//! | 1 | `PARKED` | `Receiver::prepare_park` (CAS, only if no accepted push is waiting and the queue is neither disconnected nor closed) | `Receiver::finish_park` (`fetch_and`) |
//! | 2 | `NOTIFIED` | the first producer (or last sender's drop) that sees `PARKED` (`fetch_or`); only it wakes (task waker, then [`Unpark::unpark`]) | `finish_park`, the next `prepare_park` (a stale flag), or the unwind of a panicking waker (so the next push wakes) |
//! | 3 | `DISCONNECTED` | the last [`Sender`]'s drop (`fetch_or`) | never |
//! | 4.. | push count | every push (`fetch_add`), before it links its node | never (wraps) |
//!
//! | consumer state | `ctl` | a push does |
//! |---|---|---|
//! | awake | `!PARKED` | no wake call |
//! | parking or parked, not yet woken | `PARKED, !NOTIFIED` | sets `NOTIFIED`; the one that set it calls `wake` once |
//! | parked, woken | `PARKED, NOTIFIED` | nothing more |
//!
//! Every change to `ctl` is a read-modify-write, so they are totally ordered by `ctl`'s
//! modification order. A push ordered before the consumer's `PARKED` CAS is counted in the value
//! that CAS reads, so the consumer does not park; a push (or the disconnect) ordered after it reads `PARKED` and
//! wakes. No wakeup can fall between (the SeqCst-fence pair that a two-word Dekker handshake
//! needs is not needed here). The same count freezes at `close`, which then waits for exactly
//! that many nodes to be linked: a push either counted itself before `CLOSED` (accepted, and
//! counted by `close`) or saw `CLOSED` (refused, payload returned).

mod atomic_waker;
mod inner;
mod node;
mod park;
mod receiver;
mod recv;

#[cfg(any(test, loopkit_fuzz))]
#[doc(hidden)]
pub mod ops;

#[cfg(test)]
mod loom_models;
#[cfg(test)]
mod tests;

use core::fmt;
use core::ptr::NonNull;

use crate::loom::Ordering;

pub use self::inner::Sender;
#[cfg(all(feature = "eventfd", target_os = "linux"))]
pub use self::park::EventFdWaker;
pub use self::park::{NoPark, Park, ThreadParker, ThreadUnparker, Unpark};
pub use self::receiver::{channel, with_parker, with_unparker, Receiver};
pub use self::recv::{IntoIter, Iter, RecvFut, TryIter};

use self::node::{Header, CANCELLED, DONE, LIFECYCLE, PENDING, REF, RUNNING};

/// A boxed callback: the payload type of callback queues (see [`Sender::call_soon`]).
///
/// # Examples
///
/// ```
/// use loopkit::queue::{self, Callback};
/// let (tx, mut rx) = queue::channel::<Callback>();
/// tx.push(Box::new(|| ())).unwrap(); // a boxed closure: two allocations
/// tx.call_soon(|| ()).unwrap(); // stored inline in the node: one allocation
/// assert_eq!(rx.run_pending(), 2);
/// ```
pub type Callback = Box<dyn FnOnce() + Send + 'static>;

/// The error of a push into a closed queue (the receiver called
/// [`close`](Receiver::close) or was dropped); it gives the payload back intact.
///
/// # Examples
///
/// ```
/// use loopkit::queue::{self, SendError};
/// let (tx, mut rx) = queue::channel::<Vec<u8>>();
/// rx.close();
/// let SendError(back) = tx.push(vec![1, 2]).unwrap_err();
/// assert_eq!(back, [1, 2]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The payload that was not queued.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a closed queue")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Receiver::try_recv`] returned no payload.
///
/// # Examples
///
/// ```
/// use loopkit::queue::{self, TryRecvError};
/// let (tx, mut rx) = queue::channel::<u8>();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// tx.push(1).unwrap();
/// drop(tx);
/// assert_eq!(rx.try_recv(), Ok(1)); // what was queued is still received
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryRecvError {
    /// Nothing is queued now; a sender may still push.
    Empty,
    /// Nothing is queued and nothing can be any more: every [`Sender`] is gone, or the queue
    /// was [closed](Receiver::close).
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "receiving on an empty queue",
            TryRecvError::Disconnected => "receiving on an empty and disconnected queue",
        })
    }
}

impl std::error::Error for TryRecvError {}

/// [`Receiver::recv`] found the queue empty and disconnected.
///
/// # Examples
///
/// ```
/// use loopkit::queue::{self, RecvError};
/// let (tx, mut rx) = queue::channel::<u8>();
/// drop(tx);
/// assert_eq!(rx.recv(), Err(RecvError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on an empty and disconnected queue")
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::recv_timeout`] returned no payload.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use loopkit::queue::{self, RecvTimeoutError};
/// let (tx, mut rx) = queue::channel::<u8>();
/// assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
/// drop(tx);
/// assert_eq!(rx.recv_timeout(Duration::MAX), Err(RecvTimeoutError::Disconnected));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvTimeoutError {
    /// Nothing arrived before the timeout; a sender may still push.
    Timeout,
    /// The queue is empty and disconnected (see [`TryRecvError::Disconnected`]).
    Disconnected,
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvTimeoutError::Timeout => "timed out waiting on a queue",
            RecvTimeoutError::Disconnected => "receiving on an empty and disconnected queue",
        })
    }
}

impl std::error::Error for RecvTimeoutError {}

/// Where a queued handle is in its life (see the state table in the module docs).
///
/// # Examples
///
/// ```
/// use loopkit::queue::{self, HandleState};
/// let (tx, mut rx) = queue::channel::<u8>();
/// let h = tx.push(1).unwrap();
/// assert_eq!(h.state(), HandleState::Pending);
/// rx.drain(|_| ());
/// assert_eq!(h.state(), HandleState::Done);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandleState {
    /// Queued; can still be cancelled.
    Pending,
    /// The consumer is running it (or dropping it with the receiver).
    Running,
    /// It ran, or the receiver dropped it unrun.
    Done,
    /// [`Handle::cancel`] prevented it from running.
    Cancelled,
}

/// A reference to one queued payload: cancel it from any thread, without a lock.
///
/// The handle is the queue node itself (no second allocation). Dropping it does not cancel.
/// Clones refer to the same node.
///
/// # Examples
///
/// ```
/// use loopkit::queue::{self, Callback};
/// let (tx, mut rx) = queue::channel::<Callback>();
/// let a = tx.call_soon(|| unreachable!()).unwrap();
/// let b = tx.call_soon(|| ()).unwrap();
/// let cancel_a = std::thread::spawn(move || a.cancel());
/// assert!(cancel_a.join().unwrap()); // prevented the run; the closure was dropped
/// drop(b);                           // does not cancel
/// assert_eq!(rx.run_pending(), 1);
/// ```
pub struct Handle {
    node: NonNull<Header>,
}

// SAFETY: a handle only touches the node's atomic state word and, through `cancel`, drops the
// payload, which is `Send` and `'static` (a handle comes only from `push`, which requires
// `T: Send + 'static`, or `call_soon`, whose closure is `F: Send + 'static`).
unsafe impl Send for Handle {}
// SAFETY: as above; concurrent `cancel`s are arbitrated by a CAS, so one drop at most.
unsafe impl Sync for Handle {}

impl Handle {
    fn from_node(node: NonNull<Header>) -> Handle {
        Handle { node }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle owns a reference, so the node is live while `self` is.
        let header = unsafe { self.node.as_ref() };
        header.touch();
        header
    }

    /// Prevents the payload from running if it has not started; returns whether it did. The
    /// payload is then dropped right here, on the calling thread. Returns `false` if it is
    /// running (also when called from inside the running callback: no deadlock), done, or
    /// already cancelled.
    pub fn cancel(&self) -> bool {
        let state = &self.header().state;
        // Relaxed: the CAS below re-reads.
        let mut s = state.load(Ordering::Relaxed);
        loop {
            if s & LIFECYCLE != PENDING {
                return false;
            }
            // AcqRel. The CAS decides who owns the payload (us, or the consumer's claim CAS).
            // Release: publishes CANCELLED to `state()` (Acquire) on other threads. Acquire: the
            // payload we drop next was initialised by the pushing thread; the handle carried
            // that edge when it travelled, this keeps it independent of how it travelled.
            match state.compare_exchange_weak(
                s,
                s | CANCELLED,
                Ordering::AcqRel, // AcqRel: see above; pairs with the consumer's claim CAS.
                Ordering::Relaxed, // Relaxed: retried.
            ) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        // SAFETY: we moved PENDING -> CANCELLED, so the payload is ours; the consumer will only
        // release its reference. Our reference keeps the node live.
        unsafe { Header::drop_payload(self.node) };
        true
    }

    /// Whether [`cancel`](Handle::cancel) prevented the run.
    pub fn is_cancelled(&self) -> bool {
        self.state() == HandleState::Cancelled
    }

    /// The current lifecycle state.
    pub fn state(&self) -> HandleState {
        // Acquire: pairs with the Release state changes (cancel CAS, the consumer's RUNNING ->
        // DONE `fetch_sub`), so what the callback did is visible once `Done` is seen.
        match self.header().state.load(Ordering::Acquire) & LIFECYCLE {
            PENDING => HandleState::Pending,
            RUNNING => HandleState::Running,
            DONE => HandleState::Done,
            _ => HandleState::Cancelled,
        }
    }
}

impl Clone for Handle {
    fn clone(&self) -> Self {
        // Relaxed: as `Arc::clone`: a new reference from an existing one needs no ordering.
        self.header().state.fetch_add(REF, Ordering::Relaxed);
        Handle { node: self.node }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.header(); // under loom: records this access to the node before the release
                       // SAFETY: we own one reference and do not use the node afterwards.
        unsafe { Header::release(self.node) };
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("state", &self.state())
            .finish()
    }
}
