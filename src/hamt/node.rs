//! CHAMP nodes and the recursive algorithms on them.
//!
//! A node is one allocation, an `Arc<[Slot]>`: slot 0 is the [`Slot::Header`] with the two
//! bitmaps, then the inline entries in slot order, then the sub-nodes in *reverse* slot order
//! (CHAMP puts them at the end so the index of a sub-node is `len - 1 - rank` and needs no count
//! of the entries). A node at depth `d < LEVELS` indexes its slots with bits
//! `d*BITS .. (d+1)*BITS` of the key's hash. At depth `LEVELS` the hash is used up: such a node is
//! a *collision node*, its header is `(0, 0)` and it holds two or more entries whose (masked)
//! hashes are equal, in no particular order.
//!
//! Canonical form: a sub-node exists only for a slot that holds two or more keys. Inserts split
//! an inline entry into a sub-node; removes pull a sub-node that is down to one entry back into
//! its parent.
//!
//! Panic safety: user code (`Hash`, `Eq`, `Clone`) runs only before a node is changed. The
//! persistent functions build new nodes and never touch old ones; the in-place functions do all
//! their comparisons and hashing first and then move slots around without calling user code.

use crate::loom::{arc_slice, Arc};
use core::borrow::Borrow;
use core::hash::{BuildHasher, Hash};
use core::iter::once;
use core::mem;

/// Hash bits consumed per level (32-way nodes).
#[cfg(not(any(test, loopkit_fuzz)))]
pub(crate) const BITS: u32 = 5;
/// Hash bits used at all (the full 64-bit hash).
#[cfg(not(any(test, loopkit_fuzz)))]
pub(crate) const HASH_BITS: u32 = 64;
/// Test configuration: 8-way nodes, so small key sets already fill and split nodes.
#[cfg(any(test, loopkit_fuzz))]
pub(crate) const BITS: u32 = 3;
/// Test configuration: a 12-bit hash, so the trie is 4 levels deep and collisions are common.
#[cfg(any(test, loopkit_fuzz))]
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

/// Rank of `bit` among the set bits of `map` (how many are below it).
#[inline(always)]
pub(crate) fn index(map: u32, bit: u32) -> usize {
    (map & bit.wrapping_sub(1)).count_ones() as usize
}

/// A node: `[Header, entries.., sub-nodes (reversed)..]` in one allocation.
pub(crate) type Node<K, V> = Arc<[Slot<K, V>]>;

/// One slot of a node.
pub(crate) enum Slot<K, V> {
    /// Slot 0 of every node (also the placeholder left behind when a slot is moved out).
    Header {
        /// Slots that hold an inline entry.
        datamap: u32,
        /// Slots that hold a sub-node.
        nodemap: u32,
    },
    /// An inline entry.
    Entry(K, V),
    /// A sub-node.
    Child(Node<K, V>),
}

impl<K: Clone, V: Clone> Clone for Slot<K, V> {
    fn clone(&self) -> Self {
        match self {
            Slot::Header { datamap, nodemap } => Slot::Header {
                datamap: *datamap,
                nodemap: *nodemap,
            },
            Slot::Entry(k, v) => Slot::Entry(k.clone(), v.clone()),
            Slot::Child(c) => Slot::Child(c.clone()),
        }
    }
}

const HOLE: (u32, u32) = (0, 0);

/// A header slot.
#[inline(always)]
fn hdr<K, V>((datamap, nodemap): (u32, u32)) -> Slot<K, V> {
    Slot::Header { datamap, nodemap }
}

/// The bitmaps of a node.
#[inline(always)]
pub(crate) fn header<K, V>(n: &[Slot<K, V>]) -> (u32, u32) {
    match n[0] {
        Slot::Header { datamap, nodemap } => (datamap, nodemap),
        _ => unreachable!("slot 0 is the header"),
    }
}

/// The entry in slot `s`.
#[inline(always)]
pub(crate) fn entry<K, V>(s: &Slot<K, V>) -> (&K, &V) {
    match s {
        Slot::Entry(k, v) => (k, v),
        _ => unreachable!("not an entry slot"),
    }
}

/// Moves the entry out of slot `s`, leaving a placeholder.
fn take_entry<K, V>(s: &mut Slot<K, V>) -> (K, V) {
    match mem::replace(s, hdr(HOLE)) {
        Slot::Entry(k, v) => (k, v),
        _ => unreachable!("not an entry slot"),
    }
}

