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
