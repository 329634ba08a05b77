//! Queue nodes: one allocation per push, a type-erased [`Header`] followed by the payload.
//!
//! The header is what the queue links (`next`), what a [`Handle`](super::Handle) points at, and
//! where the node's state word lives. Everything that depends on the payload type goes through a
//! `&'static VTable` of plain function pointers, so a `Receiver<T>` can drain nodes whose payload
//! is a `T` (from `push`) and, for callback queues, nodes whose payload is a closure stored inline
//! (from `call_soon`), through the same list machinery.
//!
//! See the state table in the [module docs](super#handle-state-word).

use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::{self, NonNull};

use crate::loom::{fence, AtomicPtr, AtomicUsize, Ordering, UnsafeCell};

use super::Callback;

/// Mask of the lifecycle bits of a node's state word.
pub(super) const LIFECYCLE: usize = 0b11;
/// Queued, not yet claimed by the consumer nor cancelled.
pub(super) const PENDING: usize = 0;
/// Claimed by the consumer: the payload is running (or being dropped by the receiver).
pub(super) const RUNNING: usize = 1;
/// Finished: the payload ran, or the receiver dropped it unrun.
pub(super) const DONE: usize = 2;
/// A `Handle::cancel` won; the canceller dropped the payload.
pub(super) const CANCELLED: usize = 3;
/// One reference (the queue's or one `Handle`'s), counted above the lifecycle bits.
pub(super) const REF: usize = 4;

/// Number of references recorded in a state word.
#[inline]
pub(super) const fn refs(state: usize) -> usize {
    state / REF
}

/// The payload-specific operations of a node.
pub(super) struct VTable {
    /// Moves the payload out as the queue's payload type `T`, writing it to `out: *mut T`.
    take: unsafe fn(NonNull<Header>, *mut ()),
    /// Moves the payload out and runs it; `None` for payloads that are not inline closures.
    call: Option<unsafe fn(NonNull<Header>)>,
    /// Drops the payload in place.
    drop_payload: unsafe fn(NonNull<Header>),
    /// Frees the node (the payload must already be gone).
    dealloc: unsafe fn(NonNull<Header>),
}

/// The type-independent head of every node (and the queue's stub).
#[repr(C)]
pub(super) struct Header {
    /// The next node in push order; written once by the producer that pushes the successor.
    pub(super) next: AtomicPtr<Header>,
    /// Lifecycle (2 bits) and reference count; see the module state table.
    pub(super) state: AtomicUsize,
    vtable: &'static VTable,
    /// Under loom only: a cell every `Handle` access reads and the free writes, so the model
    /// checks that each handle's use of the node happens-before the node is freed (loom does
    /// not track atomics for use-after-free).
    #[cfg(loopkit_loom)]
    access: UnsafeCell<()>,
}

/// A node: header first (`repr(C)`), so a `*mut Node<P>` and its `*mut Header` are one address.
#[repr(C)]
struct Node<P> {
    header: Header,
    payload: UnsafeCell<MaybeUninit<P>>,
}

/// The stub's vtable: the stub has no payload and is never claimed, taken or freed.
static STUB_VTABLE: VTable = VTable {
    take: stub_unreachable_take,
    call: None,
    drop_payload: stub_unreachable,
    dealloc: stub_unreachable,
};

/// # Safety
/// Never called (only exists to fill the stub's vtable).
unsafe fn stub_unreachable_take(_: NonNull<Header>, _: *mut ()) {
    unreachable!("the stub node has no payload")
}

/// # Safety
/// Never called (only exists to fill the stub's vtable).
unsafe fn stub_unreachable(_: NonNull<Header>) {
    unreachable!("the stub node has no payload")
}

impl Header {
    /// A stub header (Vyukov's `stub`): never carries a payload.
    pub(super) fn stub() -> Self {
        Header {
            next: AtomicPtr::new(ptr::null_mut()),
            state: AtomicUsize::new(DONE),
            vtable: &STUB_VTABLE,
            #[cfg(loopkit_loom)]
            access: UnsafeCell::new(()),
        }
    }

    /// Records a handle's access to the node (under loom; nothing otherwise).
    #[inline(always)]
    pub(super) fn touch(&self) {
        #[cfg(loopkit_loom)]
        self.access.with(|_| ());
    }
}

/// Vtables for payload type `P` (one `static`-promoted constant per `P`).
struct Vt<P>(PhantomData<P>);

