//! The op-sequence routine shared by the proptest model test (`tests.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/context_ops.rs`).
//!
//! [`run`] applies each [`Op`] to real contexts and to a model: one `HashMap` snapshot per
//! context and a stack of entered contexts. After every step it checks that every variable reads
//! what the model's current map holds, and that every context (read as a foreign reader would:
//! `get`, `contains`, `len`, `iter`) equals its model map. Tokens are checked against the
//! model's record of them: the error each reset must give, in CPython's order, or the value it
//! restores.

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

/// The payload of the planned panic in `RunPanic` (`resume_unwind` skips the panic hook, so
/// the planned panics print nothing; a failed assertion inside is told apart by its payload).
struct TestPanic;

/// The model's record of a token.
struct TokenModel<'v> {
    token: Token<'v, u32>,
    var: usize,
    ctx: usize,
    old: Option<u32>,
    used: bool,
}

struct World<'v> {
    vars: &'v [ContextVar<u32>],
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
            assert_eq!(var.get(), model.get(&i).copied(), "get var {i}");
            assert_eq!(var.is_set(), model.contains_key(&i), "is_set var {i}");
        }
        for (k, (ctx, model)) in self.pool.iter().enumerate() {
            assert_eq!(ctx.len(), model.len(), "len of context {k}");
            for (i, var) in self.vars.iter().enumerate() {
                assert_eq!(ctx.get(var), model.get(&i).copied(), "context {k} var {i}");
                assert_eq!(ctx.contains(var), model.contains_key(&i));
            }
            let mut n = 0;
            for e in ctx.iter() {
                let i = self
                    .vars
                    .iter()
                    .position(|v| e.is(v))
                    .expect("a known variable");
                assert_eq!(e.get(&self.vars[i]).copied(), model.get(&i).copied());
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
                let token = self.vars[var].set(*value);
                assert_eq!(token.old_value().copied(), old, "token old value");
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
                assert_eq!(self.vars[var].reset(&t.token), expect, "reset");
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
                assert_eq!(self.vars[var].with(|v| v.copied()), want);
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

/// Applies `ops` to real contexts and to the model, asserting agreement after every step. The
/// ops run inside a fresh root context, so the calling thread's own context is not touched.
pub fn run(ops: &[Op]) {
    let vars: Vec<ContextVar<u32>> = (0..VARS).map(|_| ContextVar::new("v")).collect();
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
    // The caller's context is untouched.
    for var in &vars {
        assert_eq!(var.get(), None);
        assert!(!before.contains(var));
    }
}
