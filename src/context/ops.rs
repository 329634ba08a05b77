//! The op-sequence routine shared by the proptest model test (`tests.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/context_ops.rs`).
//!
//! [`run`] applies each [`Op`] to real contexts and to a model: one `HashMap` snapshot per
//! context and a stack of entered contexts. After every step it checks that every variable reads
//! what the model's current map holds, and that every context (read as a foreign reader would:
//! `get`, `contains`, `len`, `iter`) equals its model map. Tokens are checked against the
//! model's record of them: the error each reset must give, in CPython's order, or the value it
//! restores.
//!
//! Stored values carry a destructor action, picked by the value: set (or set and reset) a side
//! variable, run a fresh context, read and compare the thread's and a foreign view, or panic.
//! The epoch runs those destructors at unplanned points (inside a later set's pin, a read's pin,
//! a token's drop), so they act only on the thread running the model and only on the side
//! variable, which the model does not track; after every step the model checks that the
//! thread's read of the side variable equals a foreign read of the current context. A panic
//! from a value's destructor surfaces from a later set, reset, token drop or `Context::with`
//! (`DropPanic`); the model knows each such operation's effect and applies it.

use super::{copy_context, Context, ContextError, ContextVar, Token};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Number of variables the ops use.
const VARS: usize = 4;
/// Nesting limit of the decoder.
const DEPTH: u32 = 3;

/// One step of a test sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `vars[var].set(value)` in the current context; keeps the token.
    Set(u8, u32),
    /// `vars[var].reset(tokens[token])` (any token made so far, any variable).
    Reset(u8, u8),
    /// `vars[var].get()`, `with`, `is_set`.
    Get(u8),
    /// `copy_context()`: a new context in the pool.
    Copy,
    /// `pool[ctx].copy()`: a copy of any context in the pool.
    CopyOf(u8),
    /// Run the ops inside `pool[ctx]` (an entered one must give `AlreadyEntered`).
    Run(u8, Vec<Op>),
    /// As `Run`, then panic inside it.
    RunPanic(u8, Vec<Op>),
    /// `copy_context()` and run the ops inside the copy.
    RunCopy(Vec<Op>),
}

/// Decodes bytes into ops: an opcode byte, then its operands; `Run*` ops take a count byte
/// (0..8) and that many nested ops, up to three levels deep.
pub fn decode(bytes: &[u8]) -> Vec<Op> {
    let mut it = bytes.iter().copied();
    decode_level(&mut it, 0, usize::MAX)
}

fn decode_level(it: &mut dyn Iterator<Item = u8>, depth: u32, max: usize) -> Vec<Op> {
    let mut ops = Vec::new();
    while ops.len() < max {
        let Some(op) = it.next() else { break };
        let Some(a) = it.next() else { break };
        let nested = |it: &mut dyn Iterator<Item = u8>| -> Vec<Op> {
            if depth >= DEPTH {
                return Vec::new();
            }
            let n = usize::from(it.next().unwrap_or(0) % 8);
            decode_level(it, depth + 1, n)
        };
        ops.push(match op % 10 {
            0..=2 => Op::Set(a % VARS as u8, u32::from(op >> 4)),
            3 | 4 => Op::Reset(a >> 4, a % VARS as u8),
            5 => Op::Get(a % VARS as u8),
            6 => Op::Copy,
            7 => Op::CopyOf(a),
            8 if a & 1 == 0 => Op::Run(a >> 1, nested(it)),
            8 => Op::RunPanic(a >> 1, nested(it)),
            _ => Op::RunCopy(nested(it)),
        });
    }
    ops
}

/// The destructor action of a stored value, picked by its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Nothing,
    /// Set the side variable (the token dropped: the set stays).
    Set,
    /// Set the side variable and reset it.
    SetReset,
    /// Run a fresh context and read inside it.
    Run,
    /// Compare the thread's read of the side variable with a foreign read.
    Read,
    /// Panic (not in the fuzz build: libFuzzer aborts on any panic).
    Panic,
}

impl Act {
    fn of(n: u32) -> Act {
        match n % 8 {
            0 => Act::Set,
            1 => Act::SetReset,
            2 => Act::Run,
            3 => Act::Read,
            4 if !cfg!(loopkit_fuzz) => Act::Panic,
            _ => Act::Nothing,
        }
    }
}

/// The variable that destructors set; not part of the model.
static SIDE: ContextVar<u32> = ContextVar::new("side");

/// A stored value: its number, and what its destructor does on `home`.
#[derive(Debug)]
pub struct Val {
    n: u32,
    act: Act,
    home: std::thread::ThreadId,
}

impl Clone for Val {
    fn clone(&self) -> Val {
        // A clone (from `get`) does nothing when dropped.
        Val {
            act: Act::Nothing,
            ..*self
        }
    }
}

