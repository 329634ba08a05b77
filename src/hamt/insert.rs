//! Inserts: persistent ([`inserted`]) and in place ([`insert_mut`]), and the in-place walk to
//! one entry ([`entry_mut`]).

use super::node::{bit_at, index, Builder, Entry, Node, NodeMut, LEVELS};
use super::popcnt::popcnt_dispatch;
use core::borrow::Borrow;
use core::mem;

/// The canonical sub-tree at `depth` for two entries with different keys. No user code.
pub(crate) fn pair<K, V>(depth: u32, e0: Entry<K, V>, e1: Entry<K, V>) -> Node<K, V> {
    if depth == LEVELS {
        let mut b = Builder::new(0, 0, 2, 0);
        b.entry(e0);
        b.entry(e1);
        return b.finish();
    }
    let (b0, b1) = (bit_at(e0.hash, depth), bit_at(e1.hash, depth));
    if b0 == b1 {
        let sub = pair(depth + 1, e0, e1);
        let mut b = Builder::new(0, b0, 0, 1);
        b.child(sub);
        return b.finish();
    }
    let (e0, e1) = if b0 < b1 { (e0, e1) } else { (e1, e0) };
    let mut b = Builder::new(b0 | b1, 0, 2, 0);
    b.entry(e0);
    b.entry(e1);
    b.finish()
}

popcnt_dispatch! {
    /// Persistent insert below `n`. `None` when `key` is present and `same(old, &value)` holds
    /// (nothing changes); otherwise the new node and a reference to the replaced value, if any.
    pub(crate) fn inserted[; ; K, V, F](
        n: &Node<K, V>,
        depth: u32,
        hash: u64,
        key: K,
        value: V,
        same: F,
    ) -> Option<(Node<K, V>, Option<&V>)>
    where [K: Eq + Clone, V: Clone, F: FnOnce(&V, &V) -> bool,]
    => inserted_impl, inserted_popcnt, inserted_soft, inserted_rec;
}

/// The body of [`inserted`].
#[inline(always)]
fn inserted_impl<const P: bool, K, V, F>(
    n: &Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
    same: F,
) -> Option<(Node<K, V>, Option<&V>)>
where
    K: Eq + Clone,
    V: Clone,
    F: FnOnce(&V, &V) -> bool,
{
    let (es, cs) = (n.entries(), n.children());
    if depth == LEVELS {
        let i = es.iter().position(|e| e.is(hash, &key));
        let mut b = Builder::new(0, 0, es.len() + usize::from(i.is_none()), 0);
        let old = match i {
            Some(i) => {
                let e = &es[i];
                if same(&e.value, &value) {
                    return None;
                }
                b.clone_entries(&es[..i]);
                b.entry(Entry {
                    hash,
                    key: e.key.clone(),
                    value,
                });
                b.clone_entries(&es[i + 1..]);
                Some(&e.value)
            }
            None => {
                b.clone_entries(es);
                b.entry(Entry { hash, key, value });
                None
            }
        };
        return Some((b.finish(), old));
    }
    let (datamap, nodemap) = n.maps();
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let r = index(datamap, bit);
        let e = &es[r];
        if e.is(hash, &key) {
            if same(&e.value, &value) {
                return None;
            }
            let mut b = Builder::new(datamap, nodemap, es.len(), cs.len());
            b.clone_entries(&es[..r]);
            b.entry(Entry {
                hash,
                key: e.key.clone(),
                value,
            });
            b.clone_entries(&es[r + 1..]);
            b.clone_children(cs);
            return Some((b.finish(), Some(&e.value)));
        }
        let sub = pair(depth + 1, e.clone(), Entry { hash, key, value });
        let t = index(nodemap, bit);
        let mut b = Builder::new(datamap ^ bit, nodemap | bit, es.len() - 1, cs.len() + 1);
        b.clone_entries(&es[..r]);
        b.clone_entries(&es[r + 1..]);
        b.clone_children(&cs[..t]);
        b.child(sub);
        b.clone_children(&cs[t..]);
        return Some((b.finish(), None));
    }
    if nodemap & bit != 0 {
        let t = index(nodemap, bit);
        let (sub, old) = inserted_rec::<P, _, _, _>(&cs[t], depth + 1, hash, key, value, same)?;
        let mut b = Builder::new(datamap, nodemap, es.len(), cs.len());
        b.clone_entries(es);
        b.clone_children(&cs[..t]);
        b.child(sub);
        b.clone_children(&cs[t + 1..]);
        return Some((b.finish(), old));
    }
    let r = index(datamap, bit);
    let mut b = Builder::new(datamap | bit, nodemap, es.len() + 1, cs.len());
    b.clone_entries(&es[..r]);
    b.entry(Entry { hash, key, value });
    b.clone_entries(&es[r..]);
    b.clone_children(cs);
    Some((b.finish(), None))
}

