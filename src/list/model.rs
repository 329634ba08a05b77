//! The op-sequence routine shared by the proptest (`list::tests`) and the fuzz target
//! (`fuzz/fuzz_targets/list_ops.rs`).
//!
//! Two lists and a pool of [`NODES`] nodes (handle `Rc<Node>`) are driven by a sequence of
//! [`Op`]s and compared, after every step, with two `VecDeque<u32>` models: contents in both
//! directions, `len`, `is_empty`, each node's `is_linked`/`list_id`/`contains`, and each node's
//! `Rc` strong count (1 for the pool + 1 while a list holds it: a handle lost or duplicated
//! shows up here), plus `assert_valid()`. Pushing a node that is linked anywhere must fail with
//! the handle back; removing through a list that does not hold the node must return `None`.

use std::collections::VecDeque;
use std::rc::Rc;

use super::ring::List;

crate::__list_doc_node!();

/// Number of nodes in the pool the ops pick from.
pub const NODES: usize = 12;

/// One step. `list` is 0 or 1 (taken modulo 2); `node` is taken modulo [`NODES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `push_back` of pool node `node` (must fail iff it is linked anywhere).
    PushBack {
        /// Which list.
        list: u8,
        /// Which pool node.
        node: u8,
    },
    /// `push_front` of pool node `node`.
    PushFront {
        /// Which list.
        list: u8,
        /// Which pool node.
        node: u8,
    },
    /// `pop_front`.
    PopFront {
        /// Which list.
        list: u8,
    },
    /// `pop_back`.
    PopBack {
        /// Which list.
        list: u8,
    },
    /// `remove(&node)` (must return `None` unless this list holds it).
    Remove {
        /// Which list.
        list: u8,
        /// Which pool node.
        node: u8,
    },
    /// `lists[into].append(&mut lists[1 - into])`.
    Append {
        /// The list that receives the other's nodes.
        into: u8,
    },
    /// Cursor from the front, `steps` moves, `remove_current` twice (through the ghost too).
    CursorRemove {
        /// Which list.
        list: u8,
        /// How many `move_next` before removing.
        steps: u8,
    },
    /// One cursor pass removing every node whose `(id ^ mask)` is even.
    CursorSweep {
        /// Which list.
        list: u8,
        /// Selects the nodes removed.
        mask: u8,
    },
    /// `clear`.
    Clear {
        /// Which list.
        list: u8,
    },
    /// Cursor from the front, `steps` moves, `peek_next`/`peek_prev` checked, then
    /// `insert_before` (or `insert_after`) of pool node `node` (must fail iff it is linked).
    CursorInsert {
        /// Which list.
        list: u8,
        /// How many `move_next` first (through the ghost too).
        steps: u8,
        /// Which pool node.
        node: u8,
        /// `insert_after` instead of `insert_before`.
        after: bool,
    },
    /// `lists[list].split_off(at)`, then the split-off part appended to the other list
    /// (`None` iff `at > len`).
    SplitOff {
        /// Which list.
        list: u8,
        /// The split index (up to 255, so past the end is reached too).
        at: u8,
    },
}

/// Decodes fuzzer bytes into ops: one kind byte (low bits: kind, bit 4: list) and, for kinds
/// that take one, one argument byte (missing bytes read as 0).
#[must_use]
pub fn decode(bytes: &[u8]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut it = bytes.iter().copied();
    while let Some(b) = it.next() {
        let list = (b >> 4) & 1;
        let op = match b % 11 {
            0 => Op::PushBack {
                list,
                node: it.next().unwrap_or(0),
            },
            1 => Op::PushFront {
                list,
                node: it.next().unwrap_or(0),
            },
            2 => Op::PopFront { list },
            3 => Op::PopBack { list },
            4 => Op::Remove {
                list,
                node: it.next().unwrap_or(0),
            },
            5 => Op::Append { into: list },
            6 => Op::CursorRemove {
                list,
                steps: it.next().unwrap_or(0),
            },
            7 => Op::CursorSweep {
                list,
                mask: it.next().unwrap_or(0),
            },
            8 => Op::Clear { list },
            9 => {
                let steps = it.next().unwrap_or(0);
                let node = it.next().unwrap_or(0);
                Op::CursorInsert {
                    list,
                    steps,
                    node: node & 0x7f,
                    after: node & 0x80 != 0,
                }
            }
            _ => Op::SplitOff {
                list,
                at: it.next().unwrap_or(0) % 16,
            },
        };
        ops.push(op);
    }
    ops
}

/// Applies `ops` to two lists and two `VecDeque` models, checking they agree after every step,
/// and that dropping the lists gives every handle back exactly once.
pub fn run(ops: &[Op]) {
    let pool: Vec<Rc<Node>> = (0..NODES as u32).map(|i| Rc::new(Node::new(i))).collect();
    let mut lists: [List<Node>; 2] = [List::new(), List::new()];
    let mut models: [VecDeque<u32>; 2] = [VecDeque::new(), VecDeque::new()];
    for (step, op) in ops.iter().enumerate() {
        apply(*op, &pool, &mut lists, &mut models);
        check(step, op, &pool, &lists, &models);
    }
    drop(lists);
    for node in &pool {
        assert_eq!(
            Rc::strong_count(node),
            1,
            "node {}: handle not given back once",
            node.id()
        );
        assert!(
            !node.links().is_linked(),
            "node {}: linked after the lists dropped",
            node.id()
        );
    }
}