/// The payload of a value destructor's planned panic.
struct DropPanic;

/// Calls `f`; a panic that a value's destructor raised (and that surfaced here) gives `None`.
fn absorb<R>(f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(p) if p.is::<DropPanic>() => None,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// Reads `f` until it gives a value (absorbing surfaced destructor panics).
fn read<R>(mut f: impl FnMut() -> R) -> R {
    loop {
        if let Some(r) = absorb(&mut f) {
            return r;
        }
    }
}

/// The thread's read of the side variable and a foreign read of the current context agree. Each
/// foreign read pins, and a pin may run a destructor that sets the side variable: read until two
/// foreign reads around the thread's read agree.
fn side_consistent() {
    for _ in 0..100 {
        let before = read(|| copy_context().get(&SIDE));
        let mine = read(|| SIDE.get());
        let after = read(|| copy_context().get(&SIDE));
        if before == after {
            assert_eq!(mine, after, "the thread's read of the side variable");
            return;
        }
    }
    panic!("the side variable kept changing");
}

impl Drop for Val {
    fn drop(&mut self) {
        if std::thread::current().id() != self.home {
            return;
        }
        match self.act {
            Act::Nothing => {}
            Act::Set => drop(SIDE.set(self.n)),
            Act::SetReset => {
                let t = SIDE.set(self.n);
                SIDE.reset(&t).expect("reset in the context of the set");
            }
            Act::Run => {
                let inner = Context::new();
                let got = inner.run(|| {
                    let _t = SIDE.set(self.n);
                    SIDE.get()
                });
                assert_eq!(got, Ok(Some(self.n)));
            }
            Act::Read => side_consistent(),
            // `resume_unwind`: no panic hook output for a planned panic.
            Act::Panic => std::panic::resume_unwind(Box::new(DropPanic)),
        }
    }
}

/// The payload of the planned panic in `RunPanic` (`resume_unwind` skips the panic hook, so
/// the planned panics print nothing; a failed assertion inside is told apart by its payload).
struct TestPanic;

/// The model's record of a token.
struct TokenModel<'v> {
    token: Token<'v, Val>,
    var: usize,
    ctx: usize,
    old: Option<u32>,
    used: bool,
}

struct World<'v> {
    vars: &'v [ContextVar<Val>],
    /// Every context made, with its model map.
    pool: Vec<(Context, HashMap<usize, u32>)>,
    /// Pool indices of the entered contexts; the last is current.
    stack: Vec<usize>,
    tokens: Vec<TokenModel<'v>>,
}

impl<'v> World<'v> {
    fn cur(&self) -> usize {
        *self
            .stack
            .last()
            .expect("the root context is always entered")
    }

    fn check(&self) {
        let model = &self.pool[self.cur()].1;
        for (i, var) in self.vars.iter().enumerate() {
            assert_eq!(read(|| n(var.get())), model.get(&i).copied(), "get var {i}");
            assert_eq!(
                read(|| var.is_set()),
                model.contains_key(&i),
                "is_set var {i}"
            );
        }
        side_consistent();
        for (k, (ctx, model)) in self.pool.iter().enumerate() {
            // The side variable may be set in any context (by a destructor); the exact count
            // of the model's variables is checked on one version by `iter` below.
            let len = ctx.len();
            assert!(
                len == model.len() || len == model.len() + 1,
                "len of context {k}"
            );
            for (i, var) in self.vars.iter().enumerate() {
                let got = read(|| n(ctx.get(var)));
                assert_eq!(got, model.get(&i).copied(), "context {k} var {i}");
                assert_eq!(ctx.contains(var), model.contains_key(&i));
            }
            let mut n = 0;
            for e in ctx.iter().filter(|e| !e.is(&SIDE)) {
                let i = self
                    .vars
                    .iter()
                    .position(|v| e.is(v))
                    .expect("a known variable");
                assert_eq!(e.get(&self.vars[i]).map(|v| v.n), model.get(&i).copied());
                n += 1;
            }
            assert_eq!(n, model.len(), "iter of context {k}");
        }
    }

    fn push_ctx(&mut self, ctx: Context, model: HashMap<usize, u32>) -> usize {
        self.pool.push((ctx, model));
        self.pool.len() - 1
    }

    fn apply(&mut self, ops: &[Op]) {
        for op in ops {
            self.step(op);
            self.check();
        }
    }

