//! The consumer side of the queue ([`Receiver`]) and the constructors.
//!
//! The consumer walks Vyukov's list from its end, keeps the last consumed node as a dummy, and
//! parks through the `ctl` word; see the [module docs](super) and [`docs/queue.md`].
//!
//! [`docs/queue.md`]: crate::docs::queue

use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crate::loom::{spin_loop, thread, Arc, Ordering};

use std::panic::{self, AssertUnwindSafe};

use super::inner::{started, Inner, CLOSED, COUNT_MASK};
use super::node::{refs, Header, CANCELLED, DONE, LIFECYCLE, PENDING, REF, RUNNING};
use super::{Callback, NoPark, Park, Sender, ThreadParker, Unpark};

/// How the consumer got hold of a popped node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Claim {
    /// No handle is left (and none can appear): the node is the consumer's alone.
    Exclusive,
    /// The consumer moved the state `PENDING -> RUNNING`; handles may still look at it.
    Shared,
    /// A cancel won: the payload is gone, the consumer only holds the queue's reference.
    Cancelled,
}

/// The consumed node kept at the consumer end because nothing was linked after it yet (the
/// producers will write its `next`), or the stub before the first node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dummy {
    Stub,
    Node(Claim),
}

/// Drops the queue's reference to a former dummy node.
///
/// # Safety
/// `h` was the consumer's dummy described by `d`, its `next` has been read as non-null (no
/// producer writes to it any more), and it is not used again.
unsafe fn release_dummy(h: NonNull<Header>, d: Dummy) {
    match d {
        Dummy::Stub => {}
        // SAFETY: only the queue's reference existed (seen with an Acquire load in `claim`) and
        // the payload is gone.
        Dummy::Node(Claim::Exclusive) => unsafe { Header::dealloc_exclusive(h) },
        // SAFETY: we own the queue's reference; the payload is gone (run or cancelled).
        Dummy::Node(_) => unsafe { Header::release(h) },
    }
}

/// Finishes a claimed node when dropped (also when the callback panics).
struct Finish {
    h: NonNull<Header>,
    claim: Claim,
    /// The node stays at the consumer end as the dummy: keep the queue's reference.
    keep: bool,
}

impl Drop for Finish {
    fn drop(&mut self) {
        match (self.claim, self.keep) {
            // SAFETY: the consumer holds the only reference (seen with an Acquire load in
            // `claim`), the payload was taken, and `h` is not used again.
            (Claim::Exclusive, false) => unsafe { Header::dealloc_exclusive(self.h) },
            // SAFETY: the consumer owns the queue's reference and disposed of the payload;
            // `REF - (DONE - RUNNING)` is one reference plus the `RUNNING -> DONE` step.
            (Claim::Shared, false) => unsafe {
                Header::release_with(self.h, REF - (DONE - RUNNING))
            },
            // Nobody can observe the state of an exclusive node; the dummy keeps its reference.
            (Claim::Exclusive, true) | (Claim::Cancelled, _) => {}
            (Claim::Shared, true) => {
                // SAFETY: the dummy's queue reference keeps the node live.
                let state = unsafe { &self.h.as_ref().state };
                // Release: publishes what the callback did to `Handle::state()` (Acquire).
                state.fetch_add(DONE - RUNNING, Ordering::Release);
            }
        }
    }
}

/// Claims a popped node's payload for the consumer (or reports that a cancel won).
///
/// # Safety
/// The caller owns the queue's reference to the live node `h` (it just popped it).
unsafe fn claim(h: NonNull<Header>) -> Claim {
    // SAFETY: `h` is live (the caller's reference).
    let state = unsafe { &h.as_ref().state };
    // Acquire: pairs with the Release decrement in `Handle::drop` (so seeing one reference
    // means every handle's accesses are done) and with the CAS in `Handle::cancel`.
    let mut s = state.load(Ordering::Acquire);
    loop {
        if s & LIFECYCLE == CANCELLED {
            return Claim::Cancelled;
        }
        debug_assert_eq!(
            s & LIFECYCLE,
            PENDING,
            "a queued node is pending or cancelled"
        );
        if refs(s) == 1 {
            return Claim::Exclusive;
        }
        // Relaxed: the CAS only decides who owns the payload (us or a canceller); the payload's
        // contents reached us through the link's Acquire load.
        match state.compare_exchange_weak(
            s,
            s - PENDING + RUNNING,
            Ordering::Relaxed, // Relaxed: ownership only; contents came via the link's Acquire.
            Ordering::Acquire, // Acquire: as the load above, for the retry.
        ) {
            Ok(_) => return Claim::Shared,
            Err(actual) => s = actual,
        }
    }
}

