//! The embedded link cell ([`Links`]) and the trait that reaches it ([`Linked`]).

use core::fmt;
use core::marker::PhantomPinned;
use core::ptr::{self, NonNull};

use crate::loom::UnsafeCell;

/// The identity of a live [`List`](super::List): the address of its heap sentinel.
///
/// Two lists alive at the same time never share an id, and a list keeps its id when it is moved.
/// An id can be reused by a list created after the first one was dropped; a dropped list leaves
/// no node that still names it (dropping unlinks every node).
///
/// # Examples
///
/// ```
/// # use loopkit::list::List;
/// # loopkit::__list_doc_node!();
/// # type L = List<Node>;
/// let a = L::new();
/// let b = L::new();
/// assert_ne!(a.id(), b.id());
/// let id = a.id();
/// let moved = a;
/// assert_eq!(moved.id(), id);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListId(pub(super) usize);

/// The links a node embeds to sit in one [`List`](super::List).
///
/// A node type holds one `Links<Self>` field per list it can be in at the same time (see the
/// `Tag` parameter of [`Linked`]). The field is private to the list: nothing outside the list
/// writes it, and it is only ever reached through raw pointers (`&raw mut`), never through a
/// `&mut Links`, so a node can be shared (`&T`, `Rc<T>`, `Arc<T>`) while it is linked.
///
/// `Links` is `!Unpin` (a linked node must not move; the [`Linked`] contract enforces it) and
/// `Send` but **not `Sync`**: its pointers are plain cells that the list holding the node reads
/// and writes through `&mut List`. A node type that embeds `Links` is therefore `!Sync` unless
/// its author writes `unsafe impl Sync`, and that impl is a promise that no two threads ever run
/// list operations on the node at the same time (push, remove, `contains`, `is_linked`
/// included). See the module docs and [`docs/list.md`] for why this is the sound choice.
///
/// [`docs/list.md`]: crate::docs::list
///
/// A linked node records which list holds it, so [`is_linked`](Links::is_linked) is exact even
/// for the only node of a list, and a list refuses nodes it does not hold.
///
/// # Examples
///
/// ```
/// use core::ptr::NonNull;
/// use loopkit::list::{Linked, Links, List};
///
/// struct Task {
///     id: u32,
///     links: Links<Task>,
/// }
///
/// // SAFETY: the handle is a `Box`, which owns the node and keeps it at one address; `links`
/// // projects to the field without creating a reference.
/// unsafe impl Linked for Task {
///     type Handle = Box<Task>;
///     fn into_ptr(task: Box<Task>) -> NonNull<Task> {
///         NonNull::from(Box::leak(task))
///     }
///     unsafe fn from_ptr(ptr: NonNull<Task>) -> Box<Task> {
///         // SAFETY: `ptr` came from `into_ptr`, so it is a leaked box (trait contract).
///         unsafe { Box::from_raw(ptr.as_ptr()) }
///     }
///     unsafe fn links(ptr: NonNull<Task>) -> NonNull<Links<Task>> {
///         // SAFETY: `ptr` points to a live `Task` (trait contract); no reference is created.
///         unsafe { NonNull::new_unchecked(&raw mut (*ptr.as_ptr()).links) }
///     }
/// }
///
/// let task = Task { id: 7, links: Links::new() };
/// assert!(!task.links.is_linked());
///
/// let mut list: List<Task> = List::new();
/// list.push_back(Box::new(task)).unwrap();
/// assert!(list.front().unwrap().links.is_linked());
/// assert_eq!(list.front().unwrap().links.list_id(), Some(list.id()));
/// assert_eq!(list.pop_front().unwrap().id, 7);
/// ```
///
/// `Links` is not `Sync`, so neither is a node that embeds it:
///
/// ```compile_fail
/// fn is_sync<T: Sync>() {}
/// is_sync::<loopkit::list::Links<u32>>();
/// ```
pub struct Links<T> {
    inner: UnsafeCell<LinksInner<T>>,
}

/// The cells behind [`Links`]. `next`/`prev` point to the neighbours' links (or the list's
/// sentinel); they are the pointers `Linked::links` returned for the neighbours' handles, so
/// they carry the whole node's provenance and the node is found from them by subtracting the
/// field offset. `owner` is the address of the holding list's sentinel (null: not linked).
struct LinksInner<T> {
    next: *mut Links<T>,
    prev: *mut Links<T>,
    owner: *const (),
    _pin: PhantomPinned,
}

