//! Unit, structure, model (proptest), drop-counter and panic-safety tests.
//!
//! These run in the test configuration (`node::BITS = 3`, `node::HASH_BITS = 12`): 8-way nodes,
//! 4 bitmap levels, collision nodes at depth 4. The structure tests use [`Ck`], a key whose hash
//! the test chooses, hashed by [`Pass`], which passes it through unchanged.

use super::map::Hamt;
use super::node::{BITS, HASH_BITS, LEVELS};
use crate::support::hash::{ck, Ck, Pass};
use core::hash::{Hash, Hasher};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

/// Size of the larger unit tests (cut under Miri).
const BIG: u32 = if cfg!(miri) { 40 } else { 300 };

#[test]
fn test_configuration_is_narrow() {
    assert_eq!((BITS, HASH_BITS, LEVELS), (3, 12, 4));
}

type CMap = Hamt<Ck, u32, Pass>;

fn cmap(keys: &[Ck]) -> CMap {
    let mut m = CMap::with_hasher(Pass);
    for k in keys {
        m.insert_mut(*k, k.id);
    }
    m.assert_valid();
    m
}

/// Removing `k` from `m` gives a valid map with the shape of a map built from the rest.
fn remove_and_compare(m: &mut CMap, keys: &mut Vec<Ck>, k: Ck) {
    let persistent = m.remove(&k);
    assert_eq!(m.remove_mut(&k), Some(k.id));
    keys.retain(|x| *x != k);
    let fresh = cmap(keys);
    for x in [&*m, &persistent] {
        x.assert_valid();
        assert_eq!(x.shape(), fresh.shape(), "after removing {k:?}");
        assert_eq!(*x, fresh);
    }
}

// ---- unit tests, one or more per method ----

#[test]
fn new_len_is_empty_default() {
    let m: Hamt<u32, u32> = Hamt::new();
    assert!(m.is_empty());
    assert_eq!(m.len(), 0);
    let d: Hamt<u32, u32> = Hamt::default();
    assert!(d.is_empty() && d == m);
    assert_eq!(m.iter().next(), None);
    m.assert_valid();
}

#[test]
fn with_hasher_and_hasher() {
    let m = Hamt::with_hasher(Pass).insert(ck(1, 5), 1);
    let _: &Pass = m.hasher();
    assert_eq!(m.get(&ck(1, 5)), Some(&1));
    assert_eq!(m.shape(), vec![(0, 1 << 5, 0, 1)]);
}

#[test]
fn get_family_with_borrow() {
    let m: Hamt<String, u32> = ["a", "b", "c"]
        .iter()
        .map(|s| (s.to_string(), s.len() as u32))
        .collect();
    assert_eq!(m.get("a"), Some(&1));
    assert_eq!(m.get("z"), None);
    assert_eq!(m.get_key_value("b"), Some((&"b".to_string(), &1)));
    assert!(m.contains_key("c") && !m.contains_key("d"));
    assert_eq!(m["c"], 1);
}

#[test]
#[should_panic(expected = "key not present")]
fn index_panics_on_absent_key() {
    let m: Hamt<u32, u32> = Hamt::new();
    let _ = m[&3];
}

#[test]
fn insert_is_persistent_and_ptr_eq_on_same_value() {
    let a = Hamt::new().insert(1u32, 10u32);
    let b = a.insert(1, 11);
    let c = b.insert(2, 20);
    assert_eq!((a[&1], b[&1], c[&1], c[&2]), (10, 11, 11, 20));
    assert_eq!((a.len(), b.len(), c.len()), (1, 1, 2));
    // `insert` never compares values: the same value still gives a new map.
    let d = c.insert(2, 20);
    assert!(!d.ptr_eq(&c));
    assert_eq!(d, c);
    // `insert_with` with `==` keeps the map when the value is already there.
    assert!(c.insert_with(2, 20, PartialEq::eq).ptr_eq(&c));
    assert!(!c.insert_with(2, 21, PartialEq::eq).ptr_eq(&c));
    assert!(c.clone().ptr_eq(&c));
}

#[test]
fn insert_needs_no_partial_eq_on_values() {
    use std::sync::Arc;
    let f: Arc<dyn Fn() -> u32 + Send + Sync> = Arc::new(|| 7);
    let m = Hamt::new().insert("f", f.clone());
    let m2 = m.insert("f", f.clone());
    assert!(!m2.ptr_eq(&m));
    assert!(m2.insert_with("f", f, Arc::ptr_eq).ptr_eq(&m2));
    assert_eq!(m2["f"](), 7);
}

#[test]
fn insert_with_chooses_the_equality() {
    let v = Rc::new(1);
    let a = Hamt::new().insert_with(1u8, v.clone(), |_, _| false);
    assert!(a.insert_with(1, v.clone(), Rc::ptr_eq).ptr_eq(&a));
    assert!(!a.insert_with(1, Rc::new(1), Rc::ptr_eq).ptr_eq(&a));
    assert!(!a.insert_with(1, v, |_, _| false).ptr_eq(&a));
}

#[test]
fn insert_mut_and_remove_mut() {
    let mut m = Hamt::new();
    for i in 0..BIG {
        assert_eq!(m.insert_mut(i, i), None);
    }
    let snap = m.clone();
    for i in 0..BIG {
        assert_eq!(m.insert_mut(i, i + 1), Some(i));
    }
    m.assert_valid();
    for i in 0..BIG {
        assert_eq!(snap[&i], i);
        assert_eq!(m.remove_mut(&i), Some(i + 1));
        assert_eq!(m.remove_mut(&i), None);
    }
    assert!(m.is_empty());
    m.assert_valid();
    snap.assert_valid();
    assert_eq!(snap.len(), BIG as usize);
}

#[test]
fn remove_and_remove_entry() {
    let a: Hamt<u32, u32> = (0..50).map(|i| (i, i * 2)).collect();
    let (b, e) = a.remove_entry(&7);
    assert_eq!(e, Some((7, 14)));
    assert_eq!((a.len(), b.len()), (50, 49));
    assert!(b.remove(&7).ptr_eq(&b));
    assert_eq!(b.remove_entry(&7).1, None);
    let empty = (0..50).fold(a.clone(), |m, i| m.remove(&i));
    assert!(empty.is_empty());
    assert_eq!(empty.shape(), vec![(0, 0, 0, 0)]);
}

