//! The heartbeat: a counter (`size` values, all incremented together by each step) and a
//! heartbeat that wakes every `interval`, checks that all values are equal, and notes when it
//! ran. Two programs, one after the other in the same run:
//!
//! * *loop*: the counter is an object of the loop thread; a feeder thread sends each step with
//!   `call_soon_threadsafe` (a few in flight at a time), and the heartbeat is a task that
//!   awaits `sleep(interval)` in a loop. Nothing is locked: only the loop touches the counter.
//! * *threads*: the lock-based threaded program: a counter thread takes a `Mutex` around each
//!   step, the heartbeat thread sleeps, then takes the same lock to check.
//!
//! Jitter is how late each beat came against the one before it (`elapsed - interval`); drift is
//! how far the last beat is from `n * interval` after the start (the jitter accumulated).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use loopkit::registry::Registry;

use super::{fmt_dur, Check, Output, Spread};
use crate::runtime::{sleep, Loop, LoopStats};

/// Sizes.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Values in the counter.
    pub size: usize,
    /// Heartbeat period.
    pub interval: Duration,
    /// How long each program runs.
    pub duration: Duration,
    /// Steps the feeder keeps queued on the loop.
    pub in_flight: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            size: 100_000,
            interval: Duration::from_millis(20),
            duration: Duration::from_secs(2),
            in_flight: 2,
        }
    }
}

/// One program's run.
#[derive(Debug, Clone)]
pub struct Beats {
    /// When each beat ran, from the start.
    pub at: Vec<Duration>,
    /// Beats that found unequal values.
    pub broken: usize,
    /// Counter steps done.
    pub steps: u64,
    /// The heartbeat period.
    pub interval: Duration,
}

impl Beats {
    /// Per-beat lateness (`elapsed since the previous beat - interval`).
    pub fn jitter(&self) -> Spread {
        let mut prev = Duration::ZERO;
        let j: Vec<Duration> = self
            .at
            .iter()
            .map(|&t| {
                let d = t.saturating_sub(prev).saturating_sub(self.interval);
                prev = t;
                d
            })
            .collect();
        Spread::of(&j)
    }

    /// How late the last beat is against `n * interval`.
    pub fn drift(&self) -> Duration {
        match self.at.last() {
            Some(&t) => t.saturating_sub(self.interval * self.at.len() as u32),
            None => Duration::ZERO,
        }
    }
}

/// The scenario's result.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    /// The loop program.
    pub on_loop: Beats,
    /// The lock-based threaded program.
    pub threaded: Beats,
    /// The loop's counters.
    pub stats: LoopStats,
    /// Steps the feeder pushed / that ran on the loop.
    pub pushed: usize,
    /// See `pushed`.
    pub ran: usize,
    /// The sizes used.
    pub config: Config,
}

