//! Many loops, tasks and contexts at once.
//!
//! `loops` loops run on their own threads and share one task registry. `workers` threads feed
//! them with `call_soon_threadsafe`; each job spawns a root task, and every few pushes the
//! worker cancels the handle it just got. Each root task spawns `children` children, each child
//! spawns `children` more; parents await their children, leaves sleep or yield. A monitor
//! thread takes `all_tasks()` snapshots of every loop and reads each loop's current task while
//! all this runs.
//!
//! Context variables follow the work: a worker sets `WORKER` in its own context, and its jobs
//! run in a copy of it on the loop; a root task sets `LOOP` and every task sets `REQUEST` to
//! its id, spawns its children, then changes `REQUEST` again. Each task checks that it starts
//! with its parent's values as of its spawn (not the later change), that its own values survive
//! the other tasks running on its thread in between, and the monitor reads every snapshotted
//! task's context from its own thread while the task may be setting it.
//!
//! The ledger at the end: jobs ran + cancelled = pushed; every task registered once and
//! unregistered once; no snapshot showed a task that had finished before it began; per queue,
//! wake calls never above parks; no context check failed.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use loopkit::context::ContextVar;
use loopkit::registry::Registry;

use super::{Check, Output};
use crate::runtime::{sleep, yield_now, Loop, LoopObserver, LoopStats, TaskInfo, FINISHED};

/// Sizes.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Loops (one thread each).
    pub loops: usize,
    /// Feeding threads.
    pub workers: usize,
    /// How long the workers push.
    pub duration: Duration,
    /// Children per task (two levels below the root).
    pub children: usize,
    /// Every `cancel_every`-th push is cancelled right after it.
    pub cancel_every: usize,
    /// Root tasks a worker keeps in flight at most.
    pub in_flight: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            loops: 4,
            workers: 3,
            duration: Duration::from_secs(2),
            children: 2,
            cancel_every: 5,
            in_flight: 64,
        }
    }
}

impl Config {
    /// Tasks in one root's tree.
    pub fn tree_size(&self) -> usize {
        1 + self.children + self.children * self.children
    }
}

/// The worker whose job started the tree (set by the worker in its own context).
static WORKER: ContextVar<usize> = ContextVar::new("worker");
/// The loop a root task runs on (set by the root).
static LOOP: ContextVar<u32> = ContextVar::new("loop");
/// Each task's own id; after spawning its children, `id | CHANGED`.
static REQUEST: ContextVar<u64> = ContextVar::new("request");
/// Marks the value a task sets after spawning its children, which they must not see.
const CHANGED: u64 = 1 << 62;

/// What the task side of one loop counted (on its thread).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TaskLedger {
    /// `current_task()` checks made inside tasks.
    pub checked: usize,
    /// Tasks whose `current_task()` was not themselves, or whose loop was not theirs.
    pub wrong_current: usize,
    /// Context checks made inside jobs and tasks.
    pub context_checked: usize,
    /// Context checks that failed (a value leaked in, or one was lost).
    pub context_wrong: usize,
}

thread_local! {
    static LEDGER: RefCell<TaskLedger> = RefCell::new(TaskLedger::default());
}

/// What one worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerLedger {
    /// Jobs pushed.
    pub pushed: usize,
    /// Pushes whose `cancel()` prevented the run.
    pub cancelled: usize,
    /// Cancels that came too late (the job had started).
    pub cancel_too_late: usize,
}

/// What the monitor saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MonitorLedger {
    /// `all_tasks()` calls.
    pub snapshots: usize,
    /// Tasks seen in them, in all.
    pub tasks_seen: usize,
    /// The largest snapshot.
    pub largest: usize,
    /// Tasks a snapshot returned although they finished before it began.
    pub finished_seen: usize,
    /// `current_task()` reads that found a task.
    pub current_seen: usize,
    /// Current tasks of another loop, or finished before the read began.
    pub wrong_current: usize,
    /// Task contexts read from the monitor's thread.
    pub contexts_read: usize,
    /// Contexts holding a value that task could not have.
    pub contexts_wrong: usize,
}

