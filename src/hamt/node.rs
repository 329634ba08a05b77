//! CHAMP nodes and the recursive algorithms on them.
//!
//! A node at depth `d < LEVELS` indexes its slots with bits `d*BITS .. (d+1)*BITS` of the key's
//! hash. A slot is empty, holds one entry inline (`datamap` bit set, entry in `data`), or holds a
//! sub-node (`nodemap` bit set, child in `nodes`); both arrays are exact-size and ordered by slot.
//! At depth `LEVELS` the hash is used up: such a node is a *collision node*, both bitmaps are 0
//! and `data` holds two or more entries whose (masked) hashes are equal, in no particular order.
//!
//! Canonical form: a sub-node exists only for a slot that holds two or more keys. Every function
//! here keeps that: inserts split an inline entry into a sub-node, removes pull a sub-node that is
//! down to one entry back into its parent.
//!
//! Panic safety: user code (`Hash`, `Eq`, `Clone`) runs only before a node is changed. The
//! persistent functions build new nodes and never touch old ones; the in-place functions do all
//! their comparisons and hashing first and then move entries around without calling user code.

use crate::loom::Arc;
use core::borrow::Borrow;
use core::hash::{BuildHasher, Hash};
use core::mem;

/// Hash bits consumed per level (32-way nodes).
#[cfg(not(any(test, fuzzing)))]
pub(crate) const BITS: u32 = 5;
/// Hash bits used at all (the full 64-bit hash).
#[cfg(not(any(test, fuzzing)))]
pub(crate) const HASH_BITS: u32 = 64;
/// Test configuration: 8-way nodes, so small key sets already fill and split nodes.
#[cfg(any(test, fuzzing))]
pub(crate) const BITS: u32 = 3;
/// Test configuration: a 12-bit hash, so the trie is 4 levels deep and collisions are common.
#[cfg(any(test, fuzzing))]
pub(crate) const HASH_BITS: u32 = 12;

/// Number of bitmap-indexed levels; nodes at depth `LEVELS` are collision nodes.
pub(crate) const LEVELS: u32 = HASH_BITS.div_ceil(BITS);
/// Mask for one level's slot number.
const MASK: u64 = (1 << BITS) - 1;
/// Mask applied to every hash (all ones in the real configuration).
const HASH_MASK: u64 = if HASH_BITS >= 64 {
    u64::MAX
} else {
    (1 << HASH_BITS) - 1
};

/// Hashes `q` with `s` and keeps the bits the trie uses.
#[inline]
pub(crate) fn hash_key<Q: Hash + ?Sized, S: BuildHasher>(s: &S, q: &Q) -> u64 {
    s.hash_one(q) & HASH_MASK
}

/// The one-bit mask of `hash`'s slot at `depth`.
#[inline(always)]
pub(crate) fn bit_at(hash: u64, depth: u32) -> u32 {
    1u32 << ((hash >> (depth * BITS)) & MASK)
}

/// Position in the compressed array of the entry for `bit`.
#[inline(always)]
pub(crate) fn index(map: u32, bit: u32) -> usize {
    (map & bit.wrapping_sub(1)).count_ones() as usize
}

/// One trie node (see the module docs for the layout).
pub(crate) struct Node<K, V> {
    /// Slots that hold an inline entry.
    pub(crate) datamap: u32,
    /// Slots that hold a sub-node.
    pub(crate) nodemap: u32,
    /// Inline entries in slot order (all entries, unordered, in a collision node).
    pub(crate) data: Box<[(K, V)]>,
    /// Sub-nodes in slot order.
    pub(crate) nodes: Box<[Arc<Node<K, V>>]>,
}

/// What a persistent remove left of a node.
pub(crate) enum Removed<K, V> {
    /// The node, still holding two or more entries (or the root).
    Node(Node<K, V>),
    /// The node is down to this one entry and must be inlined into its parent.
    Single(K, V),
}

/// Inserts `x` at `i`, keeping the slice exact-size (one `realloc`).
fn box_insert<T>(b: &mut Box<[T]>, i: usize, x: T) {
    let mut v = mem::take(b).into_vec();
    v.reserve_exact(1);
    v.insert(i, x);
    *b = v.into_boxed_slice();
}

/// Removes the element at `i`, keeping the slice exact-size.
fn box_remove<T>(b: &mut Box<[T]>, i: usize) -> T {
    let mut v = mem::take(b).into_vec();
    let x = v.remove(i);
    *b = v.into_boxed_slice();
    x
}