// SAFETY: `Links` holds pointers into the list that owns the node (its neighbours and the
// sentinel). Sending a node to another thread is only possible for an unlinked node or, through
// the list's own `Send` impl, together with the whole list, so the pointed-to links travel with
// it. `Links` is deliberately not `Sync` (see the type docs).
unsafe impl<T> Send for Links<T> {}

/// An intrusive node: a type that embeds a [`Links`] and an owning handle to it.
///
/// This is the `cordyceps` shape: [`Handle`](Linked::Handle) is the owning pointer the list
/// stores (`Box<Self>`, `Rc<Self>`, `Arc<Self>`, `&'static Self`, ...),
/// [`into_ptr`](Linked::into_ptr) and [`from_ptr`](Linked::from_ptr) convert it to a raw
/// pointer and back,
/// and [`links`](Linked::links) finds the `Links` field for the list kind `Tag`.
///
/// `Tag` lets one node sit in several lists at once: give the node one `Links` field per tag
/// and implement `Linked<TagA>` and `Linked<TagB>`, then use `List<Node, TagA>` and
/// `List<Node, TagB>`. The default tag is `()`.
///
/// # Safety
///
/// Implementing `Linked` promises all of the following; [`List`](super::List) relies on each.
///
/// 1. **Ownership.** `into_ptr(h)` returns a non-null pointer to a live node and transfers the
///    ownership `h` had to the list. Until the list calls `from_ptr` on that pointer (exactly
///    once), the node stays alive and does not move, whatever other code does.
/// 2. **Round trip.** `from_ptr(into_ptr(h))` returns a handle that owns the node exactly as `h`
///    did. `from_ptr` is only called with pointers returned by `into_ptr`.
/// 3. **Links field.** `links(ptr)` returns a pointer to a `Links<Self>` field inside the node
///    `ptr` points to: the same field for every node of the type and tag, so `links(ptr)` is
///    always `ptr` plus one fixed byte offset (the list finds a node from its links by
///    subtracting it, and panics if it ever sees two different offsets). It must not read or
///    write the node, and must not create a reference to it or to the field: project with
///    `&raw mut (*ptr.as_ptr()).field`, so the result keeps `ptr`'s provenance over the whole
///    node (a `&`/`&mut` would shrink it to the field, and rebuilding the handle from it would
///    be undefined behaviour).
/// 4. **Private links.** Nothing but the `List` API touches the `Links` field while the node
///    exists (in practice: keep the field private to your module and do not `mem::swap`,
///    `mem::replace` or overwrite it). Distinct tags should use distinct fields; if two tags
///    return the same field, the node can be in at most one of those lists at a time (the second
///    push is refused because the field is already linked).
/// 5. **Shared ownership across lists.** If the node can be in more than one list at once (it
///    implements `Linked` for several tags), every such `Handle` must share ownership
///    (`Rc<Self>`, `Arc<Self>`, `&'static Self`, ...): dropping the handle that one list gives
///    back must not free or move a node that another list still holds, nor invalidate a `&Self`
///    obtained from another list or handle.
/// 6. **Threads.** `Links` is not `Sync`. If `Self` is made `Sync` with an `unsafe impl`, the
///    implementor guarantees that no list operation on the node (any method of any `List`
///    holding it or receiving it, including `push_*`, `remove`, `contains` and
///    [`Links::is_linked`]) runs on one thread while another runs on a different thread.
///
/// # Examples
///
/// One node in two lists at once, through two `Links` fields and two tags:
///
/// ```
/// use core::ptr::NonNull;
/// use std::rc::Rc;
/// use loopkit::list::{Linked, Links, List};
///
/// struct Job {
///     name: &'static str,
///     all: Links<Job>,
///     ready: Links<Job>,
/// }
/// struct All;
/// struct Ready;
///
/// // SAFETY: `Rc` owns the node and keeps it at one address; the handles of both tags share
/// // ownership; `links` projects to a distinct private field without creating a reference.
/// unsafe impl Linked<All> for Job {
///     type Handle = Rc<Job>;
///     fn into_ptr(job: Rc<Job>) -> NonNull<Job> {
///         // SAFETY: `Rc::into_raw` never returns null.
///         unsafe { NonNull::new_unchecked(Rc::into_raw(job).cast_mut()) }
///     }
///     unsafe fn from_ptr(ptr: NonNull<Job>) -> Rc<Job> {
///         // SAFETY: `ptr` came from `Rc::into_raw` (trait contract).
///         unsafe { Rc::from_raw(ptr.as_ptr()) }
///     }
///     unsafe fn links(ptr: NonNull<Job>) -> NonNull<Links<Job>> {
///         // SAFETY: `ptr` points to a live `Job`; no reference is created.
///         unsafe { NonNull::new_unchecked(&raw mut (*ptr.as_ptr()).all) }
///     }
/// }
///
/// // SAFETY: as above, with the `ready` field.
/// unsafe impl Linked<Ready> for Job {
///     type Handle = Rc<Job>;
///     fn into_ptr(job: Rc<Job>) -> NonNull<Job> {
///         // SAFETY: `Rc::into_raw` never returns null.
///         unsafe { NonNull::new_unchecked(Rc::into_raw(job).cast_mut()) }
///     }
///     unsafe fn from_ptr(ptr: NonNull<Job>) -> Rc<Job> {
///         // SAFETY: `ptr` came from `Rc::into_raw` (trait contract).
///         unsafe { Rc::from_raw(ptr.as_ptr()) }
///     }
///     unsafe fn links(ptr: NonNull<Job>) -> NonNull<Links<Job>> {
///         // SAFETY: `ptr` points to a live `Job`; no reference is created.
///         unsafe { NonNull::new_unchecked(&raw mut (*ptr.as_ptr()).ready) }
///     }
/// }
///
/// let job = Rc::new(Job { name: "io", all: Links::new(), ready: Links::new() });
/// let mut all: List<Job, All> = List::new();
/// let mut ready: List<Job, Ready> = List::new();
/// all.push_back(job.clone()).unwrap();
/// ready.push_back(job.clone()).unwrap();
///
/// assert!(ready.remove(&job).is_some()); // leaves `all` untouched
/// assert!(all.contains(&job) && !ready.contains(&job));
/// assert_eq!(all.iter().map(|j| j.name).collect::<Vec<_>>(), ["io"]);
/// ```
pub unsafe trait Linked<Tag = ()>: Sized {
    /// The owning handle the list stores for each node (`Box<Self>`, `Rc<Self>`, ...).
    type Handle;

