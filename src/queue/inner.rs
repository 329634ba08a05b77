//! The shared queue (`Inner`) and its producer side ([`Sender`]).
//!
//! The list is Vyukov's intrusive MPSC queue; `ctl` is the park/close word. Both are described,
//! with their state tables, in the [module docs](super).

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use crossbeam_utils::CachePadded;

use crate::loom::{Arc, AtomicPtr, AtomicUsize, Ordering};

use super::node::{self, Header};
use super::{Callback, Closed, Handle, Wake};

/// `ctl` bit: the receiver closed the queue; pushes that see it are refused.
pub(super) const CLOSED: usize = 0b001;
/// `ctl` bit: the consumer announced that it is parking (and found no work after announcing).
pub(super) const PARKED: usize = 0b010;
/// `ctl` bit: a producer took on the job of waking the current park.
pub(super) const NOTIFIED: usize = 0b100;
/// `ctl` increment of one started push; the count lives above the three flag bits.
pub(super) const ONE_PUSH: usize = 0b1000;
/// Mask of the push count once shifted down (the count wraps in this many bits).
pub(super) const COUNT_MASK: usize = usize::MAX >> 3;

#[inline]
pub(super) const fn started(ctl: usize) -> usize {
    ctl >> 3
}

/// The two words every push touches, on one cache line of their own.
pub(super) struct Hot {
    /// The producer end: the most recently pushed node (or the stub).
    pub(super) head: AtomicPtr<Header>,
    /// Park/close word: `CLOSED | PARKED | NOTIFIED | started-push count << 3`.
    pub(super) ctl: AtomicUsize,
}

/// The state shared by every [`Sender`] and the [`Receiver`].
pub(super) struct Inner {
    pub(super) hot: CachePadded<Hot>,
    /// The initial dummy (Vyukov's stub); after the first node it is never linked again.
    stub: Header,
    pub(super) waker: Box<dyn Wake>,
}

// SAFETY: `Inner` is shared by reference only through atomics (`head`, `ctl`, and the stub's
// atomic fields) and the `Wake` object, which is `Send + Sync`. Payloads that travel through it
// are `Send` (enforced by `Sender<T>: Send` needing `T: Send`).
unsafe impl Send for Inner {}
// SAFETY: as above: every field reachable through `&Inner` is thread-safe.
unsafe impl Sync for Inner {}

impl Inner {
    pub(super) fn new(waker: Box<dyn Wake>) -> Arc<Inner> {
        let inner = Arc::new(Inner {
            hot: CachePadded::new(Hot {
                head: AtomicPtr::new(ptr::null_mut()),
                ctl: AtomicUsize::new(0),
            }),
            stub: Header::stub(),
            waker,
        });
        let stub = inner.stub_ptr();
        // Relaxed: the Arc is not shared yet; cloning it into the handles publishes this store.
        inner.hot.head.store(stub.as_ptr(), Ordering::Relaxed);
        inner
    }

    #[inline]
    pub(super) fn stub_ptr(&self) -> NonNull<Header> {
        NonNull::from(&self.stub)
    }

    /// Links `h` at the producer end. Returns `Err(())` (and leaves `h` untouched) if closed.
    #[inline]
    fn enqueue(&self, h: NonNull<Header>) -> Result<(), ()> {
        // Acquire: if we see PARKED, the consumer's `Wake::register` happens-before our wake;
        // pairs with the Release CAS in `Receiver::prepare_park`. The increment itself needs no
        // ordering: `ctl` is only ever changed by RMWs, whose single modification order is the
        // whole push-vs-park handshake (see the module docs).
        let s = self.hot.ctl.fetch_add(ONE_PUSH, Ordering::Acquire);
        if s & CLOSED != 0 {
            return Err(());
        }
        // AcqRel. Release: publishes `h`'s initialisation (its null `next`) to the producer that
        // links after it; Acquire: pairs with that same Release from the previous pusher, so our
        // store to `prev.next` comes after its null initialisation.
        let prev = self.hot.head.swap(h.as_ptr(), Ordering::AcqRel);
        // Here is the inconsistent window: `h` is the head but not reachable from the consumer
        // until the store below; the consumer waits for it (`wait_next`).
        // SAFETY: `prev` is the stub or a node still held by the queue (unconsumed, or the
        // consumer's dummy): the consumer releases a node only after it has read a non-null
        // `next` from it, which only we write.
        unsafe {
            // Release: publishes `h` (header and payload); pairs with the Acquire load in
            // `Receiver::wait_next` / `next_of`.
            (*prev).next.store(h.as_ptr(), Ordering::Release);
        }
        if s & PARKED != 0 {
            self.notify();
        }
        Ok(())
    }

