//! Context-variable benchmarks: loopkit's `ContextVar` / `Context` against what a Rust user would
//! reach for instead, in the same run: a `thread_local!` `Cell` read (the floor),
//! `tokio::task_local!` (scoped, not inherited, no copy) and `opentelemetry::Context` (a cloned
//! `HashMap` keyed by type per update).
//!
//! Rows: `get` on a cache hit; `get` on a cache miss with 8 / 64 / 1,000 variables set (two
//! variables that share a read-cache slot, read in turn, so every read misses); `set` with its
//! token at 8 / 64 / 1,000 (with the trie's persistent insert alone at the same sizes, to show
//! its share); `copy_context` at 1 and 1,000,000 variables; `run` enter + exit
//! with an empty body; a foreign `ctx.get(&var)` while the owner thread sets in a loop; `get` on
//! 1 and 2 threads, each in its own context (wall time of `iters` reads per thread: equal times
//! mean 2x the throughput).
//!
//! Run: `cargo bench --bench context -- --warm-up-time 1 --measurement-time 2`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use loopkit::context::{copy_context, Context, ContextVar, READ_CACHE_SLOTS};
use loopkit::hamt::Hamt;
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;
use support::harness;

#[path = "../tests/support/mod.rs"]
mod support;

thread_local! {
    static TL: Cell<u64> = const { Cell::new(7) };
}

tokio::task_local! {
    static TASK: u64;
}

/// `n` fresh variables with consecutive ids (ids are given out at first use, in order).
fn vars(n: usize) -> Vec<ContextVar<u64>> {
    let v: Vec<ContextVar<u64>> = (0..n).map(|_| ContextVar::new("bench")).collect();
    for var in &v {
        black_box(var.is_set()); // assigns the id now, in order
    }
    v
}

/// A context with `n` variables set (returns it and the variables).
fn filled(n: usize) -> (Context, Vec<ContextVar<u64>>) {
    let v = vars(n);
    let ctx = Context::new();
    ctx.run(|| {
        for (i, var) in v.iter().enumerate() {
            let _ = var.set(i as u64);
        }
    })
    .unwrap();
    (ctx, v)
}

/// Distinct zero-sized key types for `opentelemetry::Context` (it keys values by type).
macro_rules! otel_keys {
    ($($k:ident)*) => {
        $( #[derive(Clone, Copy)] #[allow(dead_code)] struct $k(u64); )*
        fn otel_with(n: usize) -> opentelemetry::Context {
            let mut cx = opentelemetry::Context::new();
            let mut i = 0;
            $( if i < n { cx = cx.with_value($k(i as u64)); } i += 1; )*
            let _ = i;
            cx
        }
    };
}
otel_keys!(K0 K1 K2 K3 K4 K5 K6 K7 K8 K9 K10 K11 K12 K13 K14 K15 K16 K17 K18 K19 K20 K21 K22 K23
    K24 K25 K26 K27 K28 K29 K30 K31 K32 K33 K34 K35 K36 K37 K38 K39 K40 K41 K42 K43 K44 K45 K46
    K47 K48 K49 K50 K51 K52 K53 K54 K55 K56 K57 K58 K59 K60 K61 K62 K63);

fn get_hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("context/get_hit");
    g.bench_function("thread_local", |b| {
        b.iter(|| TL.with(|v| black_box(v.get())))
    });
    let (ctx, v) = filled(8);
    ctx.run(|| {
        g.bench_function("loopkit", |b| b.iter(|| black_box(v[3].get())));
        g.bench_function("loopkit_with", |b| {
            b.iter(|| v[3].with(|x| black_box(x.copied())))
        });
    })
    .unwrap();
    TASK.sync_scope(7, || {
        g.bench_function("tokio_task_local", |b| {
            b.iter(|| TASK.with(|x| black_box(*x)))
        });
    });
    let _guard = otel_with(8).attach();
    g.bench_function("opentelemetry", |b| {
        b.iter(|| opentelemetry::Context::map_current(|cx| black_box(cx.get::<K3>().map(|k| k.0))))
    });
    g.finish();
}

fn get_miss(c: &mut Criterion) {
    let mut g = c.benchmark_group("context/get_miss");
    for n in [8usize, 64, 1_000] {
        // Two more variables, READ_CACHE_SLOTS ids apart: they share a cache slot, so reading
        // them in turn misses every time and does the full trie lookup.
        let (ctx, mut v) = filled(n.saturating_sub(2));
        let extra = vars(READ_CACHE_SLOTS + 1);
        ctx.run(|| {
            let _ = extra[0].set(1);
            let _ = extra[READ_CACHE_SLOTS].set(2);
        })
        .unwrap();
        assert_eq!(ctx.len(), n);
        v.extend(extra);
        let (a, z) = (&v[n - 2], &v[n - 2 + READ_CACHE_SLOTS]);
        ctx.run(|| {
            g.bench_with_input(BenchmarkId::new("loopkit", n), &n, |b, _| {
                b.iter(|| black_box(a.get()).unwrap() + black_box(z.get()).unwrap())
            });
        })
        .unwrap();
        if n <= 64 {
            let _guard = otel_with(n).attach();
            g.bench_with_input(BenchmarkId::new("opentelemetry", n), &n, |b, _| {
                b.iter(|| {
                    opentelemetry::Context::map_current(|cx| {
                        black_box(cx.get::<K5>().map(|k| k.0)).unwrap()
                            + black_box(cx.get::<K7>().map(|k| k.0)).unwrap()
                    })
                })
            });
        }
    }
    g.finish();
}