impl<P> Vt<P> {
    /// A plain payload: `take` moves it out as itself.
    const PLAIN: VTable = VTable {
        take: take_plain::<P>,
        call: None,
        drop_payload: drop_payload::<P>,
        dealloc: dealloc::<P>,
    };
}

impl<F: FnOnce() + Send + 'static> Vt<F> {
    /// An inline closure in a callback queue: `call` runs it in place; `take` boxes it.
    const INLINE: VTable = VTable {
        take: take_boxed::<F>,
        call: Some(call_inline::<F>),
        drop_payload: drop_payload::<F>,
        dealloc: dealloc::<F>,
    };
}

/// Allocates a node holding `payload` with `refs` references and a `PENDING` state.
pub(super) fn alloc_plain<P>(payload: P, refs: usize) -> NonNull<Header> {
    alloc(payload, refs, &Vt::<P>::PLAIN)
}

/// Allocates a node holding the closure `f` inline (for `Receiver<Callback>`).
pub(super) fn alloc_inline<F: FnOnce() + Send + 'static>(f: F, refs: usize) -> NonNull<Header> {
    alloc(f, refs, &Vt::<F>::INLINE)
}

fn alloc<P>(payload: P, refs: usize, vtable: &'static VTable) -> NonNull<Header> {
    let node = Box::new(Node {
        header: Header {
            next: AtomicPtr::new(ptr::null_mut()),
            state: AtomicUsize::new(PENDING + refs * REF),
            vtable,
            #[cfg(loopkit_loom)]
            access: UnsafeCell::new(()),
        },
        payload: UnsafeCell::new(MaybeUninit::new(payload)),
    });
    // The cast keeps the provenance of the whole allocation (not just the header field).
    NonNull::from(Box::leak(node)).cast::<Header>()
}

/// Moves the payload of a node that never entered the queue back out and frees the node.
///
/// # Safety
/// `h` came from [`alloc_plain`] with payload type `P`, was never published to another thread,
/// and is not used afterwards.
pub(super) unsafe fn unalloc<P>(h: NonNull<Header>) -> P {
    // SAFETY: `h` is an unpublished `Node<P>` (caller), so reading its payload once is the only
    // access, and freeing it afterwards is the only free.
    unsafe {
        let node = Box::from_raw(h.cast::<Node<P>>().as_ptr());
        node.payload.with(|p| ptr::read(p).assume_init())
    }
}

/// Access to the payload cell of a node of payload type `P`.
///
/// # Safety
/// `h` points to a live `Node<P>`.
unsafe fn payload<'a, P>(h: NonNull<Header>) -> &'a UnsafeCell<MaybeUninit<P>> {
    // SAFETY: `h` is a live `Node<P>` (caller); the shared reference only reaches the `UnsafeCell`
    // field, so it does not conflict with writes through `with_mut`.
    unsafe { &(*h.cast::<Node<P>>().as_ptr()).payload }
}

/// # Safety
/// `h` is a live `Node<P>` whose payload is initialised and owned by the caller; `out` is valid
/// for a write of a `P`. Afterwards the payload is logically moved out.
unsafe fn take_plain<P>(h: NonNull<Header>, out: *mut ()) {
    // SAFETY: the caller owns the initialised payload (it won the claim) and `out` is a valid `P`
    // slot; the payload is read exactly once.
    unsafe {
        payload::<P>(h).with_mut(|p| ptr::write(out.cast::<P>(), ptr::read(p).assume_init()));
    }
}

/// # Safety
/// As [`take_plain`], with `out` valid for a write of a [`Callback`].
unsafe fn take_boxed<F: FnOnce() + Send + 'static>(h: NonNull<Header>, out: *mut ()) {
    // SAFETY: the caller owns the initialised payload, an `F`; it is read exactly once.
    let f = unsafe { payload::<F>(h).with_mut(|p| ptr::read(p).assume_init()) };
    let boxed: Callback = Box::new(f);
    // SAFETY: `out` is a valid `Callback` slot (caller).
    unsafe { ptr::write(out.cast::<Callback>(), boxed) };
}

/// # Safety
/// `h` is a live `Node<F>` whose initialised payload is owned by the caller; afterwards the
/// payload is moved out (also if `F` panics).
unsafe fn call_inline<F: FnOnce() + Send + 'static>(h: NonNull<Header>) {
    // SAFETY: the caller owns the initialised payload; it is read exactly once, then run from
    // the stack, so a panic in `f` cannot drop it a second time.
    let f = unsafe { payload::<F>(h).with_mut(|p| ptr::read(p).assume_init()) };
    f();
}

