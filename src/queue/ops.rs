//! Shared single-thread op-sequence routine for the proptest model test and the fuzz target.
//!
//! [`run`] applies each [`Op`] to a real queue and to a `VecDeque` model and checks after every
//! step that they agree (what ran, in which order, what `cancel`/`close` returned, what was
//! dropped and when) and that [`Receiver::assert_valid`] holds.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};

use crate::loom::{Arc, Mutex};

use std::time::Instant;

use super::{
    channel, Handle, HandleState, Receiver, RecvTimeoutError, SendError, Sender, TryRecvError,
};

/// One step of a single-thread queue scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `push` a new payload and keep its handle.
    Push,
    /// `send` a new payload (no handle).
    Send,
    /// `cancel` the handle at this index (modulo the number of handles kept).
    Cancel(usize),
    /// Drop the handle at this index (modulo); must not cancel.
    DropHandle(usize),
    /// `drain` everything present.
    Drain,
    /// `drain`, with the callback panicking on the run with this index (if there is one).
    DrainPanic(u8),
    /// `recv_deadline` with a deadline already past: one payload if queued, never a wait.
    RecvDeadline,
    /// `try_recv` one payload (`Empty` vs `Disconnected` after a close).
    TryRecv,
    /// `close` the queue.
    Close,
    /// `prepare_park` (then `finish_park` if it announced).
    PreparePark,
}

/// Decodes fuzzer bytes into ops: one tag byte each, plus one argument byte for indexed ops.
pub fn decode(bytes: &[u8]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut it = bytes.iter().copied();
    while let Some(tag) = it.next() {
        let op = match tag % 10 {
            0 => Op::Push,
            1 => Op::Send,
            2 => Op::Cancel(usize::from(it.next().unwrap_or(0))),
            3 => Op::DropHandle(usize::from(it.next().unwrap_or(0))),
            4 => Op::Drain,
            5 => Op::DrainPanic(it.next().unwrap_or(0) % 8),
            6 => Op::RecvDeadline,
            7 => Op::Close,
            8 => Op::TryRecv,
            _ => Op::PreparePark,
        };
        ops.push(op);
    }
    ops
}

/// A payload that records its own drop.
#[derive(Debug)]
struct Item {
    id: u64,
    log: Arc<Mutex<Vec<u64>>>,
}

impl Drop for Item {
    fn drop(&mut self) {
        self.log.lock().unwrap().push(self.id);
    }
}

/// The model's view of one payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum M {
    Pending,
    Ran,
    Cancelled,
    Refused,
}