#[test]
fn iter_keys_values_agree() {
    let m: Hamt<u32, u32> = (0..BIG).map(|i| (i, i + 1000)).collect();
    let mut ks: Vec<u32> = m.keys().copied().collect();
    ks.sort_unstable();
    assert_eq!(ks, (0..BIG).collect::<Vec<_>>());
    assert_eq!(
        m.values().map(|v| v - 1000).sum::<u32>(),
        (0..BIG).sum::<u32>()
    );
    assert_eq!(m.iter().len(), BIG as usize);
    assert_eq!((&m).into_iter().count(), BIG as usize);
    let order: Vec<_> = m.iter().collect();
    assert_eq!(order, m.clone().iter().collect::<Vec<_>>());
    assert!(format!("{:?}", m.keys()).starts_with('['));
    assert!(format!("{:?}", m.values()).starts_with('['));
}

#[test]
fn eq_and_hash_across_hashers() {
    use std::collections::hash_map::DefaultHasher as StdHasher;
    let a: Hamt<u32, u32> = (0..BIG / 3).map(|i| (i, i)).collect();
    let b: Hamt<u32, u32> = (0..BIG / 3).rev().map(|i| (i, i)).collect(); // another random seed
    assert_eq!(a, b);
    let h = |m: &Hamt<u32, u32>| {
        let mut s = StdHasher::new();
        m.hash(&mut s);
        s.finish()
    };
    assert_eq!(h(&a), h(&b));
    assert_ne!(a, b.insert(5, 6));
    assert_ne!(a, b.remove(&5));
    assert_ne!(h(&a), h(&b.insert(5, 6)));
    let c = a.insert(5, 6).insert(5, 5);
    assert!(!c.ptr_eq(&a));
    assert_eq!(a, c);
}

#[test]
fn debug_and_extend() {
    let mut m = Hamt::new().insert(1, "x");
    m.extend([(2, "y"), (1, "z")]);
    assert_eq!(m.len(), 2);
    assert_eq!(m[&1], "z");
    let s = format!("{m:?}");
    assert!(s.contains("1: \"z\"") && s.contains("2: \"y\""), "{s}");
}

#[test]
#[cfg(not(loopkit_loom))] // loom threads exist only inside a model
fn send_sync_and_cross_thread() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Hamt<String, Vec<u8>>>();
    let m: Hamt<u32, u32> = (0..100).map(|i| (i, i)).collect();
    let m2 = m.clone();
    let h = crate::loom::thread::spawn(move || {
        let mut m2 = m2;
        m2.insert_mut(1000, 1);
        m2.len()
    });
    assert_eq!(h.join().unwrap(), 101);
    assert_eq!(m.len(), 100);
}

#[test]
#[should_panic(expected = "len:")]
fn assert_valid_catches_a_wrong_len() {
    let mut m = Hamt::new().insert(1u32, 1u32);
    m.len = 2;
    m.assert_valid();
}

#[test]
#[should_panic(expected = "non-root node with 1 entries")]
fn assert_valid_catches_a_one_entry_sub_node() {
    use super::node::{hash_key, Builder, Entry};
    let m = cmap(&[ck(1, 0), ck(2, 8)]); // one sub-node at root slot 0 holding both
                                         // The same map with key 1 removed but the sub-node not pulled back into the root.
    let mut child = Builder::new(1 << 1, 0, 1, 0);
    child.entry(Entry {
        hash: hash_key(&Pass, &ck(2, 8)),
        key: ck(2, 8),
        value: 2,
    });
    let mut root = Builder::new(0, 1, 0, 1);
    root.child(child.finish());
    let root = root.finish();
    let bad = CMap {
        root,
        len: 1,
        hasher: m.hasher.clone(),
    };
    bad.assert_valid();
}

// ---- structure tests with chosen hashes ----

#[test]
fn three_keys_one_hash_make_a_collision_node() {
    let keys = [ck(1, 0xabc), ck(2, 0xabc), ck(3, 0xabc)];
    let m = cmap(&keys);
    assert_eq!(m.depth(), LEVELS);
    let shape = m.shape();
    assert_eq!(shape.last(), Some(&(LEVELS, 0, 0, 3)), "{shape:?}");
    assert_eq!(
        shape.len(),
        LEVELS as usize + 1,
        "a single path down to the collision node"
    );
    for k in &keys {
        assert_eq!(m.get(k), Some(&k.id));
    }
    assert_eq!(m.get(&ck(4, 0xabc)), None);
    // Delete through the collision node back to the root.
    let mut keys = keys.to_vec();
    let mut mm = m.clone();
    remove_and_compare(&mut mm, &mut keys, ck(2, 0xabc));
    assert_eq!(mm.depth(), LEVELS);
    remove_and_compare(&mut mm, &mut keys, ck(1, 0xabc));
    assert_eq!(
        mm.shape(),
        vec![(0, 1 << 4, 0, 1)],
        "last key back inline at the root"
    );
    remove_and_compare(&mut mm, &mut keys, ck(3, 0xabc));
    assert!(mm.is_empty());
    assert_eq!(m.len(), 3, "the original is untouched");
    m.assert_valid();
}

#[test]
fn deepest_path_and_back() {
    // Hashes equal in the low 9 bits and different in the last level's slot.
    let (a, b) = (ck(1, 0o0000), ck(2, 0o7000));
    let m = cmap(&[a, b]);
    assert_eq!(m.depth(), LEVELS - 1);
    assert_eq!(
        m.shape(),
        vec![
            (0, 0, 1, 0),
            (1, 0, 1, 0),
            (2, 0, 1, 0),
            (3, 1 | 1 << 7, 0, 2)
        ]
    );
    let mut keys = vec![a, b];
    let mut mm = m.clone();
    remove_and_compare(&mut mm, &mut keys, a);
    assert_eq!(mm.shape(), vec![(0, 1, 0, 1)]);
    assert_eq!(m.depth(), LEVELS - 1);
}

#[test]
fn deletes_through_collision_and_sub_node_paths() {
    let all = [
        ck(1, 0o0000),
        ck(2, 0o0000), // collides with 1
        ck(3, 0o7000), // deepest split from 1 and 2
        ck(4, 0o0010), // splits at depth 1
        ck(5, 0o0001), // root slot 1
        ck(6, 0o0100), // splits at depth 2
    ];
    // Every removal order of a few prefixes: each step equals a fresh build of the rest.
    let orders: [[usize; 6]; 4] = [
        [0, 1, 2, 3, 4, 5],
        [5, 4, 3, 2, 1, 0],
        [2, 0, 4, 1, 5, 3],
        [1, 3, 5, 0, 2, 4],
    ];
    for order in orders {
        let mut keys = all.to_vec();
        let mut m = cmap(&keys);
        assert_eq!(m.depth(), LEVELS);
        for i in order {
            remove_and_compare(&mut m, &mut keys, all[i]);
        }
        assert_eq!(m.shape(), vec![(0, 0, 0, 0)]);
    }
}

