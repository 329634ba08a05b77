//! Unit tests: every rule of PEP 567 / CPython's `Python/context.c` and every error, the read
//! cache, the `with` borrow, drop counting, panic safety, the future adapter, and the proptest
//! model test.

use super::ops;
use super::*;
use crate::support::waker::CountingWaker;
use crossbeam_epoch as epoch;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
// SeqCst throughout: test counters, read after the code under test; they order nothing else.
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;

/// Drives the epoch collector until `done()` or a bound is reached (other tests' threads may
/// hold pins for a moment).
fn collect_until(done: impl Fn() -> bool) -> bool {
    for i in 0..if cfg!(miri) { 50 } else { 10_000 } {
        if done() {
            return true;
        }
        // This thread's retire queue first (it hands versions to the epoch in batches).
        local::flush_queue();
        epoch::pin().flush();
        if i < 1_000 {
            std::thread::yield_now();
        } else {
            // A loaded machine: a thread descheduled while pinned holds the epoch back.
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
    }
    done()
}

/// A value that counts its drops.
#[derive(Debug)]
struct Counted(u32, Arc<AtomicUsize>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted(self.0, self.1.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, SeqCst);
    }
}

#[test]
fn new_name_default_and_get() {
    static A: ContextVar<u32> = ContextVar::new("a");
    static B: ContextVar<u32> = ContextVar::with_default("b", 7);
    assert_eq!(A.name(), "a");
    assert_eq!(B.name(), "b");
    assert_eq!(A.default(), None);
    assert_eq!(B.default(), Some(&7));
    Context::new()
        .run(|| {
            assert_eq!(A.get(), None);
            assert_eq!(B.get(), Some(7));
            assert!(!B.is_set());
            let _t = B.set(8);
            assert_eq!(B.get(), Some(8));
            assert!(B.is_set());
        })
        .unwrap();
    let owned = ContextVar::named_with_default(format!("n{}", 1), 5u8);
    assert_eq!(owned.name(), "n1");
    assert_eq!(owned.get(), Some(5));
    assert_eq!(ContextVar::<u8>::named("x".into()).get(), None);
    assert!(format!("{A:?}").contains("\"a\""));
}

#[test]
fn two_variables_with_one_name_are_different_keys() {
    let a: ContextVar<u32> = ContextVar::new("same");
    let b: ContextVar<u32> = ContextVar::new("same");
    let ctx = Context::new();
    ctx.run(|| {
        let _t = a.set(1);
        assert_eq!(b.get(), None);
        let _t = b.set(2);
        assert_eq!((a.get(), b.get()), (Some(1), Some(2)));
    })
    .unwrap();
    assert_eq!(ctx.len(), 2);
}

#[test]
fn set_changes_only_the_current_context() {
    let v: ContextVar<&str> = ContextVar::new("v");
    let outer = Context::new();
    let inner = Context::new();
    outer
        .run(|| {
            v.set("outer");
            inner
                .run(|| {
                    // A nested run sees only its own context's values.
                    assert_eq!(v.get(), None);
                    v.set("inner");
                    assert_eq!(v.get(), Some("inner"));
                })
                .unwrap();
            assert_eq!(v.get(), Some("outer"));
        })
        .unwrap();
    assert_eq!(outer.get(&v), Some("outer"));
    assert_eq!(inner.get(&v), Some("inner"));
    assert_eq!(v.get(), None, "the thread's own context is untouched");
}

#[test]
fn run_returns_the_value_and_rejects_an_entered_context() {
    let ctx = Context::new();
    assert_eq!(ctx.run(|| 41 + 1), Ok(42));
    let r = ctx.run(|| {
        assert_eq!(ctx.run(|| ()), Err(ContextError::AlreadyEntered));
        assert_eq!(
            ctx.clone().run(|| ()),
            Err(ContextError::AlreadyEntered),
            "a second handle to the same context"
        );
        "ok"
    });
    assert_eq!(r, Ok("ok"));
    // Usable again after the run.
    assert_eq!(ctx.run(|| 1), Ok(1));
}

#[test]
fn entered_elsewhere_is_already_entered() {
    let ctx = Context::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let (tx2, rx2) = std::sync::mpsc::channel::<()>();
    let c = ctx.clone();
    let h = std::thread::spawn(move || {
        c.run(|| {
            tx.send(()).unwrap();
            rx2.recv().unwrap();
        })
        .unwrap();
    });
    rx.recv().unwrap();
    assert_eq!(ctx.run(|| ()), Err(ContextError::AlreadyEntered));
    tx2.send(()).unwrap();
    h.join().unwrap();
    assert_eq!(ctx.run(|| ()), Ok(()));
}

#[test]
fn panic_in_run_restores_the_previous_context() {
    let v: ContextVar<u32> = ContextVar::new("v");
    let _t = v.set(1);
    let ctx = Context::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        ctx.run(|| {
            v.set(2);
            assert_eq!(v.get(), Some(2));
            panic!("boom");
        })
    }));
    assert!(r.is_err());
    assert_eq!(
        v.get(),
        Some(1),
        "previous context restored, cache invalidated"
    );
    assert_eq!(ctx.get(&v), Some(2), "the set before the panic stays");
    assert_eq!(
        ctx.run(|| v.get()),
        Ok(Some(2)),
        "the context is usable again"
    );
}

