//! HAMT stress tests in the real configuration (32-way nodes, full 64-bit hashes): the library is
//! built without `cfg(test)` here, unlike the unit tests in `src/hamt/tests.rs`.
//!
//! - threads that each own a clone of one shared map mutate it in place at once, with drop
//!   counters: every key and value is dropped exactly once, nobody sees another's changes;
//! - full-width hash collisions (a collision node at depth 13) and the deepest path;
//! - a proptest model test against `HashMap` with the real hasher.

mod support;

use loopkit::hamt::Hamt;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use support::hash::{ck, Ck, Pass};
use support::rng::Rng;

/// A value that counts its live instances.
#[derive(Debug)]
struct Counted {
    v: u64,
    live: Arc<AtomicUsize>,
}
impl Counted {
    fn new(v: u64, live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, SeqCst);
        Counted {
            v,
            live: live.clone(),
        }
    }
}
impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(self.v, &self.live)
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        let before = self.live.fetch_sub(1, SeqCst);
        assert!(before > 0, "dropped more often than created");
    }
}
impl PartialEq for Counted {
    fn eq(&self, o: &Self) -> bool {
        self.v == o.v
    }
}

#[test]
fn threads_mutate_clones_of_one_map() {
    const BASE: u64 = 4_000;
    const THREADS: u64 = 4;
    const OPS: u64 = 3_000;
    let live = Arc::new(AtomicUsize::new(0));
    {
        let mut base = Hamt::new();
        for k in 0..BASE {
            base.insert_mut(k, Counted::new(k, &live));
        }
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let mut mine = base.clone();
                let live = live.clone();
                thread::spawn(move || {
                    let mut model: HashMap<u64, u64> = (0..BASE).map(|k| (k, k)).collect();
                    let mut versions = Vec::new();
                    let mut rng = Rng::new(0x9e37_79b9 ^ (t + 1));
                    for i in 0..OPS {
                        let k = rng.below(BASE * 2);
                        match rng.below(5) {
                            0 | 1 => {
                                let v = t * 1_000_000 + i;
                                let old = mine.insert_mut(k, Counted::new(v, &live)).map(|c| c.v);
                                assert_eq!(old, model.insert(k, v));
                            }
                            2 => assert_eq!(mine.remove_mut(&k).map(|c| c.v), model.remove(&k)),
                            3 => {
                                versions.push((mine.clone(), model.clone()));
                                mine = mine.insert(k, Counted::new(k, &live));
                                model.insert(k, k);
                            }
                            _ => assert_eq!(mine.get(&k).map(|c| c.v), model.get(&k).copied()),
                        }
                    }
                    mine.assert_valid();
                    assert_eq!(mine.len(), model.len());
                    for (k, v) in &model {
                        assert_eq!(mine.get(k).map(|c| c.v), Some(*v), "thread {t} key {k}");
                    }
                    for (m, md) in versions.iter().step_by(50) {
                        assert_eq!(m.len(), md.len());
                        assert!(md.iter().all(|(k, v)| m.get(k).map(|c| c.v) == Some(*v)));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        base.assert_valid();
        assert_eq!(base.len(), BASE as usize);
        assert!(
            (0..BASE).all(|k| base.get(&k).map(|c| c.v) == Some(k)),
            "base changed"
        );
    }
    assert_eq!(live.load(SeqCst), 0, "values leaked");
}

#[test]
fn full_width_collisions_and_deepest_path() {
    let h = 0xdead_beef_0bad_f00d;
    let keys = [
        ck(1, h),
        ck(2, h),
        ck(3, h),
        ck(4, h ^ (1 << 63)),
        ck(5, h ^ 1),
    ];
    let mut m = Hamt::with_hasher(Pass);
    for k in keys {
        m.insert_mut(k, k.id);
        m.assert_valid();
    }
    for k in keys {
        assert_eq!(m.get(&k), Some(&k.id));
    }
    assert_eq!(m.get(&ck(9, h)), None);
    let snapshot = m.clone();
    for (i, k) in keys.iter().enumerate() {
        let p = m.remove(k);
        assert_eq!(m.remove_mut(k), Some(k.id));
        m.assert_valid();
        assert_eq!(m, p);
        assert_eq!(m.len(), keys.len() - i - 1);
    }
    assert_eq!(snapshot.len(), keys.len());
    snapshot.assert_valid();
    // Same set, other order: equal.
    let rev: Hamt<Ck, u32, Pass> = keys
        .iter()
        .rev()
        .fold(Hamt::with_hasher(Pass), |m, k| m.insert(*k, k.id));
    assert_eq!(rev, snapshot);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn real_configuration_agrees_with_hashmap(
        ops in proptest::collection::vec((0u8..8, 0u64..300, 0u64..3), 0..300)
    ) {
        let mut m: Hamt<u64, u64> = Hamt::new();
        let mut model = HashMap::new();
        let mut versions = Vec::new();
        for (op, k, v) in ops {
            match op {
                0 => { let n = m.insert_with(k, v, PartialEq::eq); prop_assert_eq!(n.ptr_eq(&m), model.get(&k) == Some(&v)); versions.push((m.clone(), model.clone())); m = n; model.insert(k, v); }
                1 => prop_assert_eq!(m.insert_mut(k, v), model.insert(k, v)),
                2 => { let n = m.remove(&k); prop_assert_eq!(n.ptr_eq(&m), !model.contains_key(&k)); m = n; model.remove(&k); }
                3 => prop_assert_eq!(m.remove_mut(&k), model.remove(&k)),
                4 => { let n = m.insert(k, v); prop_assert!(!n.ptr_eq(&m)); versions.push((m.clone(), model.clone())); m = n; model.insert(k, v); }
                5 => {
                    match (m.get_mut(&k), model.get_mut(&k)) {
                        (Some(x), Some(y)) => { prop_assert_eq!(*x, *y); (*x, *y) = (v, v); }
                        (x, y) => prop_assert_eq!(x.is_some(), y.is_some(), "get_mut({}) presence", k),
                    }
                    prop_assert_eq!(m.get(&k), model.get(&k));
                }
                6 => {
                    // Union with an earlier version: the same hasher, merged node by node.
                    let (other, om) = versions.get(k as usize % versions.len().max(1)).cloned().unwrap_or_default();
                    let n = m.union_with(&other, |_, a, b| *a.max(b));
                    versions.push((m.clone(), model.clone()));
                    m = n;
                    for (k, v) in om { let e = model.entry(k).or_insert(v); *e = (*e).max(v); }
                }
                _ => { m.retain(|key, _| (key ^ k) % 5 != 0); model.retain(|key, _| (key ^ k) % 5 != 0); }
            }
            prop_assert_eq!(m.len(), model.len());
        }
        m.assert_valid();
        for (k, v) in &model { prop_assert_eq!(m.get(k), Some(v)); }
        for (old, md) in &versions {
            prop_assert_eq!(old.len(), md.len());
            for (k, v) in md { prop_assert_eq!(old.get(k), Some(v)); }
        }
        // Owned iteration, on a map that shares nodes with the versions.
        let got: HashMap<u64, u64> = m.into_iter().collect();
        prop_assert_eq!(got, model);
        for (old, md) in &versions { prop_assert_eq!(old.len(), md.len()); old.assert_valid(); }
    }
}