    /// Gives up `handle`'s ownership and returns a pointer to the node.
    ///
    /// # Examples
    ///
    /// See [`Linked`].
    fn into_ptr(handle: Self::Handle) -> NonNull<Self>;

    /// Rebuilds the handle from a pointer [`into_ptr`](Linked::into_ptr) returned.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by `into_ptr` and has not been passed to `from_ptr` since.
    ///
    /// # Examples
    ///
    /// See [`Linked`].
    unsafe fn from_ptr(ptr: NonNull<Self>) -> Self::Handle;

    /// Returns a pointer to the node's `Links` field for the tag `Tag`.
    ///
    /// # Safety
    ///
    /// `ptr` points to a live node. The implementation must follow point 3 of the trait's
    /// `# Safety` (project with `&raw mut`, create no reference).
    ///
    /// # Examples
    ///
    /// See [`Linked`].
    unsafe fn links(ptr: NonNull<Self>) -> NonNull<Links<Self>>;
}

impl<T> Links<T> {
    /// Returns unlinked links, ready to embed in a new node.
    ///
    /// # Examples
    ///
    /// ```
    /// let links = loopkit::list::Links::<u8>::new();
    /// assert!(!links.is_linked());
    /// ```
    #[cfg(not(loopkit_loom))]
    #[must_use]
    pub const fn new() -> Self {
        Self {
            inner: UnsafeCell::new(LinksInner {
                next: ptr::null_mut(),
                prev: ptr::null_mut(),
                owner: ptr::null(),
                _pin: PhantomPinned,
            }),
        }
    }

