#!/usr/bin/env python3
"""CPython's `contextvars` on the rows of `benches/context.rs`, for a side-by-side table.

Stdlib only. Each row is timed with `timeit` (best of several repeats) and printed in ns per
operation net of an empty loop of the same shape. Run it right before or after
`cargo bench --bench context` in the same sitting:

    python3 benches/cpython_contextvars.py
"""
import contextvars
import sys
import timeit

REPEAT = 7


def per_op(stmt, setup, number, globs):
    """Best time per loop iteration of `stmt`, in ns, minus that of `pass`."""
    t = min(timeit.repeat(stmt, setup, number=number, repeat=REPEAT, globals=globs))
    e = min(timeit.repeat("pass", setup, number=number, repeat=REPEAT, globals=globs))
    return (t - e) / number * 1e9


def filled(n):
    """A context with `n` variables set, and the variables."""
    vs = [contextvars.ContextVar(f"v{i}") for i in range(max(n, 8))]
    ctx = contextvars.Context()

    def fill():
        for i in range(n):
            vs[i].set(i)

    ctx.run(fill)
    return ctx, vs


def row(name, ns):
    print(f"{name:<40} {ns:10.1f} ns")


def main():
    print(f"CPython {sys.version.split()[0]} contextvars, ns/op net of an empty loop")
    # get, cache hit: the same variable read repeatedly in the current context.
    ctx, vs = filled(8)
    g = {"v": vs[3]}
    row("get_hit", ctx.run(per_op, "v.get()", "", 2_000_000, g))
    # get, miss: alternate two variables (CPython caches one per variable: reading two in turn
    # hits each one's cache, so this is the cheapest miss CPython has; see BENCHMARKS.md).
    for n in (8, 64, 1000):
        ctx, vs = filled(n)
        g = {"a": vs[n - 2], "z": vs[n - 1]}
        row(f"get_pair/{n} (per read)", ctx.run(per_op, "a.get(); z.get()", "", 1_000_000, g) / 2)
    # set + reset with the token, `n` variables set.
    for n in (8, 64, 1000):
        ctx, vs = filled(n)
        g = {"v": vs[5]}
        row(f"set_reset/{n}", ctx.run(per_op, "v.reset(v.set(1))", "", 1_000_000, g))
    # set, token dropped (the value stays).
    for n in (8, 64, 1000):
        ctx, vs = filled(n)
        g = {"v": vs[5]}
        row(f"set_token/{n}", ctx.run(per_op, "v.set(1)", "", 1_000_000, g))
    # copy_context at 1, 1,000 and 1,000,000 variables.
    for n in (1, 1000, 1_000_000):
        ctx, vs = filled(n)
        g = {"copy_context": contextvars.copy_context}
        row(f"copy_context/{n}", ctx.run(per_op, "copy_context()", "", 1_000_000, g))
    # run with an empty body: Context.run of a no-op, net of calling the no-op directly.
    ctx = contextvars.Context()
    g = {"ctx": ctx, "f": lambda: None}
    run = per_op("ctx.run(f)", "", 1_000_000, g)
    call = per_op("f()", "", 1_000_000, g)
    row("run_enter_exit (net of the call)", run - call)


if __name__ == "__main__":
    main()
