//! [`List`], the list.

use super::cursor::{Cursor, CursorMut, Iter};
use super::error::AlreadyLinked;
use super::links::{Linked, Links, ListId};
use core::marker::PhantomData;
use core::ptr::NonNull;

/// An intrusive, circular, doubly linked list of nodes that embed their own [`Links`].
///
/// The list owns one handle ([`Linked::Handle`]) per node and hands it back on pop, remove,
/// cursor removal, [`clear`](List::clear) and drop, exactly once. `Tag` picks which `Links`
/// field of the node this list uses (see [`Linked`]).
///
/// | operation | time | notes |
/// |---|---|---|
/// | [`new`](List::new) | O(1) | allocates the sentinel |
/// | [`push_back`](List::push_back), [`push_front`](List::push_front) | O(1) | one owner check |
/// | [`pop_front`](List::pop_front), [`pop_back`](List::pop_back) | O(1) | |
/// | [`remove`](List::remove), [`remove_ptr`](List::remove_ptr) | O(1) | one owner check |
/// | [`contains`](List::contains) | O(1) | compares the node's recorded owner |
/// | [`front`](List::front), [`back`](List::back), [`len`](List::len), [`is_empty`](List::is_empty), [`id`](List::id) | O(1) | |
/// | [`append`](List::append) | O(1) + O(len(other)) | splice is O(1); each moved node's owner is restamped (see below) |
/// | [`split_off`](List::split_off) | O(len - at) | walks back from the end, restamping each moved node; allocates the new sentinel |
/// | [`iter`](List::iter) | O(1) per step | double-ended, exact size |
/// | [`cursor_front`](List::cursor_front), [`cursor_back`](List::cursor_back) | O(1) per step | read-only, peeks both ways |
/// | [`cursor_front_mut`](List::cursor_front_mut), [`cursor_back_mut`](List::cursor_back_mut) | O(1) per step | removal keeps going; peek, insert before and after |
/// | [`clear`](List::clear), drop | O(n) | every handle given back once |
///
/// No operation uses an atomic, and none but [`new`](List::new) and
/// [`split_off`](List::split_off) (each making a new list's sentinel) allocates. [`append`](List::append) is the one
/// place the owner record costs something: the two rings are spliced with four pointer writes,
/// but each node that moves must be told its new owner; [`docs/list.md`] explains why no O(1)
/// scheme exists without allocating. Moving a whole `List` value is O(1) and keeps its id.
///
/// [`docs/list.md`]: crate::docs::list
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use loopkit::list::List;
/// # loopkit::__list_doc_node!();
/// // `Node`: a node with an id and one `Links`, `Handle = Rc<Node>`
///
/// let nodes: Vec<Rc<Node>> = (0..3).map(|i| Rc::new(Node::new(i))).collect();
/// let mut list: List<Node> = List::new();
/// for n in &nodes {
///     list.push_back(n.clone()).unwrap();
/// }
/// assert_eq!(list.len(), 3);
/// assert!(list.remove(&nodes[1]).is_some());
/// assert!(list.remove(&nodes[1]).is_none()); // already removed
/// assert_eq!(list.iter().map(|n| n.id()).collect::<Vec<_>>(), [0, 2]);
/// list.assert_valid();
/// ```
pub struct List<T, Tag = ()>
where
    T: Linked<Tag>,
{
    /// Heap-pinned sentinel: `next` is the front, `prev` the back; points to itself when empty.
    pub(super) sentinel: NonNull<Links<T>>,
    /// Copy of `sentinel.next` (the sentinel when empty): the ends are cached in the `List`
    /// value, at a fixed address, so `push_*`/`pop_*` read them without waiting for a store
    /// whose address came from a load (the sentinel's `prev`/`next` are written through
    /// neighbour pointers).
    pub(super) head: NonNull<Links<T>>,
    /// Copy of `sentinel.prev` (the sentinel when empty).
    pub(super) tail: NonNull<Links<T>>,
    pub(super) len: usize,
    /// Byte offset of the `Links` field in `T` (`Linked` point 3), learnt from the first push;
    /// `usize::MAX` until then. A node is found from its links by subtracting it.
    pub(super) offset: usize,
    _handles: PhantomData<T::Handle>,
    _tag: PhantomData<fn() -> Tag>,
}

