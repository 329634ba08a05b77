//! The op-sequence routine shared by the proptest in `tests.rs` and the fuzz target
//! `fuzz/fuzz_targets/registry_ops.rs`: single-thread sequences against a `HashSet` model.
#![allow(missing_docs)]

use std::collections::HashSet;

use super::{RegisterError, Registry, Task};
use crate::loom::{Arc, AtomicUsize, Ordering};

/// Number of task slots an op sequence plays with.
pub const SLOTS: usize = 8;

/// One step of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Register the task in slot `i`.
    Register(usize),
    /// Unregister the task in slot `i`.
    Unregister(usize),
    /// Take a snapshot and compare it with the model.
    Snapshot,
    /// Set (or clear) the current task.
    SetCurrent(Option<usize>),
    /// Read the current task and compare.
    Current,
    /// Drop our handle of slot `i` (auto-unregister) and put a fresh task there.
    Replace(usize),
    /// Clone the handle of slot `i` into the spare list (keeps it alive after `Replace`).
    Keep(usize),
    /// Drop every kept clone.
    ForgetKept,
    /// Process queued work now.
    Drain,
}

/// At most this many ops per input (longer fuzz inputs are cut: speed over length).
pub const MAX_OPS: usize = 256;

/// Decodes two bytes per op (a hand-written decoder; no `arbitrary`).
pub fn decode(bytes: &[u8]) -> Vec<Op> {
    bytes
        .chunks_exact(2)
        .take(MAX_OPS)
        .map(|c| {
            let i = c[1] as usize % SLOTS;
            match c[0] % 10 {
                0 | 1 => Op::Register(i),
                2 | 3 => Op::Unregister(i),
                4 => Op::Snapshot,
                5 => Op::SetCurrent(if c[1] & 0x80 != 0 { None } else { Some(i) }),
                6 => Op::Current,
                7 => Op::Replace(i),
                8 => Op::Keep(i),
                _ => {
                    if c[1] & 1 == 0 {
                        Op::ForgetKept
                    } else {
                        Op::Drain
                    }
                }
            }
        })
        .collect()
}

/// A task value that counts live values.
#[derive(Debug)]
struct Val {
    id: u64,
    live: Arc<AtomicUsize>,
}

impl Val {
    fn new(id: u64, live: &Arc<AtomicUsize>) -> Self {
        // Relaxed: a single-thread counter.
        live.fetch_add(1, Ordering::Relaxed);
        Val {
            id,
            live: live.clone(),
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        // Relaxed: a single-thread counter.
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Applies `ops` to a fresh registry and to a model, asserting they agree after every step.
pub fn run(ops: &[Op]) {
    let live = Arc::new(AtomicUsize::new(0));
    {
        let reg: Registry<Val> = Registry::new();
        let mut next_id = 0u64;
        let mut fresh = |live: &Arc<AtomicUsize>| {
            next_id += 1;
            Task::new(Val::new(next_id, live))
        };
        let mut tasks: Vec<Task<Val>> = (0..SLOTS).map(|_| fresh(&live)).collect();
        let mut kept: Vec<Task<Val>> = Vec::new();
        let mut model: HashSet<u64> = HashSet::new();
        let mut current: Option<u64> = None;
        for op in ops {
            match *op {
                Op::Register(i) => {
                    let id = tasks[i].id;
                    let r = reg.register(&tasks[i]);
                    if model.insert(id) {
                        assert_eq!(r, Ok(()), "register of unregistered task {id}");
                    } else {
                        assert_eq!(
                            r,
                            Err(RegisterError::AlreadyRegistered),
                            "double register {id}"
                        );
                    }
                }
                Op::Unregister(i) => {
                    let id = tasks[i].id;
                    assert_eq!(
                        reg.unregister(&tasks[i]),
                        model.remove(&id),
                        "unregister {id}"
                    );
                }
                Op::Snapshot => {
                    let snap = reg.snapshot();
                    let ids: Vec<u64> = snap.iter().map(|t| t.id).collect();
                    let set: HashSet<u64> = ids.iter().copied().collect();
                    assert_eq!(set.len(), ids.len(), "snapshot has duplicates");
                    assert_eq!(set, model, "snapshot differs from the model");
                }
                Op::SetCurrent(i) => {
                    reg.set_current(i.map(|i| &tasks[i])).unwrap();
                    current = i.map(|i| tasks[i].id);
                }
                Op::Current => {
                    assert_eq!(reg.current().map(|t| t.id), current, "current task");
                }
                Op::Replace(i) => {
                    let id = tasks[i].id;
                    let old = core::mem::replace(&mut tasks[i], fresh(&live));
                    let last = !kept.iter().any(|k| Task::ptr_eq(k, &old));
                    drop(old);
                    if last {
                        // The last handle: the task is unregistered and no longer current.
                        model.remove(&id);
                        if current == Some(id) {
                            current = None;
                        }
                    }
                }
                Op::Keep(i) => kept.push(tasks[i].clone()),
                Op::ForgetKept => {
                    while let Some(k) = kept.pop() {
                        let last = !tasks.iter().chain(kept.iter()).any(|t| Task::ptr_eq(t, &k));
                        let id = k.id;
                        drop(k);
                        if last {
                            model.remove(&id);
                            if current == Some(id) {
                                current = None;
                            }
                        }
                    }
                }
                Op::Drain => reg.drain(),
            }
            reg.assert_valid();
            assert_eq!(reg.local_len(), model.len(), "linked count");
            // Model-held values: slot tasks + kept clones of replaced tasks (distinct ids).
            let mut ids: HashSet<u64> = tasks.iter().map(|t| t.id).collect();
            ids.extend(kept.iter().map(|t| t.id));
            // Relaxed: single thread.
            assert_eq!(
                live.load(Ordering::Relaxed),
                ids.len(),
                "live values != reachable tasks"
            );
        }
        drop(tasks);
        drop(kept);
        // Relaxed: single thread.
        assert_eq!(live.load(Ordering::Relaxed), 0, "values leaked");
        reg.assert_valid();
        assert_eq!(
            reg.local_len(),
            0,
            "tasks still linked after every handle dropped"
        );
    }
}