#[test]
fn copy_context_is_a_snapshot_shared_not_copied() {
    let v: ContextVar<u32> = ContextVar::new("v");
    let w: ContextVar<u32> = ContextVar::new("w");
    Context::new()
        .run(|| {
            v.set(1);
            let snap = copy_context();
            v.set(2);
            w.set(3);
            assert_eq!(snap.get(&v), Some(1));
            assert!(!snap.contains(&w));
            assert_eq!(snap.len(), 1);
            // The copy shares the map: O(1).
            let snap2 = copy_context();
            let cur = local::current_map();
            assert!(snap2.inner.read(|m| m.ptr_eq(&cur)));
            // The copy is a new context: it can be entered while this one is.
            assert_eq!(snap2.run(|| (v.get(), w.get())), Ok((Some(2), Some(3))));
        })
        .unwrap();
}

#[test]
fn copy_context_of_a_fresh_thread_is_empty() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let _t = V.set(5);
    std::thread::spawn(|| {
        assert_eq!(V.get(), None, "a fresh thread starts in an empty context");
        assert!(copy_context().is_empty());
        let _t = V.set(6);
        assert_eq!(copy_context().get(&V), Some(6));
    })
    .join()
    .unwrap();
    assert_eq!(V.get(), Some(5));
}

#[test]
fn context_copy_len_iter_contains() {
    let a: ContextVar<u32> = ContextVar::new("a");
    let b: ContextVar<String> = ContextVar::new("b");
    let ctx = Context::new();
    assert!(ctx.is_empty());
    assert_eq!(ctx.iter().len(), 0);
    ctx.run(|| {
        a.set(1);
        b.set("x".into());
    })
    .unwrap();
    assert_eq!(ctx.len(), 2);
    assert!(ctx.contains(&a) && ctx.contains(&b));
    let c = ctx.copy();
    assert!(!c.ptr_eq(&ctx));
    c.run(|| a.set(9)).unwrap();
    assert_eq!((ctx.get(&a), c.get(&a)), (Some(1), Some(9)));
    let mut seen = Vec::new();
    for e in &ctx {
        if e.is(&a) {
            assert_eq!(e.get(&a), Some(&1));
            assert_eq!(e.get(&b), None);
            assert_eq!(e.downcast_ref::<u32>(), Some(&1));
        } else {
            assert!(e.is(&b));
            assert_eq!(e.get(&b).map(String::as_str), Some("x"));
            assert!(e.value().is::<String>());
        }
        seen.push(e.name().to_string());
    }
    seen.sort();
    assert_eq!(seen, ["a", "b"]);
    assert!(format!("{ctx:?}").contains("len: 2"));
    assert_eq!(Context::default().len(), 0);
}

#[test]
fn token_records_the_old_value_and_is_usable_once() {
    let v: ContextVar<u32> = ContextVar::with_default("v", 100);
    Context::new()
        .run(|| {
            let t1 = v.set(1);
            assert_eq!(
                t1.old_value(),
                None,
                "was unset (the default does not count)"
            );
            let t2 = v.set(2);
            assert_eq!(t2.old_value(), Some(&1));
            assert!(std::ptr::eq(t2.var(), &v));
            assert!(!t2.is_used());
            assert_eq!(v.reset(&t2), Ok(()));
            assert!(t2.is_used());
            assert_eq!(v.get(), Some(1));
            assert_eq!(v.reset(&t2), Err(ContextError::TokenUsed));
            assert_eq!(v.reset(&t1), Ok(()));
            assert_eq!(v.get(), Some(100), "unset again: the default");
            assert!(!v.is_set());
            assert_eq!(copy_context().len(), 0);
            assert!(format!("{t1:?}").contains("used: true"));
        })
        .unwrap();
}

#[test]
fn reset_out_of_order_follows_python() {
    // set a, set b, reset(first) -> unset; reset(second) -> back to a.
    let v: ContextVar<u32> = ContextVar::new("v");
    Context::new()
        .run(|| {
            let t1 = v.set(1);
            let t2 = v.set(2);
            v.reset(&t1).unwrap();
            assert_eq!(v.get(), None);
            v.reset(&t2).unwrap();
            assert_eq!(v.get(), Some(1));
        })
        .unwrap();
}

#[test]
fn reset_errors_in_python_order_and_change_nothing() {
    let v: ContextVar<u32> = ContextVar::new("v");
    let w: ContextVar<u32> = ContextVar::new("w");
    let ctx = Context::new();
    let other = Context::new();
    ctx.run(|| {
        let t = v.set(1);
        assert_eq!(w.reset(&t), Err(ContextError::TokenWrongVar));
        assert_eq!(
            other.run(|| v.reset(&t)),
            Ok(Err(ContextError::TokenWrongContext))
        );
        // Wrong variable is checked before wrong context.
        assert_eq!(
            other.run(|| w.reset(&t)),
            Ok(Err(ContextError::TokenWrongVar))
        );
        assert!(!t.is_used(), "a failed reset does not use the token");
        assert_eq!(v.get(), Some(1));
        v.reset(&t).unwrap();
        // Used is checked first.
        assert_eq!(w.reset(&t), Err(ContextError::TokenUsed));
        assert_eq!(other.run(|| v.reset(&t)), Ok(Err(ContextError::TokenUsed)));
    })
    .unwrap();
}

