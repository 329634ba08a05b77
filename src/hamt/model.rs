//! The op-sequence routine shared by the proptest model test (`tests.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/hamt_ops.rs`).
//!
//! [`run`] applies each [`Op`] to a [`Hamt`] and to a `std::collections::HashMap` model and
//! checks after every step that they agree and that [`Hamt::assert_valid`] holds. Every version
//! the sequence produced is kept and re-checked at the end (persistence), and the final key set is
//! rebuilt in two other orders, which must give equal maps of equal shape (canonical form).
//! Built with the test configuration (8-way nodes, 12-bit hash), so 512 keys collide often.

use super::map::Hamt;
use foldhash::fast::FixedState;
use std::collections::HashMap;
use std::mem;

/// One step of a test sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Persistent `insert` (always a new map).
    Insert(u16, u16),
    /// Persistent `insert_with(.., PartialEq::eq)` (checks `ptr_eq` when the value is already
    /// there).
    InsertSame(u16, u16),
    /// `get_mut`, setting the value (checks that a miss copies nothing).
    GetMut(u16, u16),
    /// `retain`, dropping the entries whose `(key ^ value) % 4` is the argument.
    Retain(u16),
    /// `union_with` (larger value wins) with an earlier version: the same hasher instance, so
    /// the tries are merged node by node.
    Union(u16),
    /// `union_with` with an earlier version rebuilt under another hasher instance (lookups).
    UnionRehashed(u16),
    /// Consume the map with `into_iter` and rebuild it from what it yields.
    IntoIter,
    /// In-place `insert_mut`.
    InsertMut(u16, u16),
    /// Persistent `remove_entry` (checks `ptr_eq` when the key is absent).
    Remove(u16),
    /// In-place `remove_mut`.
    RemoveMut(u16),
    /// `get`, `contains_key`, `get_key_value`.
    Get(u16),
    /// Keep a clone of the current map as a version (the next `_mut` op then copies shared
    /// nodes instead of changing them in place).
    Snapshot,
    /// Continue from an earlier version (its nodes are shared with that version).
    Restore(u16),
    /// Compare the current map with a clone changed and changed back.
    EqCheck(u16),
}

type Map = Hamt<u16, u16, FixedState>;
type Model = HashMap<u16, u16>;

/// Decodes bytes into ops: an opcode byte, then one or two key/value bytes. Keys are 0..512.
pub fn decode(bytes: &[u8]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut it = bytes.iter().copied();
    while let (Some(op), Some(a), Some(b)) = (it.next(), it.next(), it.next()) {
        let key = u16::from(a) | (u16::from(op >> 7) << 8);
        let val = u16::from(b & 3);
        ops.push(match op % 16 {
            0 => Op::Insert(key, val),
            1 | 2 | 8 => Op::InsertMut(key, val),
            3 => Op::Remove(key),
            4 | 9 => Op::RemoveMut(key),
            5 => Op::Get(key),
            6 if b & 1 == 0 => Op::Snapshot,
            6 => Op::Restore(u16::from(b >> 1)),
            7 => Op::EqCheck(key),
            10 => Op::InsertSame(key, val),
            11 => Op::GetMut(key, val),
            12 => Op::Retain(u16::from(b & 3)),
            13 => Op::Union(u16::from(b >> 1)),
            14 if b & 1 == 0 => Op::UnionRehashed(u16::from(b >> 1)),
            _ => Op::IntoIter,
        });
    }
    ops
}

/// Checks `map` against `model` completely.
fn check(map: &Map, model: &Model) {
    map.assert_valid();
    assert_eq!(map.len(), model.len(), "len");
    assert_eq!(map.is_empty(), model.is_empty(), "is_empty");
    for (k, v) in model {
        assert_eq!(map.get(k), Some(v), "get({k})");
    }
    let mut n = 0;
    for (k, v) in map.iter() {
        assert_eq!(model.get(k), Some(v), "iter yielded ({k}, {v})");
        n += 1;
    }
    assert_eq!(n, model.len(), "iter count");
    assert_eq!(map.iter().len(), model.len(), "iter len");
}