/// # Safety
/// `h` is a live `Node<P>` whose initialised payload is owned by the caller; afterwards it is
/// dropped.
unsafe fn drop_payload<P>(h: NonNull<Header>) {
    // SAFETY: the caller owns the initialised payload; it is dropped exactly once, here.
    unsafe { payload::<P>(h).with_mut(|p| ptr::drop_in_place((*p).as_mut_ptr())) };
}

/// # Safety
/// `h` is a live `Node<P>` with no references left and no payload left; it is not used again.
unsafe fn dealloc<P>(h: NonNull<Header>) {
    // The empty `with_mut`s are deliberate write accesses: under loom they check that every
    // earlier access to the payload (by the consumer or a canceller) and every handle's use of
    // the node happens-before the free.
    // SAFETY: no reference is left (caller), so this thread has exclusive access.
    unsafe {
        payload::<P>(h).with_mut(|_| ());
        #[cfg(loopkit_loom)]
        h.as_ref().access.with_mut(|_| ());
        drop(Box::from_raw(h.cast::<Node<P>>().as_ptr()));
    }
}

/// Operations on a node through its header (all type-erased).
impl Header {
    /// Moves the payload out into `out`, which must be a slot of the queue's payload type.
    ///
    /// # Safety
    /// `h` is live, its payload initialised and owned by the caller, and `out` is valid for a
    /// write of the payload type the node was created for (`T`, or [`Callback`] for inline nodes).
    pub(super) unsafe fn take(h: NonNull<Header>, out: *mut ()) {
        // SAFETY: forwarded from the caller; `vtable` matches the node's payload type.
        unsafe { (h.as_ref().vtable.take)(h, out) }
    }

    /// Runs an inline closure in place, or returns `false` if the node is not an inline one.
    ///
    /// # Safety
    /// As [`Header::take`]; on `true` (and on unwind) the payload is consumed.
    pub(super) unsafe fn call(h: NonNull<Header>) -> bool {
        // SAFETY: `h` is live (caller).
        match unsafe { h.as_ref().vtable.call } {
            Some(call) => {
                // SAFETY: forwarded from the caller.
                unsafe { call(h) };
                true
            }
            None => false,
        }
    }

    /// Drops the payload in place.
    ///
    /// # Safety
    /// `h` is live and its initialised payload is owned by the caller.
    pub(super) unsafe fn drop_payload(h: NonNull<Header>) {
        // SAFETY: forwarded from the caller.
        unsafe { (h.as_ref().vtable.drop_payload)(h) }
    }

    /// Drops one reference whose owner made no lifecycle change, freeing the node if it was
    /// the last one.
    ///
    /// # Safety
    /// The caller owns one reference to the live node `h` and does not use `h` afterwards.
    pub(super) unsafe fn release(h: NonNull<Header>) {
        // SAFETY: `h` is live (the caller's reference keeps it so).
        unsafe { Header::release_with(h, REF) }
    }

    /// Subtracts `delta` (one reference, possibly combined with a lifecycle step) from the
    /// state word and frees the node if no reference is left.
    ///
    /// # Safety
    /// As [`Header::release`]; `delta` contains exactly one `REF`.
    pub(super) unsafe fn release_with(h: NonNull<Header>, delta: usize) {
        // SAFETY: `h` is live (caller's reference).
        let header = unsafe { h.as_ref() };
        // Release: publishes this owner's accesses to the payload (run, drop, or nothing) to
        // whoever frees the node; pairs with the Acquire fence below / in the other owner.
        let prev = header.state.fetch_sub(delta, Ordering::Release);
        if refs(prev) == 1 {
            // Acquire: pairs with the Release decrement of every other owner, so their payload
            // accesses happen-before the free.
            fence(Ordering::Acquire);
            // SAFETY: that was the last reference and the payload is gone (each owner disposes
            // of the payload before it releases its reference); nobody uses `h` afterwards.
            unsafe { (header.vtable.dealloc)(h) };
        }
    }

    /// Frees a node that is known to have no other reference.
    ///
    /// # Safety
    /// The caller holds the only reference (observed with an Acquire load), the payload is gone,
    /// and `h` is not used afterwards.
    pub(super) unsafe fn dealloc_exclusive(h: NonNull<Header>) {
        // SAFETY: forwarded from the caller.
        unsafe { (h.as_ref().vtable.dealloc)(h) }
    }
}
