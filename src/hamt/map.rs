//! [`Hamt`], the map.

use super::get;
use super::hasher::DefaultHashBuilder;
use super::insert;
use super::iter::{self, IntoIter, Iter, Keys, Values};
use super::node::{self, bit_at, hash_key, index, Node, BITS, LEVELS};
use super::remove::{self, Removed};
use super::union;
use crate::loom::Arc;
use core::borrow::Borrow;
use core::fmt;
use core::hash::{BuildHasher, Hash, Hasher};
use core::ops::Index;

/// A persistent hash map (CHAMP hash array mapped trie) with O(1) clone and structural sharing.
///
/// See the [module docs](crate::hamt) for the complexity table and the layout.
///
/// Equality of values, where the map needs it:
/// - [`insert`](Hamt::insert) never compares values: it always returns a new map;
/// - [`insert_with`](Hamt::insert_with) takes the test as a closure, e.g. `PartialEq::eq`, or
///   `Arc::ptr_eq` for values that are `Arc`s without `PartialEq`: a value that passes it
///   returns a map that is [`ptr_eq`](Hamt::ptr_eq) to `self`;
/// - [`insert_mut`](Hamt::insert_mut) never compares values: it always stores the new one.
///
/// A key that is already present keeps its stored key object; only the value is replaced
/// (as in `std::collections::HashMap::insert`).
///
/// # Panics and panic safety
///
/// If `K::hash`, `K::eq`, `K::clone` or `V::clone` panics during an operation, every map that
/// existed before it (including `self`, for the `_mut` forms) is left intact and usable: user
/// code runs only before a node is changed. A panicking `Drop` is not guarded against.
///
/// # Examples
///
/// ```
/// use loopkit::hamt::Hamt;
///
/// let mut m = Hamt::new();
/// assert_eq!(m.insert_mut("x", 1), None);
/// let snapshot = m.clone(); // O(1)
/// assert_eq!(m.insert_mut("x", 2), Some(1));
/// assert_eq!(m.remove_mut("x"), Some(2));
/// assert!(m.is_empty());
/// assert_eq!(snapshot["x"], 1); // untouched
/// ```
pub struct Hamt<K, V, S = DefaultHashBuilder> {
    pub(super) root: Node<K, V>,
    pub(super) len: usize,
    pub(super) hasher: Arc<S>,
}

impl<K, V> Hamt<K, V, DefaultHashBuilder> {
    /// An empty map with a randomly seeded [`DefaultHashBuilder`]. The empty root is a shared static;
    /// the one allocation is the hasher's (shared by every map derived from this one).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let m: Hamt<u64, u64> = Hamt::new();
    /// assert!(m.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_hasher(DefaultHashBuilder::default())
    }
}

impl<K, V, S> Hamt<K, V, S> {
    /// An empty map that hashes keys with `hasher`.
    ///
    /// Maps derived from this one (by clone, insert, remove) share the hasher; equality of two
    /// maps with different hasher instances falls back to lookups when the shapes differ.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// use std::collections::hash_map::RandomState;
    ///
    /// let m = Hamt::with_hasher(RandomState::new()).insert(1, "one");
    /// assert_eq!(m.get(&1), Some(&"one"));
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        Hamt {
            root: Node::empty(),
            len: 0,
            hasher: Arc::new(hasher),
        }
    }

    /// The hasher this map uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let m: Hamt<u8, u8> = Hamt::new();
    /// let _h: &loopkit::hamt::DefaultHashBuilder = m.hasher();
    /// ```
    pub fn hasher(&self) -> &S {
        &self.hasher
    }

    /// Number of entries. O(1).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// assert_eq!(Hamt::new().insert(1, 1).insert(2, 2).len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map has no entries. O(1).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// assert!(Hamt::<u8, u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the two maps are the same version: they share their root node. Implies `==`.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let a = Hamt::new().insert(1, 1);
    /// let b = a.clone();
    /// assert!(a.ptr_eq(&b));
    /// assert!(!a.ptr_eq(&a.insert(2, 2)));
    /// ```
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Node::ptr_eq(&self.root, &other.root)
    }

    /// Iterates over `(&K, &V)` in canonical (hash) order.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let m: Hamt<u8, u8> = (0..4).map(|i| (i, i)).collect();
    /// assert_eq!(m.iter().filter(|(k, v)| k == v).count(), 4);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter::new(&self.root, self.len)
    }

    /// Iterates over the keys.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let m = Hamt::new().insert("k", 0);
    /// assert_eq!(m.keys().collect::<Vec<_>>(), [&"k"]);
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V> {
        Keys(self.iter())
    }

    /// Iterates over the values.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let m = Hamt::new().insert("k", 7);
    /// assert_eq!(m.values().collect::<Vec<_>>(), [&7]);
    /// ```
    pub fn values(&self) -> Values<'_, K, V> {
        Values(self.iter())
    }
}

