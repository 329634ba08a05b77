//! Iterators, the read-only cursor and the editing cursor.

use core::fmt;
use core::iter::FusedIterator;
use core::marker::PhantomData;
use core::ptr::NonNull;

use super::error::AlreadyLinked;
use super::links::{Linked, Links};
use super::ring::List;

/// A double-ended, exact-size iterator over the nodes of a [`List`], from [`List::iter`].
///
/// # Examples
///
/// ```
/// # use std::rc::Rc;
/// # use loopkit::list::List;
/// # loopkit::__list_doc_node!();
/// let mut list: List<Node> = List::new();
/// for i in 0..4 {
///     list.push_back(Rc::new(Node::new(i))).unwrap();
/// }
/// let mut it = list.iter();
/// assert_eq!(it.next().map(Node::id), Some(0));
/// assert_eq!(it.next_back().map(Node::id), Some(3));
/// assert_eq!(it.len(), 2);
/// ```
pub struct Iter<'a, T: Linked<Tag>, Tag = ()> {
    head: NonNull<Links<T>>,
    tail: NonNull<Links<T>>,
    remaining: usize,
    offset: usize,
    _list: PhantomData<&'a List<T, Tag>>,
}

impl<'a, T: Linked<Tag>, Tag> Iter<'a, T, Tag> {
    #[inline]
    pub(super) fn new(
        head: NonNull<Links<T>>,
        tail: NonNull<Links<T>>,
        len: usize,
        offset: usize,
    ) -> Self {
        Self {
            head,
            tail,
            remaining: len,
            offset,
            _list: PhantomData,
        }
    }

    /// The node holding `links`.
    ///
    /// # Safety
    ///
    /// `links` is a node of the borrowed list, as stored in its ring.
    #[inline(always)]
    unsafe fn node(&self, links: NonNull<Links<T>>) -> &'a T {
        // SAFETY: `links` is `node + offset` with the node's provenance (`List::node_of`); the
        // list is borrowed for `'a`, so the node stays linked and alive for `'a`.
        unsafe { links.byte_sub(self.offset).cast::<T>().as_ref() }
    }
}

impl<'a, T: Linked<Tag>, Tag> Iterator for Iter<'a, T, Tag> {
    type Item = &'a T;

    #[inline]
    fn next(&mut self) -> Option<&'a T> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let cur = self.head;
        // SAFETY: `remaining > 0`, so `cur` is a node of the list, which is borrowed for `'a`
        // (no node can leave it, so the node outlives `'a`, and no links change meanwhile).
        unsafe {
            self.head = Links::next(cur);
            Some(self.node(cur))
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<'a, T: Linked<Tag>, Tag> DoubleEndedIterator for Iter<'a, T, Tag> {
    #[inline]
    fn next_back(&mut self) -> Option<&'a T> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let cur = self.tail;
        // SAFETY: as in `next`.
        unsafe {
            self.tail = Links::prev(cur);
            Some(self.node(cur))
        }
    }
}

impl<T: Linked<Tag>, Tag> ExactSizeIterator for Iter<'_, T, Tag> {}
impl<T: Linked<Tag>, Tag> FusedIterator for Iter<'_, T, Tag> {}

impl<T: Linked<Tag>, Tag> Clone for Iter<'_, T, Tag> {
    fn clone(&self) -> Self {
        Self {
            head: self.head,
            tail: self.tail,
            remaining: self.remaining,
            offset: self.offset,
            _list: PhantomData,
        }
    }
}

impl<T: Linked<Tag>, Tag> fmt::Debug for Iter<'_, T, Tag> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("remaining", &self.remaining)
            .finish()
    }
}

// SAFETY: an `Iter` only hands out `&T` from a list borrowed shared; it is `Send` when `&T` and
// `&List` are (`T: Sync`).
unsafe impl<T: Linked<Tag> + Sync, Tag> Send for Iter<'_, T, Tag> {}
// SAFETY: as above.
unsafe impl<T: Linked<Tag> + Sync, Tag> Sync for Iter<'_, T, Tag> {}