/// The sub-node in slot `s`.
#[inline(always)]
pub(crate) fn child<K, V>(s: &Slot<K, V>) -> &Node<K, V> {
    match s {
        Slot::Child(c) => c,
        _ => unreachable!("not a sub-node slot"),
    }
}

/// A node's entries and its sub-nodes.
type Parts<'a, K, V> = (&'a [Slot<K, V>], &'a [Slot<K, V>]);

/// What a persistent remove found: what is left of the node, and the removed entry.
type Found<'a, K, V> = (Removed<K, V>, (&'a K, &'a V));

/// A node's entries and sub-nodes, without the header and any spare slots between them.
#[inline(always)]
fn parts<K, V>(n: &[Slot<K, V>], datamap: u32, nodemap: u32) -> Parts<'_, K, V> {
    let nd = datamap.count_ones() as usize;
    let nn = nodemap.count_ones() as usize;
    (&n[1..1 + nd], &n[n.len() - nn..])
}

/// A new exact-size node `[h] ++ a ++ x ++ b ++ c ++ y ++ d`, cloning the slices: one
/// allocation.
#[allow(clippy::too_many_arguments)]
fn build<K: Clone, V: Clone>(
    h: (u32, u32),
    a: &[Slot<K, V>],
    x: Option<Slot<K, V>>,
    b: &[Slot<K, V>],
    c: &[Slot<K, V>],
    y: Option<Slot<K, V>>,
    d: &[Slot<K, V>],
) -> Node<K, V> {
    arc_slice(
        once(hdr(h))
            .chain(a.iter().cloned())
            .chain(x)
            .chain(b.iter().cloned())
            .chain(c.iter().cloned())
            .chain(y)
            .chain(d.iter().cloned()),
    )
}

/// Moves a slot out, leaving a placeholder.
fn mv<K, V>(s: &mut Slot<K, V>) -> Slot<K, V> {
    mem::replace(s, hdr(HOLE))
}

/// A new exact-size node `[h] ++ a ++ x ++ b ++ c`, moving the slots out of the (disjoint)
/// slices, which are left holding placeholders: one allocation, no user code.
fn rebuild_moved<K, V>(
    h: (u32, u32),
    a: &mut [Slot<K, V>],
    x: Option<Slot<K, V>>,
    b: &mut [Slot<K, V>],
    c: &mut [Slot<K, V>],
) -> Node<K, V> {
    arc_slice(
        once(hdr(h))
            .chain(a.iter_mut().map(mv))
            .chain(x)
            .chain(b.iter_mut().map(mv))
            .chain(c.iter_mut().map(mv)),
    )
}

/// Most spare slots an in-place remove leaves in a node before it shrinks the node.
pub(crate) const MAX_SPARE: usize = 2;

/// An empty node (the root of an empty map).
pub(crate) fn empty<K, V>() -> Node<K, V> {
    arc_slice(once(hdr(HOLE)))
}

/// The canonical sub-tree at `depth` for two entries with hashes `h0` and `h1`. No user code.
fn pair<K, V>(depth: u32, h0: u64, e0: (K, V), h1: u64, e1: (K, V)) -> Node<K, V> {
    if depth == LEVELS {
        return arc_slice([hdr(HOLE), Slot::Entry(e0.0, e0.1), Slot::Entry(e1.0, e1.1)]);
    }
    let (b0, b1) = (bit_at(h0, depth), bit_at(h1, depth));
    if b0 == b1 {
        let sub = pair(depth + 1, h0, e0, h1, e1);
        return arc_slice([hdr((0, b0)), Slot::Child(sub)]);
    }
    let (e0, e1) = if b0 < b1 { (e0, e1) } else { (e1, e0) };
    arc_slice([
        hdr((b0 | b1, 0)),
        Slot::Entry(e0.0, e0.1),
        Slot::Entry(e1.0, e1.1),
    ])
}