impl<K, V, S: BuildHasher> Hamt<K, V, S> {
    /// The value stored for `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let m = Hamt::new().insert(String::from("a"), 1);
    /// assert_eq!(m.get("a"), Some(&1)); // Borrow<str>
    /// assert_eq!(m.get("b"), None);
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_key_value(key).map(|(_, v)| v)
    }

    /// The stored key and value for `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let m = Hamt::new().insert(String::from("a"), 1);
    /// assert_eq!(m.get_key_value("a"), Some((&String::from("a"), &1)));
    /// ```
    #[inline]
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = hash_key(&*self.hasher, key);
        get::get(&self.root, hash, key).map(|e| (&e.key, &e.value))
    }

    /// Whether `key` is present.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let m = Hamt::new().insert(3u8, ());
    /// assert!(m.contains_key(&3));
    /// assert!(!m.contains_key(&4));
    /// ```
    #[inline]
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_key_value(key).is_some()
    }
}

impl<K: Hash + Eq + Clone, V: Clone, S: BuildHasher> Hamt<K, V, S> {
    /// A new map with `key` set to `value`; `self` is unchanged.
    ///
    /// Always stores the new value (no `V: PartialEq` needed, so maps of `Arc<dyn Trait>` work).
    /// To get `self` back unchanged ([`ptr_eq`](Hamt::ptr_eq) to it, no copy) when the stored
    /// value is already the same, use [`insert_with`](Hamt::insert_with), e.g. with `PartialEq::eq`
    /// or `Arc::ptr_eq`.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let a = Hamt::new().insert("k", 1);
    /// let b = a.insert("k", 2);
    /// assert_eq!((a["k"], b["k"]), (1, 2));
    /// assert!(b.insert_with("k", 2, PartialEq::eq).ptr_eq(&b));
    /// ```
    #[must_use = "a persistent insert returns the new map and leaves `self` unchanged"]
    pub fn insert(&self, key: K, value: V) -> Self {
        self.insert_with(key, value, |_, _| false)
    }

    /// A new map with `key` set to `value`, unless `key` is present and `same(stored, &value)`
    /// returns true, in which case a clone of `self` (`ptr_eq` to it) is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// use std::sync::Arc;
    ///
    /// let v = Arc::new(5);
    /// let a = Hamt::new().insert_with("k", v.clone(), Arc::ptr_eq);
    /// assert!(a.insert_with("k", v.clone(), Arc::ptr_eq).ptr_eq(&a));
    /// assert!(!a.insert_with("k", Arc::new(5), Arc::ptr_eq).ptr_eq(&a));
    /// ```
    #[must_use = "a persistent insert returns the new map and leaves `self` unchanged"]
    pub fn insert_with<F>(&self, key: K, value: V, same: F) -> Self
    where
        F: FnOnce(&V, &V) -> bool,
    {
        let hash = hash_key(&*self.hasher, &key);
        match insert::inserted(&self.root, 0, hash, key, value, same) {
            None => self.clone(),
            Some((root, old)) => Hamt {
                len: self.len + usize::from(old.is_none()),
                root,
                hasher: self.hasher.clone(),
            },
        }
    }

