//! `assert_valid` and the standard trait impls of [`List`].

use core::fmt;
use core::ptr::NonNull;

use super::cursor::{IntoIter, Iter};
use super::links::{Linked, Links};
use super::ring::List;

impl<T: Linked<Tag>, Tag> List<T, Tag> {
    /// Walks the whole list and panics with a labelled message if any invariant is broken.
    ///
    /// Checked: the sentinel's owner and ring; for every node, forward and backward, that
    /// `next.prev` and `prev.next` lead back to it, that it records this list as owner, that its
    /// recorded node pointer leads back to the same links; that both walks count `len` nodes.
    ///
    /// A test helper (O(n)), not part of the supported API.
    ///
    /// # Examples
    ///
    /// See [`List`].
    #[doc(hidden)]
    pub fn assert_valid(&self) {
        let s = self.sentinel;
        let owner = self.owner_word();
        // SAFETY: every pointer followed is a link of this list (sentinel or held node); the
        // walk is bounded by `len + 1` steps so a corrupted ring cannot loop forever; `&self`
        // excludes mutation.
        unsafe {
            assert_eq!(
                Links::owner(s),
                owner,
                "list: sentinel does not record itself as owner"
            );
            assert_eq!(
                Links::next(s),
                self.head,
                "list: cached head is not sentinel.next"
            );
            assert_eq!(
                Links::prev(s),
                self.tail,
                "list: cached tail is not sentinel.prev"
            );
            assert!(
                self.len == 0 || self.offset != usize::MAX,
                "list: holds nodes but never learnt the links offset"
            );
            let mut prev = s;
            let mut cur = Links::next(s);
            let mut n = 0usize;
            while cur != s {
                assert!(
                    n < self.len,
                    "list: forward walk is longer than len = {}",
                    self.len
                );
                assert_eq!(
                    Links::prev(cur),
                    prev,
                    "list: node {n}: next.prev is not the node"
                );
                assert_eq!(
                    Links::owner(cur),
                    owner,
                    "list: node {n}: owner is not this list"
                );
                let node = self.node_of(cur);
                assert_eq!(
                    T::links(node),
                    cur,
                    "list: node {n}: links - offset is not a node whose links() is these links"
                );
                prev = cur;
                cur = Links::next(cur);
                n += 1;
            }
            assert_eq!(
                Links::prev(s),
                prev,
                "list: sentinel.prev is not the last node"
            );
            assert_eq!(
                n, self.len,
                "list: forward walk counted {n}, len is {}",
                self.len
            );
            let mut next = s;
            let mut cur = Links::prev(s);
            let mut m = 0usize;
            while cur != s {
                assert!(
                    m < self.len,
                    "list: backward walk is longer than len = {}",
                    self.len
                );
                assert_eq!(
                    Links::next(cur),
                    next,
                    "list: node {m} from back: prev.next wrong"
                );
                next = cur;
                cur = Links::prev(cur);
                m += 1;
            }
            assert_eq!(
                m, self.len,
                "list: backward walk counted {m}, len is {}",
                self.len
            );
        }
    }
}

impl<T: Linked<Tag>, Tag> Drop for List<T, Tag> {
    fn drop(&mut self) {
        /// Frees the sentinel last, also when a handle's drop panics out of `clear` (which has
        /// emptied the list by then).
        struct FreeSentinel<T>(NonNull<Links<T>>);
        impl<T> Drop for FreeSentinel<T> {
            fn drop(&mut self) {
                // SAFETY: the sentinel came from `Box::into_raw` in `List::new`; `clear` has
                // unlinked every node before this runs (normally or unwinding), so no node
                // links to it, and this guard is the one place that frees it.
                unsafe { drop(Box::from_raw(self.0.as_ptr())) };
            }
        }
        let _free = FreeSentinel(self.sentinel);
        self.clear();
    }
}

impl<T: Linked<Tag>, Tag> Default for List<T, Tag> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Linked<Tag> + fmt::Debug, Tag> fmt::Debug for List<T, Tag> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: Linked<Tag>, Tag> IntoIterator for &'a List<T, Tag> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T, Tag>;

    fn into_iter(self) -> Iter<'a, T, Tag> {
        self.iter()
    }
}

impl<T: Linked<Tag>, Tag> IntoIterator for List<T, Tag> {
    type Item = T::Handle;
    type IntoIter = IntoIter<T, Tag>;

    /// Returns an iterator that pops the handles front to back (or back to front).
    fn into_iter(self) -> IntoIter<T, Tag> {
        IntoIter::new(self)
    }
}