/// The scenario's result.
#[derive(Debug, Clone)]
pub struct Many {
    /// Per loop.
    pub loops: Vec<(LoopStats, TaskLedger)>,
    /// Per worker.
    pub workers: Vec<WorkerLedger>,
    /// The monitor.
    pub monitor: MonitorLedger,
    /// Tasks left in the registry after every loop stopped.
    pub left_registered: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// The sizes used.
    pub config: Config,
}

/// A small deterministic generator for the leaves' choices.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

/// Checks that the task being polled is `me`, on this loop.
fn check_current(me: u64) {
    let lp = Loop::current();
    let ok = lp
        .current_task()
        .is_some_and(|t| t.id == me && t.loop_id == lp.id());
    LEDGER.with(|l| {
        let mut l = l.borrow_mut();
        l.checked += 1;
        if !ok {
            l.wrong_current += 1;
        }
    });
}

/// Counts one context check.
fn check_context(ok: bool) {
    LEDGER.with(|l| {
        let mut l = l.borrow_mut();
        l.context_checked += 1;
        if !ok {
            l.context_wrong += 1;
        }
    });
}

/// What a task should find in its context on its first poll.
#[derive(Clone, Copy)]
struct Inherited {
    worker: usize,
    request: Option<u64>,
    loop_id: Option<u32>,
}

/// Whether the current context holds exactly `want`.
fn holds(want: Inherited) -> bool {
    WORKER.get() == Some(want.worker) && REQUEST.get() == want.request && LOOP.get() == want.loop_id
}

/// A task at `depth` (0 = root): checks what it inherited, sets its own values, spawns its
/// children, changes its value, awaits them (or sleeps or yields), and checks again.
fn node(
    depth: usize,
    children: usize,
    inherited: Inherited,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    Box::pin(async move {
        let lp = Loop::current();
        let me = lp.current_task().expect("called inside a task");
        check_current(me.id);
        check_context(holds(inherited));
        let loop_id = lp.id();
        if depth == 0 {
            LOOP.set(loop_id);
        }
        REQUEST.set(me.id);
        let mine = Inherited {
            worker: inherited.worker,
            request: Some(me.id),
            loop_id: Some(loop_id),
        };
        let kids: Vec<_> = if depth < 2 {
            (0..children)
                .map(|_| lp.spawn("child", node(depth + 1, children, mine)))
                .collect()
        } else {
            Vec::new()
        };
        // The children copied the context above; this change is for this task alone.
        REQUEST.set(me.id | CHANGED);
        let mine = Inherited {
            request: Some(me.id | CHANGED),
            ..mine
        };
        // The task's `Context` object is the one this poll runs in.
        check_context(me.context.get(&REQUEST) == Some(me.id | CHANGED));
        if kids.is_empty() {
            match mix(me.id) % 3 {
                0 => yield_now().await,
                1 => sleep(Duration::from_micros(mix(me.id + 1) % 500)).await,
                _ => {}
            }
        }
        for k in kids {
            k.await;
        }
        // Other tasks ran on this thread meanwhile, each in its own context.
        check_current(me.id);
        check_context(holds(mine));
    })
}