// SAFETY: the list owns its handles (sent with it when `T::Handle: Send`) and its sentinel.
// The nodes' links are reached from the new thread only through `&mut List`. Another thread
// could only hold a node of this list through a shared handle (`Arc<T>`, `&'static T`), which is
// `Send` only if `T: Sync`; `Links` is not `Sync`, so that takes an `unsafe impl Sync` whose
// author promised no concurrent list operations (`Linked` point 6).
unsafe impl<T: Linked<Tag>, Tag> Send for List<T, Tag> where T::Handle: Send {}

// SAFETY: `&List` only reads: `iter`, `front`/`back` give out `&T` (hence `T: Sync`), and
// `contains`/`len`/`assert_valid` read links that cannot change while `&List` exists (every
// mutation of this list's links needs `&mut List`; other lists use other `Links` fields or
// refuse the node because it is linked here).
unsafe impl<T: Linked<Tag> + Sync, Tag> Sync for List<T, Tag> {}

impl<T: Linked<Tag>, Tag> List<T, Tag> {
    /// Creates an empty list. This allocates the sentinel; nothing else in the list allocates,
    /// except [`split_off`](List::split_off), which creates a list.
    ///
    /// # Examples
    ///
    /// ```
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let list: List<Node> = List::new();
    /// assert!(list.is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        let sentinel = Box::into_raw(Box::new(Links::<T>::new()));
        // SAFETY: `Box::into_raw` never returns null.
        let sentinel = unsafe { NonNull::new_unchecked(sentinel) };
        // SAFETY: the sentinel was just allocated and nothing else can reach it.
        unsafe {
            Links::set_next(sentinel, sentinel);
            Links::set_prev(sentinel, sentinel);
            Links::set_owner(sentinel, sentinel.as_ptr().cast_const().cast());
        }
        Self {
            sentinel,
            head: sentinel,
            tail: sentinel,
            len: 0,
            offset: usize::MAX,
            _handles: PhantomData,
            _tag: PhantomData,
        }
    }

    /// Returns this list's id; [`Links::list_id`] of each node it holds equals it.
    ///
    /// # Examples
    ///
    /// See [`ListId`].
    #[inline]
    #[must_use]
    pub fn id(&self) -> ListId {
        ListId(self.owner_word() as usize)
    }

    /// The word stored in `owner` of each node this list holds.
    #[inline(always)]
    pub(super) fn owner_word(&self) -> *const () {
        self.sentinel.as_ptr().cast_const().cast()
    }

    /// Returns the number of nodes.
    ///
    /// # Examples
    ///
    /// See [`List`].
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns whether the list holds no node.
    ///
    /// # Examples
    ///
    /// See [`List::new`].
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a node at the back; returns the handle in [`AlreadyLinked`] if the node is
    /// already in a list (this one or another; no list changes).
    ///
    /// # Examples
    ///
    /// See [`List`] and [`AlreadyLinked`].
    #[inline]
    pub fn push_back(&mut self, handle: T::Handle) -> Result<(), AlreadyLinked<T::Handle>> {
        self.insert_between(handle, self.tail, self.sentinel)
    }

    /// Prepends a node at the front; returns the handle in [`AlreadyLinked`] if the node is
    /// already in a list (no list changes).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// list.push_front(Rc::new(Node::new(1))).unwrap();
    /// list.push_front(Rc::new(Node::new(2))).unwrap();
    /// assert_eq!(list.front().map(Node::id), Some(2));
    /// ```
    #[inline]
    pub fn push_front(&mut self, handle: T::Handle) -> Result<(), AlreadyLinked<T::Handle>> {
        self.insert_between(handle, self.sentinel, self.head)
    }

    /// Links the node of `handle` between the adjacent `prev` and `next` of this list.
    #[inline(always)]
    pub(super) fn insert_between(
        &mut self,
        handle: T::Handle,
        prev: NonNull<Links<T>>,
        next: NonNull<Links<T>>,
    ) -> Result<(), AlreadyLinked<T::Handle>> {
        let node = T::into_ptr(handle);
        // SAFETY: `into_ptr` returned a live node (`Linked` point 1).
        let links = unsafe { T::links(node) };
        // A constant after inlining (`Linked` point 3), so this is one predicted compare.
        let offset = (links.as_ptr() as usize).wrapping_sub(node.as_ptr() as usize);
        if offset != self.offset {
            // By value: passing `&mut self` to an out-of-line call would let LLVM assume the
            // list escapes, and reload its fields after every store through a node pointer.
            self.offset = Self::learn_offset(self.offset, self.len, offset, node);
        }
        // SAFETY: the node is live; `Links` is not `Sync` (or `Linked` point 6 holds), so nobody
        // else touches its links now.
        if unsafe { !Links::owner(links).is_null() } {
            // SAFETY: `node` came from `into_ptr` just above and is given back once.
            return Err(AlreadyLinked(unsafe { T::from_ptr(node) }));
        }
        // `links` came from `into_ptr`'s pointer by projection, so it keeps the node's
        // provenance, and the neighbours store it.
        // SAFETY: `prev`/`next` are adjacent links of this list (sentinel or nodes it holds, all
        // live while linked), `links` is the unlinked node's; `&mut self` excludes other access.
        unsafe {
            Links::link(links, prev, next, self.owner_word());
            Links::set_next(prev, links);
            Links::set_prev(next, links);
        }
        if prev == self.sentinel {
            self.head = links;
        }
        if next == self.sentinel {
            self.tail = links;
        }
        self.len += 1;
        Ok(())
    }

    /// Returns the links offset to record on a push whose node has `offset`: the first push
    /// records it; a later node that disagrees (a broken `Linked::links`, point 3) makes this
    /// panic, after giving the node's handle back.
    #[cold]
    #[inline(never)]
    fn learn_offset(current: usize, len: usize, offset: usize, node: NonNull<T>) -> usize {
        let fits = offset <= size_of::<T>().saturating_sub(size_of::<Links<T>>());
        if len == 0 && fits {
            return offset;
        }
        // SAFETY: `node` came from `into_ptr` in the caller and has not been linked.
        drop(unsafe { T::from_ptr(node) });
        panic!(
            "list: Linked::links returned offset {offset}, expected {current} within a {}-byte node",
            size_of::<T>()
        );
    }

    /// The node that holds `links`.
    ///
    /// # Safety
    ///
    /// `links` is the links of a node this list holds, as stored in the ring (so it carries the
    /// node's provenance).
    #[inline(always)]
    pub(super) unsafe fn node_of(&self, links: NonNull<Links<T>>) -> NonNull<T> {
        // SAFETY: `links` is `node + offset` inside one node (`Linked` point 3, checked on
        // every push), with the node's provenance.
        unsafe { links.byte_sub(self.offset).cast() }
    }

    /// The node at `links`, or `None` for the sentinel, borrowed for as long as the list.
    ///
    /// # Safety
    ///
    /// `links` is the sentinel or the links of a node this list holds, as stored in the ring;
    /// the node stays in the list (and so alive) while the returned borrow of `self` lasts.
    #[inline(always)]
    pub(super) unsafe fn node_at(&self, links: NonNull<Links<T>>) -> Option<&T> {
        if links == self.sentinel {
            return None;
        }
        // SAFETY: a node of this list, as stored in the ring (caller); it is alive while linked,
        // and only `&mut self` can unlink it, which the borrow of `self` excludes.
        Some(unsafe { self.node_of(links).as_ref() })
    }

    /// Removes and returns the front node's handle, or `None` if the list is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// assert!(list.pop_front().is_none());
    /// list.push_back(Rc::new(Node::new(1))).unwrap();
    /// list.push_back(Rc::new(Node::new(2))).unwrap();
    /// assert_eq!(list.pop_front().map(|n| n.id()), Some(1));
    /// ```
    #[inline]
    pub fn pop_front(&mut self) -> Option<T::Handle> {
        let first = self.head;
        if first == self.sentinel {
            return None;
        }
        // SAFETY: `first` is a node of this list.
        Some(unsafe { self.unlink(first) })
    }

    /// Removes and returns the back node's handle, or `None` if the list is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// list.push_back(Rc::new(Node::new(1))).unwrap();
    /// list.push_back(Rc::new(Node::new(2))).unwrap();
    /// assert_eq!(list.pop_back().map(|n| n.id()), Some(2));
    /// ```
    #[inline]
    pub fn pop_back(&mut self) -> Option<T::Handle> {
        let last = self.tail;
        if last == self.sentinel {
            return None;
        }
        // SAFETY: `last` is a node of this list.
        Some(unsafe { self.unlink(last) })
    }

    /// Unlinks a node of this list and gives its handle back.
    ///
    /// # Safety
    ///
    /// `links` are the links of a node this list holds (not the sentinel), as stored in the
    /// ring (with the node's provenance).
    #[inline(always)]
    pub(super) unsafe fn unlink(&mut self, links: NonNull<Links<T>>) -> T::Handle {
        // SAFETY: a node of this list (caller).
        unsafe { self.detach(links) };
        // SAFETY: `links` carries the node's provenance (caller), so `node_of` is the pointer
        // `into_ptr` gave for it; the node has just left the list, so its handle is rebuilt
        // exactly once.
        unsafe { T::from_ptr(self.node_of(links)) }
    }

    /// Unlinks a node of this list without rebuilding its handle.
    ///
    /// # Safety
    ///
    /// `links` are the links of a node this list holds (not the sentinel).
    #[inline(always)]
    unsafe fn detach(&mut self, links: NonNull<Links<T>>) {
        // SAFETY: `links` is a linked node of this list (caller), so it and its neighbours are
        // live, and `&mut self` excludes any other access to them.
        let (prev, next) = unsafe {
            let prev = Links::prev(links);
            let next = Links::next(links);
            Links::set_next(prev, next);
            Links::set_prev(next, prev);
            Links::set_owner(links, core::ptr::null());
            (prev, next)
        };
        if prev == self.sentinel {
            self.head = next;
        }
        if next == self.sentinel {
            self.tail = prev;
        }
        self.len -= 1;
    }

    /// Removes `node` if this list holds it and returns its handle; returns `None` (and changes
    /// nothing) if the node is not linked or is held by another list.
    ///
    /// This is safe because [`Links`] is not `Sync`: `&T` for a node type that embeds it cannot
    /// reach another thread, so no other thread can be changing the node's links. Use
    /// [`remove_ptr`](List::remove_ptr) when you hold only a pointer.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let node = Rc::new(Node::new(1));
    /// let mut a: List<Node> = List::new();
    /// let mut b: List<Node> = List::new();
    /// assert!(a.remove(&node).is_none()); // not linked
    /// a.push_back(node.clone()).unwrap();
    /// assert!(b.remove(&node).is_none()); // held by `a`: `b` refuses, `a` is unchanged
    /// assert_eq!(a.len(), 1);
    /// assert!(Rc::ptr_eq(&a.remove(&node).unwrap(), &node));
    /// ```
    #[inline]
    pub fn remove(&mut self, node: &T) -> Option<T::Handle> {
        // SAFETY: `node` is a live reference; its type is not `Sync` unless its author promised
        // (`Linked` point 6) that no other thread runs a list operation on it now.
        unsafe { self.remove_ptr(NonNull::from(node)) }
    }

    /// Removes the node `node` points to if this list holds it and returns its handle; returns
    /// `None` (and changes nothing) if the node is not linked or is held by another list.
    ///
    /// `node` is only used to read the node's links: the handle is rebuilt from the pointer the
    /// list stored when the node was pushed (found through a neighbour), so `node` may be any
    /// pointer to the node, e.g. one made from a `&T`.
    ///
    /// # Safety
    ///
    /// * `node` points to a live `T` (for a linked node this holds while the list keeps its
    ///   handle; for an unlinked one the caller must know it is alive);
    /// * no other thread accesses the node's links during the call: no list operation on this
    ///   node runs concurrently on another thread (this matters only for node types made `Sync`
    ///   with an `unsafe impl`, e.g. a registry that shares `Arc<T>` between threads and
    ///   serialises list operations per node itself).
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let node = Rc::new(Node::new(1));
    /// let ptr = NonNull::from(&*node);
    /// let mut list: List<Node> = List::new();
    /// list.push_back(node.clone()).unwrap();
    /// // SAFETY: `node` keeps the node alive; this test is single-threaded.
    /// let handle = unsafe { list.remove_ptr(ptr) };
    /// assert!(handle.is_some() && list.is_empty());
    /// ```
    #[inline]
    pub unsafe fn remove_ptr(&mut self, node: NonNull<T>) -> Option<T::Handle> {
        // SAFETY: `node` is live (caller).
        let links = unsafe { T::links(node) };
        // SAFETY: the node is live and nobody else touches its links now (caller).
        if unsafe { Links::owner(links) } != self.owner_word() {
            return None;
        }
        // SAFETY: the node's recorded owner is this list, so it is one of our nodes and
        // `prev.next` is its links as stored in the ring, with the node's provenance (which
        // `node` may lack); unlink through that pointer.
        unsafe {
            let stored = Links::next(Links::prev(links));
            Some(self.unlink(stored))
        }
    }

    /// Returns whether this list holds `node` (O(1): compares the node's recorded owner).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let node = Rc::new(Node::new(1));
    /// let mut a: List<Node> = List::new();
    /// let b: List<Node> = List::new();
    /// a.push_back(node.clone()).unwrap();
    /// assert!(a.contains(&node) && !b.contains(&node));
    /// ```
    #[inline]
    #[must_use]
    pub fn contains(&self, node: &T) -> bool {
        // SAFETY: `node` is a live reference; no other thread touches its links (see `remove`).
        unsafe { Links::owner(T::links(NonNull::from(node))) == self.owner_word() }
    }

    /// Returns the front node, if any.
    ///
    /// # Examples
    ///
    /// See [`List::push_front`].
    #[inline]
    #[must_use]
    pub fn front(&self) -> Option<&T> {
        self.iter().next()
    }

    /// Returns the back node, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// list.push_front(Rc::new(Node::new(1))).unwrap();
    /// list.push_front(Rc::new(Node::new(2))).unwrap();
    /// assert_eq!(list.back().map(Node::id), Some(1));
    /// ```
    #[inline]
    #[must_use]
    pub fn back(&self) -> Option<&T> {
        self.iter().next_back()
    }

    /// Moves every node of `other` to the back of `self`, in order, leaving `other` empty.
    ///
    /// The rings are spliced in O(1); each moved node's owner record is then restamped to
    /// `self` (one store per node, the cost of O(1) wrong-list detection; see the type docs).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut a: List<Node> = List::new();
    /// let mut b: List<Node> = List::new();
    /// a.push_back(Rc::new(Node::new(1))).unwrap();
    /// b.push_back(Rc::new(Node::new(2))).unwrap();
    /// b.push_back(Rc::new(Node::new(3))).unwrap();
    /// a.append(&mut b);
    /// assert!(b.is_empty());
    /// assert_eq!(a.iter().map(Node::id).collect::<Vec<_>>(), [1, 2, 3]);
    /// assert!(a.iter().all(|n| n.links().list_id() == Some(a.id())));
    /// ```
    pub fn append(&mut self, other: &mut Self) {
        if other.is_empty() {
            return;
        }
        if self.offset != other.offset {
            assert!(
                self.is_empty(),
                "list: append of lists with different link offsets"
            );
            self.offset = other.offset;
        }
        let owner = self.owner_word();
        // SAFETY: `&mut self` and `&mut other` give exclusive access to both rings (two
        // `&mut` cannot alias, so they are different lists); every pointer followed is a link
        // of one of them, all live.
        unsafe {
            let mut cur = Links::next(other.sentinel);
            while cur != other.sentinel {
                Links::set_owner(cur, owner);
                cur = Links::next(cur);
            }
            let (first, last, tail) = (other.head, other.tail, self.tail);
            Links::set_next(tail, first);
            Links::set_prev(first, tail);
            Links::set_next(last, self.sentinel);
            Links::set_prev(self.sentinel, last);
            Links::set_next(other.sentinel, other.sentinel);
            Links::set_prev(other.sentinel, other.sentinel);
        }
        if self.head == self.sentinel {
            self.head = other.head;
        }
        self.tail = other.tail;
        other.head = other.sentinel;
        other.tail = other.sentinel;
        self.len += other.len;
        other.len = 0;
    }

    /// Splits the list in two at index `at`: `self` keeps the first `at` nodes, and the nodes
    /// from `at` on move, in order, to the returned list. Returns `None` (and changes nothing)
    /// if `at > len()`; `at == len()` returns an empty list.
    ///
    /// O(len - at): the split point is found by walking from the back, and each moved node's
    /// owner record is restamped to the new list on the way (the same per-node cost as
    /// [`append`](List::append)); the relinking itself is O(1). Allocates the new list's
    /// sentinel, as [`List::new`] does. No handle is dropped or rebuilt, so no user code runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// for i in 0..5 {
    ///     list.push_back(Rc::new(Node::new(i))).unwrap();
    /// }
    /// let tail = list.split_off(3).unwrap();
    /// assert_eq!(list.iter().map(Node::id).collect::<Vec<_>>(), [0, 1, 2]);
    /// assert_eq!(tail.iter().map(Node::id).collect::<Vec<_>>(), [3, 4]);
    /// assert!(tail.iter().all(|n| n.links().list_id() == Some(tail.id())));
    /// assert!(list.split_off(4).is_none()); // past the end: nothing changes
    /// assert!(list.split_off(3).unwrap().is_empty());
    /// ```
    #[must_use = "the nodes from `at` on are in the returned list; dropping it drops them"]
    pub fn split_off(&mut self, at: usize) -> Option<Self> {
        if at > self.len {
            return None;
        }
        let mut other = Self::new();
        let moved = self.len - at;
        if moved == 0 {
            return Some(other);
        }
        other.offset = self.offset;
        let owner = other.owner_word();
        let last = self.tail;
        // SAFETY: `&mut self` gives exclusive access to this ring, and `other` is new; the walk
        // follows `moved <= len` `prev` links back from the back node, so every pointer is a
        // node of this list (or, for `before`, possibly the sentinel), all live.
        let (first, before) = unsafe {
            let mut first = last;
            Links::set_owner(first, owner);
            for _ in 1..moved {
                first = Links::prev(first);
                Links::set_owner(first, owner);
            }
            let before = Links::prev(first);
            Links::set_next(before, self.sentinel);
            Links::set_prev(self.sentinel, before);
            Links::set_next(other.sentinel, first);
            Links::set_prev(first, other.sentinel);
            Links::set_next(last, other.sentinel);
            Links::set_prev(other.sentinel, last);
            (first, before)
        };
        self.tail = before;
        if before == self.sentinel {
            self.head = self.sentinel;
        }
        self.len = at;
        other.head = first;
        other.tail = last;
        other.len = moved;
        Some(other)
    }

    /// Removes every node, giving each handle back (dropping it) exactly once, front first.
    ///
    /// Each node is unlinked before its handle is dropped. If a handle's drop panics, the
    /// remaining nodes are still unlinked and dropped, and then that first panic resumes with the
    /// list empty and valid, as `Vec` does; a second panic during that unwinding aborts the
    /// process, also as in `Vec`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let node = Rc::new(Node::new(1));
    /// let mut list: List<Node> = List::new();
    /// list.push_back(node.clone()).unwrap();
    /// list.clear();
    /// assert!(list.is_empty() && Rc::strong_count(&node) == 1 && !node.links().is_linked());
    /// ```
    pub fn clear(&mut self) {
        /// Drops what is left if a handle's drop unwinds out of the loop below.
        struct DropRest<'a, T: Linked<Tag>, Tag>(&'a mut List<T, Tag>);
        impl<T: Linked<Tag>, Tag> Drop for DropRest<'_, T, Tag> {
            fn drop(&mut self) {
                while let Some(handle) = self.0.pop_front() {
                    drop(handle);
                }
            }
        }
        let rest = DropRest(self);
        while let Some(handle) = rest.0.pop_front() {
            drop(handle);
        }
    }

    /// Returns a double-ended, exact-size iterator over the nodes, front to back.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// for i in 0..3 {
    ///     list.push_back(Rc::new(Node::new(i))).unwrap();
    /// }
    /// assert_eq!(list.iter().map(Node::id).collect::<Vec<_>>(), [0, 1, 2]);
    /// assert_eq!(list.iter().rev().map(Node::id).collect::<Vec<_>>(), [2, 1, 0]);
    /// assert_eq!(list.iter().len(), 3);
    /// ```
    #[inline]
    #[must_use]
    pub fn iter(&self) -> Iter<'_, T, Tag> {
        Iter::new(self.head, self.tail, self.len, self.offset)
    }

    /// Returns a read-only cursor on the front node (on the "ghost" position if the list is
    /// empty).
    ///
    /// # Examples
    ///
    /// See [`Cursor`].
    #[inline]
    #[must_use]
    pub fn cursor_front(&self) -> Cursor<'_, T, Tag> {
        Cursor::new(self, self.head)
    }

    /// Returns a read-only cursor on the back node (on the "ghost" position if the list is
    /// empty).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// list.push_back(Rc::new(Node::new(1))).unwrap();
    /// list.push_back(Rc::new(Node::new(2))).unwrap();
    /// let c = list.cursor_back();
    /// assert_eq!(c.current().map(Node::id), Some(2));
    /// assert_eq!(c.peek_prev().map(Node::id), Some(1));
    /// ```
    #[inline]
    #[must_use]
    pub fn cursor_back(&self) -> Cursor<'_, T, Tag> {
        Cursor::new(self, self.tail)
    }

    /// Returns a cursor on the front node (on the "ghost" position if the list is empty).
    ///
    /// # Examples
    ///
    /// See [`CursorMut`].
    #[inline]
    pub fn cursor_front_mut(&mut self) -> CursorMut<'_, T, Tag> {
        let first = self.head;
        CursorMut::new(self, first)
    }

    /// Returns a cursor on the back node (on the "ghost" position if the list is empty).
    ///
    /// # Examples
    ///
    /// See [`CursorMut`].
    #[inline]
    pub fn cursor_back_mut(&mut self) -> CursorMut<'_, T, Tag> {
        let last = self.tail;
        CursorMut::new(self, last)
    }
}