#[test]
fn token_from_the_thread_context_is_wrong_in_a_run_and_vice_versa() {
    let v: ContextVar<u32> = ContextVar::new("v");
    let t = v.set(1);
    let ctx = Context::new();
    let inner = ctx.run(|| v.set(2)).unwrap();
    assert_eq!(
        ctx.run(|| v.reset(&t)),
        Ok(Err(ContextError::TokenWrongContext))
    );
    assert_eq!(v.reset(&inner), Err(ContextError::TokenWrongContext));
    assert_eq!(ctx.run(|| v.reset(&inner)), Ok(Ok(())));
    assert_eq!(ctx.get(&v), None);
    v.reset(&t).unwrap();
    // A fresh thread's context is not the one a token was made in.
    let v2: ContextVar<u32> = ContextVar::new("v2");
    std::thread::scope(|s| {
        s.spawn(|| {
            let t = v2.set(1);
            let (h, t) = std::thread::scope(|s| s.spawn(|| (v2.reset(&t), t)).join().unwrap());
            assert_eq!(h, Err(ContextError::TokenWrongContext));
            v2.reset(&t).unwrap();
        });
    });
}

#[test]
fn token_reset_after_the_context_moved_threads() {
    // The context, not the thread, is what a token belongs to.
    static V: ContextVar<u32> = ContextVar::new("v");
    let ctx = Context::new();
    let token = ctx.run(|| V.set(1)).unwrap();
    let c = ctx.clone();
    let r = std::thread::scope(|s| s.spawn(move || c.run(|| V.reset(&token))).join().unwrap());
    assert_eq!(r, Ok(Ok(())));
    assert_eq!(ctx.get(&V), None);
}

#[test]
fn scoped_token_resets_on_drop() {
    let v: ContextVar<u32> = ContextVar::new("v");
    {
        let s = v.set_scoped(1);
        assert_eq!(s.token().old_value(), None);
        {
            let _s2 = v.set_scoped(2);
            assert_eq!(v.get(), Some(2));
        }
        assert_eq!(v.get(), Some(1));
        assert!(format!("{s:?}").contains("ScopedToken"));
    }
    assert_eq!(v.get(), None);
    // Made in one context, dropped in another: nothing changes, explicit reset reports it.
    let ctx = Context::new();
    let s = ctx.run(|| v.set_scoped(3)).unwrap();
    assert_eq!(s.reset(), Err(ContextError::TokenWrongContext));
    let s = ctx.run(|| v.set_scoped(4)).unwrap();
    drop(s);
    assert_eq!(ctx.get(&v), Some(4));
    assert_eq!(ctx.run(|| v.set_scoped(5).reset()), Ok(Ok(())));
    assert_eq!(ctx.get(&v), Some(4));
}

#[test]
fn read_cache_is_invalidated_by_set_reset_enter_exit() {
    let v: ContextVar<u32> = ContextVar::new("v");
    let a = Context::new();
    let b = Context::new();
    a.run(|| v.set(1)).unwrap();
    b.run(|| v.set(2)).unwrap();
    for _ in 0..3 {
        assert_eq!(v.get(), None);
        assert_eq!(a.run(|| v.get()), Ok(Some(1)));
        assert_eq!(
            b.run(|| (v.get(), a.run(|| v.get()).unwrap(), v.get())),
            Ok((Some(2), Some(1), Some(2)))
        );
        let t = a.run(|| (v.get(), v.set(10), v.get())).unwrap();
        assert_eq!((t.0, t.2), (Some(1), Some(10)));
        assert_eq!(a.run(|| (v.reset(&t.1), v.get())), Ok((Ok(()), Some(1))));
    }
    // More variables than the cache has slots: those that share a slot still read right
    // (under Miri only two colliding pairs are set and read).
    let vars: Vec<ContextVar<usize>> = (0..local::SLOTS + 2)
        .map(|_| ContextVar::new("m"))
        .collect();
    for var in &vars {
        var.is_set(); // ids in order: vars[i] and vars[i + SLOTS] share a slot
    }
    let used: Vec<usize> = if cfg!(miri) {
        vec![0, 1, local::SLOTS, local::SLOTS + 1]
    } else {
        (0..vars.len()).collect()
    };
    let ctx = Context::new();
    ctx.run(|| {
        for &i in &used {
            vars[i].set(i);
        }
        for _ in 0..2 {
            for &i in &used {
                assert_eq!(vars[i].get(), Some(i));
            }
        }
    })
    .unwrap();
}

#[test]
fn with_lends_without_copy_and_survives_sets_inside() {
    let drops = Arc::new(AtomicUsize::new(0));
    let v: ContextVar<Counted> = ContextVar::new("v");
    let ctx = Context::new();
    ctx.run(|| {
        v.set(Counted(1, drops.clone()));
        v.with(|first| {
            let first = first.unwrap();
            // Replace it (and the map version holding it) several times, and drive the
            // collector: the borrowed value must stay alive and unchanged, and only it.
            for i in 2..6 {
                v.set(Counted(i, drops.clone()));
                assert_eq!(v.with(|x| x.unwrap().0), i);
            }
            // Values 2, 3, 4 were replaced and are not borrowed: they go while the borrow lives.
            assert!(
                collect_until(|| drops.load(SeqCst) == 3),
                "{}",
                drops.load(SeqCst)
            );
            assert_eq!(first.0, 1);
        });
        // Borrow over: the borrowed value goes too.
        assert!(
            collect_until(|| drops.load(SeqCst) == 4),
            "{}",
            drops.load(SeqCst)
        );
        assert_eq!(v.get().map(|c| c.0), Some(5));
    })
    .unwrap();
    drop(ctx);
    // `get` cloned values above (and dropped them): 4 replaced + 1 clone + the last.
    assert!(
        collect_until(|| drops.load(SeqCst) == 6),
        "{}",
        drops.load(SeqCst)
    );
}

