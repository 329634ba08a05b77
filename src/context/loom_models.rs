//! loom models of the context protocols (`ci/loom.sh`; without `--cfg loopkit_loom` each runs
//! once as an ordinary test, and under Miri).
//!
//! The values are [`Probe`]s: their content is written when they are made, through loom's
//! `UnsafeCell`, so a thread that reads one without a happens-before edge from its maker is
//! reported as a causality violation; and their drop sets a flag kept outside them, so a reader
//! that finds its value dropped under it fails. Every value the reader can see is made by a
//! thread that runs concurrently with the reader.
//!
//! [`docs/context.md`] lists, for each ordering and check these models guard, the weakening that
//! was tried and the model that caught it.
//!
//! [`docs/context.md`]: crate::docs::context

use super::{Context, ContextError, ContextVar};
use crate::loom::{model, thread, Arc, AtomicBool, AtomicUsize, Ordering, UnsafeCell};

/// Drop flags of the probes of one model run, indexed by probe id.
type Flags = Arc<[AtomicBool; 4]>;

fn flags() -> Flags {
    Arc::new(core::array::from_fn(|_| AtomicBool::new(false)))
}

/// A value that checks how it is read (see the module docs).
struct Probe {
    id: usize,
    data: UnsafeCell<usize>,
    dropped: Flags,
}

// SAFETY: `data` is written only by `UnsafeCell::new` and read through `with` afterwards, so
// sharing `&Probe` between threads makes no data race (loom checks each read against the write).
unsafe impl Sync for Probe {}

impl Probe {
    fn new(id: usize, dropped: &Flags) -> Probe {
        Probe {
            id,
            data: UnsafeCell::new(id),
            dropped: dropped.clone(),
        }
    }

    /// Reads the content and checks the value is alive; returns its id.
    fn check(&self) -> usize {
        // SAFETY: a shared read of a cell only ever written at creation; loom reports it if the
        // creation does not happen-before this read.
        let d = self.data.with(|p| unsafe { *p });
        assert_eq!(d, self.id, "probe content");
        // SeqCst: pairs with the SeqCst store in `drop`; if the value were dropped before this
        // read ended, some interleaving shows the flag set.
        let dropped = self.dropped[self.id].load(Ordering::SeqCst);
        assert!(!dropped, "probe {} read after its drop", self.id);
        self.id
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // SeqCst: pairs with the SeqCst load in `check`.
        self.dropped[self.id].store(true, Ordering::SeqCst);
    }
}

/// A counter only the thread running in the context may touch.
struct Body(UnsafeCell<usize>);

// SAFETY: `Body` is touched only inside `Context::run` of one context, which admits one thread at
// a time (the property under test; loom reports any concurrent access).
unsafe impl Sync for Body {}

static V: ContextVar<Probe> = ContextVar::new("probe");

/// Runs `owner` inside a fresh context on a new thread while this thread reads `V` in that
/// context (a foreign read, with `len` too). Returns the probe id the read saw, and the one the
/// context holds once the owner is joined.
fn owner_vs_foreign_reader(owner: fn(&Flags)) -> (Option<usize>, Option<usize>) {
    let dropped = flags();
    let ctx = Context::new();
    let (c, d) = (ctx.clone(), dropped.clone());
    let handle = thread::spawn(move || c.run(|| owner(&d)).unwrap());
    let seen = ctx.with(&V, |p| p.map(Probe::check));
    assert!(ctx.len() <= 1);
    handle.join().unwrap();
    (seen, ctx.with(&V, |p| p.map(Probe::check)))
}

/// A foreign reader reads a context while its owner sets twice (publishing two versions and
/// retiring two). The reader sees one live, fully visible version.
#[test]
fn foreign_read_vs_owner_set() {
    model(|| {
        let (seen, last) = owner_vs_foreign_reader(|d| {
            let _ = V.set(Probe::new(1, d));
            let _ = V.set(Probe::new(2, d));
        });
        assert!(matches!(seen, None | Some(1 | 2)), "{seen:?}");
        assert_eq!(last, Some(2));
    });
}

/// Two threads enter one context at once: one wins; each winner sees the other's value only
/// through a proper happens-before edge, and the body never runs twice at once.
#[test]
fn two_threads_enter_one_context() {
    model(|| {
        let dropped = flags();
        let ctx = Context::new();
        let body = Arc::new(Body(UnsafeCell::new(0usize)));
        let wins = Arc::new(AtomicUsize::new(0));
        let enter = |id: usize| {
            let (c, d, body, wins) = (ctx.clone(), dropped.clone(), body.clone(), wins.clone());
            thread::spawn(move || {
                let r = c.run(|| {
                    let before = V.with(|p| p.map(Probe::check));
                    assert!(before.is_none() || before == Some(3 - id), "{before:?}");
                    let _ = V.set(Probe::new(id, &d));
                    // Last in the body, after the set (whose epoch pin has a fence), so only
                    // the exit/enter pair orders it before the other thread's body.
                    // SAFETY: exclusive access if entering is exclusive; loom reports a
                    // concurrent access otherwise.
                    body.0.with_mut(|p| unsafe { *p += 1 });
                });
                match r {
                    Ok(()) => {
                        // Relaxed: a counter read after both joins.
                        wins.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => assert_eq!(e, ContextError::AlreadyEntered),
                }
            })
        };
        let (a, b) = (enter(1), enter(2));
        a.join().unwrap();
        b.join().unwrap();
        // Relaxed: the joins order the increments before this load.
        let wins = wins.load(Ordering::Relaxed);
        // SAFETY: both threads are joined.
        let runs = body.0.with(|p| unsafe { *p });
        assert!(wins >= 1 && wins == runs, "wins {wins} runs {runs}");
    });
}

/// The owner sets and resets with the token while a foreign thread reads: the reader sees the
/// value before or the one set, never a freed one.
#[test]
fn token_reset_vs_foreign_read() {
    model(|| {
        let (seen, last) = owner_vs_foreign_reader(|d| {
            let _ = V.set(Probe::new(0, d));
            let t = V.set(Probe::new(1, d));
            V.reset(&t).unwrap();
        });
        assert!(matches!(seen, None | Some(0 | 1)), "{seen:?}");
        assert_eq!(last, Some(0));
    });
}
