//! loom models of the one concurrent protocol in the HAMT: `Arc` reference counts deciding
//! whether `insert_mut`/`remove_mut` may change a node in place.
//!
//! Nodes are `crate::loom::Arc`s. The check is `Arc::get_mut` (both std and loom provide it):
//! in std it is an Acquire compare-exchange on the weak count plus an Acquire load of the strong
//! count, which pairs with the Release `fetch_sub` in `Arc::drop` of every other clone, so the
//! other owners' reads of the node happen before our writes. Each model runs clones of one map on
//! two threads while the main thread drops the original; loom checks every interleaving (bounded
//! by `LOOM_MAX_PREEMPTIONS`), reports an `Arc` freed twice or leaked, and the threads assert that
//! each map holds exactly its own changes. Without `--cfg loopkit_loom` each model runs once.

use super::Hamt;
use crate::loom::{model, thread};
use crate::support::hash::Pass;

type M = Hamt<u64, u64, Pass>;

/// {0, 8, 1}: keys 0 and 8 share root slot 0 (a sub-node), key 1 is inline in the root.
fn base() -> M {
    let mut m = M::with_hasher(Pass);
    for k in [0, 8, 1] {
        m.insert_mut(k, k);
    }
    m
}

fn assert_holds(m: &M, keys: &[u64]) {
    m.assert_valid();
    assert_eq!(m.len(), keys.len());
    for k in keys {
        assert_eq!(m.get(k), Some(k), "key {k}");
    }
    let mut seen: Vec<u64> = m.keys().copied().collect();
    seen.sort_unstable();
    assert_eq!(seen, keys, "another thread's change is visible");
}

#[test]
fn two_clones_mutate_while_the_original_drops() {
    model(|| {
        let m = base();
        let mut c1 = m.clone();
        let mut c2 = m.clone();
        let t1 = thread::spawn(move || {
            assert_eq!(c1.insert_mut(16, 16), None); // into the shared sub-node
            assert_eq!(c1.remove_mut(&1), Some(1)); // from the root
            assert_holds(&c1, &[0, 8, 16]);
        });
        let t2 = thread::spawn(move || {
            assert_eq!(c2.remove_mut(&8), Some(8)); // sub-node collapses into the root
            assert_eq!(c2.insert_mut(2, 2), None);
            assert_holds(&c2, &[0, 1, 2]);
        });
        drop(m);
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

#[test]
fn reader_sees_its_version_while_the_owner_mutates() {
    model(|| {
        let m = base();
        let reader = m.clone();
        let mut owner = m;
        let t = thread::spawn(move || {
            assert_holds(&reader, &[0, 1, 8]);
            drop(reader);
        });
        owner.insert_mut(16, 16);
        owner.remove_mut(&0);
        assert_holds(&owner, &[1, 8, 16]);
        t.join().unwrap();
    });
}