/// A long `with` borrow keeps alive only the value it lends: values replaced after it (in its
/// context and in others, on this thread) are freed while it lives.
#[test]
fn a_long_borrow_keeps_only_its_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    let v: ContextVar<Counted> = ContextVar::new("v");
    let w: ContextVar<Counted> = ContextVar::new("w");
    let n = if cfg!(miri) { 6 } else { 300 };
    let ctx = Context::new();
    ctx.run(|| {
        v.set(Counted(0, drops.clone()));
        v.with(|lent| {
            for i in 1..=n {
                v.set(Counted(i, drops.clone()));
                w.set(Counted(i, drops.clone()));
                // Nested borrows, of a default and of a value, inside the long one.
                assert!(w.with(|x| x.is_some()));
            }
            // Every value but the lent one and the two current ones is replaced.
            let want = 2 * n as usize - 2;
            assert!(
                collect_until(|| drops.load(SeqCst) == want),
                "{} of {want}",
                drops.load(SeqCst)
            );
            assert_eq!(lent.unwrap().0, 0);
        });
    })
    .unwrap();
    drop(ctx);
    let want = 2 * n as usize + 1;
    assert!(
        collect_until(|| drops.load(SeqCst) == want),
        "{} of {want}",
        drops.load(SeqCst)
    );
}

/// A foreign `Context::with` runs its closure outside any epoch pin: a long one does not hold
/// back reclamation of versions replaced by other threads.
#[test]
#[cfg_attr(miri, ignore = "waits for the epoch across threads; slow under Miri")]
fn a_long_foreign_with_does_not_pin() {
    use std::sync::mpsc;
    let drops = Arc::new(AtomicUsize::new(0));
    static V: ContextVar<u32> = ContextVar::new("v");
    let w: ContextVar<Counted> = ContextVar::new("w");
    let read = Context::new();
    read.run(|| V.set(1)).unwrap();
    let (inside, wait_inside) = mpsc::channel();
    let (release, wait_release) = mpsc::channel::<()>();
    let reader = {
        let read = read.clone();
        std::thread::spawn(move || {
            read.with(&V, |v| {
                assert_eq!(v, Some(&1));
                inside.send(()).unwrap();
                wait_release.recv().unwrap();
            })
        })
    };
    wait_inside.recv().unwrap();
    let ctx = Context::new();
    ctx.run(|| {
        for i in 0..100 {
            w.set(Counted(i, drops.clone()));
        }
    })
    .unwrap();
    let freed = collect_until(|| drops.load(SeqCst) == 99);
    release.send(()).unwrap();
    reader.join().unwrap();
    assert!(
        freed,
        "{} of 99 freed while the reader's closure ran",
        drops.load(SeqCst)
    );
}

/// What a value does when dropped (on the thread that made it; elsewhere nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnDrop {
    Nothing,
    /// Set `REENTER` to a plain value (the variable the tests also set outside).
    Set,
    Panic,
}

/// A value that re-enters the API from its destructor on the thread that made it.
#[derive(Debug)]
struct Reenter {
    n: u32,
    act: OnDrop,
    home: std::thread::ThreadId,
    dropped: Arc<AtomicUsize>,
    /// Counts drops that ran the action on the home thread.
    acted: Arc<AtomicUsize>,
}

impl Clone for Reenter {
    fn clone(&self) -> Self {
        Reenter {
            act: OnDrop::Nothing,
            dropped: Arc::new(AtomicUsize::new(0)),
            acted: Arc::new(AtomicUsize::new(0)),
            ..*self
        }
    }
}

impl PartialEq for Reenter {
    fn eq(&self, other: &Self) -> bool {
        self.n == other.n
    }
}

static REENTER: ContextVar<Reenter> = ContextVar::new("reenter");

impl Reenter {
    fn new(n: u32, act: OnDrop, dropped: &Arc<AtomicUsize>, acted: &Arc<AtomicUsize>) -> Self {
        Reenter {
            n,
            act,
            home: std::thread::current().id(),
            dropped: dropped.clone(),
            acted: acted.clone(),
        }
    }
}

impl Drop for Reenter {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, SeqCst);
        if std::thread::current().id() != self.home {
            return;
        }
        match self.act {
            OnDrop::Nothing => {}
            OnDrop::Set => {
                self.acted.fetch_add(1, SeqCst);
                let plain = Reenter::new(u32::MAX, OnDrop::Nothing, &self.dropped, &self.acted);
                // The token is dropped at once: the set stays.
                let _ = REENTER.set(plain);
            }
            OnDrop::Panic => {
                self.acted.fetch_add(1, SeqCst);
                panic!("value drop");
            }
        }
    }
}