/// Looks `key` up below `node`.
#[inline]
pub(crate) fn get<'a, K, V, Q>(
    mut node: &'a [Slot<K, V>],
    hash: u64,
    key: &Q,
) -> Option<(&'a K, &'a V)>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    let mut depth = 0;
    loop {
        if depth == LEVELS {
            return node[1..].iter().map(entry).find(|e| e.0.borrow() == key);
        }
        let (datamap, nodemap) = header(node);
        let bit = bit_at(hash, depth);
        if datamap & bit != 0 {
            let e = entry(&node[1 + index(datamap, bit)]);
            return if e.0.borrow() == key { Some(e) } else { None };
        }
        if nodemap & bit == 0 {
            return None;
        }
        node = child(&node[node.len() - 1 - index(nodemap, bit)]);
        depth += 1;
    }
}

/// Structural equality; sub-trees shared by pointer are skipped.
pub(crate) fn eq_tree<K: Eq, V: PartialEq>(a: &Node<K, V>, b: &Node<K, V>, depth: u32) -> bool {
    if Arc::ptr_eq(a, b) {
        return true;
    }
    let (datamap, nodemap) = header(a);
    if header(b) != (datamap, nodemap) {
        return false;
    }
    if depth == LEVELS {
        return a.len() == b.len()
            && a[1..]
                .iter()
                .map(entry)
                .all(|(k, v)| b[1..].iter().map(entry).any(|(k2, v2)| k == k2 && v == v2));
    }
    let (ea, ka) = parts(a, datamap, nodemap);
    let (eb, kb) = parts(b, datamap, nodemap);
    ea.iter().zip(eb).all(|(x, y)| {
        let ((k, v), (k2, v2)) = (entry(x), entry(y));
        k == k2 && v == v2
    }) && ka
        .iter()
        .zip(kb)
        .all(|(x, y)| eq_tree(child(x), child(y), depth + 1))
}

/// What a persistent remove left of a node.
pub(crate) enum Removed<K, V> {
    /// The node, still holding two or more entries (or the root).
    Node(Node<K, V>),
    /// The node is down to this one entry, which belongs inline in its parent.
    Single(K, V),
}

/// Persistent insert below `n`. `None` when `key` is present and `same(old, &value)` holds
/// (nothing changes); otherwise the new node and a reference to the replaced value, if any.
pub(crate) fn inserted<'a, K, V, S, F>(
    n: &'a [Slot<K, V>],
    depth: u32,
    hash: u64,
    key: K,
    value: V,
    hasher: &S,
    same: F,
) -> Option<(Node<K, V>, Option<&'a V>)>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
    F: FnOnce(&V, &V) -> bool,
{
    if depth == LEVELS {
        return Some(match n[1..].iter().position(|s| *entry(s).0 == key) {
            Some(i) => {
                let (k, v) = entry(&n[1 + i]);
                if same(v, &value) {
                    return None;
                }
                let e = Some(Slot::Entry(k.clone(), value));
                (
                    build(HOLE, &n[1..1 + i], e, &n[2 + i..], &[], None, &[]),
                    Some(v),
                )
            }
            None => {
                let e = Some(Slot::Entry(key, value));
                (build(HOLE, &n[1..], e, &[], &[], None, &[]), None)
            }
        });
    }
    let (datamap, nodemap) = header(n);
    let (ents, kids) = parts(n, datamap, nodemap);
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let r = index(datamap, bit);
        let (k, v) = entry(&ents[r]);
        if *k == key {
            if same(v, &value) {
                return None;
            }
            let e = Some(Slot::Entry(k.clone(), value));
            let node = build(
                (datamap, nodemap),
                &ents[..r],
                e,
                &ents[r + 1..],
                kids,
                None,
                &[],
            );
            return Some((node, Some(v)));
        }
        let h0 = hash_key(hasher, k);
        let e0 = (k.clone(), v.clone());
        let sub = Some(Slot::Child(pair(depth + 1, h0, e0, hash, (key, value))));
        // Sub-nodes are reversed: the new one goes before the `c` with lower slots.
        let t = kids.len() - index(nodemap, bit);
        let h = (datamap ^ bit, nodemap | bit);
        let node = build(
            h,
            &ents[..r],
            None,
            &ents[r + 1..],
            &kids[..t],
            sub,
            &kids[t..],
        );
        return Some((node, None));
    }
    if nodemap & bit != 0 {
        let t = kids.len() - 1 - index(nodemap, bit);
        let (sub, old) = inserted(child(&kids[t]), depth + 1, hash, key, value, hasher, same)?;
        let sub = Some(Slot::Child(sub));
        let node = build(
            (datamap, nodemap),
            ents,
            None,
            &[],
            &kids[..t],
            sub,
            &kids[t + 1..],
        );
        return Some((node, old));
    }
    let r = index(datamap, bit);
    let e = Some(Slot::Entry(key, value));
    let node = build(
        (datamap | bit, nodemap),
        &ents[..r],
        e,
        &ents[r..],
        kids,
        None,
        &[],
    );
    Some((node, None))
}