#[test]
fn seventeen_keys_around_node_boundaries() {
    // Hash i: keys 0..8 fill the root's 8 slots inline; 8..16 turn each slot into a sub-node of
    // two; 16 makes the first sub-node hold three.
    let keys: Vec<Ck> = (0..17).map(|i| ck(i, u64::from(i))).collect();
    let mut m = CMap::with_hasher(Pass);
    for (n, k) in keys.iter().enumerate() {
        m = m.insert(*k, k.id);
        m.assert_valid();
        let root = m.shape()[0];
        let n = n + 1;
        let inline = if n <= 8 { n } else { 16usize.saturating_sub(n) };
        assert_eq!(root.3, inline, "{n} keys: root inline entries");
        assert_eq!(
            root.2.count_ones() as usize,
            n.saturating_sub(8).min(8),
            "{n} keys: sub-nodes"
        );
        for k in &keys[..n] {
            assert_eq!(m.get(k), Some(&k.id));
        }
    }
    assert_eq!(m.shape()[1], (1, 0b111, 0, 3));
    // Remove in both directions; each step equals a fresh build of what is left.
    for rev in [false, true] {
        let mut left = keys.clone();
        let mut mm = m.clone();
        let order: Vec<Ck> = if rev {
            keys.iter().rev().copied().collect()
        } else {
            keys.clone()
        };
        for k in order {
            remove_and_compare(&mut mm, &mut left, k);
        }
        assert!(mm.is_empty());
    }
}

#[test]
fn thrash_at_a_boundary() {
    let base: Vec<Ck> = (0..8).map(|i| ck(i, u64::from(i))).collect();
    let m = cmap(&base);
    let full = m.shape();
    let extra = ck(100, 8); // splits root slot 0 into a sub-node
    let mut cur = m.clone();
    let mut versions = Vec::new();
    for round in 0..if cfg!(miri) { 20 } else { 200 } {
        if round % 2 == 0 {
            cur.insert_mut(extra, 1);
            assert_eq!(cur.shape()[0].2, 1, "split");
        } else {
            cur = cur.remove(&extra);
            assert_eq!(cur.shape(), full, "merged back");
        }
        cur.assert_valid();
        if round % 10 == 0 {
            versions.push((cur.clone(), cur.contains_key(&extra)));
        }
    }
    for (v, has) in versions {
        assert_eq!(v.contains_key(&extra), has);
        assert_eq!(v.len(), 8 + usize::from(has));
        v.assert_valid();
    }
    assert_eq!(m.shape(), full);
}

#[test]
fn in_place_removes_leave_spare_slots_that_inserts_reuse() {
    let keys: Vec<Ck> = (0..8).map(|i| ck(i, u64::from(i))).collect(); // 8 entries in the root
    let mut m = cmap(&keys);
    let exact = m.root.capacity().0;
    let at = |m: &CMap| m.root.addr();
    let p0 = at(&m);
    m.remove_mut(&keys[3]);
    m.remove_mut(&keys[5]);
    assert_eq!(
        (m.root.capacity().0, at(&m)),
        (exact, p0),
        "two removes in place, two spare slots"
    );
    m.assert_valid();
    assert_eq!(
        m,
        cmap(&[keys[0], keys[1], keys[2], keys[4], keys[6], keys[7]])
    );
    assert_eq!(m.iter().count(), 6);
    m.insert_mut(keys[5], 5);
    assert_eq!(
        (m.root.capacity().0, at(&m)),
        (exact, p0),
        "an insert fills a spare slot in place"
    );
    m.remove_mut(&keys[5]);
    m.remove_mut(&keys[0]); // a third spare: the node shrinks to exact size
    assert_eq!(m.root.capacity().0, exact - 3);
    m.assert_valid();
    let rest = [keys[1], keys[2], keys[4], keys[6], keys[7]];
    assert_eq!(m, cmap(&rest));
    assert_eq!(m.shape(), cmap(&rest).shape());
    for k in [keys[0], keys[3], keys[5]] {
        m.insert_mut(k, k.id);
    }
    assert_eq!(m, cmap(&keys));
    m.assert_valid();
}

#[test]
fn shared_nodes_are_copied_not_changed() {
    let keys: Vec<Ck> = (0..40).map(|i| ck(i, u64::from(i) * 37 % 4096)).collect();
    let a = cmap(&keys);
    let mut b = a.clone();
    for k in &keys[..20] {
        b.remove_mut(k);
        b.insert_mut(ck(k.id + 1000, k.hash), 0);
    }
    b.assert_valid();
    for k in &keys {
        assert_eq!(a.get(k), Some(&k.id));
    }
    assert_eq!(a, cmap(&keys));
}

// ---- model test (proptest) ----

#[cfg(not(loopkit_loom))]
mod model {
    use crate::hamt::model::{self, Op};
    use proptest::prelude::*;

    fn op() -> impl Strategy<Value = Op> {
        let key = 0u16..512;
        prop_oneof![
            3 => (key.clone(), 0u16..4).prop_map(|(k, v)| Op::Insert(k, v)),
            4 => (key.clone(), 0u16..4).prop_map(|(k, v)| Op::InsertMut(k, v)),
            2 => key.clone().prop_map(Op::Remove),
            3 => key.clone().prop_map(Op::RemoveMut),
            1 => key.clone().prop_map(Op::Get),
            1 => Just(Op::Snapshot),
            1 => any::<u16>().prop_map(Op::Restore),
            1 => key.clone().prop_map(Op::EqCheck),
            1 => (key.clone(), 0u16..4).prop_map(|(k, v)| Op::InsertSame(k, v)),
            2 => (key, 0u16..4).prop_map(|(k, v)| Op::GetMut(k, v)),
            1 => (0u16..4).prop_map(Op::Retain),
            1 => any::<u16>().prop_map(Op::Union),
            1 => any::<u16>().prop_map(Op::UnionRehashed),
            1 => Just(Op::IntoIter),
        ]
    }

    const CASES: u32 = if cfg!(miri) { 2 } else { 128 };
    const LEN: usize = if cfg!(miri) { 12 } else { 120 };