    /// Wakes the consumer unless another producer already took that job for this park.
    #[cold]
    fn notify(&self) {
        // Release: orders our link before the flag; pairs with the Acquire load of NOTIFIED in
        // `Receiver::park_timeout` and the Acquire `fetch_and` in `finish_park`.
        let prev = self.hot.ctl.fetch_or(NOTIFIED, Ordering::Release);
        if prev & (PARKED | NOTIFIED) == PARKED {
            self.waker.wake();
        }
    }
}

/// The producer side of a handle queue: `Clone + Send + Sync`, any number of threads push.
///
/// | operation | cost |
/// |---|---|
/// | [`push`](Sender::push), [`call_soon`](Sender::call_soon) | O(1), wait-free, one allocation |
/// | wake of a parked consumer | one [`Wake::wake`] per park, shared by all producers |
/// | [`clone`](Clone::clone) | O(1) (an `Arc` clone) |
///
/// # Examples
///
/// ```
/// use loopkit::queue::{self, Closed};
///
/// let (tx, mut rx) = queue::channel::<String>();
/// let tx2 = tx.clone();
/// std::thread::spawn(move || tx2.push("from a thread".to_string()).map(drop)).join().unwrap().unwrap();
/// let h = tx.push("cancel me".to_string()).unwrap();
/// assert!(h.cancel());
/// assert_eq!(rx.close(), 1);
/// assert_eq!(tx.push("late".to_string()).unwrap_err(), Closed("late".to_string()));
/// let mut got = Vec::new();
/// rx.drain(|s| got.push(s));
/// assert_eq!(got, ["from a thread"]);
/// ```
pub struct Sender<T> {
    pub(super) inner: Arc<Inner>,
    pub(super) _payload: PhantomData<fn(T)>,
}

// SAFETY: a `Sender<T>` moves `T` values to the consumer thread and may drop them on a
// cancelling thread, so it is `Send`/`Sync` exactly when `T: Send`; `Inner` is thread-safe.
unsafe impl<T: Send> Send for Sender<T> {}
// SAFETY: as above; every `&self` method is safe to call concurrently.
unsafe impl<T: Send> Sync for Sender<T> {}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
            _payload: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Sender<T> {
    /// Queues `payload` and returns its [`Handle`], or gives the payload back if the queue is
    /// closed. Wait-free; one allocation (the handle is the queue node).
    pub fn push(&self, payload: T) -> Result<Handle, Closed<T>> {
        let h = node::alloc_plain(payload, 2);
        match self.inner.enqueue(h) {
            Ok(()) => Ok(Handle::from_node(h)),
            // SAFETY: `enqueue` refused `h`, so it was never published; it is not used again.
            Err(()) => Err(Closed(unsafe { node::unalloc::<T>(h) })),
        }
    }

    /// Like [`push`](Sender::push) without a handle: the payload cannot be cancelled, and the
    /// consumer frees the node without any read-modify-write.
    pub fn push_detached(&self, payload: T) -> Result<(), Closed<T>> {
        let h = node::alloc_plain(payload, 1);
        match self.inner.enqueue(h) {
            Ok(()) => Ok(()),
            // SAFETY: `enqueue` refused `h`, so it was never published; it is not used again.
            Err(()) => Err(Closed(unsafe { node::unalloc::<T>(h) })),
        }
    }
}

impl<T> Sender<T> {
    /// Whether the receiver closed the queue (or was dropped).
    pub fn is_closed(&self) -> bool {
        // Relaxed: a hint only; `push` decides with its own RMW.
        self.inner.hot.ctl.load(Ordering::Relaxed) & CLOSED != 0
    }
}

impl Sender<Callback> {
    /// Queues the closure `f` stored inline in the node (one allocation, no `Box`), returning
    /// its [`Handle`]; gives `f` back if the queue is closed.
    ///
    /// ```
    /// use loopkit::queue::{self, Callback};
    /// let (tx, mut rx) = queue::channel::<Callback>();
    /// let h = tx.call_soon(|| println!("on the loop thread")).unwrap();
    /// assert_eq!(rx.run_pending(), 1);
    /// assert!(!h.cancel());
    /// ```
    pub fn call_soon<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<Handle, Closed<F>> {
        let h = node::alloc_inline(f, 2);
        match self.inner.enqueue(h) {
            Ok(()) => Ok(Handle::from_node(h)),
            // SAFETY: `enqueue` refused `h`, so it was never published; it is not used again.
            Err(()) => Err(Closed(unsafe { node::unalloc::<F>(h) })),
        }
    }

    /// Like [`call_soon`](Sender::call_soon) without a handle.
    pub fn call_soon_detached<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<(), Closed<F>> {
        let h = node::alloc_inline(f, 1);
        match self.inner.enqueue(h) {
            Ok(()) => Ok(()),
            // SAFETY: `enqueue` refused `h`, so it was never published; it is not used again.
            Err(()) => Err(Closed(unsafe { node::unalloc::<F>(h) })),
        }
    }
}
