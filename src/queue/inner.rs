//! The shared queue (`Inner`) and its producer side ([`Sender`]).
//!
//! The list is Vyukov's intrusive MPSC queue; `ctl` is the park/close word. Both are described,
//! with their state tables, in the [module docs](super).

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use crossbeam_utils::CachePadded;

use crate::loom::{Arc, AtomicPtr, AtomicUsize, Ordering};

use super::atomic_waker::AtomicWaker;
use super::node::{self, Header};
use super::{Callback, Handle, SendError, Unpark};

/// `ctl` bit: the receiver closed the queue; pushes that see it are refused.
pub(super) const CLOSED: usize = 0b0001;
/// `ctl` bit: the consumer announced that it is parking (and found no work after announcing).
pub(super) const PARKED: usize = 0b0010;
/// `ctl` bit: a producer took on the job of waking the current park.
pub(super) const NOTIFIED: usize = 0b0100;
/// `ctl` bit: the last [`Sender`] was dropped; nothing can be pushed any more.
pub(super) const DISCONNECTED: usize = 0b1000;
/// `ctl` increment of one started push; the count lives above the four flag bits.
pub(super) const ONE_PUSH: usize = 0b1_0000;
/// Mask of the push count once shifted down (the count wraps in this many bits).
pub(super) const COUNT_MASK: usize = usize::MAX >> 4;

#[inline]
pub(super) const fn started(ctl: usize) -> usize {
    ctl >> 4
}

/// The two words every push touches, on one cache line of their own.
pub(super) struct Hot {
    /// The producer end: the most recently pushed node (or the stub).
    pub(super) head: AtomicPtr<Header>,
    /// Park/close word: `DISCONNECTED | NOTIFIED | PARKED | CLOSED | started-push count << 4`.
    pub(super) ctl: AtomicUsize,
}

/// The state shared by every [`Sender`] and the [`Receiver`](super::Receiver).
pub(super) struct Inner {
    pub(super) hot: CachePadded<Hot>,
    /// The initial dummy (Vyukov's stub); after the first node it is never linked again.
    stub: Header,
    /// Live [`Sender`]s; the one that takes it to zero sets `DISCONNECTED`.
    senders: AtomicUsize,
    /// The task waker registered by `Receiver::poll_recv` / `poll_ready`.
    pub(super) task: AtomicWaker,
    /// The producer half of the consumer's parker.
    unparker: Box<dyn Unpark>,
}

// SAFETY: `Inner` is shared by reference only through atomics (`head`, `ctl`, `senders`, the
// stub's atomic fields), the `AtomicWaker` (`Sync`), and the `Unpark` object, which is
// `Send + Sync`. Payloads that travel through it are `Send` (`Sender<T>: Send` needs `T: Send`).
unsafe impl Send for Inner {}
// SAFETY: as above: every field reachable through `&Inner` is thread-safe.
unsafe impl Sync for Inner {}

