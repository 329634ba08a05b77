//! Iterators and the removing cursor.

use core::fmt;
use core::iter::FusedIterator;
use core::marker::PhantomData;
use core::ptr::NonNull;

use super::{Linked, Links, List};

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

/// A cursor over a [`List`] that can remove the node it is on and keep going.
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