    proptest! {
        #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn agrees_with_hashmap(ops in proptest::collection::vec(op(), 0..LEN)) {
            model::run(&ops);
        }
    }

    #[test]
    fn decode_round_trip_runs() {
        let n: u32 = if cfg!(miri) { 90 } else { 600 };
        let bytes: Vec<u8> = (0..n)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let ops = model::decode(&bytes);
        assert_eq!(ops.len(), n as usize / 3);
        model::run(&ops);
    }
}

// ---- drop counters and panic safety ----

/// Shared state of the instrumented type: creation/drop ledger and traps.
#[derive(Default)]
struct Ctx {
    next_serial: Cell<u64>,
    live: RefCell<HashSet<u64>>,
    created: Cell<usize>,
    trap_hash: Cell<Option<u32>>,
    trap_eq: Cell<Option<u32>>,
    /// Panic on the clone that brings this to zero.
    clone_countdown: Cell<Option<u32>>,
    /// Panic in the drop of this id (after the ledger has recorded the drop).
    trap_drop: Cell<Option<u32>>,
    /// Run (once) at the start of the next clone: user code that drops another map.
    on_clone: RefCell<Option<Box<dyn FnOnce()>>>,
}

/// A key or value that records every creation and drop, and panics when its trap is set.
struct T {
    id: u32,
    hash: u64,
    serial: u64,
    ctx: Rc<Ctx>,
}

impl T {
    fn new(ctx: &Rc<Ctx>, id: u32, hash: u64) -> T {
        let serial = ctx.next_serial.get();
        ctx.next_serial.set(serial + 1);
        ctx.created.set(ctx.created.get() + 1);
        assert!(ctx.live.borrow_mut().insert(serial));
        T {
            id,
            hash,
            serial,
            ctx: ctx.clone(),
        }
    }
}
impl Clone for T {
    fn clone(&self) -> T {
        let hook = self.ctx.on_clone.borrow_mut().take();
        if let Some(hook) = hook {
            hook();
        }
        if let Some(n) = self.ctx.clone_countdown.get() {
            self.ctx.clone_countdown.set(Some(n.saturating_sub(1)));
            if n <= 1 {
                self.ctx.clone_countdown.set(None);
                panic!("trap: clone");
            }
        }
        T::new(&self.ctx, self.id, self.hash)
    }
}
impl Drop for T {
    fn drop(&mut self) {
        assert!(
            self.ctx.live.borrow_mut().remove(&self.serial),
            "serial {} dropped twice",
            self.serial
        );
        if self.ctx.trap_drop.get() == Some(self.id) && !std::thread::panicking() {
            self.ctx.trap_drop.set(None);
            panic!("trap: drop");
        }
    }
}
impl PartialEq for T {
    fn eq(&self, other: &T) -> bool {
        if self
            .ctx
            .trap_eq
            .get()
            .is_some_and(|id| id == self.id || id == other.id)
        {
            panic!("trap: eq");
        }
        self.id == other.id
    }
}
impl Eq for T {}
impl Hash for T {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if self.ctx.trap_hash.get() == Some(self.id) {
            panic!("trap: hash");
        }
        state.write_u64(self.hash);
    }
}

type TMap = Hamt<T, T, Pass>;

/// Arms one trap.
type Arm = Box<dyn Fn(&Ctx)>;

fn tmap(ctx: &Rc<Ctx>, ids: &[(u32, u64)]) -> TMap {
    let mut m = TMap::with_hasher(Pass);
    for &(id, h) in ids {
        m.insert_mut(T::new(ctx, id, h), T::new(ctx, id + 1000, 0));
    }
    m
}

fn ids_of(m: &TMap) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = m.iter().map(|(k, v)| (k.id, v.id)).collect();
    v.sort_unstable();
    v
}

/// Keys with collisions, a deep path and sub-nodes.
const IDS: [(u32, u64); 8] = [
    (1, 0),
    (2, 0),
    (3, 0o7000),
    (4, 0o10),
    (5, 1),
    (6, 0o100),
    (7, 0o777),
    (8, 0o1777),
];

#[test]
fn every_key_and_value_dropped_once() {
    let ctx = Rc::new(Ctx::default());
    {
        let a = tmap(&ctx, &IDS);
        let b = a.insert(T::new(&ctx, 50, 0o50), T::new(&ctx, 51, 0));
        let mut c = b.clone();
        c.remove_mut(&T::new(&ctx, 1, 0));
        c.insert_mut(T::new(&ctx, 2, 0), T::new(&ctx, 99, 0));
        let (d, e) = c.remove_entry(&T::new(&ctx, 3, 0o7000));
        assert!(e.is_some());
        let f = d.insert(T::new(&ctx, 3, 0o7000), T::new(&ctx, 3, 0));
        let mut g = f.clone();
        for (id, h) in IDS {
            g.remove_mut(&T::new(&ctx, id, h));
        }
        assert_eq!(g.len(), 1);
        drop((a, b, f));
        assert_eq!(c.len(), IDS.len());
        assert!(!ctx.live.borrow().is_empty());
    }
    assert!(
        ctx.live.borrow().is_empty(),
        "leaked: {:?}",
        ctx.live.borrow()
    );
    assert!(ctx.created.get() > 40);
}

/// Runs `f` with a trap armed; it must panic. Then checks that `maps` still hold `expect`.
fn expect_panic(ctx: &Rc<Ctx>, arm: impl Fn(&Ctx), f: impl FnOnce()) {
    arm(ctx);
    let r = catch_unwind(AssertUnwindSafe(f));
    ctx.trap_hash.set(None);
    ctx.trap_eq.set(None);
    ctx.clone_countdown.set(None);
    assert!(r.is_err(), "the trap did not fire");
}