/// Applies `ops` to a `Hamt` and a `HashMap` model, asserting agreement after every step.
pub fn run(ops: &[Op]) {
    let hasher = FixedState::with_seed(0x5eed);
    let mut map: Map = Hamt::with_hasher(hasher.clone());
    let mut model = Model::new();
    let mut versions: Vec<(Map, Model)> = Vec::new();
    let mut seen: Vec<u16> = Vec::new();
    versions.push((map.clone(), model.clone()));
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Insert(k, v) => {
                let next = map.insert(k, v);
                assert!(!next.ptr_eq(&map), "insert({k}, {v}) returned the same map");
                versions.push((mem::replace(&mut map, next), model.clone()));
                model.insert(k, v);
                seen.push(k);
            }
            Op::InsertSame(k, v) => {
                let same = model.get(&k) == Some(&v);
                let next = map.insert_with(k, v, PartialEq::eq);
                assert_eq!(
                    next.ptr_eq(&map),
                    same,
                    "insert_with({k}, {v}, eq) ptr_eq iff value unchanged"
                );
                versions.push((mem::replace(&mut map, next), model.clone()));
                model.insert(k, v);
                seen.push(k);
            }
            Op::GetMut(k, v) => {
                let before = map.root.addr();
                match (map.get_mut(&k), model.get_mut(&k)) {
                    (Some(x), Some(y)) => {
                        assert_eq!(*x, *y, "get_mut({k})");
                        (*x, *y) = (v, v);
                    }
                    (None, None) => assert!(
                        map.root.addr() == before,
                        "get_mut of an absent key copied nodes"
                    ),
                    (x, y) => panic!("get_mut({k}): {x:?}, model {y:?}"),
                }
            }
            Op::Retain(m) => {
                let keep = |k: &u16, v: &u16| (k ^ v) % 4 != m;
                let mut seen_by_f = 0;
                map.retain(|k, v| {
                    seen_by_f += 1;
                    keep(k, v)
                });
                assert_eq!(seen_by_f, model.len(), "retain: f sees every entry once");
                model.retain(|k, v| keep(k, v));
            }
            Op::Union(i) | Op::UnionRehashed(i) => {
                let (other, other_model) = versions[usize::from(i) % versions.len()].clone();
                let rehashed;
                let other = if matches!(op, Op::UnionRehashed(_)) {
                    rehashed = other.iter().map(|(k, v)| (*k, *v)).collect::<Map>();
                    &rehashed
                } else {
                    &other
                };
                let next = map.union_with(other, |_, a, b| *a.max(b));
                versions.push((mem::replace(&mut map, next), model.clone()));
                for (k, v) in &other_model {
                    let e = model.entry(*k).or_insert(*v);
                    *e = (*e).max(*v);
                }
            }
            Op::IntoIter => {
                // The same hasher instance, so later unions with earlier versions still merge
                // node by node.
                let fresh = Hamt {
                    root: super::node::Node::empty(),
                    len: 0,
                    hasher: map.hasher.clone(),
                };
                let taken = mem::replace(&mut map, fresh);
                let it = taken.into_iter();
                assert_eq!(it.len(), model.len(), "into_iter len");
                let got: Vec<(u16, u16)> = it.collect();
                assert_eq!(got.len(), model.len(), "into_iter count");
                for &(k, v) in &got {
                    assert_eq!(model.get(&k), Some(&v), "into_iter yielded ({k}, {v})");
                    map.insert_mut(k, v);
                }
            }
            Op::InsertMut(k, v) => {
                assert_eq!(
                    map.insert_mut(k, v),
                    model.insert(k, v),
                    "insert_mut({k}, {v})"
                );
                seen.push(k);
            }
            Op::Remove(k) => {
                let (next, old) = map.remove_entry(&k);
                assert_eq!(old, model.remove_entry(&k), "remove_entry({k})");
                assert_eq!(
                    next.ptr_eq(&map),
                    old.is_none(),
                    "remove({k}) ptr_eq iff absent"
                );
                let mut before = model.clone();
                if let Some((k, v)) = &old {
                    before.insert(*k, *v);
                }
                versions.push((mem::replace(&mut map, next), before));
            }
            Op::RemoveMut(k) => {
                // No clone here: it would make the nodes shared and skip the in-place path.
                let before = map.root.addr();
                let old = map.remove_mut(&k);
                assert_eq!(old, model.remove(&k), "remove_mut({k})");
                if old.is_none() {
                    assert!(
                        map.root.addr() == before,
                        "remove_mut of an absent key copied nodes"
                    );
                }
            }
            Op::Get(k) => {
                assert_eq!(map.get(&k), model.get(&k), "get({k})");
                assert_eq!(
                    map.contains_key(&k),
                    model.contains_key(&k),
                    "contains_key({k})"
                );
                assert_eq!(
                    map.get_key_value(&k),
                    model.get_key_value(&k),
                    "get_key_value({k})"
                );
            }
            Op::Snapshot => versions.push((map.clone(), model.clone())),
            Op::Restore(i) => {
                let (m, md) = &versions[usize::from(i) % versions.len()];
                map = m.clone();
                model = md.clone();
            }
            Op::EqCheck(k) => {
                let mut other = map.clone();
                let had = other.remove_mut(&k);
                assert_eq!(other == map, had.is_none(), "== after remove_mut({k})");
                if let Some(v) = had {
                    other.insert_mut(k, v);
                }
                assert!(other == map, "== after removing and restoring {k}");
                assert!(
                    map == other,
                    "== (reversed) after removing and restoring {k}"
                );
            }
        }
        check(&map, &model);
        // Re-check one earlier version each step; all of them at the end.
        let (m, md) = &versions[step % versions.len()];
        check(m, md);
    }
    for (m, md) in &versions {
        check(m, md);
    }
    // Canonical form: the same key set built in other orders, and by deletions, is equal and
    // has the same shape.
    let mut entries: Vec<(u16, u16)> = model.iter().map(|(k, v)| (*k, *v)).collect();
    entries.sort_unstable();
    let mut up: Map = Hamt::with_hasher(hasher.clone());
    for &(k, v) in &entries {
        up.insert_mut(k, v);
    }
    let mut down: Map = Hamt::with_hasher(hasher.clone());
    for &(k, v) in entries.iter().rev() {
        down = down.insert(k, v);
    }
    let mut by_removal: Map = Hamt::with_hasher(hasher.clone());
    for &k in &seen {
        by_removal.insert_mut(k, 0);
    }
    for &k in &seen {
        if !model.contains_key(&k) {
            by_removal = by_removal.remove(&k);
        }
    }
    for &(k, v) in &entries {
        by_removal.insert_mut(k, v);
    }
    for other in [&up, &down, &by_removal] {
        check(other, &model);
        assert!(*other == map, "same key set, different order: not equal");
        assert!(
            map == *other,
            "same key set, different order: not equal (reversed)"
        );
        assert_eq!(
            other.shape(),
            map.shape(),
            "same key set, different order: other shape"
        );
    }
}