/// Insert below `node` in place where this map owns the node alone (`Arc::get_mut`), through a
/// persistent copy of the sub-tree where it is shared.
pub(crate) fn insert_mut<K, V, S>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
    hasher: &S,
) -> Option<V>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    // The uniqueness check: see `docs/hamt.md` and `loom_models.rs`.
    let Some(n) = Arc::get_mut(node) else {
        let (new, old) = inserted(node, depth, hash, key, value, hasher, |_, _| false)
            .expect("an insert that never compares values always changes the node");
        let old = old.cloned();
        *node = new;
        return old;
    };
    if depth == LEVELS {
        if let Some(i) = n[1..].iter().position(|s| *entry(s).0 == key) {
            let Slot::Entry(_, v) = &mut n[1 + i] else {
                unreachable!()
            };
            return Some(mem::replace(v, value));
        }
        let e = Some(Slot::Entry(key, value));
        *node = rebuild_moved(HOLE, &mut n[1..], e, &mut [], &mut []);
        return None;
    }
    let (datamap, nodemap) = header(n);
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let i = 1 + index(datamap, bit);
        if let Slot::Entry(k, v) = &mut n[i] {
            if *k == key {
                return Some(mem::replace(v, value));
            }
        }
        // Hash before changing anything: `Hash` may panic.
        let h0 = hash_key(hasher, entry(&n[i]).0);
        // Same number of slots: the entry at `i` becomes a sub-node at `q`, in place (spare
        // slots, if any, shift by one and stay between the entries and the sub-nodes).
        let q = n.len() - 1 - index(nodemap, bit);
        let e0 = take_entry(&mut n[i]);
        n[i..=q].rotate_left(1);
        n[q] = Slot::Child(pair(depth + 1, h0, e0, hash, (key, value)));
        n[0] = hdr((datamap ^ bit, nodemap | bit));
        return None;
    }
    if nodemap & bit != 0 {
        let j = n.len() - 1 - index(nodemap, bit);
        let Slot::Child(c) = &mut n[j] else {
            unreachable!()
        };
        return insert_mut(c, depth + 1, hash, key, value, hasher);
    }
    let nd = datamap.count_ones() as usize;
    let nn = nodemap.count_ones() as usize;
    let p = 1 + index(datamap, bit);
    if n.len() > 1 + nd + nn {
        // A spare slot at `1 + nd`: shift the later entries into it.
        n[p..=1 + nd].rotate_right(1);
        n[p] = Slot::Entry(key, value);
        n[0] = hdr((datamap | bit, nodemap));
        return None;
    }
    let (a, b) = n[1..].split_at_mut(p - 1);
    *node = rebuild_moved(
        (datamap | bit, nodemap),
        a,
        Some(Slot::Entry(key, value)),
        b,
        &mut [],
    );
    None
}

/// Persistent remove below `n`. `None` when `key` is absent; otherwise what is left of the node
/// and a reference to the removed entry. A `root` never collapses to `Single`.
pub(crate) fn removed<'a, K, V, Q>(
    n: &'a [Slot<K, V>],
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<Found<'a, K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    if depth == LEVELS {
        let i = 1 + n[1..].iter().position(|s| entry(s).0.borrow() == key)?;
        let out = if n.len() == 3 {
            let (k, v) = entry(&n[3 - i]);
            Removed::Single(k.clone(), v.clone())
        } else {
            Removed::Node(build(HOLE, &n[1..i], None, &n[i + 1..], &[], None, &[]))
        };
        return Some((out, entry(&n[i])));
    }
    let (datamap, nodemap) = header(n);
    let (ents, kids) = parts(n, datamap, nodemap);
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let r = index(datamap, bit);
        let e = entry(&ents[r]);
        if e.0.borrow() != key {
            return None;
        }
        let out = if !root && ents.len() == 2 && kids.is_empty() {
            let (k, v) = entry(&ents[1 - r]);
            Removed::Single(k.clone(), v.clone())
        } else {
            let h = (datamap ^ bit, nodemap);
            Removed::Node(build(h, &ents[..r], None, &ents[r + 1..], kids, None, &[]))
        };
        return Some((out, e));
    }
    if nodemap & bit == 0 {
        return None;
    }
    let t = kids.len() - 1 - index(nodemap, bit);
    let (r, e) = removed(child(&kids[t]), depth + 1, hash, key, false)?;
    let out = match r {
        Removed::Node(sub) => {
            let sub = Some(Slot::Child(sub));
            let h = (datamap, nodemap);
            Removed::Node(build(h, ents, None, &[], &kids[..t], sub, &kids[t + 1..]))
        }
        Removed::Single(k, v) if !root && ents.is_empty() && kids.len() == 1 => {
            Removed::Single(k, v)
        }
        Removed::Single(k, v) => {
            let dm = datamap | bit;
            let p = index(dm, bit);
            let e = Some(Slot::Entry(k, v));
            let h = (dm, nodemap ^ bit);
            Removed::Node(build(
                h,
                &ents[..p],
                e,
                &ents[p..],
                &kids[..t],
                None,
                &kids[t + 1..],
            ))
        }
    };
    Some((out, e))
}