/// Sets `REENTER` in `ctx` until a value whose destructor does `act` has run it on this thread
/// (inside one of these sets: the epoch collects in `pin`), checking after every set that the
/// thread's read agrees with a foreign read of the context. Returns how many sets panicked.
fn set_until_acted(ctx: &Context, act: OnDrop) -> usize {
    let dropped = Arc::new(AtomicUsize::new(0));
    let acted = Arc::new(AtomicUsize::new(0));
    let panics = std::cell::Cell::new(0);
    // The loop ends soon after a value acted here; the bound only matters when the test threads
    // running beside this one keep collecting the acting garbage first.
    let rounds = if cfg!(miri) { 600 } else { 1_000_000 };
    ctx.run(|| {
        // Several acting values become garbage, so that at least one is collected here.
        for i in 0..8 {
            let _ = REENTER.set(Reenter::new(i, act, &dropped, &acted));
        }
        for i in 0..rounds {
            // Other threads may collect them first: more acting garbage until one acted here.
            if i % 256 == 255 && acted.load(SeqCst) == 0 {
                for j in 0..8 {
                    let _ = REENTER.set(Reenter::new(j, act, &dropped, &acted));
                }
            }
            let r = catch_unwind(AssertUnwindSafe(|| {
                let _ = REENTER.set(Reenter::new(100 + i, OnDrop::Nothing, &dropped, &acted));
            }));
            panics.set(panics.get() + usize::from(r.is_err()));
            // A read pins too, so the collector may run a value's destructor (which sets the
            // variable, or panics) between two reads: compare reads until two foreign ones
            // agree around the thread's own.
            let (mine, theirs) = loop {
                let read = || loop {
                    match catch_unwind(AssertUnwindSafe(|| ctx.get(&REENTER).map(|v| v.n))) {
                        Ok(v) => break v,
                        Err(_) => panics.set(panics.get() + 1),
                    }
                };
                let before = read();
                let mine = REENTER.with(|v| v.map(|v| v.n));
                let copied = catch_unwind(|| copy_context().get(&REENTER).map(|v| v.n));
                panics.set(panics.get() + usize::from(copied.is_err()));
                if read() == before && copied.as_ref().is_ok_and(|c| *c == before) {
                    break (mine, before);
                }
            };
            assert_eq!(mine, theirs, "after set {i}");
            if acted.load(SeqCst) > 0 && i % 64 == 63 {
                break;
            }
        }
    })
    .unwrap();
    assert!(
        acted.load(SeqCst) > 0,
        "no acting value was dropped on this thread"
    );
    panics.get()
}

/// A value whose destructor sets a variable, run by the epoch inside another set on the same
/// thread: the thread's cached read and the context agree after every set, and nothing reads
/// freed memory (Miri).
#[test]
fn a_drop_that_sets_inside_a_set_leaves_reads_consistent() {
    let ctx = Context::new();
    assert_eq!(set_until_acted(&ctx, OnDrop::Set), 0);
    // Every value is dropped in the end (counted by the values themselves: see
    // `every_value_is_dropped_exactly_once`).
}

/// A value whose destructor panics, run by the epoch inside another set: the set completes
/// (the panic surfaces afterwards, from a set or a read), reads agree, and nothing is lost.
#[test]
fn a_panicking_drop_inside_a_set_leaves_reads_consistent() {
    let ctx = Context::new();
    let panics = set_until_acted(&ctx, OnDrop::Panic);
    assert!(panics >= 1, "the drop's panic surfaced");
    // The context is still usable, and its other values are intact.
    let w: ContextVar<u32> = ContextVar::new("w");
    ctx.run(|| {
        w.set(1);
        assert_eq!(w.get(), Some(1));
    })
    .unwrap();
    assert_eq!(ctx.get(&w), Some(1));
}

/// A panicking value destructor in a map that is dropped drops every other value of the map,
/// and the panic surfaces from the thread's next operation.
#[test]
fn a_panicking_drop_loses_no_other_value() {
    let vars: Vec<ContextVar<Reenter>> = (0..8).map(|_| ContextVar::new("v")).collect();
    let w: ContextVar<u32> = ContextVar::new("w");
    // The values are shared with replaced versions until the epoch frees those, on whichever
    // thread collects: repeat until a panicking one was dropped on this thread.
    for _ in 0..100 {
        let dropped = Arc::new(AtomicUsize::new(0));
        let acted = Arc::new(AtomicUsize::new(0));
        let ctx = Context::new();
        ctx.run(|| {
            for (i, v) in vars.iter().enumerate() {
                let act = if i % 3 == 0 {
                    OnDrop::Panic
                } else {
                    OnDrop::Nothing
                };
                v.set(Reenter::new(i as u32, act, &dropped, &acted));
            }
        })
        .unwrap();
        drop(ctx);
        assert!(
            collect_until(|| dropped.load(SeqCst) == 8),
            "{}",
            dropped.load(SeqCst)
        );
        if acted.load(SeqCst) > 0 {
            let r = catch_unwind(AssertUnwindSafe(|| {
                Context::new().run(|| w.set(1)).map(drop)
            }));
            assert!(r.is_err(), "the kept panic surfaces");
            assert_eq!(
                Context::new().run(|| w.set(1).old_value().copied()),
                Ok(None)
            );
            return;
        }
    }
    panic!("no panicking value was dropped on this thread");
}

/// A value in a thread's base context whose destructor sets variables (and reads, copies,
/// runs) when the thread exits: no abort, and every value is dropped.
#[test]
fn thread_exit_with_a_reentrant_base_value() {
    static EXIT: ContextVar<ExitValue> = ContextVar::new("exit");
    struct ExitValue(u32, Arc<AtomicUsize>);
    impl Drop for ExitValue {
        fn drop(&mut self) {
            self.1.fetch_add(1, SeqCst);
            if self.0 > 0 {
                // A chain: each drop sets a value that does the same, a few times.
                let _ = EXIT.set(ExitValue(self.0 - 1, self.1.clone()));
                assert_eq!(EXIT.with(|v| v.map(|v| v.0)), Some(self.0 - 1));
                let copy = copy_context();
                assert!(copy.get(&REENTER).is_none());
                assert_eq!(Context::new().run(|| EXIT.with(|v| v.is_none())), Ok(true));
            }
            if self.0 == 2 {
                panic!("a panic at thread exit");
            }
        }
    }
    for depth in [0, 3, 20] {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        std::thread::spawn(move || {
            let _ = EXIT.set(ExitValue(depth, d));
        })
        .join()
        .expect("thread exit does not panic");
        // `depth + 1` values are made; a chain longer than the cleanup's rounds leaks its end.
        let made = depth as usize + 1;
        let got = drops.load(SeqCst);
        if depth < 8 {
            assert_eq!(got, made, "depth {depth}");
        } else {
            assert!(got >= 8 && got <= made, "depth {depth}: {got}");
        }
    }
}