/// A copy of `s` with `x` inserted at `i`.
fn cloned_with<T: Clone>(s: &[T], i: usize, x: T) -> Box<[T]> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(&s[..i]);
    v.push(x);
    v.extend_from_slice(&s[i..]);
    v.into_boxed_slice()
}

/// A copy of `s` without the element at `i`.
fn cloned_without<T: Clone>(s: &[T], i: usize) -> Box<[T]> {
    let mut v = Vec::with_capacity(s.len() - 1);
    v.extend_from_slice(&s[..i]);
    v.extend_from_slice(&s[i + 1..]);
    v.into_boxed_slice()
}

/// A copy of `s` with the element at `i` replaced by `x` (the old one is not cloned).
fn cloned_replaced<T: Clone>(s: &[T], i: usize, x: T) -> Box<[T]> {
    let mut v = Vec::with_capacity(s.len());
    v.extend_from_slice(&s[..i]);
    v.push(x);
    v.extend_from_slice(&s[i + 1..]);
    v.into_boxed_slice()
}

impl<K, V> Node<K, V> {
    /// An empty node (the root of an empty map). Allocates nothing but the `Arc` around it.
    pub(crate) fn empty() -> Self {
        Node {
            datamap: 0,
            nodemap: 0,
            data: Box::default(),
            nodes: Box::default(),
        }
    }

    /// Looks `key` up below this node.
    #[inline]
    pub(crate) fn get<Q>(&self, hash: u64, key: &Q) -> Option<&(K, V)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut node = self;
        let mut depth = 0;
        loop {
            if depth == LEVELS {
                return node.data.iter().find(|e| e.0.borrow() == key);
            }
            let bit = bit_at(hash, depth);
            if node.datamap & bit != 0 {
                let e = &node.data[index(node.datamap, bit)];
                return if e.0.borrow() == key { Some(e) } else { None };
            }
            if node.nodemap & bit == 0 {
                return None;
            }
            node = &node.nodes[index(node.nodemap, bit)];
            depth += 1;
        }
    }

    /// The canonical sub-tree at `depth` for two entries with hashes `h0` and `h1`.
    /// Calls no user code.
    fn pair(depth: u32, h0: u64, e0: (K, V), h1: u64, e1: (K, V)) -> Self {
        if depth == LEVELS {
            return Node {
                datamap: 0,
                nodemap: 0,
                data: Box::new([e0, e1]),
                nodes: Box::default(),
            };
        }
        let (b0, b1) = (bit_at(h0, depth), bit_at(h1, depth));
        if b0 == b1 {
            let child = Arc::new(Self::pair(depth + 1, h0, e0, h1, e1));
            Node {
                datamap: 0,
                nodemap: b0,
                data: Box::default(),
                nodes: Box::new([child]),
            }
        } else {
            let data: Box<[(K, V)]> = if b0 < b1 {
                Box::new([e0, e1])
            } else {
                Box::new([e1, e0])
            };
            Node {
                datamap: b0 | b1,
                nodemap: 0,
                data,
                nodes: Box::default(),
            }
        }
    }
}