/// Runs the scenario.
pub fn run(config: Config, out: Output) -> Many {
    let started = Instant::now();
    let registry: Registry<TaskInfo> = Registry::new();
    let mut loop_threads = Vec::new();
    let mut handles = Vec::new();
    let mut observers = Vec::new();
    for _ in 0..config.loops {
        let (tx, rx) = mpsc::channel();
        let registry = registry.clone();
        loop_threads.push(thread::spawn(move || {
            let (lp, handle) = Loop::new(&registry);
            tx.send(handle).expect("main alive");
            let stats = lp.run();
            (stats, LEDGER.with(|l| l.take()))
        }));
        let handle = rx.recv().expect("loop started");
        observers.push(handle.observer());
        handles.push(handle);
    }

    // The monitor: all_tasks() and current_task() of every loop, from its own thread.
    let stop_monitor = Arc::new(AtomicBool::new(false));
    let monitor = {
        let stop = stop_monitor.clone();
        let observers = observers.clone();
        thread::spawn(move || monitor(&observers, &stop))
    };

    // The workers.
    let finished_roots = Arc::new(AtomicUsize::new(0));
    let deadline = started + config.duration;
    let workers: Vec<_> = (0..config.workers)
        .map(|w| {
            let handles = handles.clone();
            let finished_roots = finished_roots.clone();
            thread::spawn(move || worker(w, &handles, deadline, config, &finished_roots))
        })
        .collect();
    drop(handles);
    let mut next_progress = started + Duration::from_secs(1);
    while workers.iter().any(|w| !w.is_finished()) {
        thread::sleep(Duration::from_millis(20));
        if Instant::now() >= next_progress {
            out.progress(format!(
                "many loops: {:.1}/{:.1} s, {} root tasks done",
                started.elapsed().as_secs_f64(),
                config.duration.as_secs_f64(),
                // Relaxed: a progress figure.
                finished_roots.load(Ordering::Relaxed)
            ));
            next_progress += Duration::from_secs(1);
        }
    }
    let workers: Vec<WorkerLedger> = workers
        .into_iter()
        .map(|w| w.join().expect("worker"))
        .collect();
    // Every handle is gone now: each loop finishes its work and stops by itself.
    let loops: Vec<(LoopStats, TaskLedger)> = loop_threads
        .into_iter()
        .map(|t| t.join().expect("loop thread"))
        .collect();
    // Release: the monitor may stop; nothing is published through the flag.
    stop_monitor.store(true, Ordering::Release);
    let monitor = monitor.join().expect("monitor");
    let left_registered = registry.snapshot().len();
    Many {
        loops,
        workers,
        monitor,
        left_registered,
        elapsed: started.elapsed(),
        config,
    }
}

fn worker(
    w: usize,
    handles: &[crate::runtime::LoopHandle],
    deadline: Instant,
    config: Config,
    finished_roots: &Arc<AtomicUsize>,
) -> WorkerLedger {
    // This thread's context; each job runs in a copy of it on the loop.
    let _worker = WORKER.set(w);
    let mut ledger = WorkerLedger::default();
    let done = Arc::new(AtomicUsize::new(0));
    let mut n = 0usize;
    while Instant::now() < deadline {
        // Acquire: pairs with the Release increment at the end of a root task.
        if ledger.pushed - ledger.cancelled - done.load(Ordering::Acquire) >= config.in_flight {
            thread::sleep(Duration::from_micros(200));
            continue;
        }
        n += 1;
        let handle = &handles[(w + n) % handles.len()];
        let (done, finished_roots) = (done.clone(), finished_roots.clone());
        let children = config.children;
        let job = move || {
            // On the loop thread, in the worker's context: the worker's value, no loop's.
            check_context(WORKER.get() == Some(w) && LOOP.get().is_none());
            let lp = Loop::current();
            let root = node(
                0,
                children,
                Inherited {
                    worker: w,
                    request: None,
                    loop_id: None,
                },
            );
            lp.spawn("root", async move {
                root.await;
                // Release: the worker's count of finished roots.
                done.fetch_add(1, Ordering::Release);
                // Relaxed: a progress figure.
                finished_roots.fetch_add(1, Ordering::Relaxed);
            });
        };
        let h = match handle.call_soon_threadsafe(job) {
            Ok(h) => h,
            Err(_) => panic!("a loop stopped while a worker held its handle"),
        };
        ledger.pushed += 1;
        if n % config.cancel_every == 0 {
            if h.cancel() {
                ledger.cancelled += 1;
            } else {
                ledger.cancel_too_late += 1;
            }
        }
    }
    // Wait for this worker's roots, so that the loops have work until the end.
    // Acquire: pairs with the Release increment at the end of a root task.
    while ledger.pushed - ledger.cancelled > done.load(Ordering::Acquire) {
        thread::sleep(Duration::from_millis(1));
    }
    ledger
}