    /// Returns unlinked links (loom build: loom's cells are not `const`).
    #[cfg(loopkit_loom)]
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: UnsafeCell::new(LinksInner {
                next: ptr::null_mut(),
                prev: ptr::null_mut(),
                owner: ptr::null(),
                _pin: PhantomPinned,
            }),
        }
    }

    /// Returns whether the node is in a list (exact, also for the only node of a list).
    ///
    /// # Examples
    ///
    /// See [`Links`].
    #[inline]
    #[must_use]
    pub fn is_linked(&self) -> bool {
        self.list_id().is_some()
    }

    /// Returns the id of the list that holds the node, if any.
    ///
    /// # Examples
    ///
    /// See [`Links`].
    #[inline]
    #[must_use]
    pub fn list_id(&self) -> Option<ListId> {
        // SAFETY: `Links` is not `Sync`, so no other thread runs a list operation on this node
        // while we read (point 6 of `Linked` covers `unsafe impl Sync` nodes); on this thread no
        // list operation is in progress while safe code holds `&self`.
        let owner = self.inner.with(|p| unsafe { (*p).owner });
        if owner.is_null() {
            None
        } else {
            Some(ListId(owner as usize))
        }
    }

    // ---- raw accessors used by the list; every one goes through the cell, never a `&mut` ----

    /// Reads `next`.
    ///
    /// # Safety
    ///
    /// `this` points to live links, and no other access to them is in progress.
    #[inline(always)]
    pub(super) unsafe fn next(this: NonNull<Self>) -> NonNull<Self> {
        // SAFETY: `this` is live (caller); `next` of a linked node or sentinel is never null.
        unsafe {
            (*this.as_ptr())
                .inner
                .with(|p| NonNull::new_unchecked((*p).next))
        }
    }

    /// Reads `prev`.
    ///
    /// # Safety
    ///
    /// As for [`Links::next`].
    #[inline(always)]
    pub(super) unsafe fn prev(this: NonNull<Self>) -> NonNull<Self> {
        // SAFETY: `this` is live (caller); `prev` of a linked node or sentinel is never null.
        unsafe {
            (*this.as_ptr())
                .inner
                .with(|p| NonNull::new_unchecked((*p).prev))
        }
    }

    /// Reads `owner` (null: not linked).
    ///
    /// # Safety
    ///
    /// As for [`Links::next`].
    #[inline(always)]
    pub(super) unsafe fn owner(this: NonNull<Self>) -> *const () {
        // SAFETY: `this` is live and not accessed elsewhere (caller).
        unsafe { (*this.as_ptr()).inner.with(|p| (*p).owner) }
    }

    /// Writes `next`.
    ///
    /// # Safety
    ///
    /// As for [`Links::next`].
    #[inline(always)]
    pub(super) unsafe fn set_next(this: NonNull<Self>, next: NonNull<Self>) {
        // SAFETY: `this` is live and not accessed elsewhere (caller).
        unsafe {
            (*this.as_ptr())
                .inner
                .with_mut(|p| (*p).next = next.as_ptr())
        }
    }

    /// Writes `prev`.
    ///
    /// # Safety
    ///
    /// As for [`Links::next`].
    #[inline(always)]
    pub(super) unsafe fn set_prev(this: NonNull<Self>, prev: NonNull<Self>) {
        // SAFETY: `this` is live and not accessed elsewhere (caller).
        unsafe {
            (*this.as_ptr())
                .inner
                .with_mut(|p| (*p).prev = prev.as_ptr())
        }
    }

    /// Writes `owner`.
    ///
    /// # Safety
    ///
    /// As for [`Links::next`].
    #[inline(always)]
    pub(super) unsafe fn set_owner(this: NonNull<Self>, owner: *const ()) {
        // SAFETY: `this` is live and not accessed elsewhere (caller).
        unsafe { (*this.as_ptr()).inner.with_mut(|p| (*p).owner = owner) }
    }

    /// Writes the three cells of a node being linked.
    ///
    /// # Safety
    ///
    /// As for [`Links::next`].
    #[inline(always)]
    pub(super) unsafe fn link(
        this: NonNull<Self>,
        prev: NonNull<Self>,
        next: NonNull<Self>,
        owner: *const (),
    ) {
        // SAFETY: `this` is live and not accessed elsewhere (caller).
        unsafe {
            (*this.as_ptr()).inner.with_mut(|p| {
                (*p).prev = prev.as_ptr();
                (*p).next = next.as_ptr();
                (*p).owner = owner;
            });
        }
    }
}

impl<T> Default for Links<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Links<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Links")
            .field("list_id", &self.list_id())
            .finish()
    }
}