/// What an in-place insert returns: the replaced value, if any, and a node handle the insert
/// took out of the trie (a shared node replaced by its changed copy), which the caller drops
/// once the whole map is consistent again: other maps may have dropped their handles since
/// (user `Clone` can), and then dropping it runs the entries' `Drop`.
pub(crate) type InsertedMut<K, V> = (Option<V>, Option<Node<K, V>>);

popcnt_dispatch! {
    /// Insert below `node` in place where this handle owns the node alone, through a persistent
    /// copy of the sub-tree where it is shared. Uniqueness is checked at every level: a node
    /// owned alone may still hold a child that another map shares.
    pub(crate) fn insert_mut[; ; K, V](
        node: &mut Node<K, V>,
        depth: u32,
        hash: u64,
        key: K,
        value: V,
    ) -> InsertedMut<K, V>
    where [K: Eq + Clone, V: Clone,]
    => insert_mut_impl, insert_mut_popcnt, insert_mut_soft, insert_mut_rec;
}

/// The body of [`insert_mut`].
#[inline(always)]
fn insert_mut_impl<const P: bool, K, V>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
) -> InsertedMut<K, V>
where
    K: Eq + Clone,
    V: Clone,
{
    // The uniqueness check: see `docs/hamt.md` and `loom_models.rs`.
    let Some(mut n) = node.get_mut() else {
        let (new, old) = inserted_rec::<P, _, _, _>(node, depth, hash, key, value, |_, _| false)
            .expect("an insert that never compares values always changes the node");
        let old = old.cloned();
        // The old handle goes to the caller: see `InsertedMut`.
        return (old, Some(mem::replace(node, new)));
    };
    if depth == LEVELS {
        if let Some(e) = n.entries_mut().iter_mut().find(|e| e.is(hash, &key)) {
            return (Some(mem::replace(&mut e.value, value)), None);
        }
        let end = n.entries().len();
        n.insert_entry(end, Entry { hash, key, value });
        return (None, None);
    }
    let (datamap, nodemap) = n.maps();
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let r = index(datamap, bit);
        let e = &mut n.entries_mut()[r];
        if e.is(hash, &key) {
            return (Some(mem::replace(&mut e.value, value)), None);
        }
        // No user code from here on. The entry at `r` moves into a new sub-node at `t`.
        let t = index(nodemap, bit);
        let e0 = n.remove_entry(r);
        n.insert_child(t, pair(depth + 1, e0, Entry { hash, key, value }));
        n.set_maps(datamap ^ bit, nodemap | bit);
        n.trim();
        return (None, None);
    }
    if nodemap & bit != 0 {
        let t = index(nodemap, bit);
        return insert_mut_rec::<P, _, _>(n.child_mut(t), depth + 1, hash, key, value);
    }
    n.insert_entry(index(datamap, bit), Entry { hash, key, value });
    n.set_maps(datamap | bit, nodemap);
    (None, None)
}

/// Makes `node` owned by this handle alone: a shared node is replaced by a copy (clones of its
/// entries, new handles to its children). The copy is complete before it replaces the handle,
/// so a panicking `Clone` leaves `node` as it was.
fn make_unique<K: Clone, V: Clone>(node: &mut Node<K, V>) -> NodeMut<'_, K, V> {
    if node.get_mut().is_none() {
        let (datamap, nodemap) = node.maps();
        let (es, cs) = (node.entries(), node.children());
        let mut b = Builder::new(datamap, nodemap, es.len(), cs.len());
        b.clone_entries(es);
        b.clone_children(cs);
        *node = b.finish();
    }
    node.get_mut().expect("a node just copied has one handle")
}

/// The entry for `key` below `node`, mutably, copying each shared node on the way down (the
/// caller has checked that the key is present, so every copy is needed). Uniqueness is checked at
/// every level, as in [`insert_mut`].
pub(crate) fn entry_mut<'a, K, V, Q>(
    mut node: &'a mut Node<K, V>,
    hash: u64,
    key: &Q,
) -> Option<&'a mut Entry<K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    let mut depth = 0;
    loop {
        let n = make_unique(node);
        if depth == LEVELS {
            let i = n.entries().iter().position(|e| e.is(hash, key))?;
            return Some(n.into_entry_mut(i));
        }
        let (datamap, nodemap) = n.maps();
        let bit = bit_at(hash, depth);
        if datamap & bit != 0 {
            let r = index(datamap, bit);
            if !n.entries()[r].is(hash, key) {
                return None;
            }
            return Some(n.into_entry_mut(r));
        }
        if nodemap & bit == 0 {
            return None;
        }
        node = n.into_child_mut(index(nodemap, bit));
        depth += 1;
    }
}