fn monitor(observers: &[LoopObserver], stop: &AtomicBool) -> MonitorLedger {
    let mut m = MonitorLedger::default();
    // Acquire: pairs with the Release store in `run`.
    while !stop.load(Ordering::Acquire) {
        for obs in observers {
            // Acquire: pairs with the AcqRel increment in `Loop::finish_task`, which follows the
            // task's unregister: a number up to `before` means the unregister came before this.
            let before = FINISHED.load(Ordering::Acquire);
            let all = obs.all_tasks();
            m.snapshots += 1;
            m.tasks_seen += all.len();
            m.largest = m.largest.max(all.len());
            for t in &all {
                if t.finished_seq().is_some_and(|n| n <= before) || t.loop_id != obs.id() {
                    m.finished_seen += 1;
                }
                // Read the task's context from this thread, while its loop may be setting it:
                // one whole version, holding only values this task can have.
                let request = t.context.get(&REQUEST);
                let loop_id = t.context.get(&LOOP);
                let request_ok = match request {
                    None => t.parent.is_none(),
                    Some(r) => Some(r) == t.parent || r == t.id || r == t.id | CHANGED,
                };
                let loop_ok = loop_id.is_none() || loop_id == Some(t.loop_id);
                let worker_ok = t.context.get(&WORKER).is_some();
                m.contexts_read += 1;
                if !(request_ok && loop_ok && worker_ok) {
                    m.contexts_wrong += 1;
                }
            }
            // Acquire: as above.
            let before = FINISHED.load(Ordering::Acquire);
            if let Some(t) = obs.current_task() {
                m.current_seen += 1;
                if t.loop_id != obs.id() || t.finished_seq().is_some_and(|n| n <= before) {
                    m.wrong_current += 1;
                }
            }
        }
        thread::sleep(Duration::from_micros(300));
    }
    m
}

impl Many {
    /// Sums over the loops.
    pub fn total(&self) -> LoopStats {
        let mut t = LoopStats::default();
        for (s, _) in &self.loops {
            t.threadsafe_ran += s.threadsafe_ran;
            t.spawned += s.spawned;
            t.registered += s.registered;
            t.unregistered += s.unregistered;
            t.finished += s.finished;
            t.abandoned += s.abandoned;
            t.polls += s.polls;
            t.parks_handle_queue += s.parks_handle_queue;
            t.parks_wake_queue += s.parks_wake_queue;
            t.wakes_handle_queue += s.wakes_handle_queue;
            t.wakes_wake_queue += s.wakes_wake_queue;
        }
        t
    }

    fn workers_total(&self) -> WorkerLedger {
        let mut t = WorkerLedger::default();
        for w in &self.workers {
            t.pushed += w.pushed;
            t.cancelled += w.cancelled;
            t.cancel_too_late += w.cancel_too_late;
        }
        t
    }