thread_local! {
    /// The counter: an object of the loop thread.
    static COUNTER: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn step(values: &mut [u64]) {
    for v in values.iter_mut() {
        *v += 1;
    }
}

fn consistent(values: &[u64]) -> bool {
    values.iter().all(|&v| v == values[0])
}

/// Runs both programs, the loop one first.
pub fn run(config: Config, out: Output) -> Heartbeat {
    let (on_loop, stats, pushed, ran) = run_loop(config, out);
    let threaded = run_threads(config, out);
    Heartbeat {
        on_loop,
        threaded,
        stats,
        pushed,
        ran,
        config,
    }
}

fn run_loop(config: Config, out: Output) -> (Beats, LoopStats, usize, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let (handle_tx, handle_rx) = mpsc::channel();
    let loop_stop = stop.clone();
    let loop_thread = thread::spawn(move || {
        let registry = Registry::new();
        let (lp, handle) = Loop::new(&registry);
        handle_tx.send(handle).expect("feeder alive");
        COUNTER.with(|c| *c.borrow_mut() = vec![0; config.size]);
        let beats = lp.spawn("heartbeat", async move {
            let t0 = Instant::now();
            let mut at = Vec::new();
            let mut broken = 0;
            let mut next_progress = Duration::from_secs(1);
            while t0.elapsed() < config.duration {
                sleep(config.interval).await;
                let now = t0.elapsed();
                if !COUNTER.with(|c| consistent(&c.borrow())) {
                    broken += 1;
                }
                at.push(now);
                if now >= next_progress {
                    out.progress(format!(
                        "heartbeat (loop): {:.0}/{:.0} s",
                        now.as_secs_f64(),
                        config.duration.as_secs_f64()
                    ));
                    next_progress += Duration::from_secs(1);
                }
            }
            // Release: the feeder stops pushing; nothing is published through the flag.
            loop_stop.store(true, Ordering::Release);
            (at, broken)
        });
        let stats = lp.run();
        let (at, broken) = beats.try_take().expect("the heartbeat finished");
        let steps = COUNTER.with(|c| c.borrow().first().copied().unwrap_or(0));
        (
            Beats {
                at,
                broken,
                steps,
                interval: config.interval,
            },
            stats,
        )
    });
    // The feeder: keeps `in_flight` steps queued on the loop until the heartbeat is done.
    let handle = handle_rx.recv().expect("loop thread started");
    let me = thread::current();
    let mut pushed = 0usize;
    // Acquire: pairs with the heartbeat's Release store.
    while !stop.load(Ordering::Acquire) {
        // Acquire: pairs with the Release increment in the step job.
        if pushed - done.load(Ordering::Acquire) >= config.in_flight {
            thread::park_timeout(Duration::from_millis(5));
            continue;
        }
        let (done, me) = (done.clone(), me.clone());
        let job = move || {
            COUNTER.with(|c| step(&mut c.borrow_mut()));
            // Release: the feeder's count of finished steps.
            done.fetch_add(1, Ordering::Release);
            me.unpark();
        };
        if handle.call_soon_threadsafe(job).is_err() {
            break;
        }
        pushed += 1;
    }
    drop(handle);
    let (beats, stats) = loop_thread.join().expect("loop thread");
    // Acquire: after the join, every step job has run.
    let ran = done.load(Ordering::Acquire);
    (beats, stats, pushed, ran)
}

fn run_threads(config: Config, out: Output) -> Beats {
    let values = Arc::new(Mutex::new(vec![0u64; config.size]));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = {
        let (values, stop) = (values.clone(), stop.clone());
        thread::spawn(move || {
            // Relaxed: a stop flag; the join publishes everything else.
            while !stop.load(Ordering::Relaxed) {
                step(&mut values.lock().expect("no panics while locked"));
            }
        })
    };
    let t0 = Instant::now();
    let mut at = Vec::new();
    let mut broken = 0;
    let mut next_progress = Duration::from_secs(1);
    while t0.elapsed() < config.duration {
        thread::sleep(config.interval);
        {
            let v = values.lock().expect("no panics while locked");
            if !consistent(&v) {
                broken += 1;
            }
        }
        let now = t0.elapsed();
        at.push(now);
        if now >= next_progress {
            out.progress(format!(
                "heartbeat (threads): {:.0}/{:.0} s",
                now.as_secs_f64(),
                config.duration.as_secs_f64()
            ));
            next_progress += Duration::from_secs(1);
        }
    }
    // Relaxed: see the counter thread.
    stop.store(true, Ordering::Relaxed);
    counter.join().expect("counter thread");
    let steps = values.lock().expect("no panics while locked")[0];
    Beats {
        at,
        broken,
        steps,
        interval: config.interval,
    }
}

impl Heartbeat {
    /// The report lines.
    pub fn print(&self, out: Output) {
        let c = &self.config;
        out.line(format!(
            "2. The heartbeat: {} values, each step adds 1 to all; every {} a heartbeat checks they are equal ({} per program)",
            c.size,
            fmt_dur(c.interval),
            fmt_dur(c.duration)
        ));
        out.line(format!(
            "   {:<36} {:>5} {:>8} {:>10} {:>10} {:>10} {:>12} {:>9}",
            "", "beats", "steps", "jitter p50", "p99", "max", "drift", "invariant"
        ));
        for (label, b) in [
            ("loop (call_soon_threadsafe + timer)", &self.on_loop),
            ("threads + Mutex (the lock version)", &self.threaded),
        ] {
            let j = b.jitter();
            out.line(format!(
                "   {label:<36} {:>5} {:>8} {:>10} {:>10} {:>10} {:>12} {:>9}",
                b.at.len(),
                b.steps,
                fmt_dur(j.p50),
                fmt_dur(j.p99),
                fmt_dur(j.max),
                format!("{} @{}", fmt_dur(b.drift()), b.at.len()),
                if b.broken == 0 { "held" } else { "BROKEN" },
            ));
        }
    }

    /// The invariants.
    pub fn checks(&self) -> Vec<Check> {
        let st = &self.stats;
        vec![
            Check::new(
                "the loop's heartbeat never saw the counter mid-step",
                self.on_loop.broken == 0 && !self.on_loop.at.is_empty(),
                format!(
                    "{} beats, {} broken",
                    self.on_loop.at.len(),
                    self.on_loop.broken
                ),
            ),
            Check::new(
                "the lock version's heartbeat never saw it mid-step either",
                self.threaded.broken == 0 && !self.threaded.at.is_empty(),
                format!(
                    "{} beats, {} broken",
                    self.threaded.at.len(),
                    self.threaded.broken
                ),
            ),
            Check::new(
                "every step pushed ran once, on the loop",
                self.pushed == self.ran
                    && self.ran == st.threadsafe_ran
                    && self.on_loop.steps == self.ran as u64,
                format!(
                    "pushed {}, ran {}, counter at {}",
                    self.pushed, self.ran, self.on_loop.steps
                ),
            ),
            Check::wakes_within_parks(st),
        ]
    }
}