#[test]
fn every_value_is_dropped_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let v: ContextVar<Counted> = ContextVar::new("v");
    let n = if cfg!(miri) { 5 } else { 200 };
    {
        let ctx = Context::new();
        let tokens: Vec<_> = ctx
            .run(|| (0..n).map(|i| v.set(Counted(i, drops.clone()))).collect())
            .unwrap();
        let snap = ctx.copy();
        ctx.run(|| {
            for t in tokens.iter().rev() {
                v.reset(t).unwrap();
            }
        })
        .unwrap();
        assert_eq!(ctx.get(&v).map(|c| c.0), None);
        assert_eq!(snap.get(&v).map(|c| c.0), Some(n - 1));
        drop(tokens);
    }
    // n values made, one clone from `snap.get` above.
    assert!(
        collect_until(|| drops.load(SeqCst) == n as usize + 1),
        "{}",
        drops.load(SeqCst)
    );
}

#[test]
fn panicking_clone_in_get_leaves_everything_usable() {
    #[derive(Debug)]
    struct Bomb(u32);
    impl Clone for Bomb {
        fn clone(&self) -> Self {
            panic!("clone")
        }
    }
    let v: ContextVar<Bomb> = ContextVar::new("v");
    let w: ContextVar<u32> = ContextVar::new("w");
    let ctx = Context::new();
    ctx.run(|| {
        v.set(Bomb(1));
        assert!(catch_unwind(AssertUnwindSafe(|| v.get())).is_err());
        // The borrow count went back to zero: a set now retires at once and reads are right.
        w.set(1);
        w.set(2);
        assert_eq!(w.get(), Some(2));
        assert_eq!(v.with(|b| b.unwrap().0), 1);
    })
    .unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| ctx.get(&v))).is_err());
    assert_eq!(ctx.get(&w), Some(2));
}

#[test]
fn errors_display_and_are_send_sync() {
    fn assert_traits<T: std::error::Error + Send + Sync + 'static>() {}
    assert_traits::<ContextError>();
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Context>();
    send_sync::<ContextVar<String>>();
    fn send<T: Send>() {}
    send::<Token<'static, String>>();
    for e in [
        ContextError::AlreadyEntered,
        ContextError::TokenUsed,
        ContextError::TokenWrongVar,
        ContextError::TokenWrongContext,
    ] {
        assert!(!e.to_string().is_empty());
    }
}

/// A minimal executor: polls each task round-robin until all are ready; a task is polled again
/// only after its waker was woken (checked with the shared counting waker). Returns the outputs
/// and the number of wakes.
fn block_on_all<F: Future + Unpin>(tasks: &mut [Option<F>]) -> (Vec<F::Output>, usize) {
    let wakers: Vec<_> = tasks.iter().map(|_| CountingWaker::new()).collect();
    let mut polled_at: Vec<usize> = vec![usize::MAX; tasks.len()];
    let mut out = Vec::new();
    while tasks.iter().any(Option::is_some) {
        for (i, slot) in tasks.iter_mut().enumerate() {
            let Some(t) = slot else { continue };
            if polled_at[i] != usize::MAX {
                assert!(
                    wakers[i].count() > polled_at[i],
                    "task {i} polled without a wake"
                );
            }
            polled_at[i] = wakers[i].count();
            let waker = wakers[i].waker();
            let mut cx = std::task::Context::from_waker(&waker);
            if let Poll::Ready(v) = std::pin::Pin::new(t).poll(&mut cx) {
                out.push(v);
                *slot = None;
            }
        }
    }
    (out, wakers.iter().map(|w| w.count()).sum())
}

/// Pending once (after waking its task), then ready: a task switch point.
fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

#[test]
fn scope_polls_each_task_in_its_own_context() {
    static TASK: ContextVar<u32> = ContextVar::new("task");
    let ctxs: Vec<Context> = (0..3).map(|_| copy_context()).collect();
    let mut tasks: Vec<_> = ctxs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Some(Box::pin(c.clone().scope(async move {
                let i = i as u32;
                assert_eq!(TASK.get(), None);
                TASK.set(i);
                for _ in 0..3 {
                    yield_now().await;
                    assert_eq!(TASK.get(), Some(i), "task switch kept the task's context");
                    TASK.set(TASK.get().unwrap() + 10);
                    TASK.set(i);
                }
                i
            })))
        })
        .collect();
    let (out, wakes) = block_on_all(&mut tasks);
    assert_eq!(wakes, 9, "three yields per task");
    let mut out: Vec<u32> = out.into_iter().map(Result::unwrap).collect();
    out.sort();
    assert_eq!(out, [0, 1, 2]);
    assert_eq!(TASK.get(), None);
    for (i, c) in ctxs.iter().enumerate() {
        assert_eq!(c.get(&TASK), Some(i as u32));
    }
}