/// Applies `ops` to a queue and to a `VecDeque` model, asserting agreement after every step.
pub fn run(ops: &[Op]) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, mut rx): (Sender<Item>, Receiver<Item>) = channel();
    let mut model: VecDeque<u64> = VecDeque::new(); // ids queued (pending or cancelled)
    let mut fate: Vec<M> = Vec::new(); // by id
    let mut handles: Vec<(Handle, u64)> = Vec::new();
    let mut closed = false;
    let mut next_id = 0u64;
    let item = |id| Item {
        id,
        log: log.clone(),
    };
    let drops = |log: &Arc<Mutex<Vec<u64>>>| std::mem::take(&mut *log.lock().unwrap());

    for op in ops {
        match op {
            Op::Push | Op::Send => {
                let id = next_id;
                next_id += 1;
                fate.push(M::Pending);
                let res = if *op == Op::Push {
                    tx.push(item(id)).map(Some)
                } else {
                    tx.send(item(id)).map(|()| None)
                };
                match res {
                    Ok(h) => {
                        assert!(!closed, "push into a closed queue succeeded");
                        model.push_back(id);
                        if let Some(h) = h {
                            assert_eq!(h.state(), HandleState::Pending);
                            handles.push((h, id));
                        }
                    }
                    Err(SendError(back)) => {
                        assert!(closed, "push into an open queue failed");
                        assert_eq!(back.id, id, "SendError gave back another payload");
                        fate[id as usize] = M::Refused;
                        drop(back);
                        assert_eq!(drops(&log), [id]);
                    }
                }
            }
            Op::Cancel(i) => {
                if handles.is_empty() {
                    continue;
                }
                let (h, id) = &handles[i % handles.len()];
                let id = *id;
                let expect = fate[id as usize] == M::Pending;
                assert_eq!(
                    h.cancel(),
                    expect,
                    "cancel of #{id} in state {:?}",
                    fate[id as usize]
                );
                if expect {
                    fate[id as usize] = M::Cancelled;
                    assert_eq!(drops(&log), [id], "a cancelled payload is dropped at once");
                }
                assert_eq!(h.is_cancelled(), fate[id as usize] == M::Cancelled);
            }
            Op::DropHandle(i) => {
                if handles.is_empty() {
                    continue;
                }
                let k = i % handles.len();
                drop(handles.swap_remove(k));
            }
            Op::Drain | Op::DrainPanic(_) => {
                let panic_at = match op {
                    // libfuzzer-sys aborts on any panic, even a caught one: the fuzz target
                    // drains without one (the proptest covers the panicking drain).
                    Op::DrainPanic(k) if !cfg!(loopkit_fuzz) => Some(usize::from(*k)),
                    _ => None,
                };
                let mut ran = Vec::new();
                let res = panic::catch_unwind(AssertUnwindSafe(|| {
                    rx.drain(|it| {
                        ran.push(it.id);
                        if Some(ran.len() - 1) == panic_at {
                            panic!("callback panic (expected by the model test)");
                        }
                    })
                }));
                // The model: run non-cancelled ids in order, stopping after the panicking one.
                let mut expect = Vec::new();
                while let Some(id) = model.pop_front() {
                    if fate[id as usize] == M::Cancelled {
                        continue;
                    }
                    fate[id as usize] = M::Ran;
                    expect.push(id);
                    if Some(expect.len() - 1) == panic_at {
                        break;
                    }
                }
                assert_eq!(ran, expect, "drain ran other payloads than the model");
                assert_eq!(res.is_err(), panic_at.is_some_and(|k| k < expect.len()));
                if let Ok(n) = res {
                    assert_eq!(n, ran.len());
                }
                assert_eq!(
                    drops(&log),
                    expect,
                    "each run payload is dropped after its run"
                );
            }
            Op::RecvDeadline | Op::TryRecv => {
                let got = if *op == Op::RecvDeadline {
                    match rx.recv_deadline(Instant::now()) {
                        Ok(it) => Some(it.id),
                        Err(e) => {
                            let want = if closed {
                                RecvTimeoutError::Disconnected
                            } else {
                                RecvTimeoutError::Timeout
                            };
                            assert_eq!(e, want, "recv_deadline on an empty queue");
                            None
                        }
                    }
                } else {
                    match rx.try_recv() {
                        Ok(it) => Some(it.id),
                        Err(e) => {
                            let want = if closed {
                                TryRecvError::Disconnected
                            } else {
                                TryRecvError::Empty
                            };
                            assert_eq!(e, want, "try_recv on an empty queue");
                            None
                        }
                    }
                };
                let mut expect = None;
                while let Some(id) = model.pop_front() {
                    if fate[id as usize] != M::Cancelled {
                        fate[id as usize] = M::Ran;
                        expect = Some(id);
                        break;
                    }
                }
                assert_eq!(got, expect);
                assert_eq!(drops(&log), expect.into_iter().collect::<Vec<_>>());
            }
            Op::Close => {
                let pending = model
                    .iter()
                    .filter(|&&id| fate[id as usize] == M::Pending)
                    .count();
                assert_eq!(rx.close(), pending, "close() counts pending handles");
                closed = true;
                assert!(tx.is_closed() && rx.is_closed());
            }
            Op::PreparePark => {
                let announced = rx.prepare_park();
                assert_eq!(
                    announced,
                    model.is_empty() && !closed,
                    "prepare_park vs model emptiness (never parks once closed)"
                );
                if announced {
                    assert!(!rx.finish_park(), "nobody woke this park");
                }
            }
        }
        assert_eq!(rx.len(), model.len(), "len() vs model");
        assert_eq!(rx.is_empty(), model.is_empty());
        rx.assert_valid();
        for (h, id) in &handles {
            let want = match fate[*id as usize] {
                M::Pending => HandleState::Pending,
                M::Ran => HandleState::Done,
                M::Cancelled => HandleState::Cancelled,
                M::Refused => unreachable!("refused pushes have no handle"),
            };
            assert_eq!(h.state(), want, "state of handle #{id}");
        }
    }
    // Dropping the receiver drops every pending payload exactly once; handles outlive it.
    let pending: Vec<u64> = model
        .iter()
        .copied()
        .filter(|&id| fate[id as usize] == M::Pending)
        .collect();
    drop(rx);
    assert_eq!(
        drops(&log),
        pending,
        "receiver drop disposes of pending payloads"
    );
    for (h, id) in &handles {
        assert!(
            !h.cancel(),
            "cancel after the receiver is gone prevents nothing (#{id})"
        );
    }
    drop(handles);
    assert!(tx.is_closed());
    assert!(tx.push(item(u64::MAX)).is_err());
    assert_eq!(drops(&log), [u64::MAX]);
}
