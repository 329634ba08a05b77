//! The union of two tries hashed by the same function.

use super::insert::{inserted, pair};
use super::node::{bit_at, index, Builder, Entry, Node, LEVELS};
use core::borrow::Borrow;

/// Number of entries below `node`. O(entries).
pub(crate) fn count<K, V>(node: &Node<K, V>) -> usize {
    node.entries().len() + node.children().iter().map(count).sum::<usize>()
}

/// Looks `key` up below `node`, which sits at `depth`.
fn get_below<'a, K, V, Q>(
    mut node: &'a Node<K, V>,
    mut depth: u32,
    hash: u64,
    key: &Q,
) -> Option<&'a Entry<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    while depth < LEVELS {
        let (datamap, nodemap) = node.maps();
        let bit = bit_at(hash, depth);
        if datamap & bit != 0 {
            let e = &node.entries()[index(datamap, bit)];
            return if e.is(hash, key) { Some(e) } else { None };
        }
        if nodemap & bit == 0 {
            return None;
        }
        node = &node.children()[index(nodemap, bit)];
        depth += 1;
    }
    node.entries().iter().find(|e| e.is(hash, key))
}

/// One slot of a union being built: an entry, or a sub-node.
enum Merged<K, V> {
    Entry(Entry<K, V>),
    Child(Node<K, V>),
}

/// The union of two sub-tries at `depth` whose keys were hashed by the same function, as a new
/// node. Keys in both get `f(key, a's value, b's value)`, stored with `a`'s key; sub-tries that
/// are the same node on both sides are shared as they are, without calling `f`. Adds to `added`
/// the number of `b`'s keys that `a` lacks. Never changes `a` or `b`; a panicking `f` or `Clone`
/// drops what was built so far.
pub(crate) fn union<K, V, F>(
    a: &Node<K, V>,
    b: &Node<K, V>,
    depth: u32,
    f: &mut F,
    added: &mut usize,
) -> Node<K, V>
where
    K: Eq + Clone,
    V: Clone,
    F: FnMut(&K, &V, &V) -> V,
{
    if Node::ptr_eq(a, b) {
        return a.clone();
    }
    let (ea, eb) = (a.entries(), b.entries());
    if depth == LEVELS {
        // Collision nodes of one hash: a's entries (merged where b has the key), then b's others.
        let mut out: Vec<Entry<K, V>> = Vec::with_capacity(ea.len() + eb.len());
        for x in ea {
            match eb.iter().find(|y| x.is(y.hash, &y.key)) {
                Some(y) => out.push(Entry {
                    hash: x.hash,
                    key: x.key.clone(),
                    value: f(&x.key, &x.value, &y.value),
                }),
                None => out.push(x.clone()),
            }
        }
        for y in eb {
            if !ea.iter().any(|x| x.is(y.hash, &y.key)) {
                out.push(y.clone());
                *added += 1;
            }
        }
        let mut nb = Builder::new(0, 0, out.len(), 0);
        for e in out {
            nb.entry(e);
        }
        return nb.finish();
    }
    let (da, na) = a.maps();
    let (db, nb_) = b.maps();
    let (ca, cb) = (a.children(), b.children());
    let mut slots: Vec<Merged<K, V>> =
        Vec::with_capacity(((da | na) | (db | nb_)).count_ones() as usize);
    let (mut datamap, mut nodemap) = (0u32, 0u32);
    let mut all = da | na | db | nb_;
    while all != 0 {
        let bit = all & all.wrapping_neg();
        all &= all - 1;
        let m = if da & bit != 0 {
            let x = &ea[index(da, bit)];
            if db & bit != 0 {
                let y = &eb[index(db, bit)];
                if x.is(y.hash, &y.key) {
                    Merged::Entry(Entry {
                        hash: x.hash,
                        key: x.key.clone(),
                        value: f(&x.key, &x.value, &y.value),
                    })
                } else {
                    *added += 1;
                    Merged::Child(pair(depth + 1, x.clone(), y.clone()))
                }
            } else if nb_ & bit != 0 {
                // a's entry goes into b's sub-trie.
                let c = &cb[index(nb_, bit)];
                let (value, found) = match get_below(c, depth + 1, x.hash, &x.key) {
                    Some(y) => (f(&x.key, &x.value, &y.value), true),
                    None => (x.value.clone(), false),
                };
                *added += count(c) - usize::from(found);
                let (n, _) = inserted(c, depth + 1, x.hash, x.key.clone(), value, |_, _| false)
                    .expect("an insert that never compares values always changes the node");
                Merged::Child(n)
            } else {
                Merged::Entry(x.clone())
            }
        } else if na & bit != 0 {
            let c = &ca[index(na, bit)];
            if db & bit != 0 {
                // b's entry goes into a's sub-trie.
                let y = &eb[index(db, bit)];
                let (key, value) = match get_below(c, depth + 1, y.hash, &y.key) {
                    Some(x) => (x.key.clone(), f(&x.key, &x.value, &y.value)),
                    None => {
                        *added += 1;
                        (y.key.clone(), y.value.clone())
                    }
                };
                let (n, _) = inserted(c, depth + 1, y.hash, key, value, |_, _| false)
                    .expect("an insert that never compares values always changes the node");
                Merged::Child(n)
            } else if nb_ & bit != 0 {
                Merged::Child(union(c, &cb[index(nb_, bit)], depth + 1, f, added))
            } else {
                Merged::Child(c.clone())
            }
        } else if db & bit != 0 {
            *added += 1;
            Merged::Entry(eb[index(db, bit)].clone())
        } else {
            let c = &cb[index(nb_, bit)];
            *added += count(c);
            Merged::Child(c.clone())
        };
        match m {
            Merged::Entry(_) => datamap |= bit,
            Merged::Child(_) => nodemap |= bit,
        }
        slots.push(m);
    }
    let (elen, clen) = (datamap.count_ones() as usize, nodemap.count_ones() as usize);
    let mut out = Builder::new(datamap, nodemap, elen, clen);
    let mut children = Vec::with_capacity(clen);
    for m in slots {
        match m {
            Merged::Entry(e) => out.entry(e),
            Merged::Child(c) => children.push(c),
        }
    }
    for c in children {
        out.child(c);
    }
    out.finish()
}