#[test]
fn panics_in_hash_eq_clone_leave_maps_intact() {
    let ctx = Rc::new(Ctx::default());
    {
        let unique0 = tmap(&ctx, &IDS);
        let want = ids_of(&unique0);
        let mut unique = unique0;
        let shared = tmap(&ctx, &IDS);
        let mut sharer = shared.clone();
        let arms: Vec<Arm> = vec![
            // Key 2 (hash 0) is compared with key 1, which has the same full hash. (Key 13 is
            // never compared with key 5, in the slot it splits: their stored hashes differ.)
            Box::new(|c: &Ctx| c.trap_eq.set(Some(1))),
            Box::new(|c: &Ctx| c.trap_hash.set(Some(13))),
            Box::new(|c: &Ctx| c.trap_eq.set(Some(2))),
            Box::new(|c: &Ctx| c.trap_eq.set(Some(13))),
        ];
        let new_key = |id| T::new(&ctx, id, if id == 13 { 0o11 } else { 0 });
        let mut fired = 0;
        // Under Miri (slow unwinding) only the first trap and two clone points.
        let n_arms = if cfg!(miri) { 1 } else { arms.len() };
        for arm in &arms[..n_arms] {
            for target in [13, 2] {
                for m in [&mut unique, &mut sharer] {
                    if expect_or_not(&ctx, arm, || m.insert_mut(new_key(target), new_key(77))) {
                        fired += 1;
                        m.assert_valid();
                        assert_eq!(ids_of(m), want, "insert_mut panicked and changed the map");
                    }
                    // Undo what a successful insert changed, so the next round starts equal.
                    m.insert_mut(new_key(2), T::new(&ctx, 1002, 0));
                    m.remove_mut(&new_key(13));
                    assert_eq!(ids_of(m), want);
                }
                fired += usize::from(expect_or_not(&ctx, arm, || {
                    drop(shared.insert(new_key(target), new_key(77)))
                }));
                assert_eq!(ids_of(&shared), want);
            }
        }
        assert!(fired >= 2 * n_arms, "only {fired} traps fired");
        // Clone panics at each point of a persistent update and an update of a shared map.
        let mut fired = 0;
        let clone_points = if cfg!(miri) { 3 } else { 12 };
        for n in 1..clone_points {
            let arm = move |c: &Ctx| c.clone_countdown.set(Some(n));
            fired += usize::from(expect_or_not(&ctx, &arm, || {
                drop(shared.insert(new_key(2), new_key(77)))
            }));
            fired += usize::from(expect_or_not(&ctx, &arm, || {
                drop(shared.remove(&new_key(3)))
            }));
            let mut s2 = shared.clone();
            if expect_or_not(&ctx, &arm, || s2.remove_mut(&T::new(&ctx, 3, 0o7000))) {
                fired += 1;
                assert_eq!(ids_of(&s2), want);
            }
            s2.assert_valid();
            assert_eq!(ids_of(&shared), want);
        }
        assert!(
            fired >= clone_points as usize / 2,
            "only {fired} clone traps fired"
        );
        for m in [&unique, &shared, &sharer] {
            m.assert_valid();
            assert_eq!(ids_of(m), want);
        }
        // A trap that certainly fires: hashing the key of an insert.
        expect_panic(
            &ctx,
            |c| c.trap_hash.set(Some(9)),
            || drop(shared.insert(new_key(9), new_key(9))),
        );
        assert_eq!(ids_of(&shared), want);
    }
    assert!(
        ctx.live.borrow().is_empty(),
        "leaked: {:?}",
        ctx.live.borrow()
    );
}

/// Runs `f` with a trap armed and disarms it afterwards; returns whether `f` panicked.
fn expect_or_not<R>(ctx: &Rc<Ctx>, arm: &dyn Fn(&Ctx), f: impl FnOnce() -> R) -> bool {
    arm(ctx);
    let r = catch_unwind(AssertUnwindSafe(f));
    ctx.trap_hash.set(None);
    ctx.trap_eq.set(None);
    ctx.clone_countdown.set(None);
    r.is_err()
}

// ---- stored hashes: `Eq` only on full-hash matches, `Hash` once per operation ----

thread_local! {
    static EQ_CALLS: Cell<usize> = const { Cell::new(0) };
    static HASH_CALLS: Cell<usize> = const { Cell::new(0) };
}

/// A key that counts its `Eq` and `Hash` calls (hash chosen by the test, through [`Pass`]).
#[derive(Clone, Copy, Debug)]
struct Counted(u32, u64);
impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        EQ_CALLS.with(|c| c.set(c.get() + 1));
        self.0 == other.0
    }
}
impl Eq for Counted {}
impl Hash for Counted {
    fn hash<H: Hasher>(&self, state: &mut H) {
        HASH_CALLS.with(|c| c.set(c.get() + 1));
        state.write_u64(self.1);
    }
}

fn calls() -> (usize, usize) {
    (EQ_CALLS.with(Cell::get), HASH_CALLS.with(Cell::get))
}

#[test]
fn eq_is_called_only_on_full_hash_matches() {
    // 64 keys, distinct hashes that share low bits, so slots split and sub-nodes form.
    let keys: Vec<Counted> = (0..64u32)
        .map(|i| Counted(i, u64::from(i) * 0o10 % (1 << HASH_BITS)))
        .collect();
    let (e0, h0) = calls();
    let mut m = Hamt::with_hasher(Pass);
    for &k in &keys {
        m.insert_mut(k, k.0);
    }
    let p = keys
        .iter()
        .fold(Hamt::with_hasher(Pass), |m, &k| m.insert(k, k.0));
    let (e1, h1) = calls();
    assert_eq!(
        e1 - e0,
        0,
        "Eq called while inserting keys with distinct hashes"
    );
    assert_eq!(
        h1 - h0,
        2 * keys.len(),
        "Hash called other than once per insert"
    );
    m.assert_valid();
    // A miss whose hash differs from the resident's compares nothing.
    assert_eq!(m.get(&Counted(999, 0o10 * 64 % (1 << HASH_BITS) + 1)), None);
    assert_eq!(calls().0, e1, "Eq called on a miss with a different hash");
    // A hit, a replacement and a remove each compare exactly once.
    assert_eq!(m.get(&keys[5]), Some(&5));
    assert_eq!(m.insert_mut(keys[6], 60), Some(6));
    assert_eq!(m.remove_mut(&keys[7]), Some(7));
    let p = p.remove(&keys[7]);
    assert_eq!(calls().0 - e1, 4, "one Eq per hit");
    // Equal full hashes (a collision) are compared.
    let e2 = calls().0;
    m.insert_mut(Counted(100, keys[9].1), 0);
    assert_eq!(calls().0 - e2, 1, "a collision compares with the resident");
    drop(p);
}

#[test]
fn empty_maps_share_the_static_root_and_never_change_it() {
    let a: Hamt<u32, u32> = Hamt::new();
    let b: Hamt<u32, u32> = Hamt::new();
    assert!(a.root.addr() == b.root.addr(), "empty roots are one static");
    let mut c = a.clone();
    c.insert_mut(1, 1);
    assert!(
        c.root.addr() != a.root.addr(),
        "insert_mut copies the static root"
    );
    assert!(a.is_empty() && b.is_empty() && a.get(&1).is_none());
    assert_eq!(c.remove_mut(&1), Some(1));
    assert!(c.is_empty());
    c.assert_valid();
    assert_eq!(a, c);
}