#[test]
fn scope_drops_the_future_inside_its_context() {
    static SEEN: ContextVar<u32> = ContextVar::new("seen");
    struct Probe(Arc<AtomicUsize>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.store(SEEN.get().unwrap_or(0) as usize, SeqCst);
        }
    }
    let got = Arc::new(AtomicUsize::new(99));
    let ctx = Context::new();
    ctx.run(|| SEEN.set(7)).unwrap();
    let probe = Probe(got.clone());
    let fut = ctx.clone().scope(async move {
        let _p = probe;
        yield_now().await;
    });
    {
        let mut fut = pin!(fut);
        let counter = CountingWaker::new();
        let waker = counter.waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(counter.count(), 1, "the inner future got the task's waker");
        assert!(format!("{:?}", fut).contains("InContext"));
        assert!(fut.context().ptr_eq(&ctx));
    }
    assert_eq!(got.load(SeqCst), 7);
    // Dropped while the context is entered: dropped outside it, still exactly once.
    let probe = Probe(got.clone());
    let fut = ctx.clone().scope(async move {
        let _p = probe;
    });
    ctx.run(|| drop(fut)).unwrap();
    assert_eq!(
        got.load(SeqCst),
        7,
        "dropped (inside the entered context's run)"
    );
}

#[test]
fn foreign_reads_see_one_version() {
    static A: ContextVar<u64> = ContextVar::new("a");
    static B: ContextVar<u64> = ContextVar::new("b");
    let ctx = Context::new();
    let rounds = if cfg!(miri) { 5 } else { 2_000 };
    std::thread::scope(|s| {
        let c = &ctx;
        s.spawn(move || {
            c.run(|| {
                for i in 1..=rounds {
                    let _ = A.set(i);
                    let _ = B.set(i);
                }
            })
            .unwrap();
        });
        let mut last = 0;
        loop {
            let snap = ctx.copy();
            let (a, b) = (snap.get(&A).unwrap_or(0), snap.get(&B).unwrap_or(0));
            assert!(a == b || a == b + 1, "one version: a={a} b={b}");
            assert!(b >= last, "versions only move forward");
            last = b;
            if b == rounds {
                break;
            }
            assert!(ctx.len() <= 2);
            std::thread::yield_now();
        }
    });
}

#[test]
fn model_regressions() {
    use ops::Op::*;
    // Under Miri only the first two run (between them every op; the model's full re-check after
    // each step is slow there).
    ops::run(&[
        Set(2, 1),
        RunPanic(0, vec![]),
        RunPanic(1, vec![Set(2, 5), Copy]),
        Run(2, vec![Get(2)]),
        Reset(0, 3),
    ]);
    ops::run(&[
        Copy,
        Run(
            1,
            vec![
                Set(0, 1),
                Run(1, vec![]),
                Run(0, vec![]),
                CopyOf(1),
                RunCopy(vec![Set(0, 2), Reset(1, 0)]),
                Reset(0, 0),
            ],
        ),
    ]);
    if cfg!(miri) {
        return;
    }
    ops::run(&[
        Set(0, 1),
        Copy,
        RunCopy(vec![Set(0, 2), Reset(1, 0)]),
        Reset(0, 0),
        Reset(0, 0),
    ]);
    ops::run(&[
        Set(1, 1),
        RunCopy(vec![Set(1, 2), RunCopy(vec![Reset(0, 1)]), Get(1)]),
        Get(1),
    ]);
}

/// The model on seeded random op sequences, sized for Miri (where the proptest does not run):
/// values with destructor actions, re-entrance and surfaced panics under tree borrows.
#[test]
fn model_seeded() {
    let (cases, len) = if cfg!(miri) { (1, 40) } else { (32, 300) };
    let mut rng = crate::support::rng::Rng::new(0x5eed_c0de);
    for _ in 0..cases {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        ops::run(&ops::decode(&bytes));
    }
}

#[cfg(not(any(miri, loopkit_loom)))]
proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    #[test]
    fn model(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        ops::run(&ops::decode(&bytes));
    }
}

#[test]
fn context_equality_is_by_variables_and_stored_values() {
    let v: ContextVar<u32> = ContextVar::new("v");
    let w: ContextVar<u32> = ContextVar::new("w");
    let a = Context::new();
    assert_eq!(a, Context::new());
    a.run(|| {
        v.set(1);
        w.set(2);
    })
    .unwrap();
    let b = a.copy();
    assert_eq!(a, b);
    // A reset through the trie (something was published since the set) restores the same
    // stored value: still equal.
    b.run(|| {
        let t = v.set(3);
        w.set(2);
        v.reset(&t).unwrap();
    })
    .unwrap();
    assert_ne!(a, b, "w was set again: another stored value");
    let c = a.copy();
    c.run(|| {
        let t = v.set(3);
        let u = w.set(4);
        w.reset(&u).unwrap();
        v.reset(&t).unwrap();
    })
    .unwrap();
    assert_eq!(a, c);
    // Different variables, same length.
    let d = Context::new();
    d.run(|| {
        v.set(1);
    })
    .unwrap();
    let e = Context::new();
    e.run(|| {
        w.set(1);
    })
    .unwrap();
    assert_ne!(d, e);
    // Compared from another thread while one side is entered here.
    a.run(|| {
        let (a2, c2) = (a.clone(), c.clone());
        assert!(std::thread::spawn(move || a2 == c2).join().unwrap());
    })
    .unwrap();
}

