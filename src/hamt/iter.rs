//! Borrowing iterators over a [`Hamt`](super::Hamt).

use super::node::{Entry, Node, LEVELS};
use core::fmt;
use core::iter::FusedIterator;

/// Iterator over `(&K, &V)` in the trie's canonical order, returned by
/// [`Hamt::iter`](super::Hamt::iter).
///
/// The order depends only on the key set and the hasher, not on the order of the operations
/// that built the map. A node's inline entries come before its sub-nodes (CHAMP order), so the
/// iterator walks each node's entry array and then its child array, keeping two slice cursors
/// per level, inline (no allocation).
///
/// # Examples
///
/// ```
/// use loopkit::hamt::Hamt;
///
/// let m: Hamt<u32, u32> = (0..10).map(|i| (i, i * i)).collect();
/// let mut sum = 0;
/// for (k, v) in m.iter() {
///     assert_eq!(*v, k * k);
///     sum += v;
/// }
/// assert_eq!(sum, 285);
/// ```
pub struct Iter<'a, K, V> {
    stack: [Level<'a, K, V>; LEVELS as usize + 1],
    depth: usize,
    remaining: usize,
}

/// One level's cursors: the entries left, then the children left.
type Level<'a, K, V> = (
    core::slice::Iter<'a, Entry<K, V>>,
    core::slice::Iter<'a, Node<K, V>>,
);

impl<'a, K, V> Iter<'a, K, V> {
    pub(super) fn new(root: &'a Node<K, V>, len: usize) -> Self {
        let mut stack: [Level<'a, K, V>; LEVELS as usize + 1] =
            core::array::from_fn(|_| ([].iter(), [].iter()));
        stack[0] = (root.entries().iter(), root.children().iter());
        Iter {
            stack,
            depth: 1,
            remaining: len,
        }
    }
}

impl<K, V> Clone for Iter<'_, K, V> {
    fn clone(&self) -> Self {
        Iter {
            stack: self.stack.clone(),
            depth: self.depth,
            remaining: self.remaining,
        }
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        while self.depth > 0 {
            let (es, cs) = &mut self.stack[self.depth - 1];
            if let Some(e) = es.next() {
                self.remaining -= 1;
                return Some((&e.key, &e.value));
            }
            match cs.next() {
                Some(c) => {
                    self.stack[self.depth] = (c.entries().iter(), c.children().iter());
                    self.depth += 1;
                }
                None => self.depth -= 1,
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}
impl<K, V> FusedIterator for Iter<'_, K, V> {}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Iter<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// Iterator over the keys of a [`Hamt`](super::Hamt), returned by
/// [`Hamt::keys`](super::Hamt::keys).
///
/// # Examples
///
/// ```
/// use loopkit::hamt::Hamt;
///
/// let m: Hamt<u32, &str> = [(1, "a"), (2, "b")].into_iter().collect();
/// let mut keys: Vec<u32> = m.keys().copied().collect();
/// keys.sort();
/// assert_eq!(keys, [1, 2]);
/// ```
pub struct Keys<'a, K, V>(pub(super) Iter<'a, K, V>);

impl<'a, K, V> Iterator for Keys<'a, K, V> {
    type Item = &'a K;
    #[inline]
    fn next(&mut self) -> Option<&'a K> {
        self.0.next().map(|(k, _)| k)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<K, V> ExactSizeIterator for Keys<'_, K, V> {}
impl<K, V> FusedIterator for Keys<'_, K, V> {}

impl<K: fmt::Debug, V> fmt::Debug for Keys<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(Keys(self.0.clone())).finish()
    }
}

/// Iterator over the values of a [`Hamt`](super::Hamt), returned by
/// [`Hamt::values`](super::Hamt::values).
///
/// # Examples
///
/// ```
/// use loopkit::hamt::Hamt;
///
/// let m: Hamt<&str, u32> = [("a", 1), ("b", 2)].into_iter().collect();
/// assert_eq!(m.values().sum::<u32>(), 3);
/// ```
pub struct Values<'a, K, V>(pub(super) Iter<'a, K, V>);