fn apply(op: Op, pool: &[Rc<Node>], lists: &mut [List<Node>; 2], models: &mut [VecDeque<u32>; 2]) {
    let l = |list: u8| usize::from(list & 1);
    let n = |node: u8| usize::from(node) % NODES;
    match op {
        Op::PushBack { list, node } | Op::PushFront { list, node } => {
            let (l, n) = (l(list), n(node));
            let linked = models.iter().any(|m| m.contains(&(n as u32)));
            let handle = pool[n].clone();
            let res = if matches!(op, Op::PushBack { .. }) {
                lists[l].push_back(handle)
            } else {
                lists[l].push_front(handle)
            };
            match res {
                Ok(()) => {
                    assert!(!linked, "push of linked node {n} succeeded");
                    if matches!(op, Op::PushBack { .. }) {
                        models[l].push_back(n as u32);
                    } else {
                        models[l].push_front(n as u32);
                    }
                }
                Err(e) => {
                    assert!(linked, "push of unlinked node {n} failed");
                    assert!(
                        Rc::ptr_eq(&e.0, &pool[n]),
                        "push error gave back another handle"
                    );
                }
            }
        }
        Op::PopFront { list } => {
            let got = lists[l(list)].pop_front().map(|h| h.id());
            assert_eq!(got, models[l(list)].pop_front(), "pop_front");
        }
        Op::PopBack { list } => {
            let got = lists[l(list)].pop_back().map(|h| h.id());
            assert_eq!(got, models[l(list)].pop_back(), "pop_back");
        }
        Op::Remove { list, node } => {
            let (l, n) = (l(list), n(node));
            let got = lists[l].remove(&pool[n]);
            match models[l].iter().position(|&x| x == n as u32) {
                Some(i) => {
                    models[l].remove(i);
                    let h = got.expect("remove of a held node returned None");
                    assert!(Rc::ptr_eq(&h, &pool[n]), "remove gave back another handle");
                }
                None => assert!(got.is_none(), "remove of node {n} not held by list {l}"),
            }
        }
        Op::Append { into } => {
            let [a, b] = lists;
            let [ma, mb] = models;
            if into & 1 == 0 {
                a.append(b);
                ma.extend(mb.drain(..));
            } else {
                b.append(a);
                mb.extend(ma.drain(..));
            }
        }
        Op::CursorRemove { list, steps } => {
            let l = l(list);
            let model = &mut models[l];
            let mut cursor = lists[l].cursor_front_mut();
            for _ in 0..steps {
                cursor.move_next();
            }
            // The cursor cycles through len nodes and the ghost.
            let pos = usize::from(steps) % (model.len() + 1);
            for _ in 0..2 {
                let got = cursor.remove_current().map(|h| h.id());
                if pos < model.len() {
                    assert_eq!(got, model.remove(pos), "cursor remove at {pos}");
                } else {
                    assert_eq!(got, None, "cursor remove on the ghost");
                    break;
                }
                assert_eq!(
                    cursor.current().map(Node::id),
                    model.get(pos).copied(),
                    "cursor next"
                );
            }
        }
        Op::CursorSweep { list, mask } => {
            let l = l(list);
            let remove = |id: u32| (id ^ u32::from(mask)) & 1 == 0;
            let mut cursor = lists[l].cursor_front_mut();
            let mut expect = models[l].iter().copied();
            while let Some(id) = cursor.current().map(Node::id) {
                assert_eq!(Some(id), expect.next(), "cursor sweep order");
                if remove(id) {
                    assert_eq!(
                        cursor.remove_current().map(|h| h.id()),
                        Some(id),
                        "sweep remove"
                    );
                } else {
                    cursor.move_next();
                }
            }
            assert_eq!(expect.next(), None, "cursor sweep ended early");
            models[l].retain(|&id| !remove(id));
        }
        Op::Clear { list } => {
            lists[l(list)].clear();
            models[l(list)].clear();
        }
        Op::CursorInsert {
            list,
            steps,
            node,
            after,
        } => {
            let (l, n) = (l(list), n(node));
            let linked = models.iter().any(|m| m.contains(&(n as u32)));
            let model = &mut models[l];
            let len = model.len();
            let mut cursor = lists[l].cursor_front_mut();
            for _ in 0..steps {
                cursor.move_next();
            }
            // Positions 0..len are nodes, `len` is the ghost.
            let pos = usize::from(steps) % (len + 1);
            let at = |i: usize| if i < len { model.get(i).copied() } else { None };
            let (next, prev) = if pos == len {
                (model.front().copied(), model.back().copied())
            } else {
                (at(pos + 1), pos.checked_sub(1).and_then(at))
            };
            assert_eq!(cursor.current().map(Node::id), at(pos), "cursor at {pos}");
            assert_eq!(cursor.peek_next().map(Node::id), next, "peek_next at {pos}");
            assert_eq!(cursor.peek_prev().map(Node::id), prev, "peek_prev at {pos}");
            let r = cursor.as_cursor();
            assert_eq!(r.peek_next().map(Node::id), next, "as_cursor peek_next");
            assert_eq!(r.peek_prev().map(Node::id), prev, "as_cursor peek_prev");
            let handle = pool[n].clone();
            let res = if after {
                cursor.insert_after(handle)
            } else {
                cursor.insert_before(handle)
            };
            assert_eq!(
                cursor.current().map(Node::id),
                at(pos),
                "insert moved the cursor"
            );
            match res {
                Ok(()) => {
                    assert!(!linked, "insert of linked node {n} succeeded");
                    // Before the ghost is the back, after the ghost is the front.
                    let i = match (pos == len, after) {
                        (true, false) => len,
                        (true, true) => 0,
                        (false, false) => pos,
                        (false, true) => pos + 1,
                    };
                    model.insert(i, n as u32);
                }
                Err(e) => {
                    assert!(linked, "insert of unlinked node {n} failed");
                    assert!(
                        Rc::ptr_eq(&e.0, &pool[n]),
                        "insert error gave back another handle"
                    );
                }
            }
        }
        Op::SplitOff { list, at } => {
            let (l, at) = (l(list), usize::from(at));
            let [a, b] = lists;
            let [ma, mb] = models;
            let (src, dst, msrc, mdst) = if l == 0 {
                (a, b, ma, mb)
            } else {
                (b, a, mb, ma)
            };
            match src.split_off(at) {
                Some(mut part) => {
                    assert!(at <= msrc.len(), "split_off past the end succeeded");
                    let moved: Vec<u32> = msrc.drain(at..).collect();
                    part.assert_valid();
                    assert_eq!(
                        part.iter().map(Node::id).collect::<Vec<_>>(),
                        moved,
                        "split_off part"
                    );
                    assert!(
                        part.iter().all(|n| n.links().list_id() == Some(part.id())),
                        "split_off part: owner not restamped"
                    );
                    dst.append(&mut part);
                    mdst.extend(moved);
                }
                None => assert!(at > msrc.len(), "split_off within the list failed"),
            }
        }
    }
}