/// The consumer side of a handle queue: one thread at a time drains it (`Send`, not `Clone`).
///
/// | operation | cost |
/// |---|---|
/// | [`drain`](Receiver::drain), [`run_pending`](Receiver::run_pending) | O(k) for the k handles present at the start |
/// | [`try_recv`](Receiver::try_recv), [`recv`](Receiver::recv), [`poll_recv`](Receiver::poll_recv) | O(1) amortised (skips cancelled handles) |
/// | [`is_empty`](Receiver::is_empty), [`len`](Receiver::len) | O(1) |
/// | [`close`](Receiver::close) | O(n) for the n handles still queued |
/// | [`prepare_park`](Receiver::prepare_park) / [`finish_park`](Receiver::finish_park) | O(1), one RMW each |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use loopkit::queue::{self, Callback};
///
/// let (tx, mut rx) = queue::channel::<Callback>();
/// let producer = std::thread::spawn(move || {
///     for i in 0..3 {
///         tx.call_soon(move || println!("callback {i}")).unwrap();
///     }
/// });
/// let mut ran = 0;
/// while ran < 3 {
///     ran += rx.run_pending();
///     if ran < 3 {
///         rx.park_timeout(Duration::from_millis(100)); // woken by the next push
///     }
/// }
/// producer.join().unwrap();
/// ```
pub struct Receiver<T, P = ThreadParker> {
    pub(super) inner: Arc<Inner>,
    /// The consumer end: the oldest node not yet consumed, or (when `dummy` is set) the last
    /// consumed one, kept because nothing was linked after it yet.
    tail: NonNull<Header>,
    /// Whether (and how) `tail` is a consumed dummy.
    dummy: Option<Dummy>,
    /// Real nodes consumed so far (wrapping in `COUNT_MASK`).
    pub(super) consumed: usize,
    /// The started-push count when the queue was closed.
    pub(super) closed_at: Option<usize>,
    /// Whether this receiver announced a park (`PARKED`) that it has not finished yet.
    pub(super) announced: bool,
    /// The consumer half of the wake mechanism.
    pub(super) parker: P,
    _payload: PhantomData<T>,
}

// SAFETY: the receiver takes `T` values out (so needs `T: Send` to move to another thread); its
// raw `tail` points into nodes/stub kept alive by the queue, which only this receiver consumes.
unsafe impl<T: Send, P: Send> Send for Receiver<T, P> {}

// The receiver never pins anything: payloads live in heap nodes, never in the `Receiver` value,
// and no method projects a pin to a field, so moving it between polls is fine (and `Stream` /
// `recv_async` need it for any `T`).
impl<T, P> Unpin for Receiver<T, P> {}

impl<T, P> fmt::Debug for Receiver<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("closed", &self.closed_at.is_some())
            .finish_non_exhaustive()
    }
}

/// Creates a queue whose consumer parks with [`ThreadParker`].
///
/// Any `T` can travel, as with `std::sync::mpsc::channel`: the halves are `Send` when `T: Send`,
/// and [`Sender::send`] takes borrowed values too. Only [`Sender::push`] asks for
/// `T: Send + 'static`, because the [`Handle`](super::Handle) it returns may cancel (and drop)
/// the payload from any thread, at any time, and carries no lifetime.
///
/// ```
/// let (tx, mut rx) = loopkit::queue::channel::<u32>();
/// tx.push(1).unwrap();
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
///
/// The halves of a queue of non-`Send` payloads stay on their thread:
///
/// ```compile_fail,E0277
/// let (tx, _rx) = loopkit::queue::channel::<std::rc::Rc<u8>>();
/// std::thread::spawn(move || drop(tx));
/// ```
///
/// ```compile_fail,E0277
/// let (_tx, rx) = loopkit::queue::channel::<std::rc::Rc<u8>>();
/// std::thread::spawn(move || drop(rx));
/// ```
///
/// and a borrowed payload can be sent, but not pushed for a [`Handle`](super::Handle):
///
/// ```compile_fail,E0597
/// let text = String::from("borrowed");
/// let (tx, _rx) = loopkit::queue::channel::<&str>();
/// let _h = tx.push(&text);
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    with_parker(ThreadParker::new())
}