impl<'a, K, V> Iterator for Values<'a, K, V> {
    type Item = &'a V;
    #[inline]
    fn next(&mut self) -> Option<&'a V> {
        self.0.next().map(|(_, v)| v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<K, V> ExactSizeIterator for Values<'_, K, V> {}
impl<K, V> FusedIterator for Values<'_, K, V> {}

impl<K, V: fmt::Debug> fmt::Debug for Values<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(Values(self.0.clone())).finish()
    }
}

/// Calls `f` on every entry below `node`, in iteration order.
pub(super) fn for_each_entry<K, V>(node: &Node<K, V>, f: &mut impl FnMut(&Entry<K, V>)) {
    node.entries().iter().for_each(&mut *f);
    for c in node.children() {
        for_each_entry(c, f);
    }
}

/// Owning iterator over `(K, V)`, returned by [`Hamt::into_iter`](super::Hamt#impl-IntoIterator-for-Hamt<K,+V,+S>).
///
/// Each node is taken apart as the iterator reaches it: a node the map owned alone gives up its
/// entries and children by move (last first), a node shared with another map is read through and
/// its entries cloned, leaving it intact for the other map. The order is therefore unspecified.
/// Dropping the iterator early drops the entries it did not yield.
///
/// # Examples
///
/// ```
/// use loopkit::hamt::Hamt;
/// let m: Hamt<u32, String> = (0..3).map(|i| (i, i.to_string())).collect();
/// let keep = m.clone(); // shares every node: these entries are cloned
/// let mut total = 0;
/// for (k, v) in m {
///     assert_eq!(v, k.to_string());
///     total += k;
/// }
/// assert_eq!((total, keep.len()), (3, 3));
/// ```
pub struct IntoIter<K, V> {
    /// Nodes being taken apart: the node, whether this iterator owns it alone (then its live
    /// entries and children are the ones not yet taken), and for a shared node the cursors.
    stack: Vec<Pending<K, V>>,
    remaining: usize,
}

struct Pending<K, V> {
    node: Node<K, V>,
    owned: bool,
    entry: usize,
    child: usize,
}

impl<K, V> IntoIter<K, V> {
    pub(super) fn new(root: Node<K, V>, len: usize) -> Self {
        let mut it = IntoIter {
            stack: Vec::with_capacity(LEVELS as usize + 1),
            remaining: len,
        };
        it.push(root);
        it
    }

    fn push(&mut self, mut node: Node<K, V>) {
        // Owned alone now means owned alone until dropped: no other handle exists to clone.
        let owned = node.get_mut().is_some();
        self.stack.push(Pending {
            node,
            owned,
            entry: 0,
            child: 0,
        });
    }
}

impl<K: Clone, V: Clone> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        loop {
            let top = self.stack.last_mut()?;
            if top.owned {
                let mut n = top.node.get_mut().expect("an owned node stays unique");
                let (elen, clen) = n.lens();
                if elen > 0 {
                    let e = n.remove_entry(elen - 1);
                    self.remaining -= 1;
                    return Some((e.key, e.value));
                }
                if clen > 0 {
                    let c = n.remove_child(clen - 1);
                    self.push(c);
                    continue;
                }
            } else {
                if let Some(e) = top.node.entries().get(top.entry) {
                    // Clone first: a panicking `Clone` leaves the cursor on this entry.
                    let out = (e.key.clone(), e.value.clone());
                    top.entry += 1;
                    self.remaining -= 1;
                    return Some(out);
                }
                if let Some(c) = top.node.children().get(top.child) {
                    let c = c.clone();
                    top.child += 1;
                    self.push(c);
                    continue;
                }
            }
            self.stack.pop();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K: Clone, V: Clone> ExactSizeIterator for IntoIter<K, V> {}
impl<K: Clone, V: Clone> FusedIterator for IntoIter<K, V> {}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for IntoIter<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}
