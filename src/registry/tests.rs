//! Unit tests (single thread unless named otherwise) and the proptest over `ops::run`.

use super::ops::{self, Op};
use super::*;
use proptest::prelude::*;

#[test]
fn register_unregister_roundtrip() {
    let reg = Registry::new();
    let t = Task::new(1u32);
    assert!(!reg.unregister(&t), "never registered");
    reg.register(&t).unwrap();
    assert!(t.is_registered());
    assert_eq!(reg.register(&t), Err(RegisterError::AlreadyRegistered));
    assert_eq!(reg.local_len(), 1);
    assert!(reg.unregister(&t));
    assert!(!reg.unregister(&t), "idempotent");
    assert!(!t.is_registered());
    reg.register(&t).unwrap();
    reg.assert_valid();
    assert_eq!(reg.local_len(), 1);
}

#[test]
fn many_tasks_grow_blocks_and_reuse_slots() {
    let reg = Registry::new();
    const N: i32 = if cfg!(miri) { 40 } else { 300 };
    let tasks: Vec<_> = (0..N).map(Task::new).collect();
    for t in &tasks {
        reg.register(t).unwrap();
    }
    reg.assert_valid();
    for t in tasks.iter().step_by(2) {
        assert!(reg.unregister(t));
    }
    reg.assert_valid();
    assert_eq!(reg.snapshot().len(), N as usize / 2);
    for t in tasks.iter().step_by(2) {
        reg.register(t).unwrap();
    }
    reg.assert_valid();
    let mut seen: Vec<i32> = reg.snapshot().iter().map(|t| **t).collect();
    seen.sort();
    assert_eq!(seen, (0..N).collect::<Vec<_>>());
}

#[test]
fn dropping_last_handle_unregisters() {
    let reg = Registry::new();
    let t = Task::new(String::from("x"));
    reg.register(&t).unwrap();
    drop(t);
    assert!(reg.snapshot().is_empty());
    assert_eq!(reg.local_len(), 0);
    reg.assert_valid();
}

#[test]
fn foreign_unregister_is_drained_by_owner() {
    let reg = Registry::new();
    let t = Task::new(3u8);
    reg.register(&t).unwrap();
    let (r2, t2) = (reg.clone(), t.clone());
    std::thread::spawn(move || {
        assert!(r2.unregister(&t2));
        assert!(!r2.unregister(&t2));
        assert_eq!(r2.register(&t2), Err(RegisterError::WrongThread));
    })
    .join()
    .unwrap();
    assert!(!t.is_registered());
    assert!(reg.snapshot().is_empty());
    assert!(!reg.unregister(&t), "the foreign call won");
    reg.register(&t).unwrap(); // drains first, then registers
    assert_eq!(reg.local_len(), 1);
    reg.assert_valid();
}

#[test]
fn other_registry_refuses() {
    let a = Registry::new();
    let b = Registry::new();
    let t = Task::new(0u8);
    a.register(&t).unwrap();
    assert!(!b.unregister(&t));
    assert_eq!(b.register(&t), Err(RegisterError::WrongThread));
    assert!(a.unregister(&t));
}

#[test]
fn thread_exit_hands_over_and_items_stay_visible() {
    let reg = Registry::new();
    let kept: Vec<Task<u32>> = {
        let r2 = reg.clone();
        std::thread::spawn(move || {
            let ts: Vec<_> = (0..5).map(Task::new).collect();
            for t in &ts {
                r2.register(t).unwrap();
            }
            ts
        })
        .join()
        .unwrap()
    };
    let mut seen: Vec<u32> = reg.snapshot().iter().map(|t| **t).collect();
    seen.sort();
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    assert!(
        reg.unregister(&kept[0]),
        "orphan unregister from another thread"
    );
    assert!(!reg.unregister(&kept[0]));
    assert_eq!(reg.register(&kept[1]), Err(RegisterError::WrongThread));
    drop(kept); // the rest die as orphans
    assert!(reg.snapshot().is_empty());
}