/// Creates a queue whose consumer blocks in `parker` (in [`Receiver::park`],
/// [`recv`](Receiver::recv), ...); producers wake it through `parker.unparker()`.
///
/// ```
/// use loopkit::queue::{self, ThreadParker};
/// let (tx, mut rx) = queue::with_parker::<u32, _>(ThreadParker::new());
/// tx.push(1).unwrap();
/// assert_eq!(rx.recv(), Ok(1));
/// ```
pub fn with_parker<T, P: Park>(parker: P) -> (Sender<T>, Receiver<T, P>) {
    let unparker = parker.unparker();
    new_pair(Box::new(unparker), parker)
}

/// Creates a queue whose producers wake the consumer through `unparker` alone: the consumer
/// blocks in its own selector around [`prepare_park`](Receiver::prepare_park) /
/// [`finish_park`](Receiver::finish_park) (a `mio::Poll` woken by a `mio::Waker`), or awaits
/// [`poll_recv`](Receiver::poll_recv). The receiver has no `park`/`recv` (see [`NoPark`]).
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// #[derive(Debug, Default)]
/// struct Flag(AtomicBool);
/// impl loopkit::queue::Unpark for Flag {
///     fn unpark(&self) { self.0.store(true, Ordering::Release); }
/// }
/// let flag = Arc::new(Flag::default());
/// let (tx, mut rx) = loopkit::queue::with_unparker::<u32, _>(flag.clone());
/// assert!(rx.prepare_park());
/// tx.push(1).unwrap();
/// assert!(flag.0.load(Ordering::Acquire));
/// assert!(rx.finish_park());
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
pub fn with_unparker<T, U: Unpark>(unparker: U) -> (Sender<T>, Receiver<T, NoPark>) {
    new_pair(Box::new(unparker), NoPark)
}

fn new_pair<T, P>(unparker: Box<dyn Unpark>, parker: P) -> (Sender<T>, Receiver<T, P>) {
    let inner = Inner::new(unparker);
    let tail = inner.stub_ptr();
    (
        Sender {
            inner: inner.clone(),
            _payload: PhantomData,
        },
        Receiver {
            inner,
            tail,
            dummy: Some(Dummy::Stub),
            consumed: 0,
            closed_at: None,
            announced: false,
            parker,
            _payload: PhantomData,
        },
    )
}

/// Where a drain stops: the producer end seen when it began, until it is reached.
type End = Option<NonNull<Header>>;

impl<T, P> Receiver<T, P> {
    /// Number of pushes accepted and not yet consumed, counting cancelled handles that the
    /// consumer has not skipped yet, and pushes still in flight.
    pub fn len(&self) -> usize {
        let total = self.accepted();
        total.wrapping_sub(self.consumed) & COUNT_MASK
    }

    /// Whether no accepted push is waiting ([`len`](Receiver::len) is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a handle is linked and ready to run now. Cheap: it reads only the consumer end,
    /// never the producers' cache line, so it suits a spin-before-park loop. `false` may still
    /// mean a push is in flight; [`prepare_park`](Receiver::prepare_park) is the exact check.
    #[inline]
    pub fn has_ready(&self) -> bool {
        match self.dummy {
            None => true,
            // SAFETY: the dummy is live (the queue's reference, or the stub).
            // Acquire: pairs with the Release link store in `enqueue`.
            Some(_) => !unsafe { self.tail.as_ref() }
                .next
                .load(Ordering::Acquire) // Acquire: pairs with the Release link in `enqueue`.
                .is_null(),
        }
    }