    /// The report lines.
    pub fn print(&self, out: Output) {
        let c = &self.config;
        let t = self.total();
        let w = self.workers_total();
        let m = &self.monitor;
        out.line(format!(
            "3. Many loops: {} loops on {} threads, {} workers pushing for {:.1} s, trees of {} tasks ({:.1} s in all)",
            c.loops,
            c.loops,
            c.workers,
            c.duration.as_secs_f64(),
            c.tree_size(),
            self.elapsed.as_secs_f64()
        ));
        out.line(format!(
            "   jobs pushed {}, ran {}, cancelled {} (cancel too late: {})",
            w.pushed, t.threadsafe_ran, w.cancelled, w.cancel_too_late
        ));
        out.line(format!(
            "   tasks spawned {}, registered {}, unregistered {}, finished {}, polls {}",
            t.spawned, t.registered, t.unregistered, t.finished, t.polls
        ));
        out.line(format!(
            "   monitor: {} all_tasks() snapshots (largest {}), {} task contexts read, a current task seen {} times",
            m.snapshots, m.largest, m.contexts_read, m.current_seen
        ));
        out.line(format!(
            "   parks {} / {}, wake calls {} / {} (handle queue / wake queue)",
            t.parks_handle_queue, t.parks_wake_queue, t.wakes_handle_queue, t.wakes_wake_queue
        ));
    }

    /// The invariants.
    pub fn checks(&self) -> Vec<Check> {
        let t = self.total();
        let w = self.workers_total();
        let m = &self.monitor;
        let ledger_checked: usize = self.loops.iter().map(|(_, l)| l.checked).sum();
        let ledger_wrong: usize = self.loops.iter().map(|(_, l)| l.wrong_current).sum();
        let ctx_checked: usize = self.loops.iter().map(|(_, l)| l.context_checked).sum();
        let ctx_wrong: usize = self.loops.iter().map(|(_, l)| l.context_wrong).sum();
        let wakes_ok = self.loops.iter().all(|(s, _)| {
            s.wakes_handle_queue <= s.parks_handle_queue && s.wakes_wake_queue <= s.parks_wake_queue
        });
        vec![
            Check::new(
                "ledger: jobs ran + cancelled = pushed",
                t.threadsafe_ran + w.cancelled == w.pushed && w.pushed > 0,
                format!(
                    "{} + {} = {}",
                    t.threadsafe_ran,
                    w.cancelled,
                    t.threadsafe_ran + w.cancelled
                ),
            ),
            Check::new(
                "every task registered once and unregistered once",
                t.spawned == t.threadsafe_ran * self.config.tree_size()
                    && t.registered == t.spawned
                    && t.unregistered == t.spawned
                    && t.finished == t.spawned
                    && t.abandoned == 0
                    && self.left_registered == 0,
                format!(
                    "{} spawned, {} registered, {} unregistered, {} left",
                    t.spawned, t.registered, t.unregistered, self.left_registered
                ),
            ),
            Check::new(
                "current_task() inside each task is that task",
                ledger_wrong == 0 && ledger_checked == 2 * t.spawned,
                format!("{ledger_checked} checks, {ledger_wrong} wrong"),
            ),
            Check::new(
                "contexts: each job ran in its worker's, each task began with its parent's values as of its spawn, nothing leaked between tasks or loops",
                ctx_wrong == 0 && ctx_checked == t.threadsafe_ran + 3 * t.spawned,
                format!("{ctx_checked} checks, {ctx_wrong} wrong"),
            ),
            Check::new(
                "task contexts read from the monitor's thread held only their own values",
                m.contexts_wrong == 0 && m.contexts_read > 0,
                format!("{} read, {} wrong", m.contexts_read, m.contexts_wrong),
            ),
            Check::new(
                "all_tasks() never showed a finished task",
                m.finished_seen == 0 && m.snapshots > 0,
                format!(
                    "{} snapshots, {} tasks seen, {} finished among them",
                    m.snapshots, m.tasks_seen, m.finished_seen
                ),
            ),
            Check::new(
                "current_task() from the monitor: a live task of that loop",
                m.wrong_current == 0,
                format!("{} seen, {} wrong", m.current_seen, m.wrong_current),
            ),
            Check::new(
                "wake calls never above parks (every loop, both queues)",
                wakes_ok,
                format!(
                    "{} / {} wakes, {} / {} parks",
                    t.wakes_handle_queue,
                    t.wakes_wake_queue,
                    t.parks_handle_queue,
                    t.parks_wake_queue
                ),
            ),
        ]
    }
}
