//! Context variables on real threads: many threads sharing variables, each in its own contexts
//! (the shape of the CPython free-threading race on the per-variable cache); foreign readers of a
//! context its owner keeps setting; two threads racing to enter one context.

use loopkit::context::{copy_context, Context, ContextError, ContextVar, Token};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;
use support::rng::Rng;
use support::watchdog::Watchdog;

mod support;

const THREADS: usize = 4;
const VARS: usize = 6;

static SHARED: [ContextVar<u64>; VARS] = [
    ContextVar::new("v0"),
    ContextVar::new("v1"),
    ContextVar::new("v2"),
    ContextVar::new("v3"),
    ContextVar::new("v4"),
    ContextVar::with_default("v5", u64::MAX),
];

/// A token with its variable and the model's old value.
type Saved = (usize, Token<'static, u64>, Option<u64>);

/// A value that names its thread, context and step, so a value seen in the wrong place is
/// recognised.
fn value(thread: usize, ctx: usize, step: usize) -> u64 {
    ((thread as u64) << 48) | ((ctx as u64) << 32) | step as u64
}

/// Every thread interleaves set / get / reset / run / context switches on the same variables,
/// each in its own contexts, and checks every read against its own model: a value from another
/// thread, or a stale cached one, fails the test.
#[test]
fn shared_variables_private_contexts() {
    let _dog = Watchdog::new(
        "shared_variables_private_contexts",
        Duration::from_secs(120),
    );
    let steps = if cfg!(miri) { 50 } else { 5_000 };
    let start = Barrier::new(THREADS);
    thread::scope(|s| {
        for t in 0..THREADS {
            let start = &start;
            s.spawn(move || {
                let contexts: Vec<Context> = (0..3).map(|_| Context::new()).collect();
                let mut models: Vec<HashMap<usize, u64>> = vec![HashMap::new(); 3];
                let mut tokens: Vec<Vec<Saved>> = (0..3).map(|_| Vec::new()).collect();
                let mut rng = Rng::new(t as u64);
                start.wait();
                for step in 0..steps {
                    // A seeded random walk over contexts, variables and ops, per thread.
                    let k = rng.index(3);
                    let var = rng.index(VARS);
                    let op = rng.below(8);
                    let (ctx, model, toks) = (&contexts[k], &mut models[k], &mut tokens[k]);
                    ctx.run(|| {
                        let want = |m: &HashMap<usize, u64>, v: usize| {
                            m.get(&v)
                                .copied()
                                .or(if v == 5 { Some(u64::MAX) } else { None })
                        };
                        match op {
                            0..=2 => {
                                let val = value(t, k, step);
                                let old = model.insert(var, val);
                                let tok = SHARED[var].set(val);
                                assert_eq!(tok.old_value().copied(), old);
                                toks.push((var, tok, old));
                            }
                            3 => {
                                if let Some((v, tok, old)) = toks.pop() {
                                    SHARED[v].reset(&tok).unwrap();
                                    match old {
                                        Some(o) => model.insert(v, o),
                                        None => model.remove(&v),
                                    };
                                }
                            }
                            4 => {
                                // A nested run of a copy: sees the same values, its sets stay in it.
                                let copy = copy_context();
                                copy.run(|| {
                                    for (v, var) in SHARED.iter().enumerate() {
                                        assert_eq!(var.get(), want(model, v));
                                    }
                                    let _ = SHARED[var].set(value(t, 9, step));
                                    assert_eq!(SHARED[var].get(), Some(value(t, 9, step)));
                                })
                                .unwrap();
                            }
                            _ => {}
                        }
                        for (v, var) in SHARED.iter().enumerate() {
                            assert_eq!(var.get(), want(model, v), "thread {t} ctx {k} var {v}");
                            var.with(|x| assert_eq!(x.copied(), want(model, v)));
                        }
                    })
                    .unwrap();
                    // The thread's own context never saw any of it.
                    assert_eq!(
                        SHARED[var].get(),
                        if var == 5 { Some(u64::MAX) } else { None }
                    );
                }
                for (k, ctx) in contexts.iter().enumerate() {
                    assert_eq!(ctx.len(), models[k].len());
                }
            });
        }
    });
}

/// One thread runs in a context and sets two variables in a loop; other threads read the context
/// (`copy`, `iter`, `len`, `get`, `with`): each read is one version (the two values differ by at
/// most the one set in between) and versions never go back.
#[test]
fn foreign_readers_while_owner_sets() {
    static A: ContextVar<u64> = ContextVar::new("a");
    static B: ContextVar<String> = ContextVar::new("b");
    let _dog = Watchdog::new("foreign_readers_while_owner_sets", Duration::from_secs(120));
    let rounds: u64 = if cfg!(miri) { 30 } else { 20_000 };
    let ctx = Context::new();
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            ctx.run(|| {
                for i in 1..=rounds {
                    let _ = A.set(i);
                    let _ = B.set(i.to_string());
                }
            })
            .unwrap();
            done.store(true, SeqCst);
        });
        for _ in 0..2 {
            s.spawn(|| {
                let mut last = 0;
                let mut reads = 0u64;
                while !done.load(SeqCst) || reads == 0 {
                    let snap = ctx.copy();
                    let a = snap.get(&A).unwrap_or(0);
                    let b: u64 = snap.get(&B).map_or(0, |b| b.parse().unwrap());
                    assert!(a == b || a == b + 1, "copy: a={a} b={b}");
                    assert!(b >= last, "went back: {b} < {last}");
                    last = b;
                    let entries: Vec<_> = ctx.iter().collect();
                    assert!(entries.len() <= 2 && ctx.len() <= 2);
                    let ea = entries
                        .iter()
                        .find(|e| e.is(&A))
                        .and_then(|e| e.get(&A).copied());
                    let eb = entries
                        .iter()
                        .find(|e| e.is(&B))
                        .and_then(|e| e.get(&B).cloned());
                    let (ea, eb) = (ea.unwrap_or(0), eb.map_or(0, |b| b.parse().unwrap()));
                    assert!(ea == eb || ea == eb + 1, "iter: a={ea} b={eb}");
                    assert!(eb >= last);
                    let live = ctx.with(&B, |b| b.map(|b| b.len()));
                    assert!(live.is_none() || live.unwrap() >= 1);
                    reads += 1;
                }
                assert_eq!(last.max(ctx.get(&A).unwrap()), rounds);
            });
        }
    });
    assert_eq!(ctx.get(&A), Some(rounds));
    assert_eq!(ctx.get(&B), Some(rounds.to_string()));
}