    /// Whether [`close`](Receiver::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed_at.is_some()
    }

    /// Pushes accepted so far (the started count, frozen at close).
    fn accepted(&self) -> usize {
        match self.closed_at {
            Some(n) => n,
            // Acquire: pairs with nothing in particular; `len` is a snapshot. (The count is
            // only changed by RMWs, so it is never torn.)
            None => started(self.inner.hot.ctl.load(Ordering::Acquire)),
        }
    }

    /// Runs `f` on each payload present when the call began, in queue order, skipping
    /// cancelled ones; payloads pushed meanwhile wait for the next drain. Returns how many ran.
    ///
    /// If `f` panics, the panic propagates; the payload being processed counts as run, and all
    /// later ones stay queued for the next drain.
    pub fn drain<F: FnMut(T)>(&mut self, mut f: F) -> usize {
        let mut end = self.snapshot();
        let mut ran = 0;
        while let Some(guard) = self.next_claimed(&mut end) {
            // SAFETY: we claimed the payload; the node was created for this queue's `T`.
            let payload = unsafe { take::<T>(guard.h) };
            f(payload);
            drop(guard);
            ran += 1;
        }
        ran
    }

    /// Takes the oldest payload that is not cancelled, if one is linked (the core of
    /// [`try_recv`](Receiver::try_recv)).
    pub(super) fn pop_payload(&mut self) -> Option<T> {
        let mut end = self.snapshot();
        let guard = self.next_claimed(&mut end)?;
        // SAFETY: we claimed the payload; the node was created for this queue's `T`.
        Some(unsafe { take::<T>(guard.h) })
    }

    /// Closes the queue: every later push returns [`SendError`](super::SendError) with its payload. Returns how many
    /// accepted handles are still pending (not run, not cancelled); each of them is run by a later
    /// drain or dropped with the receiver. Pushes that raced with the close are either refused
    /// or counted here. Calling it again returns the current pending count.
    pub fn close(&mut self) -> usize {
        if self.closed_at.is_none() {
            // Relaxed: only the count matters, and RMWs on `ctl` see the latest value; nodes
            // are read through the links' Acquire loads.
            let s = self.inner.hot.ctl.fetch_or(CLOSED, Ordering::Relaxed);
            self.closed_at = Some(started(s));
        }
        self.count_pending()
    }

    /// Walks every accepted, unconsumed node (waiting for in-flight links) and counts the ones
    /// not cancelled.
    fn count_pending(&self) -> usize {
        let total = self.len();
        if total == 0 {
            return 0;
        }
        let mut cur = match self.dummy {
            // SAFETY: the dummy is live, and an accepted node follows it (`total > 0`).
            Some(_) => unsafe { self.wait_next(self.tail) },
            None => self.tail,
        };
        let mut seen = 0;
        let mut pending = 0;
        loop {
            seen += 1;
            // SAFETY: `cur` is queued and unconsumed, so the queue's reference keeps it live.
            let s = unsafe { cur.as_ref() }.state.load(Ordering::Relaxed); // Relaxed: a count.
            if s & LIFECYCLE != CANCELLED {
                pending += 1;
            }
            if seen == total {
                return pending;
            }
            // SAFETY: `cur` is live and an accepted node follows it (`seen < total`).
            cur = unsafe { self.wait_next(cur) };
        }
    }

    /// Where a drain stops: the producer end now, or `None` (an empty drain) when nothing is
    /// linked after the consumer end, or the first unconsumed node when nothing is linked after
    /// it. In the last two cases the producers' cache line is not read at all. A push still in
    /// its swap-to-link window has not returned, so leaving it to the next drain is the same as
    /// if it had come after this one; and no callback has run yet, so nothing linked so far can
    /// be a push made during this drain.
    #[inline]
    fn snapshot(&self) -> End {
        let first = match self.dummy {
            None => self.tail,
            Some(_) => {
                // SAFETY: the dummy is live (the queue's reference, or the stub).
                // Acquire: pairs with the Release link store in `enqueue`.
                let n = unsafe { self.tail.as_ref() }.next.load(Ordering::Acquire);
                NonNull::new(n)?
            }
        };
        // SAFETY: `first` is queued and unconsumed, so the queue's reference keeps it live.
        // Acquire: pairs with the Release link store in `enqueue`.
        if unsafe { first.as_ref() }
            .next
            .load(Ordering::Acquire) // Acquire: pairs with the Release link in `enqueue`.
            .is_null()
        {
            return Some(first);
        }
        // Relaxed: only the pointer is used (compared with popped nodes); every node's contents
        // are read after the Acquire load of the link that leads to it (`wait_next`).
        Some(unsafe_nonnull(self.inner.hot.head.load(Ordering::Relaxed)))
    }

    /// Pops nodes up to `end`, skipping cancelled ones, and claims the next payload.
    #[inline]
    fn next_claimed(&mut self, end: &mut End) -> Option<Finish> {
        loop {
            let (h, keep) = self.pop(end)?;
            // SAFETY: we own the queue's reference to the popped node.
            let claim = unsafe { claim(h) };
            if keep {
                self.dummy = Some(Dummy::Node(claim));
            }
            match claim {
                Claim::Cancelled if keep => {}
                // SAFETY: we own the queue's reference, the canceller dropped the payload, and
                // the node is not kept: nobody reaches it through the queue any more.
                Claim::Cancelled => unsafe { Header::release(h) },
                claim => return Some(Finish { h, claim, keep }),
            }
        }
    }

    /// Detaches the next real node, if it is at or before `end`; the caller then owns the
    /// queue's reference to it. Returns whether the node must stay at `tail` as the dummy
    /// (nothing is linked after it yet). Waits (spinning, then yielding) for a producer between
    /// its swap and its link when the node it needs is already swapped in.
    fn pop(&mut self, end: &mut End) -> Option<(NonNull<Header>, bool)> {
        let stop = (*end)?;
        let mut cur = self.tail;
        if let Some(d) = self.dummy {
            if cur == stop {
                *end = None;
                return None;
            }
            // SAFETY: the dummy is live (the queue's reference or the stub) and `stop` comes
            // after it, so a node is linked (or being linked) after it.
            let next = unsafe { self.wait_next(cur) };
            self.dummy = None;
            self.tail = next;
            // SAFETY: we just read the dummy's non-null `next`; nothing reaches it any more.
            unsafe { release_dummy(cur, d) };
            cur = next;
        }
        self.consumed = (self.consumed + 1) & COUNT_MASK;
        if cur == stop {
            *end = None;
            // SAFETY: `cur` is live (queued, unconsumed).
            // Acquire: pairs with the Release link store in `enqueue`.
            let n = unsafe { cur.as_ref() }.next.load(Ordering::Acquire);
            match NonNull::new(n) {
                Some(n) => {
                    self.tail = n;
                    Some((cur, false))
                }
                // The last node: it stays at `tail` as the dummy, so a producer in its
                // swap-to-link window still writes into a live node.
                None => Some((cur, true)),
            }
        } else {
            // SAFETY: `cur` is live and `stop` comes after it, so a node follows.
            let next = unsafe { self.wait_next(cur) };
            prefetch(next);
            self.tail = next;
            Some((cur, false))
        }
    }

    /// Returns `cur.next`, waiting for the link if a producer is inside its swap-to-link window.
    ///
    /// # Safety
    /// `cur` is live and some node (or the stub) has been or is being linked after it.
    unsafe fn wait_next(&self, cur: NonNull<Header>) -> NonNull<Header> {
        let mut spins = 0u32;
        loop {
            // SAFETY: `cur` is live (caller).
            // Acquire: pairs with the Release link store in `enqueue`.
            let n = unsafe { cur.as_ref() }.next.load(Ordering::Acquire);
            if let Some(n) = NonNull::new(n) {
                return n;
            }
            spins += 1;
            if spins < 64 {
                spin_loop();
            } else {
                thread::yield_now();
            }
        }
    }

    /// Checks the queue's invariants (labelled panics). Call it only while no push is in
    /// flight: it walks the list the producers are appending to. A test helper, not part of
    /// the supported API.
    #[doc(hidden)]
    pub fn assert_valid(&self) {
        let stub = self.inner.stub_ptr();
        let total = self.len();
        let mut cur = self.tail;
        match self.dummy {
            Some(Dummy::Stub) => assert_eq!(cur, stub, "a stub dummy that is not the stub"),
            Some(Dummy::Node(_)) => {
                assert_ne!(cur, stub, "a node dummy that is the stub");
                // SAFETY: the dummy is kept live by the queue's reference.
                let s = unsafe { cur.as_ref() }.state.load(Ordering::Relaxed); // Relaxed: check.
                assert!(refs(s) >= 1, "the dummy lost the queue's reference");
            }
            None => {}
        }
        let mut seen = 0usize;
        let mut first = self.dummy.is_some();
        loop {
            if !first {
                assert_ne!(cur, stub, "the stub is linked after the consumer end");
                seen += 1;
                // SAFETY: `cur` is queued, kept live by the queue's reference.
                let s = unsafe { cur.as_ref() }.state.load(Ordering::Relaxed); // Relaxed: check.
                assert!(refs(s) >= 1, "queued node without the queue's reference");
                let l = s & LIFECYCLE;
                assert!(
                    l == PENDING || l == CANCELLED,
                    "queued node is {l}, not pending/cancelled"
                );
            }
            first = false;
            // SAFETY: `cur` is live.
            let n = unsafe { cur.as_ref() }.next.load(Ordering::Acquire); // Acquire: as wait_next.
            match NonNull::new(n) {
                Some(n) => cur = n,
                None => break,
            }
        }
        let head = self.inner.hot.head.load(Ordering::Acquire); // Acquire: as wait_next.
        assert_eq!(
            cur.as_ptr(),
            head,
            "the last linked node is not the producer end"
        );
        assert_eq!(seen, total, "linked nodes differ from accepted - consumed");
    }
}