impl Inner {
    pub(super) fn new(unparker: Box<dyn Unpark>) -> Arc<Inner> {
        let inner = Arc::new(Inner {
            hot: CachePadded::new(Hot {
                head: AtomicPtr::new(ptr::null_mut()),
                ctl: AtomicUsize::new(0),
            }),
            stub: Header::stub(),
            senders: AtomicUsize::new(1),
            task: AtomicWaker::new(),
            unparker,
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

    /// Links `h` at the producer end. Returns `Err(())` (and leaves `h` untouched) if closed,
    /// else whether the consumer had announced a park (the caller then calls
    /// [`notify`](Inner::notify), after it has taken ownership of its handle).
    #[inline]
    fn enqueue(&self, h: NonNull<Header>) -> Result<bool, ()> {
        // Acquire: if we see PARKED, what the consumer did before announcing (its task-waker
        // registration) happens-before our wake; pairs with the Release CAS in
        // `Receiver::prepare_park`. The increment itself needs no ordering: `ctl` is only ever
        // changed by RMWs, whose single modification order is the whole push-vs-park handshake
        // (see the module docs).
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
        Ok(s & PARKED != 0)
    }

    /// Wakes the consumer unless another producer already took that job for this park.
    ///
    /// If the task waker or the unparker panics, `NOTIFIED` is cleared again before the panic
    /// propagates, so the next push (or the last sender's drop) wakes the park instead.
    #[cold]
    pub(super) fn notify(&self) {
        // Release: orders our link before the flag; pairs with the Acquire load of NOTIFIED in
        // `Receiver::park_until` and the Acquire `fetch_and` in `finish_park`.
        let prev = self.hot.ctl.fetch_or(NOTIFIED, Ordering::Release);
        if prev & (PARKED | NOTIFIED) == PARKED {
            let rearm = Rearm(self);
            self.task.wake();
            self.unparker.unpark();
            core::mem::forget(rearm);
        }
    }

    /// The last sender is gone: mark the queue disconnected and wake a parked consumer (through
    /// the same one-wake protocol as a push).
    #[cold]
    fn disconnect(&self) {
        // AcqRel. Release: every push of every sender happens-before this RMW (through the
        // `senders` count), so a consumer that sees DISCONNECTED with an Acquire load sees every
        // link; pairs with the Acquire loads in `Receiver::try_recv` / `prepare_park`. Acquire:
        // as in `enqueue`, a PARKED we see carries the consumer's registration. The flag's place
        // in `ctl`'s modification order against the consumer's PARKED CAS is the handshake:
        // before it, the CAS sees DISCONNECTED and does not park; after it, we see PARKED.
        let s = self.hot.ctl.fetch_or(DISCONNECTED, Ordering::AcqRel);
        if s & PARKED != 0 {
            self.notify();
        }
    }
}

/// Clears `NOTIFIED` if a waker panics inside [`Inner::notify`], so a later push wakes instead.
struct Rearm<'a>(&'a Inner);

impl Drop for Rearm<'_> {
    fn drop(&mut self) {
        // Relaxed: only the bit matters; the next producer's RMW reads it in modification order.
        self.0.hot.ctl.fetch_and(!NOTIFIED, Ordering::Relaxed);
    }
}

/// The producer side of a handle queue: `Clone + Send + Sync`, any number of threads push.
///
/// Dropping the last `Sender` disconnects the queue: a parked consumer is woken, and once the
/// queue is empty [`Receiver::try_recv`](super::Receiver::try_recv) answers
/// [`Disconnected`](super::TryRecvError::Disconnected) and [`recv`](super::Receiver::recv)
/// returns `Err`.
///
/// | operation | cost |
/// |---|---|
/// | [`push`](Sender::push), [`call_soon`](Sender::call_soon) | O(1), wait-free, one allocation |
/// | wake of a parked consumer | one [`Unpark::unpark`] per park, shared by all producers |
/// | [`clone`](Clone::clone), drop | O(1): one RMW on the sender count (and the `Arc`) |
///
/// # Examples
///
/// ```
/// use loopkit::queue::{self, SendError, TryRecvError};
///
/// let (tx, mut rx) = queue::channel::<String>();
/// let tx2 = tx.clone();
/// std::thread::spawn(move || tx2.push("from a thread".to_string()).map(drop)).join().unwrap().unwrap();
/// let h = tx.push("cancel me".to_string()).unwrap();
/// assert!(h.cancel());
/// drop(tx); // the last sender: disconnects
/// assert_eq!(rx.try_recv(), Ok("from a thread".to_string()));
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
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
        // Relaxed: as `Arc::clone`: a new sender from an existing one needs no ordering (the
        // existing one keeps the count above zero).
        self.inner.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            inner: self.inner.clone(),
            _payload: PhantomData,
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // AcqRel. Release: this sender's pushes happen-before the last sender's disconnect;
        // Acquire: the last sender (the one that reads 1) sees every other sender's pushes, and
        // its `fetch_or(DISCONNECTED)` passes them on to the consumer.
        if self.inner.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.disconnect();
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

impl<T> Sender<T> {
    /// Whether the receiver closed the queue (or was dropped).
    pub fn is_closed(&self) -> bool {
        // Relaxed: a hint only; `push` decides with its own RMW.
        self.inner.hot.ctl.load(Ordering::Relaxed) & CLOSED != 0
    }