/// An owning iterator that pops the handles of a [`List`], from `List::into_iter`.
///
/// Dropping it drops the handles not yet taken.
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
/// let handles: Vec<Rc<Node>> = list.into_iter().rev().collect();
/// assert_eq!(handles.iter().map(|n| n.id()).collect::<Vec<_>>(), [2, 1, 0]);
/// assert!(handles.iter().all(|n| !n.links().is_linked()));
/// ```
pub struct IntoIter<T: Linked<Tag>, Tag = ()> {
    list: List<T, Tag>,
}

impl<T: Linked<Tag>, Tag> IntoIter<T, Tag> {
    pub(super) fn new(list: List<T, Tag>) -> Self {
        Self { list }
    }
}

impl<T: Linked<Tag>, Tag> Iterator for IntoIter<T, Tag> {
    type Item = T::Handle;

    #[inline]
    fn next(&mut self) -> Option<T::Handle> {
        self.list.pop_front()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.list.len(), Some(self.list.len()))
    }
}

impl<T: Linked<Tag>, Tag> DoubleEndedIterator for IntoIter<T, Tag> {
    #[inline]
    fn next_back(&mut self) -> Option<T::Handle> {
        self.list.pop_back()
    }
}

impl<T: Linked<Tag>, Tag> ExactSizeIterator for IntoIter<T, Tag> {}
impl<T: Linked<Tag>, Tag> FusedIterator for IntoIter<T, Tag> {}

impl<T: Linked<Tag>, Tag> fmt::Debug for IntoIter<T, Tag> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("remaining", &self.list.len())
            .finish()
    }
}

/// A read-only cursor over a [`List`], from [`List::cursor_front`] / [`List::cursor_back`] or
/// [`CursorMut::as_cursor`]: walks both ways through the "ghost" position between the back and
/// the front (as [`CursorMut`] does) and looks at the neighbours without moving. `Copy`, so a
/// position can be remembered and walked from again.
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
/// let mut c = list.cursor_front();
/// assert_eq!(c.current().map(Node::id), Some(0));
/// assert_eq!(c.peek_prev().map(Node::id), None); // the ghost is before the front
/// assert_eq!(c.peek_next().map(Node::id), Some(1));
/// let saved = c;
/// c.move_prev(); // to the ghost
/// assert!(c.current().is_none());
/// c.move_prev(); // and round to the back
/// assert_eq!(c.current().map(Node::id), Some(2));
/// assert_eq!(saved.current().map(Node::id), Some(0));
/// ```
pub struct Cursor<'a, T: Linked<Tag>, Tag = ()> {
    list: &'a List<T, Tag>,
    /// A node of `list`, or its sentinel (the ghost position).
    current: NonNull<Links<T>>,
}

impl<'a, T: Linked<Tag>, Tag> Cursor<'a, T, Tag> {
    #[inline]
    pub(super) fn new(list: &'a List<T, Tag>, current: NonNull<Links<T>>) -> Self {
        Self { list, current }
    }