#[test]
fn current_slot_local_and_foreign() {
    let reg = Registry::new();
    assert!(reg.current().is_none());
    let t = Task::new(9u64);
    reg.set_current(Some(&t)).unwrap();
    assert_eq!(reg.current().map(|c| *c), Some(9));
    let key = reg.thread_key().unwrap();
    let r2 = reg.clone();
    let seen = std::thread::spawn(move || {
        let other = Task::new(1u64);
        assert_eq!(r2.set_current(Some(&other)), Ok(()));
        r2.current_of(key).map(|c| *c)
    })
    .join()
    .unwrap();
    assert_eq!(seen, Some(9));
    drop(t);
    assert!(reg.current().is_none(), "a dropped task is never returned");
    reg.drain();
    assert!(reg.current().is_none());
}

#[test]
fn wrong_thread_current_refused() {
    let reg = Registry::new();
    let t = Task::new(0u8);
    reg.register(&t).unwrap();
    let (r2, t2) = (reg.clone(), t.clone());
    std::thread::spawn(move || {
        assert_eq!(r2.set_current(Some(&t2)), Err(RegisterError::WrongThread))
    })
    .join()
    .unwrap();
}

#[test]
fn error_display_and_traits() {
    let e = RegisterError::Busy;
    let _: &dyn std::error::Error = &e;
    assert_eq!(e.clone(), RegisterError::Busy);
    for e in [
        RegisterError::AlreadyRegistered,
        RegisterError::WrongThread,
        RegisterError::Busy,
        RegisterError::ThreadExiting,
    ] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn decode_covers_every_op() {
    let bytes: Vec<u8> = (0..40u8).flat_map(|i| [i, i.wrapping_mul(37)]).collect();
    let ops = ops::decode(&bytes);
    assert_eq!(ops.len(), 40);
    assert!(ops.contains(&Op::Snapshot) && ops.contains(&Op::Current) && ops.contains(&Op::Drain));
    ops::run(&ops);
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let i = 0..ops::SLOTS;
    prop_oneof![
        3 => i.clone().prop_map(Op::Register),
        3 => i.clone().prop_map(Op::Unregister),
        1 => Just(Op::Snapshot),
        1 => proptest::option::of(i.clone()).prop_map(Op::SetCurrent),
        1 => Just(Op::Current),
        1 => i.clone().prop_map(Op::Replace),
        1 => i.prop_map(Op::Keep),
        1 => Just(Op::ForgetKept),
        1 => Just(Op::Drain),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 4 } else { 256 }, ..ProptestConfig::default() })]
    #[test]
    fn ops_agree_with_hashset_model(ops in proptest::collection::vec(op_strategy(), 0..if cfg!(miri) { 24 } else { 64 })) {
        ops::run(&ops);
    }
}

#[test]
fn local_shard_handle() {
    let reg = Registry::new();
    let local = reg.local().unwrap();
    let t = Task::new(5u32);
    local.register(&t).unwrap();
    assert_eq!(local.register(&t), Err(RegisterError::AlreadyRegistered));
    let (r2, t2) = (reg.clone(), t.clone());
    std::thread::spawn(move || {
        let theirs = r2.local().unwrap();
        assert!(
            theirs.unregister(&t2),
            "foreign path through another thread's handle"
        );
        assert_eq!(theirs.register(&t2), Err(RegisterError::WrongThread));
    })
    .join()
    .unwrap();
    assert!(!local.unregister(&t));
    local.register(&t).unwrap();
    assert!(local.unregister(&t));
    assert!(format!("{local:?}").contains("LocalShard"));
    reg.assert_valid();
}

/// A thread that used many registries, most of them dropped, keeps a bounded map: the dead
/// entries are swept as new ones come, and the live registries keep their shards.
#[test]
fn dead_registries_are_swept_from_the_thread_map() {
    std::thread::spawn(|| {
        let live: Vec<(Registry<u32>, Task<u32>)> = (0..3)
            .map(|i| {
                let reg = Registry::new();
                let t = Task::new(i);
                reg.register(&t).unwrap();
                (reg, t)
            })
            .collect();
        for i in 0..if cfg!(miri) { 100 } else { 1000 } {
            let reg = Registry::new();
            let t = Task::new(i);
            reg.register(&t).unwrap();
            let n = local::entries();
            assert!(n <= 32, "{n} entries in the map after {i} dead registries");
        }
        for (reg, t) in &live {
            assert_eq!(reg.local_len(), 1, "a live registry lost its shard");
            assert!(reg.unregister(t));
            reg.register(t).unwrap();
        }
        drop(live);
    })
    .join()
    .unwrap();
}