    /// Links the node `h` holding a `P`; on success returns the handle made from it (with
    /// `handle`), waking a parked consumer after the handle exists, so that a panicking waker
    /// drops the handle instead of leaking its reference. On a closed queue gives the payload back.
    #[inline]
    fn send_node<P, R>(
        &self,
        h: NonNull<Header>,
        handle: impl FnOnce(NonNull<Header>) -> R,
    ) -> Result<R, SendError<P>> {
        match self.inner.enqueue(h) {
            Ok(parked) => {
                let r = handle(h);
                if parked {
                    self.inner.notify();
                }
                Ok(r)
            }
            // SAFETY: `enqueue` refused `h`, so it was never published; it is not used again.
            Err(()) => Err(SendError(unsafe { node::unalloc::<P>(h) })),
        }
    }
}

impl<T> Sender<T> {
    /// Queues `value`, or gives it back in [`SendError`] if the receiver closed the queue or was
    /// dropped: the plain send of every channel. Wait-free; one allocation. There is no handle,
    /// so the value cannot be cancelled, and the consumer frees the node without any
    /// read-modify-write.
    ///
    /// Unlike [`push`](Sender::push) this needs no `T: 'static`: no handle can outlive the
    /// queue's borrows, so a channel of borrowed values works as with `std::sync::mpsc`.
    ///
    /// If the consumer's waker panics, the value stays queued and the panic propagates.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::queue::{self, SendError};
    /// let text = String::from("borrowed");
    /// let (tx, mut rx) = queue::channel::<&str>();
    /// tx.send(&text).unwrap();
    /// assert_eq!(rx.try_recv(), Ok("borrowed"));
    /// rx.close();
    /// assert_eq!(tx.send("refused"), Err(SendError("refused")));
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.send_node(node::alloc_plain(value, 1), |_| ())
    }

    /// Whether `self` and `other` send into the same queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _rx) = loopkit::queue::channel::<u8>();
    /// let (b, _rx2) = loopkit::queue::channel::<u8>();
    /// assert!(a.same_channel(&a.clone()));
    /// assert!(!a.same_channel(&b));
    /// ```
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        ptr::eq::<Inner>(&*self.inner, &*other.inner)
    }
}

impl<T: Send + 'static> Sender<T> {
    /// Queues `payload` and returns its [`Handle`], or gives the payload back if the queue is
    /// closed. Wait-free; one allocation (the handle is the queue node).
    ///
    /// The handle may cancel (and so drop) the payload on any thread, and it is not tied to the
    /// queue's lifetime, hence `T: Send + 'static` here; [`send`](Sender::send) has neither bound.
    ///
    /// If the consumer's waker panics, the payload stays queued (it will run), the handle is
    /// dropped (which does not cancel), and the panic propagates.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::queue::{self, HandleState};
    /// let (tx, mut rx) = queue::channel::<u8>();
    /// let h = tx.push(1).unwrap();
    /// assert!(h.cancel());
    /// assert_eq!(h.state(), HandleState::Cancelled);
    /// assert!(rx.try_recv().is_err());
    /// ```
    pub fn push(&self, payload: T) -> Result<Handle, SendError<T>> {
        self.send_node(node::alloc_plain(payload, 2), Handle::from_node)
    }

    /// The former name of [`send`](Sender::send).
    #[deprecated(since = "0.2.0", note = "renamed to `Sender::send`")]
    pub fn push_detached(&self, payload: T) -> Result<(), SendError<T>> {
        self.send(payload)
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
    pub fn call_soon<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<Handle, SendError<F>> {
        self.send_node(node::alloc_inline(f, 2), Handle::from_node)
    }

    /// Like [`call_soon`](Sender::call_soon) without a handle.
    pub fn call_soon_detached<F: FnOnce() + Send + 'static>(
        &self,
        f: F,
    ) -> Result<(), SendError<F>> {
        self.send_node(node::alloc_inline(f, 1), |_| ())
    }
}