    /// Returns the current node, or `None` on the ghost position. The reference lives as long
    /// as the list borrow, not the cursor.
    ///
    /// # Examples
    ///
    /// See [`Cursor`].
    #[inline]
    #[must_use]
    pub fn current(&self) -> Option<&'a T> {
        // SAFETY: `current` is the sentinel or a node of the list, and the list is borrowed
        // shared for `'a`, so no node can leave it meanwhile.
        unsafe { self.list.node_at(self.current) }
    }

    /// Returns the node after the current one without moving: the front node when on the
    /// ghost, `None` when on the back node (or the list is empty).
    ///
    /// # Examples
    ///
    /// See [`Cursor`].
    #[inline]
    #[must_use]
    pub fn peek_next(&self) -> Option<&'a T> {
        // SAFETY: `current` is live (sentinel or node) and so is its `next`; the list is
        // borrowed shared for `'a`.
        unsafe { self.list.node_at(Links::next(self.current)) }
    }

    /// Returns the node before the current one without moving: the back node when on the
    /// ghost, `None` when on the front node (or the list is empty).
    ///
    /// # Examples
    ///
    /// See [`Cursor`].
    #[inline]
    #[must_use]
    pub fn peek_prev(&self) -> Option<&'a T> {
        // SAFETY: as in `peek_next`.
        unsafe { self.list.node_at(Links::prev(self.current)) }
    }

    /// Moves to the next node (from the back node to the ghost, from the ghost to the front).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// list.push_back(Rc::new(Node::new(1))).unwrap();
    /// let mut c = list.cursor_front();
    /// c.move_next();
    /// assert!(c.current().is_none()); // ghost
    /// c.move_next();
    /// assert_eq!(c.current().map(Node::id), Some(1));
    /// ```
    #[inline]
    pub fn move_next(&mut self) {
        // SAFETY: `current` is the sentinel or a node of the list, both live.
        self.current = unsafe { Links::next(self.current) };
    }

    /// Moves to the previous node (from the front node to the ghost, from the ghost to the back).
    ///
    /// # Examples
    ///
    /// See [`Cursor`].
    #[inline]
    pub fn move_prev(&mut self) {
        // SAFETY: `current` is the sentinel or a node of the list, both live.
        self.current = unsafe { Links::prev(self.current) };
    }

    /// Returns the list the cursor walks.
    ///
    /// # Examples
    ///
    /// ```
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let list: List<Node> = List::new();
    /// assert!(list.cursor_front().as_list().is_empty());
    /// ```
    #[inline]
    #[must_use]
    pub fn as_list(&self) -> &'a List<T, Tag> {
        self.list
    }
}

impl<T: Linked<Tag>, Tag> Clone for Cursor<'_, T, Tag> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Linked<Tag>, Tag> Copy for Cursor<'_, T, Tag> {}

impl<T: Linked<Tag>, Tag> fmt::Debug for Cursor<'_, T, Tag> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("ghost", &(self.current == self.list.sentinel))
            .field("len", &self.list.len())
            .finish()
    }
}

// SAFETY: a `Cursor` only hands out `&T` and `&List` from a list borrowed shared; it is `Send`
// and `Sync` when those are (`T: Sync`), as for `Iter`.
unsafe impl<T: Linked<Tag> + Sync, Tag> Send for Cursor<'_, T, Tag> {}
// SAFETY: as above.
unsafe impl<T: Linked<Tag> + Sync, Tag> Sync for Cursor<'_, T, Tag> {}

/// A cursor over a [`List`] that can remove the node it is on and keep going, link new nodes
/// before or after it, and peek at its neighbours.
///
/// The cursor is either on a node or on the "ghost" position between the back and the front
/// (where it starts on an empty list); moving past either end goes through the ghost, as in
/// `std::collections::linked_list::CursorMut`. [`remove_current`](CursorMut::remove_current)
/// unlinks the current node, returns its handle and moves the cursor to the next position, so a
/// loop can filter a list in one pass.
///
/// # Examples
///
/// ```
/// # use std::rc::Rc;
/// # use loopkit::list::List;
/// # loopkit::__list_doc_node!();
/// let mut list: List<Node> = List::new();
/// for i in 0..6 {
///     list.push_back(Rc::new(Node::new(i))).unwrap();
/// }
/// // Remove the even nodes in one pass.
/// let mut cursor = list.cursor_front_mut();
/// let mut removed = Vec::new();
/// while let Some(node) = cursor.current() {
///     if node.id() % 2 == 0 {
///         removed.push(cursor.remove_current().unwrap().id());
///     } else {
///         cursor.move_next();
///     }
/// }
/// assert_eq!(removed, [0, 2, 4]);
/// assert_eq!(list.iter().map(Node::id).collect::<Vec<_>>(), [1, 3, 5]);
/// list.assert_valid();
/// ```
pub struct CursorMut<'a, T: Linked<Tag>, Tag = ()> {
    list: &'a mut List<T, Tag>,
    /// A node of `list`, or its sentinel (the ghost position).
    current: NonNull<Links<T>>,
}

