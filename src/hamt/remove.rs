//! Removes: persistent ([`removed`]) and in place ([`remove_mut`]).

use super::node::{bit_at, index, Builder, Entry, Node, LEVELS};
use super::popcnt::popcnt_dispatch;
use core::borrow::Borrow;
use core::mem;

/// What a persistent remove found: what is left of the node, and the removed entry.
pub(crate) type Found<'a, K, V> = (Removed<K, V>, &'a Entry<K, V>);

/// What a persistent remove left of a node.
pub(crate) enum Removed<K, V> {
    /// The node, still holding two or more entries (or the root).
    Node(Node<K, V>),
    /// The node is down to this one entry, which belongs inline in its parent.
    Single(Entry<K, V>),
}

popcnt_dispatch! {
    /// Persistent remove below `n`. `None` when `key` is absent; otherwise what is left of the
    /// node and a reference to the removed entry. A `root` never collapses to `Single`.
    pub(crate) fn removed['a; ; K, V, Q](
        n: &'a Node<K, V>,
        depth: u32,
        hash: u64,
        key: &Q,
        root: bool,
    ) -> Option<Found<'a, K, V>>
    where [K: Borrow<Q> + Clone, V: Clone, Q: Eq + ?Sized,]
    => removed_impl, removed_popcnt, removed_soft, removed_rec;
}

/// The body of [`removed`].
#[inline(always)]
fn removed_impl<'a, const P: bool, K, V, Q>(
    n: &'a Node<K, V>,
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
    let (es, cs) = (n.entries(), n.children());
    if depth == LEVELS {
        let i = es.iter().position(|e| e.is(hash, key))?;
        let out = if es.len() == 2 {
            Removed::Single(es[1 - i].clone())
        } else {
            let mut b = Builder::new(0, 0, es.len() - 1, 0);
            b.clone_entries(&es[..i]);
            b.clone_entries(&es[i + 1..]);
            Removed::Node(b.finish())
        };
        return Some((out, &es[i]));
    }
    let (datamap, nodemap) = n.maps();
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let r = index(datamap, bit);
        let e = &es[r];
        if !e.is(hash, key) {
            return None;
        }
        let out = if !root && es.len() == 2 && cs.is_empty() {
            Removed::Single(es[1 - r].clone())
        } else {
            let mut b = Builder::new(datamap ^ bit, nodemap, es.len() - 1, cs.len());
            b.clone_entries(&es[..r]);
            b.clone_entries(&es[r + 1..]);
            b.clone_children(cs);
            Removed::Node(b.finish())
        };
        return Some((out, e));
    }
    if nodemap & bit == 0 {
        return None;
    }
    let t = index(nodemap, bit);
    let (r, e) = removed_rec::<P, _, _, _>(&cs[t], depth + 1, hash, key, false)?;
    let out = match r {
        Removed::Node(sub) => {
            let mut b = Builder::new(datamap, nodemap, es.len(), cs.len());
            b.clone_entries(es);
            b.clone_children(&cs[..t]);
            b.child(sub);
            b.clone_children(&cs[t + 1..]);
            Removed::Node(b.finish())
        }
        Removed::Single(s) if !root && es.is_empty() && cs.len() == 1 => Removed::Single(s),
        Removed::Single(s) => {
            let dm = datamap | bit;
            let p = index(dm, bit);
            let mut b = Builder::new(dm, nodemap ^ bit, es.len() + 1, cs.len() - 1);
            b.clone_entries(&es[..p]);
            b.entry(s);
            b.clone_entries(&es[p..]);
            b.clone_children(&cs[..t]);
            b.clone_children(&cs[t + 1..]);
            Removed::Node(b.finish())
        }
    };
    Some((out, e))
}

/// What an in-place remove returns: the removed entry; when the (non-root) node is left with a
/// single entry, that entry, which the caller must inline; and a node handle the remove took out
/// of the trie, which the caller drops once the whole map is consistent again (it may be the
/// last handle to a node that other maps shared, and dropping it runs the entries' `Drop`).
pub(crate) type RemovedMut<K, V> = (Entry<K, V>, Option<Entry<K, V>>, Option<Node<K, V>>);

popcnt_dispatch! {
    /// In-place remove below `node` (persistent where shared, checked at every level).
    pub(crate) fn remove_mut[; ; K, V, Q](
        node: &mut Node<K, V>,
        depth: u32,
        hash: u64,
        key: &Q,
        root: bool,
    ) -> Option<RemovedMut<K, V>>
    where [K: Borrow<Q> + Clone, V: Clone, Q: Eq + ?Sized,]
    => remove_mut_impl, remove_mut_popcnt, remove_mut_soft, remove_mut_rec;
}

/// The body of [`remove_mut`].
#[inline(always)]
fn remove_mut_impl<const P: bool, K, V, Q>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<RemovedMut<K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    // The uniqueness check: see `docs/hamt.md` and `loom_models.rs`.
    let Some(mut n) = node.get_mut() else {
        let (r, e) = removed_rec::<P, _, _, _>(node, depth, hash, key, root)?;
        // Clone before changing anything: `Clone` may panic.
        let out = e.clone();
        return Some(match r {
            // The old handle goes to the caller: see `RemovedMut`.
            Removed::Node(new) => (out, None, Some(mem::replace(node, new))),
            Removed::Single(s) => (out, Some(s), None),
        });
    };
    if depth == LEVELS {
        let i = n.entries().iter().position(|e| e.is(hash, key))?;
        let out = n.remove_entry(i);
        if n.entries().len() == 1 {
            return Some((out, Some(n.remove_entry(0)), None));
        }
        n.trim();
        return Some((out, None, None));
    }
    let (datamap, nodemap) = n.maps();
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let r = index(datamap, bit);
        if !n.entries()[r].is(hash, key) {
            return None;
        }
        let out = n.remove_entry(r);
        if !root && n.lens() == (1, 0) {
            return Some((out, Some(n.remove_entry(0)), None));
        }
        n.set_maps(datamap ^ bit, nodemap);
        n.trim();
        return Some((out, None, None));
    }
    if nodemap & bit == 0 {
        return None;
    }
    let t = index(nodemap, bit);
    let (out, single, garbage) =
        remove_mut_rec::<P, _, _, _>(n.child_mut(t), depth + 1, hash, key, false)?;
    let Some(single) = single else {
        return Some((out, None, garbage));
    };
    if !root && n.lens() == (0, 1) {
        // This node held only that sub-node: it is down to one entry as well.
        return Some((out, Some(single), garbage));
    }
    // The sub-node at `t` becomes an entry at `p`. The sub-node's handle is not dropped here:
    // it may be the last one to a node another map shared (that map may have been dropped by
    // user code since), and its entries' `Drop` must not run, or unwind, before the bitmaps
    // agree with the live counts again. A sub-node that returned `single` hands back no garbage
    // of its own (only a node replaced by a copy does, and that one returns no `single`).
    debug_assert!(garbage.is_none());
    let dm = datamap | bit;
    let old = n.remove_child(t);
    n.insert_entry(index(dm, bit), single);
    n.set_maps(dm, nodemap ^ bit);
    n.trim();
    Some((out, None, Some(old)))
}