#[test]
fn split_and_collapse_in_place_reuse_spare_slots() {
    // Root entries at slots 0..4; key 9 (hash 0o11) splits slot 1, removing it collapses back.
    let keys: Vec<Ck> = (0..4).map(|i| ck(i, u64::from(i))).collect();
    let mut m = cmap(&keys);
    let k = ck(9, 0o11);
    m.insert_mut(k, 9); // first split: the child array grows, one entry slot is left spare
    m.assert_valid();
    assert_eq!(m.root.capacity(), (4, 1));
    let at = m.root.addr();
    for _ in 0..3 {
        assert_eq!(m.remove_mut(&k), Some(9)); // collapse into the spare entry slot
        assert_eq!((m.root.capacity(), m.root.addr()), ((4, 1), at));
        m.assert_valid();
        m.insert_mut(k, 9); // split into the spare child slot
        assert_eq!((m.root.capacity(), m.root.addr()), ((4, 1), at));
        m.assert_valid();
    }
    assert_eq!(
        m.shape(),
        cmap(&[keys[0], keys[1], keys[2], keys[3], k]).shape()
    );
}

#[test]
#[should_panic(expected = "stored hash is not the key's hash")]
fn assert_valid_catches_a_wrong_stored_hash() {
    use super::node::{Builder, Entry};
    let mut root = Builder::new(1, 0, 1, 0);
    root.entry(Entry {
        hash: 0,
        key: ck(1, 8),
        value: 1,
    });
    let bad = CMap {
        root: root.finish(),
        len: 1,
        hasher: crate::loom::Arc::new(Pass),
    };
    bad.assert_valid();
}

// ---- get_mut, retain, union_with, into_iter, From ----

#[test]
fn from_array_and_into_iter() {
    let m = Hamt::from([(1u32, 10u32), (2, 20), (1, 11)]);
    assert_eq!((m.len(), m[&1], m[&2]), (2, 11, 20));
    let big: Hamt<u32, u32> = (0..BIG).map(|i| (i, i)).collect();
    let keep = big.clone();
    let mut got: Vec<(u32, u32)> = big.into_iter().collect();
    got.sort_unstable();
    assert_eq!(got, (0..BIG).map(|i| (i, i)).collect::<Vec<_>>());
    keep.assert_valid();
    assert_eq!(keep.len(), BIG as usize);
    let mut it = keep.clone().into_iter();
    assert_eq!(it.len(), BIG as usize);
    it.next();
    assert_eq!(it.size_hint(), (BIG as usize - 1, Some(BIG as usize - 1)));
}

#[test]
fn into_iter_moves_owned_entries_and_clones_shared_ones() {
    let ctx = Rc::new(Ctx::default());
    {
        // Owned alone: every entry is moved out, nothing is cloned.
        let m = tmap(&ctx, &IDS);
        let created = ctx.created.get();
        let got: Vec<(u32, u32)> = m.into_iter().map(|(k, v)| (k.id, v.id)).collect();
        assert_eq!(got.len(), IDS.len());
        assert_eq!(
            ctx.created.get(),
            created,
            "an owned map's entries were cloned"
        );
        // Shared with another map: cloned, and the other map keeps its entries.
        let m = tmap(&ctx, &IDS);
        let other = m.clone();
        let created = ctx.created.get();
        let mut got: Vec<(u32, u32)> = m.into_iter().map(|(k, v)| (k.id, v.id)).collect();
        got.sort_unstable();
        assert_eq!(got, ids_of(&other));
        assert_eq!(ctx.created.get(), created + 2 * IDS.len());
        other.assert_valid();
        // Dropped half-way: the rest is dropped once.
        let m = tmap(&ctx, &IDS);
        let mut it = m.into_iter();
        drop(it.next());
        drop(it);
        // A panicking `Clone` on the shared path leaves the iterator and the other map usable.
        let m = tmap(&ctx, &IDS);
        let other = m.clone();
        let mut it = m.into_iter();
        expect_panic(&ctx, |c| c.clone_countdown.set(Some(1)), || drop(it.next()));
        assert_eq!(it.count(), IDS.len());
        assert_eq!(ids_of(&other).len(), IDS.len());
    }
    assert!(
        ctx.live.borrow().is_empty(),
        "leaked: {:?}",
        ctx.live.borrow()
    );
}

#[test]
fn get_mut_copies_only_shared_nodes_and_nothing_on_a_miss() {
    let keys: Vec<Ck> = (0..BIG).map(|i| ck(i, u64::from(i) * 7)).collect();
    let mut m = cmap(&keys);
    let root = m.root.addr();
    *m.get_mut(&keys[5]).unwrap() += 1000;
    assert_eq!(m.root.addr(), root, "a unique map was copied");
    let snapshot = m.clone();
    assert_eq!(m.get_mut(&ck(9999, 5)), None);
    assert!(m.ptr_eq(&snapshot), "a miss copied nodes");
    *m.get_mut(&keys[7]).unwrap() = 1;
    assert!(!m.ptr_eq(&snapshot));
    assert_eq!((m[&keys[7]], snapshot[&keys[7]]), (1, 7));
    assert_eq!((m[&keys[5]], snapshot[&keys[5]]), (1005, 1005));
    // Children off the changed path are still shared.
    let shared = m
        .root
        .children()
        .iter()
        .zip(snapshot.root.children())
        .filter(|(a, b)| super::node::Node::ptr_eq(a, b))
        .count();
    assert!(shared + 1 >= m.root.children().len());
    m.assert_valid();
    snapshot.assert_valid();
    // Keys of one full hash (a collision node).
    let mut c = cmap(&[ck(1, 0), ck(2, 0), ck(3, 0)]);
    let c0 = c.clone();
    *c.get_mut(&ck(2, 0)).unwrap() = 42;
    assert_eq!(c.get_mut(&ck(4, 0)), None);
    assert_eq!((c[&ck(2, 0)], c0[&ck(2, 0)]), (42, 2));
    c.assert_valid();
}

#[test]
fn retain_keeps_what_f_accepts() {
    let keys: Vec<Ck> = (0..BIG).map(|i| ck(i, u64::from(i) % 64)).collect();
    let mut m = cmap(&keys);
    let before = m.clone();
    m.retain(|k, _| k.id % 3 == 0);
    m.assert_valid();
    let kept: Vec<Ck> = keys.iter().copied().filter(|k| k.id % 3 == 0).collect();
    assert_eq!(m, cmap(&kept));
    assert_eq!(m.shape(), cmap(&kept).shape());
    assert_eq!(before.len(), keys.len());
    before.assert_valid();
    m.retain(|_, _| false);
    assert!(m.is_empty());
    m.assert_valid();
}