impl<'a, T: Linked<Tag>, Tag> CursorMut<'a, T, Tag> {
    #[inline]
    pub(super) fn new(list: &'a mut List<T, Tag>, current: NonNull<Links<T>>) -> Self {
        Self { list, current }
    }

    /// Returns the current node, or `None` on the ghost position.
    ///
    /// # Examples
    ///
    /// See [`CursorMut`].
    #[inline]
    #[must_use]
    pub fn current(&self) -> Option<&T> {
        if self.current == self.list.sentinel {
            return None;
        }
        // SAFETY: `current` is a node of the list (not the sentinel), alive while linked; the
        // returned borrow ends before the cursor can change the list.
        Some(unsafe { self.list.node_of(self.current).as_ref() })
    }

    /// Moves to the next node (from the back node to the ghost, from the ghost to the front).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// list.push_back(Rc::new(Node::new(1))).unwrap();
    /// let mut c = list.cursor_front_mut();
    /// c.move_next();
    /// assert!(c.current().is_none()); // ghost
    /// c.move_next();
    /// assert_eq!(c.current().map(Node::id), Some(1));
    /// ```
    #[inline]
    pub fn move_next(&mut self) {
        // SAFETY: `current` is the sentinel or a node of the list, both live.
        self.current = unsafe { Links::next(self.current) };
    }

    /// Moves to the previous node (from the front node to the ghost, from the ghost to the back).
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
    /// let mut c = list.cursor_back_mut();
    /// c.move_prev();
    /// assert_eq!(c.current().map(Node::id), Some(1));
    /// ```
    #[inline]
    pub fn move_prev(&mut self) {
        // SAFETY: `current` is the sentinel or a node of the list, both live.
        self.current = unsafe { Links::prev(self.current) };
    }

    /// Removes the current node and returns its handle, moving the cursor to the next position;
    /// returns `None` (and does not move) on the ghost position.
    ///
    /// # Examples
    ///
    /// See [`CursorMut`].
    #[inline]
    pub fn remove_current(&mut self) -> Option<T::Handle> {
        if self.current == self.list.sentinel {
            return None;
        }
        let cur = self.current;
        // SAFETY: `cur` is a node of the list (not the sentinel); read `next` before unlinking.
        unsafe {
            self.current = Links::next(cur);
            Some(self.list.unlink(cur))
        }
    }

    /// Returns the node after the current one without moving: the front node when on the
    /// ghost, `None` when on the back node (or the list is empty).
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
    /// let mut c = list.cursor_front_mut();
    /// assert_eq!(c.peek_next().map(Node::id), Some(2));
    /// assert_eq!(c.peek_prev().map(Node::id), None);
    /// c.move_prev(); // the ghost: its neighbours are the back and the front
    /// assert_eq!(c.peek_next().map(Node::id), Some(1));
    /// assert_eq!(c.peek_prev().map(Node::id), Some(2));
    /// ```
    #[inline]
    #[must_use]
    pub fn peek_next(&self) -> Option<&T> {
        // SAFETY: `current` is live (sentinel or node) and so is its `next`; the returned borrow
        // ends before the cursor can change the list.
        unsafe { self.list.node_at(Links::next(self.current)) }
    }

    /// Returns the node before the current one without moving: the back node when on the
    /// ghost, `None` when on the front node (or the list is empty).
    ///
    /// # Examples
    ///
    /// See [`peek_next`](CursorMut::peek_next).
    #[inline]
    #[must_use]
    pub fn peek_prev(&self) -> Option<&T> {
        // SAFETY: as in `peek_next`.
        unsafe { self.list.node_at(Links::prev(self.current)) }
    }