#[test]
fn enter_guards_in_and_out_of_order() {
    let v: ContextVar<u32> = ContextVar::new("v");
    let (a, b, c) = (Context::new(), Context::new(), Context::new());
    // In order.
    let ga = a.enter().unwrap();
    v.set(1);
    let gb = b.enter().unwrap();
    assert_eq!(v.get(), None);
    assert_eq!(a.enter().unwrap_err(), ContextError::AlreadyEntered);
    drop(gb);
    assert_eq!(v.get(), Some(1));
    drop(ga);
    assert_eq!(v.get(), None);
    // Out of order: `a`'s guard dropped first; `a` is left once `b` is.
    let ga = a.enter().unwrap();
    let gb = b.enter().unwrap();
    v.set(2);
    drop(ga);
    assert_eq!(v.get(), Some(2), "b is still current");
    drop(gb);
    assert_eq!(v.get(), None);
    assert_eq!(b.get(&v), Some(2));
    // Both left: another thread can enter them.
    let (a2, b2) = (a.clone(), b.clone());
    std::thread::spawn(move || {
        drop(a2.enter().unwrap());
        drop(b2.enter().unwrap());
    })
    .join()
    .unwrap();
    // A guard dropped inside a run over it: left when the run returns.
    let ga = a.enter().unwrap();
    c.run(|| {
        drop(ga);
        assert!(a.enter().is_err(), "a stays entered under the run");
    })
    .unwrap();
    assert_eq!(v.get(), None);
    drop(a.enter().unwrap());
    // A guard made inside a run and kept past it: left with the run.
    let gb = c.run(|| b.enter().unwrap()).unwrap();
    assert_eq!(v.get(), None);
    drop(b.enter().unwrap());
    drop(gb); // does nothing
    drop(b.enter().unwrap());
    // A forgotten guard keeps its context entered, and alive, with no dangling state.
    let d = Context::new();
    std::mem::forget(d.enter().unwrap());
    v.set(5);
    drop(d);
    assert_eq!(v.get(), Some(5));
}

#[test]
fn a_guard_dropped_inside_a_borrow_keeps_the_lent_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    static G: ContextVar<Counted> = ContextVar::new("g");
    let a = Context::new();
    let guard = a.enter().unwrap();
    G.set(Counted(7, drops.clone()));
    let a2 = a.clone();
    let counted = drops.clone();
    G.with(move |lent| {
        drop(guard);
        // `a` is left: another thread enters it and replaces the lent value.
        std::thread::spawn(move || {
            a2.run(|| {
                G.set(Counted(8, Arc::new(AtomicUsize::new(0))));
            })
            .unwrap();
        })
        .join()
        .unwrap();
        for _ in 0..if cfg!(miri) { 10 } else { 200 } {
            local::flush_queue();
            epoch::pin().flush();
        }
        assert_eq!(lent.unwrap().0, 7);
        assert_eq!(counted.load(SeqCst), 0);
    });
    assert!(collect_until(|| drops.load(SeqCst) == 1));
}

/// A token kept long keeps alive no replaced value of another variable (CPython's token holds
/// only the variable's old value): the version its set replaced is held for an O(1) reset only
/// until the thread's next set.
#[test]
fn a_kept_token_holds_no_other_replaced_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    static REQ: ContextVar<u32> = ContextVar::new("req");
    static CONN: ContextVar<Counted> = ContextVar::new("conn");
    let ctx = Context::new();
    ctx.run(|| {
        drop(CONN.set(Counted(1, drops.clone())));
        let req = REQ.set(7);
        // Replaces the first connection while `req` is kept.
        drop(CONN.set(Counted(2, drops.clone())));
        let freed = collect_until(|| drops.load(SeqCst) == 1);
        assert!(freed, "the replaced value is held by an unrelated token");
        // A set .. reset pair still resets, and the kept token too (by a trie operation).
        let conn = CONN.set(Counted(3, drops.clone()));
        CONN.reset(&conn).unwrap();
        assert_eq!(CONN.with(|c| c.map(|c| c.0)), Some(2));
        REQ.reset(&req).unwrap();
        assert_eq!(REQ.get(), None);
        assert_eq!(ctx.get(&REQ), None);
    })
    .unwrap();
    drop(ctx);
    assert!(collect_until(|| drops.load(SeqCst) == 3));
}

/// Leaving a context through a guard hands the thread's queued versions to the epoch, as the
/// end of a `run` does: a thread that goes idle after its guard drops keeps no replaced value.
#[test]
fn a_dropped_guard_leaves_nothing_queued() {
    static G: ContextVar<Counted> = ContextVar::new("g");
    for by_guard in [false, true] {
        let drops = Arc::new(AtomicUsize::new(0));
        let ctx = Context::new();
        let body = || {
            G.set(Counted(1, drops.clone()));
            G.set(Counted(2, drops.clone()));
        };
        if by_guard {
            let _guard = ctx.enter().unwrap();
            body();
        } else {
            ctx.run(body).unwrap();
        }
        // Only the epoch is driven here, not the thread's queue.
        let mut freed = false;
        for i in 0..if cfg!(miri) { 50 } else { 10_000 } {
            freed = drops.load(SeqCst) == 1;
            if freed {
                break;
            }
            epoch::pin().flush();
            if i < 1_000 {
                std::thread::yield_now();
            } else {
                // As in `collect_until`: a thread descheduled while pinned holds the epoch back.
                std::thread::sleep(std::time::Duration::from_micros(500));
            }
        }
        assert!(
            freed,
            "by_guard={by_guard}: the replaced value is still queued"
        );
    }
}
