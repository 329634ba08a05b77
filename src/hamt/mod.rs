//! A persistent hash array mapped trie in the CHAMP layout.
//!
//! [`Hamt`] is an immutable map with structural sharing: [`Clone`] is O(1), and every update
//! ([`insert`](Hamt::insert), [`remove`](Hamt::remove)) returns a new map that shares all but
//! the changed path with the old one. The `_mut` forms ([`insert_mut`](Hamt::insert_mut),
//! [`remove_mut`](Hamt::remove_mut)) change the nodes this map owns alone in place and copy only
//! the shared ones. Maps are `Send + Sync` when `K`, `V` and `S` are, so a copy can be handed to
//! another thread at the cost of one reference-count increment.
//!
//! The layout follows Steindorfer & Vinju, *Optimizing Hash-Array Mapped Tries for Fast and Lean
//! Immutable JVM Collections* (OOPSLA 2015): each node has a `datamap` for the slots that hold an
//! entry inline and a separate `nodemap` for the slots that hold a sub-node, with two exact-size
//! arrays. The shape of the trie depends only on the key set (and the hasher), so equal maps have
//! equal shapes and [`PartialEq`] compares node by node, skipping sub-trees the two maps share.
//! See [`docs/hamt.md`] for the node layout, how hashes are split and the rejected alternatives.
//!
//! [`docs/hamt.md`]: crate::docs::hamt
//!
//! # Complexity
//!
//! `n` is the number of entries; the trie has at most 13 levels (64-bit hash, 5 bits a level), and
//! about log<sub>32</sub> n for well-spread hashes. "path" is that depth.
//!
//! | operation | time | allocation |
//! |---|---|---|
//! | [`clone`](Clone::clone), [`len`](Hamt::len), [`is_empty`](Hamt::is_empty), [`ptr_eq`](Hamt::ptr_eq) | O(1) | none |
//! | [`get`](Hamt::get), [`contains_key`](Hamt::contains_key), [`get_key_value`](Hamt::get_key_value) | O(path) | none |
//! | [`insert`](Hamt::insert), [`remove`](Hamt::remove) (persistent) | O(32 · path) copies | one node per level |
//! | [`insert_mut`](Hamt::insert_mut), [`remove_mut`](Hamt::remove_mut), unique map | O(path) | none, or one node when a node must grow |
//! | the same on a map that shares nodes | O(32 · path) for the shared part | one node per shared level |
//! | [`get_mut`](Hamt::get_mut) | O(path); O(32 · path) copies where shared | one node per shared level |
//! | [`retain`](Hamt::retain) | O(n) + one in-place remove per dropped entry | a list of the dropped keys |
//! | [`union_with`](Hamt::union_with), same hasher | O(nodes that differ + entries of sub-tries only `other` has); shared sub-tries reused | one node per differing node |
//! | [`union_with`](Hamt::union_with), other hasher | O(m · path) for `other`'s m entries | as `insert_mut` |
//! | [`iter`](Hamt::iter), [`keys`](Hamt::keys), [`values`](Hamt::values) | O(n) total | none |
//! | [`into_iter`](Hamt::into_iter) (owned) | O(n) total; entries of shared nodes are cloned | a stack of nodes |
//! | `==` of two maps derived from each other | O(changed paths) | none |
//! | `==` of unrelated maps | O(n) (node by node, or lookups if hashers differ) | none |
//!
//! Hash collisions (equal 64-bit hashes) go into a collision node at the last level, searched
//! linearly.
//!
//! # Examples
//!
//! ```
//! use loopkit::hamt::Hamt;
//!
//! let empty: Hamt<&str, i32> = Hamt::new();
//! let one = empty.insert("a", 1);
//! let two = one.insert("b", 2);
//! assert_eq!(empty.len(), 0);
//! assert_eq!(one.get("a"), Some(&1));
//! assert_eq!(two.len(), 2);
//!
//! // Setting a key to the value it already has (tested by `insert_with`), or removing an absent
//! // key, changes nothing.
//! assert!(two.insert_with("b", 2, PartialEq::eq).ptr_eq(&two));
//! assert!(two.remove("zzz").ptr_eq(&two));
//!
//! // The shape is canonical: a map built in another order is equal (and compares fast).
//! let again = Hamt::new().insert("b", 2).insert("a", 1);
//! assert_eq!(two.len(), again.len());
//! assert_eq!(two, again);
//! ```

#[cfg(feature = "arbitrary")]
mod arbitrary;
mod get;
mod hasher;
mod insert;
mod internals;
mod iter;
mod map;
mod node;
mod popcnt;
mod remove;
#[cfg(feature = "serde")]
mod serde;
mod union;

#[cfg(any(test, loopkit_fuzz))]
#[doc(hidden)]
pub mod model;

#[cfg(test)]
mod loom_models;
#[cfg(test)]
mod tests;

#[allow(deprecated)]
pub use hasher::DefaultHasher;
pub use hasher::{DefaultHashBuilder, HamtHasher};
#[doc(hidden)]
pub use internals::{layout as __layout, walks as __walks};
pub use iter::{IntoIter, Iter, Keys, Values};
pub use map::Hamt;