#[test]
fn union_with_merges_and_shares_common_subtrees() {
    let keys: Vec<Ck> = (0..BIG).map(|i| ck(i, u64::from(i) * 13)).collect();
    let a = cmap(&keys);
    let mut b = a.clone();
    b.insert_mut(keys[3], 1000);
    b.insert_mut(ck(5000, 0o7777), 1);
    b.remove_mut(&keys[9]);
    let mut calls = 0;
    let u = a.union_with(&b, |_, x, y| {
        calls += 1;
        if x == y {
            *x
        } else {
            x + y
        }
    });
    u.assert_valid();
    assert_eq!(u.len(), keys.len() + 1);
    assert_eq!(u[&keys[3]], 3 + 1000);
    assert_eq!(u[&keys[9]], 9);
    assert_eq!(u[&ck(5000, 0o7777)], 1);
    // `f` ran only on the entries of nodes the two maps do not share.
    assert!(calls < keys.len() / 4, "f called {calls} times");
    let shared = u
        .root
        .children()
        .iter()
        .zip(a.root.children())
        .filter(|(x, y)| super::node::Node::ptr_eq(x, y))
        .count();
    assert!(shared >= 2, "no sub-trie shared");
    // The same union by lookups (another hasher instance) gives an equal map.
    let b2: CMap = {
        let mut m = CMap::with_hasher(Pass);
        m.extend(b.iter().map(|(k, v)| (*k, *v)));
        m
    };
    let mut calls2 = 0;
    let u2 = a.union_with(&b2, |_, x, y| {
        calls2 += 1;
        if x == y {
            *x
        } else {
            x + y
        }
    });
    u2.assert_valid();
    assert_eq!(u2, u);
    assert_eq!(calls2, keys.len() - 1);
    // Empty sides, and the union of a map with itself.
    assert!(a
        .union_with(&CMap::with_hasher(Pass), |_, x, _| *x)
        .ptr_eq(&a));
    assert!(a.union_with(&a, |_, _, _| unreachable!()).ptr_eq(&a));
    // Colliding keys and keys that split into a sub-node.
    let c1 = cmap(&[ck(1, 0), ck(2, 0), ck(3, 1)]);
    let c2 = c1
        .insert(ck(4, 0), 4)
        .insert(ck(5, 0o11), 5)
        .remove(&ck(1, 0));
    let c3 = c1.union_with(&c2, |_, x, _| *x);
    c3.assert_valid();
    assert_eq!(c3.len(), 5);
}

#[test]
fn panics_in_f_clone_eq_and_drop_of_the_new_methods() {
    let ctx = Rc::new(Ctx::default());
    {
        let base = tmap(&ctx, &IDS);
        let want = ids_of(&base);
        // retain: a panicking `f` leaves the map unchanged.
        let mut m = tmap(&ctx, &IDS);
        let mut n = 0;
        let r = catch_unwind(AssertUnwindSafe(|| {
            m.retain(|_, _| {
                n += 1;
                assert!(n < 4, "trap: f");
                false
            })
        }));
        assert!(r.is_err());
        m.assert_valid();
        assert_eq!(ids_of(&m), want);
        // retain: a panicking `Eq` during the removals leaves the map valid.
        expect_panic(
            &ctx,
            |c| c.trap_eq.set(Some(2)),
            || m.retain(|k, _| k.id > 4),
        );
        m.assert_valid();
        assert!(m.len() < IDS.len());
        // retain: a panicking `Drop` of a removed value.
        let mut m = tmap(&ctx, &IDS);
        expect_panic(
            &ctx,
            |c| c.trap_drop.set(Some(1003)),
            || m.retain(|k, _| k.id != 3),
        );
        m.assert_valid();
        // union_with: a panicking `f` or `Clone` leaves both maps as they were.
        let other = base.insert(T::new(&ctx, 1, 0), T::new(&ctx, 500, 0));
        let other_want = ids_of(&other);
        expect_panic(
            &ctx,
            |_| {},
            || drop(base.union_with(&other, |_, _, _| panic!("trap: f"))),
        );
        for n in 1..6 {
            let _ = expect_or_not(&ctx, &move |c: &Ctx| c.clone_countdown.set(Some(n)), || {
                drop(base.union_with(&other, |_, x, _| x.clone()))
            });
        }
        assert_eq!((ids_of(&base), ids_of(&other)), (want.clone(), other_want));
        // get_mut on a shared map: a panicking `Clone` while copying the path.
        let mut m = base.clone();
        expect_panic(
            &ctx,
            |c| c.clone_countdown.set(Some(1)),
            || assert!(m.get_mut(&T::new(&ctx, 3, 0o7000)).is_some()),
        );
        m.assert_valid();
        assert_eq!(ids_of(&m), want);
        // Dropping a map whose value panics in `Drop`: every other entry is still dropped.
        let m = tmap(&ctx, &IDS);
        expect_panic(&ctx, |c| c.trap_drop.set(Some(1001)), || drop(m));
        let m = tmap(&ctx, &IDS);
        let mut it = m.into_iter();
        drop(it.next());
        expect_panic(&ctx, |c| c.trap_drop.set(Some(1002)), || drop(it));
    }
    ctx.trap_drop.set(None);
    assert!(
        ctx.live.borrow().is_empty(),
        "leaked: {:?}",
        ctx.live.borrow()
    );
}

/// An in-place remove that pulls a sub-node shared with another map back into its parent,
/// where `Clone` (run while reading the shared sub-node) drops that other map: the parent then
/// holds the last handle to the sub-node, and dropping it runs the entries' `Drop`, which
/// panics. The parent must be complete by then (its bitmaps and live counts agree; the lookup
/// indexes by the bitmaps without bounds checks), and `len` must count what the map holds.
#[test]
fn a_panicking_drop_of_the_last_handle_to_a_collapsed_sub_node_leaves_the_map_valid() {
    let ctx = Rc::new(Ctx::default());
    {
        // Root slot 1 holds a sub-node with keys 1 and 2; key 3 sits inline in slot 2.
        let mut m = tmap(&ctx, &[(1, 0o01), (2, 0o11), (3, 0o02)]);
        let sharer = m.clone();
        // A fourth key makes the root this map's own; the sub-node stays shared with `sharer`.
        m.insert_mut(T::new(&ctx, 4, 0o03), T::new(&ctx, 1004, 0));
        *ctx.on_clone.borrow_mut() = Some(Box::new(move || drop(sharer)));
        ctx.trap_drop.set(Some(1002));
        let r = catch_unwind(AssertUnwindSafe(|| m.remove_mut(&T::new(&ctx, 1, 0o01))));
        assert!(r.is_err(), "the trap did not fire");
        assert!(ctx.on_clone.borrow().is_none(), "the hook did not run");
        m.assert_valid();
        assert_eq!(ids_of(&m), [(2, 1002), (3, 1003), (4, 1004)]);
        assert!(m.get(&T::new(&ctx, 2, 0o11)).is_some());
    }
    ctx.trap_drop.set(None);
    assert!(
        ctx.live.borrow().is_empty(),
        "leaked: {:?}",
        ctx.live.borrow()
    );
}