/// In-place remove below `node` (persistent where shared). Returns the removed entry and, when
/// this non-root node is left with a single entry, that entry, which the caller must inline.
#[allow(clippy::type_complexity)]
pub(crate) fn remove_mut<K, V, Q>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<((K, V), Option<(K, V)>)>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    // The uniqueness check: see `docs/hamt.md` and `loom_models.rs`.
    let Some(n) = Arc::get_mut(node) else {
        let (r, (k, v)) = removed(node, depth, hash, key, root)?;
        // Clone before changing anything: `Clone` may panic.
        let out = (k.clone(), v.clone());
        return Some(match r {
            Removed::Node(new) => {
                *node = new;
                (out, None)
            }
            Removed::Single(k, v) => (out, Some((k, v))),
        });
    };
    if depth == LEVELS {
        let i = 1 + n[1..].iter().position(|s| entry(s).0.borrow() == key)?;
        if n.len() == 3 {
            let other = take_entry(&mut n[3 - i]);
            return Some((take_entry(&mut n[i]), Some(other)));
        }
        let out = take_entry(&mut n[i]);
        let (a, b) = n[1..].split_at_mut(i - 1);
        *node = rebuild_moved(HOLE, a, None, &mut b[1..], &mut []);
        return Some((out, None));
    }
    let (datamap, nodemap) = header(n);
    let nd = datamap.count_ones() as usize;
    let nn = nodemap.count_ones() as usize;
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let i = 1 + index(datamap, bit);
        if entry(&n[i]).0.borrow() != key {
            return None;
        }
        if !root && nd == 2 && nn == 0 {
            let other = take_entry(&mut n[3 - i]);
            return Some((take_entry(&mut n[i]), Some(other)));
        }
        let out = take_entry(&mut n[i]);
        let h = (datamap ^ bit, nodemap);
        let len = n.len();
        if len - 1 - nd - nn < MAX_SPARE {
            // Leave the slot spare: move the placeholder to the end of the entries.
            n[i..1 + nd].rotate_left(1);
            n[0] = hdr(h);
        } else {
            let (head, kids) = n.split_at_mut(len - nn);
            let (a, b) = head[1..1 + nd].split_at_mut(i - 1);
            *node = rebuild_moved(h, a, None, &mut b[1..], kids);
        }
        return Some((out, None));
    }
    if nodemap & bit == 0 {
        return None;
    }
    let j = n.len() - 1 - index(nodemap, bit);
    let Slot::Child(c) = &mut n[j] else {
        unreachable!()
    };
    let (out, single) = remove_mut(c, depth + 1, hash, key, false)?;
    let Some(single) = single else {
        return Some((out, None));
    };
    if !root && nd == 0 && nn == 1 {
        // This node held only that sub-node: it is down to one entry as well.
        return Some((out, Some(single)));
    }
    // Same number of slots: the sub-node at `j` becomes an entry at `p`, in place.
    let dm = datamap | bit;
    let p = 1 + index(dm, bit);
    drop(mem::replace(&mut n[j], hdr(HOLE)));
    n[p..=j].rotate_right(1);
    n[p] = Slot::Entry(single.0, single.1);
    n[0] = hdr((dm, nodemap ^ bit));
    Some((out, None))
}