/// Two threads try to enter one context at the same moment, many times: exactly one wins each
/// round; the loser gets `AlreadyEntered` while the winner is inside.
#[test]
fn two_threads_race_to_enter() {
    let _dog = Watchdog::new("two_threads_race_to_enter", Duration::from_secs(120));
    let rounds = if cfg!(miri) { 5 } else { 1_000 };
    let ctx = Context::new();
    let barrier = Barrier::new(2);
    let arrived = AtomicUsize::new(0);
    let inside = AtomicUsize::new(0);
    let wins = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for round in 0..rounds {
                    barrier.wait();
                    let r = ctx.run(|| {
                        inside.fetch_add(1, SeqCst);
                        arrived.fetch_add(1, SeqCst);
                        // Stay inside until the other thread has tried (or entered too).
                        while arrived.load(SeqCst) < 2 {
                            std::hint::spin_loop();
                        }
                        assert_eq!(
                            inside.load(SeqCst),
                            1,
                            "two threads inside in round {round}"
                        );
                        inside.fetch_sub(1, SeqCst);
                    });
                    match r {
                        Ok(()) => {
                            wins.fetch_add(1, SeqCst);
                        }
                        Err(e) => {
                            assert_eq!(e, ContextError::AlreadyEntered);
                            arrived.fetch_add(1, SeqCst);
                        }
                    }
                    barrier.wait();
                    arrived.store(0, SeqCst);
                    barrier.wait();
                }
            });
        }
    });
    assert_eq!(wins.load(SeqCst), rounds, "exactly one winner per round");
}