impl<K: Eq, V: PartialEq> Node<K, V> {
    /// Structural equality; sub-trees shared by pointer are skipped.
    pub(crate) fn eq_tree(a: &Arc<Self>, b: &Arc<Self>, depth: u32) -> bool {
        if Arc::ptr_eq(a, b) {
            return true;
        }
        if depth == LEVELS {
            return a.data.len() == b.data.len()
                && a.data
                    .iter()
                    .all(|(k, v)| b.data.iter().any(|(k2, v2)| k == k2 && v == v2));
        }
        a.datamap == b.datamap
            && a.nodemap == b.nodemap
            && a.data
                .iter()
                .zip(b.data.iter())
                .all(|(x, y)| x.0 == y.0 && x.1 == y.1)
            && a.nodes
                .iter()
                .zip(b.nodes.iter())
                .all(|(x, y)| Self::eq_tree(x, y, depth + 1))
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Node<K, V> {
    /// Persistent insert below this node. Returns `None` when `key` is present and `same(old,
    /// &value)` holds (nothing changes); otherwise the new node and a reference to the replaced
    /// value, if any.
    pub(crate) fn inserted<'a, S, F>(
        &'a self,
        depth: u32,
        hash: u64,
        key: K,
        value: V,
        hasher: &S,
        same: F,
    ) -> Option<(Self, Option<&'a V>)>
    where
        S: BuildHasher,
        F: FnOnce(&V, &V) -> bool,
    {
        if depth == LEVELS {
            return Some(match self.data.iter().position(|e| e.0 == key) {
                Some(i) => {
                    let e = &self.data[i];
                    if same(&e.1, &value) {
                        return None;
                    }
                    let data = cloned_replaced(&self.data, i, (e.0.clone(), value));
                    (
                        Node {
                            datamap: 0,
                            nodemap: 0,
                            data,
                            nodes: Box::default(),
                        },
                        Some(&e.1),
                    )
                }
                None => {
                    let data = cloned_with(&self.data, self.data.len(), (key, value));
                    (
                        Node {
                            datamap: 0,
                            nodemap: 0,
                            data,
                            nodes: Box::default(),
                        },
                        None,
                    )
                }
            });
        }
        let bit = bit_at(hash, depth);
        if self.datamap & bit != 0 {
            let i = index(self.datamap, bit);
            let e = &self.data[i];
            if e.0 == key {
                if same(&e.1, &value) {
                    return None;
                }
                let data = cloned_replaced(&self.data, i, (e.0.clone(), value));
                let node = Node {
                    data,
                    nodes: self.nodes.clone(),
                    ..*self
                };
                return Some((node, Some(&e.1)));
            }
            let h0 = hash_key(hasher, &e.0);
            let sub = Arc::new(Self::pair(depth + 1, h0, e.clone(), hash, (key, value)));
            let nodemap = self.nodemap | bit;
            let node = Node {
                datamap: self.datamap ^ bit,
                nodemap,
                data: cloned_without(&self.data, i),
                nodes: cloned_with(&self.nodes, index(nodemap, bit), sub),
            };
            return Some((node, None));
        }
        if self.nodemap & bit != 0 {
            let j = index(self.nodemap, bit);
            let (child, old) = self.nodes[j].inserted(depth + 1, hash, key, value, hasher, same)?;
            let nodes = cloned_replaced(&self.nodes, j, Arc::new(child));
            return Some((
                Node {
                    data: self.data.clone(),
                    nodes,
                    ..*self
                },
                old,
            ));
        }
        let datamap = self.datamap | bit;
        let data = cloned_with(&self.data, index(datamap, bit), (key, value));
        Some((
            Node {
                datamap,
                data,
                nodes: self.nodes.clone(),
                ..*self
            },
            None,
        ))
    }

    /// In-place insert below this node, which the caller owns alone. Sub-nodes that are shared
    /// are replaced by changed copies; unshared ones are changed in place.
    pub(crate) fn insert_mut<S: BuildHasher>(
        &mut self,
        depth: u32,
        hash: u64,
        key: K,
        value: V,
        hasher: &S,
    ) -> Option<V> {
        if depth == LEVELS {
            return match self.data.iter().position(|e| e.0 == key) {
                Some(i) => Some(mem::replace(&mut self.data[i].1, value)),
                None => {
                    let n = self.data.len();
                    box_insert(&mut self.data, n, (key, value));
                    None
                }
            };
        }
        let bit = bit_at(hash, depth);
        if self.datamap & bit != 0 {
            let i = index(self.datamap, bit);
            if self.data[i].0 == key {
                return Some(mem::replace(&mut self.data[i].1, value));
            }
            // Hash before changing anything: `Hash` may panic.
            let h0 = hash_key(hasher, &self.data[i].0);
            let e0 = box_remove(&mut self.data, i);
            self.datamap ^= bit;
            self.nodemap |= bit;
            let sub = Arc::new(Self::pair(depth + 1, h0, e0, hash, (key, value)));
            box_insert(&mut self.nodes, index(self.nodemap, bit), sub);
            return None;
        }
        if self.nodemap & bit != 0 {
            let child = &mut self.nodes[index(self.nodemap, bit)];
            // The uniqueness check: see `docs/hamt.md` and `loom_models.rs`.
            return match Arc::get_mut(child) {
                Some(c) => c.insert_mut(depth + 1, hash, key, value, hasher),
                None => {
                    let (n, old) = child
                        .inserted(depth + 1, hash, key, value, hasher, |_, _| false)
                        .expect("an insert that never compares values always changes the node");
                    let old = old.cloned();
                    *child = Arc::new(n);
                    old
                }
            };
        }
        self.datamap |= bit;
        box_insert(&mut self.data, index(self.datamap, bit), (key, value));
        None
    }

    /// Persistent remove below this node. `None` when `key` is absent; otherwise what is left of
    /// the node and a reference to the removed entry. `root` nodes never collapse to `Single`.
    pub(crate) fn removed<'a, Q>(
        &'a self,
        depth: u32,
        hash: u64,
        key: &Q,
        root: bool,
    ) -> Option<(Removed<K, V>, &'a (K, V))>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        if depth == LEVELS {
            let i = self.data.iter().position(|e| e.0.borrow() == key)?;
            let out = if self.data.len() == 2 {
                let (k, v) = self.data[1 - i].clone();
                Removed::Single(k, v)
            } else {
                let data = cloned_without(&self.data, i);
                Removed::Node(Node {
                    datamap: 0,
                    nodemap: 0,
                    data,
                    nodes: Box::default(),
                })
            };
            return Some((out, &self.data[i]));
        }
        let bit = bit_at(hash, depth);
        if self.datamap & bit != 0 {
            let i = index(self.datamap, bit);
            let e = &self.data[i];
            if e.0.borrow() != key {
                return None;
            }
            let out = if !root && self.data.len() == 2 && self.nodes.is_empty() {
                let (k, v) = self.data[1 - i].clone();
                Removed::Single(k, v)
            } else {
                Removed::Node(Node {
                    datamap: self.datamap ^ bit,
                    nodemap: self.nodemap,
                    data: cloned_without(&self.data, i),
                    nodes: self.nodes.clone(),
                })
            };
            return Some((out, e));
        }
        if self.nodemap & bit == 0 {
            return None;
        }
        let j = index(self.nodemap, bit);
        let (r, e) = self.nodes[j].removed(depth + 1, hash, key, false)?;
        let out = match r {
            Removed::Node(n) => Removed::Node(Node {
                data: self.data.clone(),
                nodes: cloned_replaced(&self.nodes, j, Arc::new(n)),
                ..*self
            }),
            Removed::Single(k, v) if !root && self.data.is_empty() && self.nodes.len() == 1 => {
                Removed::Single(k, v)
            }
            Removed::Single(k, v) => {
                let datamap = self.datamap | bit;
                Removed::Node(Node {
                    datamap,
                    nodemap: self.nodemap ^ bit,
                    data: cloned_with(&self.data, index(datamap, bit), (k, v)),
                    nodes: cloned_without(&self.nodes, j),
                })
            }
        };
        Some((out, e))
    }