fn set_token(c: &mut Criterion) {
    let mut g = c.benchmark_group("context/set_token");
    for n in [8usize, 64, 1_000] {
        let (ctx, v) = filled(n);
        ctx.run(|| {
            let mut i = 0u64;
            g.bench_with_input(BenchmarkId::new("loopkit", n), &n, |b, _| {
                b.iter(|| {
                    i += 1;
                    black_box(v[5].set(i));
                })
            });
        })
        .unwrap();
        // The trie's share of a set: the persistent insert of a reference-counted value into a
        // map of the same size (what `set` does before publishing the new version).
        let mut map: Hamt<u64, Arc<u64>> = (0..n as u64).map(|k| (k, Arc::new(k))).collect();
        let mut i = 0u64;
        g.bench_with_input(BenchmarkId::new("hamt_insert_only", n), &n, |b, _| {
            b.iter(|| {
                i += 1;
                map = black_box(map.insert_with(5, Arc::new(i), Arc::ptr_eq));
            })
        });
        if n <= 64 {
            let _guard = otel_with(n).attach();
            let mut i = 0u64;
            g.bench_with_input(BenchmarkId::new("opentelemetry", n), &n, |b, _| {
                b.iter(|| {
                    i += 1;
                    black_box(opentelemetry::Context::current_with_value(K5(i)).attach());
                })
            });
        }
    }
    let mut i = 0u64;
    g.bench_function("tokio_task_local_scope", |b| {
        b.iter(|| {
            i += 1;
            TASK.sync_scope(i, || black_box(()))
        })
    });
    g.finish();
}

/// `set` then `reset` with its token: the row `benches/cpython_contextvars.py` prints as
/// `set_reset/n` (CPython's `v.reset(v.set(1))`).
fn set_reset(c: &mut Criterion) {
    let mut g = c.benchmark_group("context/set_reset");
    for n in [8usize, 64, 1_000] {
        let (ctx, v) = filled(n);
        ctx.run(|| {
            let mut i = 0u64;
            g.bench_with_input(BenchmarkId::new("loopkit", n), &n, |b, _| {
                b.iter(|| {
                    i += 1;
                    let t = v[5].set(i);
                    black_box(v[5].reset(&t)).unwrap();
                })
            });
        })
        .unwrap();
    }
    g.finish();
}

fn copy(c: &mut Criterion) {
    let mut g = c.benchmark_group("context/copy_context");
    for n in [1usize, 1_000, 1_000_000] {
        let (ctx, v) = filled(n);
        ctx.run(|| {
            g.bench_with_input(BenchmarkId::new("loopkit", n), &n, |b, _| {
                b.iter(|| black_box(copy_context()))
            });
        })
        .unwrap();
        drop((ctx, v));
    }
    let _guard = otel_with(1).attach();
    g.bench_function("opentelemetry_current/1", |b| {
        b.iter(|| black_box(opentelemetry::Context::current()))
    });
    g.finish();
}

fn run_enter_exit(c: &mut Criterion) {
    let mut g = c.benchmark_group("context/run_enter_exit");
    let (ctx, _v) = filled(8);
    g.bench_function("loopkit", |b| b.iter(|| ctx.run(|| black_box(()))));
    g.bench_function("tokio_task_local_scope", |b| {
        b.iter(|| TASK.sync_scope(1, || black_box(())))
    });
    let cx = otel_with(8);
    g.bench_function("opentelemetry_attach", |b| {
        b.iter(|| black_box(cx.clone().attach()))
    });
    g.finish();
}

fn foreign_get(c: &mut Criterion) {
    let mut g = c.benchmark_group("context/foreign_get");
    let (ctx, v) = filled(8);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            ctx.run(|| {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let _ = v[2].set(i);
                }
            })
            .unwrap();
        });
        g.bench_function("loopkit_while_owner_sets", |b| {
            b.iter(|| black_box(ctx.get(&v[2])))
        });
        stop.store(true, Ordering::Relaxed);
    });
    g.bench_function("loopkit_quiet", |b| b.iter(|| black_box(ctx.get(&v[2]))));
    g.finish();
}

/// Wall time for `threads` threads to do `iters` reads each, each in its own context, started
/// together.
fn timed_gets(threads: usize, iters: u64) -> Duration {
    let (ctxs, vs): (Vec<_>, Vec<_>) = (0..threads).map(|_| filled(8)).unzip();
    let ready = Barrier::new(threads);
    harness::timed_threads(
        threads,
        |t| {
            ctxs[t]
                .run(|| {
                    black_box(vs[t][3].get()); // fill this thread's cache slot
                    ready.wait();
                    for _ in 0..iters {
                        black_box(vs[t][3].get());
                    }
                })
                .unwrap();
        },
        || {},
    )
}

fn get_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("context/get_threads");
    for threads in harness::thread_sweep(&[1, 2]) {
        g.bench_with_input(BenchmarkId::new("loopkit", threads), &threads, |b, &t| {
            b.iter_custom(|iters| timed_gets(t, iters))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    get_hit,
    get_miss,
    set_token,
    set_reset,
    copy,
    run_enter_exit,
    foreign_get,
    get_threads
);
criterion_main!(benches);