/// The same for an in-place remove from a sub-node shared with another map that keeps two or
/// more entries: its copy replaces it, and the old handle is dropped only after `len` is updated.
#[test]
fn a_panicking_drop_of_the_last_handle_to_a_copied_sub_node_leaves_the_map_valid() {
    let ctx = Rc::new(Ctx::default());
    {
        let mut m = tmap(&ctx, &[(1, 0o01), (2, 0o11), (6, 0o21), (3, 0o02)]);
        let sharer = m.clone();
        m.insert_mut(T::new(&ctx, 4, 0o03), T::new(&ctx, 1004, 0));
        *ctx.on_clone.borrow_mut() = Some(Box::new(move || drop(sharer)));
        ctx.trap_drop.set(Some(1002));
        let r = catch_unwind(AssertUnwindSafe(|| m.remove_mut(&T::new(&ctx, 1, 0o01))));
        assert!(r.is_err(), "the trap did not fire");
        assert!(ctx.on_clone.borrow().is_none(), "the hook did not run");
        m.assert_valid();
        assert_eq!(ids_of(&m), [(2, 1002), (3, 1003), (4, 1004), (6, 1006)]);
    }
    ctx.trap_drop.set(None);
    assert!(
        ctx.live.borrow().is_empty(),
        "leaked: {:?}",
        ctx.live.borrow()
    );
}

/// The same for an in-place insert into a sub-node shared with another map: the copy replaces
/// the shared node, whose handle may be the last one by then (`Clone` dropped the other map);
/// the entries' `Drop` must not run before `len` counts the new key.
#[test]
fn a_panicking_drop_of_the_last_handle_to_a_replaced_sub_node_leaves_the_map_valid() {
    let ctx = Rc::new(Ctx::default());
    {
        let mut m = tmap(&ctx, &[(1, 0o01), (2, 0o11), (3, 0o02)]);
        let sharer = m.clone();
        m.insert_mut(T::new(&ctx, 4, 0o03), T::new(&ctx, 1004, 0));
        *ctx.on_clone.borrow_mut() = Some(Box::new(move || drop(sharer)));
        ctx.trap_drop.set(Some(1002));
        let r = catch_unwind(AssertUnwindSafe(|| {
            m.insert_mut(T::new(&ctx, 5, 0o21), T::new(&ctx, 1005, 0))
        }));
        assert!(r.is_err(), "the trap did not fire");
        assert!(ctx.on_clone.borrow().is_none(), "the hook did not run");
        m.assert_valid();
        assert_eq!(
            ids_of(&m),
            [(1, 1001), (2, 1002), (3, 1003), (4, 1004), (5, 1005)]
        );
    }
    ctx.trap_drop.set(None);
    assert!(
        ctx.live.borrow().is_empty(),
        "leaked: {:?}",
        ctx.live.borrow()
    );
}

std::thread_local! {
    static OTHER: RefCell<Hamt<u32, u32>> = RefCell::new(Hamt::new());
}

/// A value whose `Drop` uses the map API on another map.
#[derive(Clone)]
struct Reenter(u32);
impl Drop for Reenter {
    fn drop(&mut self) {
        OTHER.with(|m| {
            let mut m = m.borrow_mut();
            let snapshot = m.insert(self.0, self.0);
            m.insert_mut(self.0, self.0 + 1);
            m.retain(|_, _| true);
            let u = m.union_with(&snapshot, |_, x, _| *x);
            *m = u;
        });
    }
}

#[test]
fn values_that_use_the_api_from_drop() {
    let mut m: Hamt<u32, Reenter> = (0..BIG).map(|i| (i, Reenter(i))).collect();
    m.retain(|k, _| k % 2 == 0);
    *m.get_mut(&4).unwrap() = Reenter(10_000);
    let other = m.insert(1, Reenter(1));
    let u = m.union_with(&other, |_, x, _| x.clone());
    let mut it = u.into_iter();
    it.next();
    drop((it, m, other));
    OTHER.with(|o| {
        let o = o.borrow();
        o.assert_valid();
        assert!(o.len() >= BIG as usize / 2);
    });
}

#[test]
fn every_lookup_walk_agrees_with_get() {
    use super::internals::walks::get;
    // Sub-nodes, inline entries, empty slots and collision nodes, hit and miss.
    let keys: Vec<Ck> = (0..BIG).map(|i| ck(i, u64::from(i % 97) * 29)).collect();
    let m = cmap(&keys);
    let probes = keys
        .iter()
        .copied()
        .chain((0..BIG).map(|i| ck(i + 10_000, u64::from(i) * 13)));
    for k in probes {
        let want = m.get(&k);
        assert_eq!(get::<false, false, false, false, _, _, _, _>(&m, &k), want);
        assert_eq!(get::<true, false, false, false, _, _, _, _>(&m, &k), want);
        assert_eq!(get::<false, true, false, false, _, _, _, _>(&m, &k), want);
        assert_eq!(get::<true, true, false, false, _, _, _, _>(&m, &k), want);
        assert_eq!(get::<false, true, true, false, _, _, _, _>(&m, &k), want);
        assert_eq!(get::<true, true, true, false, _, _, _, _>(&m, &k), want);
        assert_eq!(get::<true, true, true, true, _, _, _, _>(&m, &k), want);
    }
    let empty = CMap::with_hasher(Pass);
    assert_eq!(
        get::<true, true, true, true, _, _, _, _>(&empty, &ck(1, 1)),
        None
    );
    assert_eq!(
        get::<true, true, true, false, _, _, _, _>(&empty, &ck(1, 1)),
        None
    );
}

#[test]
#[allow(deprecated)]
fn the_old_hasher_name_still_compiles() {
    let s: crate::hamt::DefaultHasher = crate::hamt::DefaultHashBuilder::default();
    let m: Hamt<u8, u8, crate::hamt::DefaultHasher> = Hamt::with_hasher(s).insert(1, 2);
    assert_eq!(m[&1], 2);
}