    /// In-place remove below this node, which the caller owns alone. Afterwards the caller
    /// collapses this node into its parent if it holds one entry and no sub-node.
    pub(crate) fn remove_mut<Q>(&mut self, depth: u32, hash: u64, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        if depth == LEVELS {
            let i = self.data.iter().position(|e| e.0.borrow() == key)?;
            return Some(box_remove(&mut self.data, i));
        }
        let bit = bit_at(hash, depth);
        if self.datamap & bit != 0 {
            let i = index(self.datamap, bit);
            if self.data[i].0.borrow() != key {
                return None;
            }
            self.datamap ^= bit;
            return Some(box_remove(&mut self.data, i));
        }
        if self.nodemap & bit == 0 {
            return None;
        }
        let j = index(self.nodemap, bit);
        let child = &mut self.nodes[j];
        let removed: (K, V);
        let single: (K, V);
        // The uniqueness check: see `docs/hamt.md` and `loom_models.rs`.
        match Arc::get_mut(child) {
            Some(c) => {
                removed = c.remove_mut(depth + 1, hash, key)?;
                if c.data.len() != 1 || !c.nodes.is_empty() {
                    return Some(removed);
                }
                single = box_remove(&mut c.data, 0);
            }
            None => {
                let (r, e) = child.removed(depth + 1, hash, key, false)?;
                // Clone before changing anything: `Clone` may panic.
                removed = e.clone();
                match r {
                    Removed::Node(n) => {
                        *child = Arc::new(n);
                        return Some(removed);
                    }
                    Removed::Single(k, v) => single = (k, v),
                }
            }
        }
        // The sub-node is down to one entry: canonical form keeps it inline here.
        box_remove(&mut self.nodes, j);
        self.nodemap ^= bit;
        self.datamap |= bit;
        box_insert(&mut self.data, index(self.datamap, bit), single);
        Some(removed)
    }
}