    /// Runs `ops` in `pool[k]`, then panics if `panic`; checks the outcome.
    fn run_in(&mut self, k: usize, ops: &[Op], panic: bool) {
        let ctx = self.pool[k].0.clone();
        let entered = self.stack.contains(&k);
        // libFuzzer aborts on any panic, so the fuzz build runs `RunPanic` as `Run`.
        let panic = panic && !cfg!(loopkit_fuzz);
        let r = catch_unwind(AssertUnwindSafe(|| {
            ctx.run(|| {
                self.stack.push(k);
                self.check();
                self.apply(ops);
                self.stack.pop();
                if panic {
                    std::panic::resume_unwind(Box::new(TestPanic));
                }
            })
        }));
        match (entered, panic, r) {
            (true, _, Ok(Err(ContextError::AlreadyEntered))) => {}
            (false, false, Ok(Ok(()))) => {}
            (false, true, Err(p)) if p.is::<TestPanic>() => {}
            (_, _, Err(p)) => std::panic::resume_unwind(p),
            (entered, panic, Ok(r)) => panic!("run: entered={entered} panic={panic} gave {r:?}"),
        }
    }

    fn step(&mut self, op: &Op) {
        let cur = self.cur();
        match op {
            Op::Set(var, value) => {
                let var = usize::from(*var) % VARS;
                let old = self.pool[cur].1.insert(var, *value);
                let val = Val {
                    n: *value,
                    act: Act::of(*value),
                    home: std::thread::current().id(),
                };
                // A destructor's panic surfacing from the set: the set is done, the token lost.
                let Some(token) = absorb(|| self.vars[var].set(val)) else {
                    return;
                };
                assert_eq!(token.old_value().map(|v| v.n), old, "token old value");
                self.tokens.push(TokenModel {
                    token,
                    var,
                    ctx: cur,
                    old,
                    used: false,
                });
            }
            Op::Reset(token, var) => {
                if self.tokens.is_empty() {
                    return;
                }
                let n = self.tokens.len();
                let t = &mut self.tokens[usize::from(*token) % n];
                let var = usize::from(*var) % VARS;
                let expect = if t.used {
                    Err(ContextError::TokenUsed)
                } else if t.var != var {
                    Err(ContextError::TokenWrongVar)
                } else if t.ctx != cur {
                    Err(ContextError::TokenWrongContext)
                } else {
                    Ok(())
                };
                // A destructor's panic surfacing from the reset: the reset is done.
                let got = absorb(|| self.vars[var].reset(&t.token)).unwrap_or(Ok(()));
                assert_eq!(got, expect, "reset");
                assert_eq!(t.token.is_used(), t.used || expect.is_ok());
                if expect.is_ok() {
                    t.used = true;
                    let model = &mut self.pool[cur].1;
                    match t.old {
                        Some(v) => model.insert(var, v),
                        None => model.remove(&var),
                    };
                }
            }
            Op::Get(var) => {
                let var = usize::from(*var) % VARS;
                let want = self.pool[cur].1.get(&var).copied();
                assert_eq!(read(|| self.vars[var].with(|v| v.map(|v| v.n))), want);
            }
            Op::Copy => {
                let model = self.pool[cur].1.clone();
                self.push_ctx(copy_context(), model);
            }
            Op::CopyOf(k) => {
                let k = usize::from(*k) % self.pool.len();
                let copy = self.pool[k].0.copy();
                let model = self.pool[k].1.clone();
                self.push_ctx(copy, model);
            }
            Op::Run(k, ops) | Op::RunPanic(k, ops) => {
                let k = usize::from(*k) % self.pool.len();
                self.run_in(k, ops, matches!(op, Op::RunPanic(..)));
            }
            Op::RunCopy(ops) => {
                let model = self.pool[cur].1.clone();
                let k = self.push_ctx(copy_context(), model);
                self.run_in(k, ops, false);
            }
        }
    }
}

fn n(v: Option<Val>) -> Option<u32> {
    v.map(|v| v.n)
}

/// Applies `ops` to real contexts and to the model, asserting agreement after every step. The
/// ops run inside a fresh root context, so the calling thread's own context is not touched.
pub fn run(ops: &[Op]) {
    let vars: Vec<ContextVar<Val>> = (0..VARS).map(|_| ContextVar::new("v")).collect();
    let root = Context::new();
    let mut world = World {
        vars: &vars,
        pool: vec![(root.clone(), HashMap::new())],
        stack: Vec::new(),
        tokens: Vec::new(),
    };
    let before = copy_context();
    root.run(|| {
        world.stack.push(0);
        world.check();
        world.apply(ops);
        world.stack.pop();
    })
    .expect("the root context is fresh");
    // The tokens hold values too; a destructor's panic may surface from their drop.
    let World { pool, tokens, .. } = world;
    let _ = absorb(move || drop(tokens));
    let _ = absorb(move || drop(pool));
    // The caller's context is untouched.
    for var in &vars {
        assert!(var.get().is_none());
        assert!(!before.contains(var));
    }
}