    /// Links the node of `handle` just before the current one, without moving the cursor; on
    /// the ghost position that is the back of the list. Returns the handle in
    /// [`AlreadyLinked`] (and changes nothing) if the node is already in a list. O(1).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// list.push_back(Rc::new(Node::new(1))).unwrap();
    /// let mut c = list.cursor_front_mut();
    /// c.insert_before(Rc::new(Node::new(0))).unwrap();
    /// assert_eq!(c.current().map(Node::id), Some(1)); // did not move
    /// c.move_next(); // the ghost
    /// c.insert_before(Rc::new(Node::new(2))).unwrap(); // the back
    /// let again = Rc::new(Node::new(9));
    /// c.insert_before(again.clone()).unwrap();
    /// assert!(c.insert_before(again).is_err()); // already linked: handle back
    /// assert_eq!(list.iter().map(Node::id).collect::<Vec<_>>(), [0, 1, 2, 9]);
    /// ```
    #[inline]
    pub fn insert_before(&mut self, handle: T::Handle) -> Result<(), AlreadyLinked<T::Handle>> {
        // SAFETY: `current` is the sentinel or a node of the list, both live.
        let prev = unsafe { Links::prev(self.current) };
        // `prev` and `current` are adjacent links of the list (sentinel or nodes), as
        // `insert_between` needs.
        self.list.insert_between(handle, prev, self.current)
    }

    /// Links the node of `handle` just after the current one, without moving the cursor; on
    /// the ghost position that is the front of the list. Returns the handle in
    /// [`AlreadyLinked`] (and changes nothing) if the node is already in a list. O(1).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// let mut c = list.cursor_front_mut(); // the ghost: the list is empty
    /// c.insert_after(Rc::new(Node::new(2))).unwrap(); // the front
    /// c.insert_after(Rc::new(Node::new(1))).unwrap(); // the front again
    /// c.move_next();
    /// c.insert_after(Rc::new(Node::new(3))).unwrap();
    /// assert_eq!(c.current().map(Node::id), Some(1));
    /// assert_eq!(list.iter().map(Node::id).collect::<Vec<_>>(), [1, 3, 2]);
    /// ```
    #[inline]
    pub fn insert_after(&mut self, handle: T::Handle) -> Result<(), AlreadyLinked<T::Handle>> {
        // SAFETY: `current` is the sentinel or a node of the list, both live.
        let next = unsafe { Links::next(self.current) };
        // `current` and `next` are adjacent links of the list (sentinel or nodes), as
        // `insert_between` needs.
        self.list.insert_between(handle, self.current, next)
    }

    /// A read-only cursor at the same position, borrowing this one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// list.push_back(Rc::new(Node::new(1))).unwrap();
    /// let c = list.cursor_back_mut();
    /// let mut r = c.as_cursor();
    /// r.move_next();
    /// assert!(r.current().is_none());
    /// assert_eq!(c.current().map(Node::id), Some(1));
    /// ```
    #[inline]
    #[must_use]
    pub fn as_cursor(&self) -> Cursor<'_, T, Tag> {
        Cursor::new(self.list, self.current)
    }

    /// Returns the list the cursor walks, read-only (e.g. for its length).
    ///
    /// # Examples
    ///
    /// ```
    /// # use loopkit::list::List;
    /// # loopkit::__list_doc_node!();
    /// let mut list: List<Node> = List::new();
    /// assert_eq!(list.cursor_front_mut().as_list().len(), 0);
    /// ```
    #[inline]
    #[must_use]
    pub fn as_list(&self) -> &List<T, Tag> {
        self.list
    }
}

impl<T: Linked<Tag>, Tag> fmt::Debug for CursorMut<'_, T, Tag> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CursorMut")
            .field("ghost", &(self.current == self.list.sentinel))
            .field("len", &self.list.len())
            .finish()
    }
}