fn check(
    step: usize,
    op: &Op,
    pool: &[Rc<Node>],
    lists: &[List<Node>; 2],
    models: &[VecDeque<u32>; 2],
) {
    for (i, (list, model)) in lists.iter().zip(models).enumerate() {
        list.assert_valid();
        let fwd: Vec<u32> = list.iter().map(Node::id).collect();
        let back: Vec<u32> = list.iter().rev().map(Node::id).collect();
        let want: Vec<u32> = model.iter().copied().collect();
        assert_eq!(fwd, want, "step {step} ({op:?}): list {i} contents");
        let mut c = list.cursor_front();
        let mut by_cursor = Vec::new();
        while let Some(n) = c.current() {
            by_cursor.push(n.id());
            c.move_next();
        }
        assert_eq!(
            by_cursor, want,
            "step {step}: list {i} read-only cursor forward"
        );
        c.move_prev();
        assert_eq!(
            c.current().map(Node::id),
            model.back().copied(),
            "step {step}: list {i} cursor from the ghost back"
        );
        assert_eq!(
            list.cursor_back().current().map(Node::id),
            model.back().copied(),
            "step {step}: list {i} cursor_back"
        );
        assert!(
            back.iter().rev().eq(want.iter()),
            "step {step} ({op:?}): list {i} reversed"
        );
        assert_eq!(list.len(), model.len(), "step {step}: list {i} len");
        assert_eq!(
            list.is_empty(),
            model.is_empty(),
            "step {step}: list {i} is_empty"
        );
        assert_eq!(
            list.front().map(Node::id),
            model.front().copied(),
            "step {step}: front"
        );
        assert_eq!(
            list.back().map(Node::id),
            model.back().copied(),
            "step {step}: back"
        );
    }
    for node in pool {
        let holder = models.iter().position(|m| m.contains(&node.id()));
        let id = node.id();
        assert_eq!(
            node.links().is_linked(),
            holder.is_some(),
            "step {step}: node {id} is_linked"
        );
        assert_eq!(
            node.links().list_id(),
            holder.map(|h| lists[h].id()),
            "step {step}: {id} list_id"
        );
        for (i, list) in lists.iter().enumerate() {
            assert_eq!(
                list.contains(node),
                holder == Some(i),
                "step {step}: {i} contains {id}"
            );
        }
        let want = 1 + usize::from(holder.is_some());
        assert_eq!(
            Rc::strong_count(node),
            want,
            "step {step}: node {id} handle count"
        );
    }
}