impl<P> Receiver<Callback, P> {
    /// Runs every callback present when the call began, in order, skipping cancelled ones;
    /// inline closures (from [`call_soon`](Sender::call_soon)) run in place without a `Box`.
    /// Callbacks pushed meanwhile (also by these callbacks) wait for the next call. A panicking
    /// callback propagates its panic; the callbacks after it stay queued. Returns how many ran.
    pub fn run_pending(&mut self) -> usize {
        let mut end = self.snapshot();
        let mut ran = 0;
        while let Some(guard) = self.next_claimed(&mut end) {
            // SAFETY: we claimed the payload of a node made for a `Callback` queue.
            if !unsafe { Header::call(guard.h) } {
                // SAFETY: as above; a non-inline node's payload is a `Callback`.
                let cb = unsafe { take::<Callback>(guard.h) };
                cb();
            }
            drop(guard);
            ran += 1;
        }
        ran
    }
}

impl<T, P> Drop for Receiver<T, P> {
    /// Closes the queue and drops every payload still queued (their handles end `Done`). A
    /// payload whose `Drop` panics does not stop the others: each is dropped, then the first
    /// panic is resumed (as `Vec` does).
    fn drop(&mut self) {
        self.close();
        let mut end = self.snapshot();
        let mut first_panic = None;
        while let Some(guard) = self.next_claimed(&mut end) {
            let h = guard.h;
            let dropped = panic::catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: we claimed the payload; it is dropped exactly once, here (a panicking
                // `Drop` still counts as the drop).
                unsafe { Header::drop_payload(h) }
            }));
            drop(guard);
            if let Err(p) = dropped {
                first_panic.get_or_insert(p);
            }
        }
        if let Some(d) = self.dummy.take() {
            // SAFETY: the queue is closed and every accepted node is consumed, so no producer
            // will write the dummy's `next`; nothing reaches it after this.
            unsafe { release_dummy(self.tail, d) };
        }
        if let Some(p) = first_panic {
            panic::resume_unwind(p);
        }
    }
}

/// Moves a claimed payload out as a `P`.
///
/// # Safety
/// The caller claimed `h`'s payload, and `h` was made for payload type `P` (or is an inline
/// node of a `Callback` queue and `P` is `Callback`).
#[inline]
unsafe fn take<P>(h: NonNull<Header>) -> P {
    let mut slot = MaybeUninit::<P>::uninit();
    // SAFETY: forwarded from the caller; `slot` is a valid `P` slot.
    unsafe {
        Header::take(h, slot.as_mut_ptr().cast::<()>());
        slot.assume_init()
    }
}

/// Asks the CPU to start loading the node the consumer will process next, so that following
/// the list (a dependent load per node) overlaps with running the current callback.
#[inline(always)]
fn prefetch(p: NonNull<Header>) {
    #[cfg(all(target_arch = "x86_64", not(miri), not(loopkit_loom)))]
    // SAFETY: `prefetcht0` is a hint: it reads nothing architecturally and cannot fault,
    // whatever the address; SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            p.as_ptr().cast::<i8>(),
        );
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri), not(loopkit_loom))))]
    let _ = p;
}

#[inline]
fn unsafe_nonnull(p: *mut Header) -> NonNull<Header> {
    NonNull::new(p).expect("the producer end is never null")
}
