//! The lost wakeup (asyncio's `call_soon` vs `call_soon_threadsafe`).
//!
//! A task on the loop waits for an `Event` with a safety timeout; another thread sets the event
//! through the loop, once per round. Two ways:
//!
//! * *unwoken*: the job is queued but the parked loop is not woken, which is what asyncio's
//!   `call_soon` does when it is called from another thread (it appends to the ready queue and
//!   skips `_write_to_self`). The loop runs the job only when its safety timeout wakes it;
//!   without that timeout it would sleep forever (the hang in the asyncio example).
//! * *threadsafe*: `call_soon_threadsafe` pushes through the handle queue, which wakes the
//!   parked loop at once.
//!
//! The numbers are the time from the set to the moment the waiting task sees it. Either way the
//! job runs in a copy of the setter's context, taken when it was queued (asyncio's handles
//! carry the caller's context the same way): the setter sets `ROUND_NO` before each push, and
//! the job checks that it sees that round's number.

use std::cell::{Cell, RefCell};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use loopkit::context::ContextVar;
use loopkit::registry::Registry;

use super::{fmt_dur, Check, Output, Spread};
use crate::runtime::{Event, Loop, LoopStats};

/// Sizes.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Rounds per way.
    pub rounds: usize,
    /// How long the setter waits after the task starts waiting (the loop is parked by then).
    pub set_after: Duration,
    /// The waiting task's safety timeout.
    pub safety: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rounds: 3,
            set_after: Duration::from_millis(20),
            safety: Duration::from_millis(200),
        }
    }
}

/// How a round's event was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Queued without waking the loop.
    Unwoken,
    /// `call_soon_threadsafe`.
    Threadsafe,
}

/// One round.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// How the event was set.
    pub way: Way,
    /// From the set to the task seeing it.
    pub latency: Duration,
    /// Whether the task saw it only at or after its safety deadline.
    pub after_deadline: bool,
    /// Whether the task saw the event set at all.
    pub seen: bool,
    /// Whether the job saw the setter's `ROUND_NO` for this round.
    pub setter_context: bool,
}

/// The scenario's result.
#[derive(Debug, Clone)]
pub struct LostWakeup {
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// The loop's counters.
    pub stats: LoopStats,
    /// The sizes used.
    pub config: Config,
}

/// The round the setter is in, in the setter thread's context.
static ROUND_NO: ContextVar<usize> = ContextVar::new("round");

thread_local! {
    /// The event of the current round: an object of the loop thread, which only a job running on
    /// that thread may touch.
    static ROUND: RefCell<Option<Event>> = const { RefCell::new(None) };
    /// When the setter thread set it, and whether the job saw the setter's round number.
    static SET_AT: Cell<Option<(Instant, bool)>> = const { Cell::new(None) };
}

/// What the setter thread runs on the loop thread.
fn set_the_event(set_at: Instant, round: usize) {
    let in_setter_context = ROUND_NO.get() == Some(round);
    SET_AT.with(|s| s.set(Some((set_at, in_setter_context))));
    ROUND.with(|r| r.borrow().as_ref().expect("a round is waiting").set());
}

/// Runs the scenario: the unwoken rounds first (so no earlier wake can leave a stray unpark),
/// then the threadsafe ones.
pub fn run(config: Config, out: Output) -> LostWakeup {
    let ways: Vec<Way> = std::iter::repeat_n(Way::Unwoken, config.rounds)
        .chain(std::iter::repeat_n(Way::Threadsafe, config.rounds))
        .collect();
    let registry = Registry::new();
    let (handle_tx, handle_rx) = mpsc::channel();
    let (waiting_tx, waiting_rx) = mpsc::channel::<Way>();
    let n_rounds = ways.len();
    let loop_thread = thread::spawn(move || {
        let (lp, handle) = Loop::new(&registry);
        handle_tx.send(handle).expect("setter alive");
        let rounds = lp.spawn("waiter", async move {
            let mut rounds = Vec::new();
            for way in ways {
                let ev = Event::new();
                ROUND.with(|r| *r.borrow_mut() = Some(ev.clone()));
                SET_AT.with(|s| s.set(None));
                let deadline = Instant::now() + config.safety;
                waiting_tx.send(way).expect("setter alive");
                let mut seen = ev.wait_until(deadline).await;
                if !seen {
                    // The set came later still (a very slow machine): give it one more timeout.
                    seen = ev.wait_until(Instant::now() + config.safety).await;
                }
                let noticed = Instant::now();
                let (set_at, setter_context) = SET_AT.with(|s| s.get()).unwrap_or((noticed, false));
                rounds.push(Round {
                    way,
                    latency: noticed.saturating_duration_since(set_at),
                    after_deadline: noticed >= deadline,
                    seen,
                    setter_context,
                });
            }
            ROUND.with(|r| r.borrow_mut().take());
            rounds
        });
        let stats = lp.run();
        let rounds = rounds.try_take().expect("the waiter task finished");
        (rounds, stats)
    });
    let handle = handle_rx.recv().expect("loop thread started");
    for k in 0..n_rounds {
        let way = waiting_rx.recv().expect("the waiter announces each round");
        thread::sleep(config.set_after);
        // Reset when this round ends, so the calling thread's context is left as it was.
        let _round = ROUND_NO.set_scoped(k);
        let set_at = Instant::now();
        match way {
            Way::Unwoken => handle
                .call_soon_unwoken(move || set_the_event(set_at, k))
                .map_err(drop)
                .expect("loop running"),
            Way::Threadsafe => {
                drop(
                    handle
                        .call_soon_threadsafe(move || set_the_event(set_at, k))
                        .map_err(drop)
                        .expect("loop running"),
                );
            }
        }
        out.progress(format!("lost wakeup: round {}/{n_rounds}", k + 1));
    }
    // The loop stops once its last handle is gone and its work is done.
    drop(handle);
    let (rounds, stats) = loop_thread.join().expect("loop thread");
    LostWakeup {
        rounds,
        stats,
        config,
    }
}