    /// Sets `key` to `value` in place and returns the old value. Nodes this map owns alone are
    /// changed in place; nodes shared with other maps are copied (the others never see the
    /// change). On a shared node the returned old value is a clone.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let mut m = Hamt::new();
    /// assert_eq!(m.insert_mut(1, "a"), None);
    /// assert_eq!(m.insert_mut(1, "b"), Some("a"));
    /// assert_eq!(m[&1], "b");
    /// ```
    pub fn insert_mut(&mut self, key: K, value: V) -> Option<V> {
        let hash = hash_key(&*self.hasher, &key);
        let (old, garbage) = insert::insert_mut(&mut self.root, 0, hash, key, value);
        self.len += usize::from(old.is_none());
        // The map is consistent: now the replaced node (if any) may run user `Drop`s.
        drop(garbage);
        old
    }

    /// A new map without `key`; a clone of `self` (`ptr_eq` to it) if `key` is absent.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let a = Hamt::new().insert(1, ()).insert(2, ());
    /// let b = a.remove(&1);
    /// assert_eq!((a.len(), b.len()), (2, 1));
    /// assert!(b.remove(&1).ptr_eq(&b));
    /// ```
    #[must_use = "a persistent remove returns the new map and leaves `self` unchanged"]
    pub fn remove<Q>(&self, key: &Q) -> Self
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_entry(key).0
    }

    /// A new map without `key`, and the removed entry (cloned from the shared node).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let a = Hamt::new().insert("k", 1);
    /// let (b, old) = a.remove_entry("k");
    /// assert_eq!(old, Some(("k", 1)));
    /// assert!(b.is_empty());
    /// ```
    #[must_use = "a persistent remove returns the new map and leaves `self` unchanged"]
    pub fn remove_entry<Q>(&self, key: &Q) -> (Self, Option<(K, V)>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = hash_key(&*self.hasher, key);
        match remove::removed(&self.root, 0, hash, key, true) {
            None => (self.clone(), None),
            Some((Removed::Node(root), e)) => {
                let e = (e.key.clone(), e.value.clone());
                let map = Hamt {
                    root,
                    len: self.len - 1,
                    hasher: self.hasher.clone(),
                };
                (map, Some(e))
            }
            Some((Removed::Single(..), _)) => unreachable!("the root never collapses"),
        }
    }

    /// Removes `key` in place and returns its value. Nodes this map owns alone are changed in
    /// place; shared ones are copied. Removing an absent key changes nothing (no copy).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let mut m = Hamt::new().insert(1, "a");
    /// let before = m.clone();
    /// assert_eq!(m.remove_mut(&2), None);
    /// assert!(m.ptr_eq(&before));
    /// assert_eq!(m.remove_mut(&1), Some("a"));
    /// assert!(m.is_empty() && before.len() == 1);
    /// ```
    pub fn remove_mut<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = hash_key(&*self.hasher, key);
        let removed = remove::remove_mut(&mut self.root, 0, hash, key, true);
        self.len -= usize::from(removed.is_some());
        // The map is consistent: now the displaced node (if any) may run user `Drop`s.
        removed.map(|(out, single, garbage)| {
            debug_assert!(single.is_none(), "the root never collapses");
            drop(garbage);
            out.value
        })
    }

    /// The value stored for `key`, mutably, on the in-place path: nodes on the key's path that
    /// this map shares with others are copied first (the others never see the change), nodes it
    /// owns alone are used as they are. An absent key changes nothing (no copy).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let mut m = Hamt::new().insert("hits", 1);
    /// let before = m.clone();
    /// *m.get_mut("hits").unwrap() += 1;
    /// assert_eq!(m.get_mut("misses"), None);
    /// assert_eq!((before["hits"], m["hits"]), (1, 2));
    /// ```
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = hash_key(&*self.hasher, key);
        // Look first, so that a miss copies nothing.
        get::get(&self.root, hash, key)?;
        insert::entry_mut(&mut self.root, hash, key).map(|e| &mut e.value)
    }

    /// Keeps only the entries for which `f` returns true, in place (shared nodes on the changed
    /// paths are copied, as in [`remove_mut`](Hamt::remove_mut)). `f` sees every entry once, in
    /// iteration order, before anything is removed. O(n) calls of `f`, then one in-place remove
    /// per rejected entry.
    ///
    /// If `f` panics, the map is left unchanged. If `Eq` panics during the removals, the map is
    /// left valid, with the entries removed so far gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let mut m: Hamt<u32, u32> = (0..10).map(|i| (i, i * i)).collect();
    /// m.retain(|k, _| k % 2 == 0);
    /// assert_eq!(m.len(), 5);
    /// assert_eq!(m.get(&4), Some(&16));
    /// assert_eq!(m.get(&3), None);
    /// ```
    pub fn retain<F>(&mut self, mut f: F)
    where
        F: FnMut(&K, &V) -> bool,
    {
        let mut gone: Vec<(u64, K)> = Vec::new();
        iter::for_each_entry(&self.root, &mut |e| {
            if !f(&e.key, &e.value) {
                gone.push((e.hash, e.key.clone()));
            }
        });
        for (hash, key) in gone {
            let removed = remove::remove_mut(&mut self.root, 0, hash, &key, true);
            debug_assert!(removed.is_some(), "retain: a key seen by `f` is present");
            self.len -= usize::from(removed.is_some());
        }
    }

    /// A new map with the entries of both; for a key in both, the value is
    /// `f(key, self's value, other's value)`. Neither map changes.
    ///
    /// When both maps use the same hasher instance (one was derived from the other, by clone,
    /// insert or remove), the two tries are merged node by node: a sub-trie that is the same node
    /// in both is shared by the result as it is, without visiting it and **without calling `f`**
    /// on its entries (they are the very same entries on both sides), so the union of a map and
    /// an edited copy costs about the edited paths. Otherwise each of `other`'s entries is looked
    /// up and inserted. The result uses `self`'s hasher. A key in both is stored with one of the
    /// two (equal) key objects.
    ///
    /// If `f`, `Clone` or `Eq` panics, both maps are left as they were and nothing leaks.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let base: Hamt<&str, u32> = Hamt::new().insert("a", 1).insert("b", 2);
    /// let other = base.insert("b", 20).insert("c", 3);
    /// let u = base.union_with(&other, |_, x, y| *x.max(y));
    /// assert_eq!((u["a"], u["b"], u["c"], u.len()), (1, 20, 3, 3));
    /// ```
    #[must_use = "a persistent union returns the new map and leaves both maps unchanged"]
    pub fn union_with<F>(&self, other: &Self, mut f: F) -> Self
    where
        F: FnMut(&K, &V, &V) -> V,
    {
        if other.is_empty() {
            return self.clone();
        }
        if Arc::ptr_eq(&self.hasher, &other.hasher) {
            if self.is_empty() {
                return other.clone();
            }
            let mut added = 0;
            let root = union::union(&self.root, &other.root, 0, &mut f, &mut added);
            return Hamt {
                root,
                len: self.len + added,
                hasher: self.hasher.clone(),
            };
        }
        let mut out = self.clone();
        for (k, v) in other {
            let merged = match self.get(k) {
                Some(mine) => f(k, mine, v),
                None => v.clone(),
            };
            out.insert_mut(k.clone(), merged);
        }
        out
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> Hamt<K, V, S> {
    /// Checks every invariant and panics with a labelled message if one fails: bitmaps disjoint
    /// and within the node width, array lengths equal to the bit counts, every key in the slot
    /// its hash names at every level, canonical form (no sub-node with fewer than two entries),
    /// collision nodes only at the last level with two or more distinct keys of one hash, and
    /// `len()` equal to the number of entries. O(n); for tests (hidden from the docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::hamt::Hamt;
    /// let m: Hamt<u32, u32> = (0..100).map(|i| (i, i)).collect();
    /// m.assert_valid();
    /// ```
    #[doc(hidden)]
    pub fn assert_valid(&self) {
        let n = self.check_node(&self.root, 0, 0, true);
        assert_eq!(
            n, self.len,
            "len: {} entries in the trie, len() says {}",
            n, self.len
        );
    }

    fn check_node(&self, node: &Node<K, V>, depth: u32, prefix: u64, root: bool) -> usize {
        let width = 1u32 << BITS;
        let width_mask = if width >= 32 {
            u32::MAX
        } else {
            (1u32 << width) - 1
        };
        let shift = depth * BITS;
        let low = |h: u64| {
            if shift >= 64 {
                h
            } else {
                h & ((1u64 << shift) - 1)
            }
        };
        let (datamap, nodemap) = node.maps();
        let (es, cs) = (node.entries(), node.children());
        let (ecap, ccap) = node.capacity();
        assert!(
            es.len() as u32 <= ecap && ecap - es.len() as u32 <= node::MAX_SPARE,
            "depth {depth}: {} entry slots for {} entries",
            ecap,
            es.len()
        );
        assert!(
            cs.len() as u32 <= ccap && ccap - cs.len() as u32 <= node::MAX_SPARE,
            "depth {depth}: {} child slots for {} children",
            ccap,
            cs.len()
        );
        for e in es {
            assert_eq!(
                e.hash,
                hash_key(&*self.hasher, &e.key),
                "depth {depth}: stored hash is not the key's hash"
            );
        }
        if depth == LEVELS {
            assert!(datamap == 0 && nodemap == 0, "collision node with bitmaps");
            assert!(cs.is_empty(), "collision node with sub-nodes");
            let n = es.len();
            assert!(n >= 2, "collision node with {n} entries");
            let h0 = es[0].hash;
            assert_eq!(low(h0), prefix, "collision node under the wrong prefix");
            for (i, e) in es.iter().enumerate() {
                assert_eq!(e.hash, h0, "collision node with two hashes");
                assert!(
                    !es[..i].iter().any(|e2| e2.key == e.key),
                    "duplicate key in collision"
                );
            }
            return n;
        }
        assert_eq!(
            datamap & nodemap,
            0,
            "depth {depth}: datamap and nodemap overlap"
        );
        assert_eq!(
            datamap & !width_mask,
            0,
            "depth {depth}: datamap wider than a node"
        );
        assert_eq!(
            nodemap & !width_mask,
            0,
            "depth {depth}: nodemap wider than a node"
        );
        assert_eq!(
            datamap.count_ones() as usize,
            es.len(),
            "depth {depth}: entry count differs from the datamap"
        );
        assert_eq!(
            nodemap.count_ones() as usize,
            cs.len(),
            "depth {depth}: child count differs from the nodemap"
        );
        for (r, e) in es.iter().enumerate() {
            assert_eq!(
                low(e.hash),
                prefix,
                "depth {depth}: entry under the wrong prefix"
            );
            let bit = bit_at(e.hash, depth);
            assert!(
                datamap & bit != 0,
                "depth {depth}: entry in a slot its hash does not name"
            );
            assert_eq!(
                index(datamap, bit),
                r,
                "depth {depth}: entries out of slot order"
            );
        }
        let mut total = es.len();
        let mut map = nodemap;
        for c in cs {
            let slot = u64::from(map.trailing_zeros());
            map &= map - 1;
            let n = self.check_node(c, depth + 1, prefix | (slot << (depth * BITS)), false);
            assert!(
                n >= 2,
                "depth {depth}: sub-node with {n} entries (not canonical)"
            );
            total += n;
        }
        if !root {
            assert!(
                total >= 2,
                "depth {depth}: non-root node with {total} entries"
            );
        }
        total
    }
}

impl<K, V, S> Hamt<K, V, S> {
    /// The trie's shape in pre-order: `(depth, datamap, nodemap, entries in node)`. For tests
    /// that compare shapes (collision nodes report their size; their order is not compared).
    #[cfg(any(test, loopkit_fuzz))]
    pub(crate) fn shape(&self) -> Vec<(u32, u32, u32, usize)> {
        fn walk<K, V>(n: &Node<K, V>, depth: u32, out: &mut Vec<(u32, u32, u32, usize)>) {
            let (datamap, nodemap) = n.maps();
            out.push((depth, datamap, nodemap, n.entries().len()));
            for c in n.children() {
                walk(c, depth + 1, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.root, 0, &mut out);
        out
    }

    /// Depth of the deepest node (0 for a root-only trie). For tests.
    #[cfg(test)]
    pub(crate) fn depth(&self) -> u32 {
        self.shape().iter().map(|s| s.0).max().unwrap_or(0)
    }
}

impl<K, V, S> Clone for Hamt<K, V, S> {
    /// O(1): one reference-count increment for the root and one for the hasher.
    fn clone(&self) -> Self {
        Hamt {
            root: self.root.clone(),
            len: self.len,
            hasher: self.hasher.clone(),
        }
    }
}

impl<K, V, S: Default> Default for Hamt<K, V, S> {
    fn default() -> Self {
        Self::with_hasher(S::default())
    }
}

impl<K: Eq + Hash, V: PartialEq, S: BuildHasher> PartialEq for Hamt<K, V, S> {
    /// Node-by-node comparison that skips sub-trees shared by pointer: O(changed paths) for
    /// maps derived from each other. Maps with different hasher instances whose shapes differ
    /// are compared by lookups (O(n)).
    fn eq(&self, other: &Self) -> bool {
        if self.len != other.len {
            return false;
        }
        if get::eq_tree(&self.root, &other.root, 0) {
            return true;
        }
        // Same hasher instance: equal key sets would have equal shapes, so this is final.
        if Arc::ptr_eq(&self.hasher, &other.hasher) {
            return false;
        }
        self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<K: Eq + Hash, V: Eq, S: BuildHasher> Eq for Hamt<K, V, S> {}

impl<K: Hash, V: Hash, S> Hash for Hamt<K, V, S> {
    /// Order-independent: the wrapping sum of a fixed-seed hash of each entry, then the length.
    /// O(n), so it agrees with `==` for maps with different hashers.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let fixed = foldhash::fast::FixedState::with_seed(0x006c_6f6f_706b_6974);
        let sum = self
            .iter()
            .fold(0u64, |acc, e| acc.wrapping_add(fixed.hash_one(e)));
        state.write_usize(self.len);
        state.write_u64(sum);
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for Hamt<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V, S, Q> Index<&Q> for Hamt<K, V, S>
where
    K: Borrow<Q>,
    Q: Hash + Eq + ?Sized,
    S: BuildHasher,
{
    type Output = V;

    /// # Panics
    ///
    /// If `key` is absent.
    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("Hamt: key not present")
    }
}

impl<K: Hash + Eq + Clone, V: Clone, S: BuildHasher + Default> FromIterator<(K, V)>
    for Hamt<K, V, S>
{
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = Self::default();
        m.extend(iter);
        m
    }
}

impl<K: Hash + Eq + Clone, V: Clone, S: BuildHasher> Extend<(K, V)> for Hamt<K, V, S> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert_mut(k, v);
        }
    }
}

/// Iterates over the entries by value: entries of nodes this map owns alone are moved out,
/// those of nodes shared with other maps are cloned.
///
/// # Examples
///
/// ```
/// use loopkit::hamt::Hamt;
/// let m = Hamt::from([(1, "one"), (2, "two")]);
/// let mut v: Vec<(i32, &str)> = m.into_iter().collect();
/// v.sort();
/// assert_eq!(v, [(1, "one"), (2, "two")]);
/// ```
impl<K: Clone, V: Clone, S> IntoIterator for Hamt<K, V, S> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;
    fn into_iter(self) -> IntoIter<K, V> {
        IntoIter::new(self.root, self.len)
    }
}

/// A map with the default hasher holding the array's entries (a later duplicate key wins).
///
/// # Examples
///
/// ```
/// use loopkit::hamt::Hamt;
/// let m = Hamt::from([("a", 1), ("b", 2), ("a", 3)]);
/// assert_eq!((m.len(), m["a"]), (2, 3));
/// ```
impl<K: Hash + Eq + Clone, V: Clone, const N: usize> From<[(K, V); N]>
    for Hamt<K, V, DefaultHashBuilder>
{
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<'a, K, V, S> IntoIterator for &'a Hamt<K, V, S> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;
    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}
