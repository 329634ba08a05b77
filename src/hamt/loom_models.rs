//! loom models of the one concurrent protocol in the HAMT: node reference counts deciding
//! whether `insert_mut`/`remove_mut`/`get_mut` may change a node in place (and whether the owned
//! iterator may move a node's entries out), and when a node is freed.
//!
//! A node's count is a `crate::loom::AtomicUsize` in its header (`node.rs`). `Node::get_mut`
//! treats the node as owned alone when an Acquire load reads 1; that Acquire pairs with the
//! Release `fetch_sub` in `Node::drop` of every other handle, so the other owners' reads of the
//! node happen before our writes. The last handle's drop frees the node after an Acquire fence
//! that pairs with the same Release decrements. Under loom every node header also holds a loom
//! `UnsafeCell` that each read of the node touches (`with`) and each in-place change or free
//! touches mutably (`with_mut`), so a missing ordering shows up as a data race that loom reports,
//! besides the assertions below. The check runs at every level of the descent, because a node
//! owned alone can hold a child that another map shares.
//!
//! Each model runs clones of one map on two threads while the main thread mutates or drops its
//! own; loom checks every interleaving (bounded by `LOOM_MAX_PREEMPTIONS`) and the threads assert
//! that each map holds exactly its own changes. Without `--cfg loopkit_loom` each model runs once.

use super::map::Hamt;
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

#[test]
fn unique_root_over_a_shared_child() {
    model(|| {
        let m = base();
        let mut owner = m.clone();
        // The shared root is copied: `owner` now owns its root alone, but the sub-node at root
        // slot 0 ({0, 8}) is still shared with `m`.
        assert_eq!(owner.insert_mut(2, 2), None);
        let reader = m;
        let t = thread::spawn(move || {
            assert_holds(&reader, &[0, 1, 8]);
            drop(reader);
        });
        // Both go into the shared sub-node: it must be copied, not changed in place.
        assert_eq!(owner.insert_mut(16, 16), None);
        assert_eq!(owner.remove_mut(&8), Some(8));
        assert_holds(&owner, &[0, 1, 2, 16]);
        t.join().unwrap();
    });
}

#[test]
fn get_mut_and_into_iter_while_a_reader_drops() {
    // `get_mut` decides per level, with the same Acquire load, whether to write in place or copy;
    // the owned iterator decides per node whether to move entries out or clone them. Both run
    // while another thread reads its clone and drops it, so a node may turn unique half-way.
    model(|| {
        let m = base();
        let reader = m.clone();
        let mut owner = m;
        let t = thread::spawn(move || {
            assert_holds(&reader, &[0, 1, 8]);
            drop(reader);
        });
        *owner.get_mut(&1).unwrap() = 10; // the root is copied; the sub-node stays shared
        let rest = owner.clone();
        *owner.get_mut(&8).unwrap() = 80; // both levels copied
        assert_eq!((owner.get(&8), owner.get(&1)), (Some(&80), Some(&10)));
        // `rest` now owns its root alone; its sub-node is shared with `reader` until that drops.
        let mut all: Vec<(u64, u64)> = rest.into_iter().collect();
        all.sort_unstable();
        assert_eq!(all, [(0, 0), (1, 10), (8, 8)]);
        owner.assert_valid();
        assert_eq!(owner.get(&0), Some(&0));
        t.join().unwrap();
    });
}