impl LostWakeup {
    /// The rounds set one way.
    pub fn of(&self, way: Way) -> Vec<Round> {
        self.rounds
            .iter()
            .copied()
            .filter(|r| r.way == way)
            .collect()
    }

    /// The latency spread of one way.
    pub fn spread(&self, way: Way) -> Spread {
        let l: Vec<Duration> = self.of(way).iter().map(|r| r.latency).collect();
        Spread::of(&l)
    }

    /// The report lines.
    pub fn print(&self, out: Output) {
        let c = &self.config;
        out.line(format!(
            "1. The lost wakeup: a task waits for an event; another thread sets it {} after the loop parks; safety timeout {}",
            fmt_dur(c.set_after),
            fmt_dur(c.safety)
        ));
        for (way, label) in [
            (
                Way::Unwoken,
                "call_soon from another thread (queued, no wake)",
            ),
            (Way::Threadsafe, "call_soon_threadsafe (queued + wake)"),
        ] {
            let s = self.spread(way);
            out.line(format!(
                "   {label:<48}  seen after  p50 {:>9}  max {:>9}  ({} rounds)",
                fmt_dur(s.p50),
                fmt_dur(s.max),
                s.n
            ));
        }
        let st = &self.stats;
        out.line(format!(
            "   the loop parked {} times and was woken {} times (the unwoken sets were seen only when the safety timer fired)",
            st.parks_handle_queue, st.wakes_handle_queue
        ));
    }

    /// The invariants.
    pub fn checks(&self) -> Vec<Check> {
        let unwoken = self.of(Way::Unwoken);
        let threadsafe = self.of(Way::Threadsafe);
        let st = &self.stats;
        let min_unwoken = self.config.safety.saturating_sub(self.config.set_after * 2);
        vec![
            Check::new(
                "every round ran and saw its event",
                self.rounds.len() == 2 * self.config.rounds && self.rounds.iter().all(|r| r.seen),
                format!("{} rounds", self.rounds.len()),
            ),
            Check::new(
                "an unwoken set is seen only when the safety timeout fires",
                unwoken
                    .iter()
                    .all(|r| r.after_deadline && r.latency >= min_unwoken),
                format!("slowest-first {:?}", fmt_spread(&unwoken)),
            ),
            Check::new(
                "a call_soon_threadsafe set wakes the parked loop before the timeout",
                threadsafe.iter().all(|r| !r.after_deadline),
                format!("latencies {:?}", fmt_spread(&threadsafe)),
            ),
            Check::new(
                "each job ran in its caller's context, as of the call",
                self.rounds.iter().all(|r| r.setter_context),
                format!(
                    "{} of {} jobs saw the setter's round number",
                    self.rounds.iter().filter(|r| r.setter_context).count(),
                    self.rounds.len()
                ),
            ),
            Check::wakes_within_parks(st),
            Check::new(
                "the loop stopped by itself once its handle was dropped, nothing left behind",
                st.abandoned == 0 && st.unregistered == st.spawned && st.finished == st.spawned,
                format!(
                    "{} spawned, {} finished, {} abandoned",
                    st.spawned, st.finished, st.abandoned
                ),
            ),
        ]
    }
}

fn fmt_spread(rounds: &[Round]) -> Vec<String> {
    let mut l: Vec<Duration> = rounds.iter().map(|r| r.latency).collect();
    l.sort_unstable_by(|a, b| b.cmp(a));
    l.into_iter().map(fmt_dur).collect()
}
