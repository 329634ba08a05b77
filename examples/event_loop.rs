//! The main example: a small asyncio-style event loop built from loopkit's pieces.
//!
//! * The loop thread (here, `main`) owns the `queue::Receiver<Callback>`: it runs what is
//!   queued and parks when idle. I/O threads hand completions back with `Sender::call_soon`,
//!   asyncio's `call_soon_threadsafe`: a push wakes the parked loop, never fails to, and never
//!   wakes it twice for one park. While the loop is busy a push makes no wake call at all.
//! * Every task the loop starts is registered in a `registry::Registry` on the loop thread (the
//!   owner path: no lock). A monitor thread calls `snapshot()` (asyncio's `all_tasks()`) and reads
//!   the loop's current task while the loop runs, and pauses nothing.
//! * Each task carries a context, a `hamt::Hamt` copied from the loop's root context in O(1) and
//!   changed persistently (PEP 567's `copy_context` then `var.set`), so the root never changes.
//! * Some completions time out: their I/O thread cancels the handle it was given and, when the
//!   cancel prevented the run, retries the I/O.
//!
//! At the end a ledger checks that every callback pushed either ran or was cancelled, exactly
//! once; that every task was registered and unregistered once; and that wake calls never
//! outnumbered parks.
//!
//! Run it with `cargo run --release --example event_loop`.

// Every atomic in this example is a counter or a progress flag: `Relaxed` throughout, since no
// data is published through them (callbacks reach the loop through the queue, whose push/drain
// edges order everything they carry, and the final reads happen after `join`).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use loopkit::hamt::Hamt;
use loopkit::queue::{self, Callback, Park, Sender, ThreadParker, ThreadUnparker, Unpark};
use loopkit::registry::{Registry, Task};

const TASKS: usize = 20_000;
const STEPS: usize = 4;
const IO_THREADS: usize = 3;
/// Every `TIMEOUT_EVERY`th completion "times out" and is cancelled by its I/O thread.
const TIMEOUT_EVERY: usize = 7;

/// What the registry holds for each task.
#[derive(Debug)]
struct TaskInfo {
    id: usize,
    /// I/O steps completed so far (only the loop thread changes it).
    step: AtomicUsize,
    /// The task's context: the loop's root context plus this task's own variables.
    ctx: Hamt<&'static str, usize>,
}

/// State the callbacks reach; they run on the loop thread.
struct Shared {
    registry: Registry<TaskInfo>,
    io: Vec<mpsc::Sender<Request>>,
    finished: AtomicUsize,
}

/// What the loop asks of an I/O thread.
enum Request {
    /// Do one I/O step for this task, then queue its completion on the loop.
    Step(Task<TaskInfo>),
    /// Every task finished: exit.
    Stop,
}

/// Counts wake calls on top of the default thread parker.
#[derive(Debug, Default)]
struct CountingWaker {
    wakes: Arc<AtomicUsize>,
    inner: ThreadParker,
}

/// The producer half of `CountingWaker`.
#[derive(Debug)]
struct CountingUnparker {
    wakes: Arc<AtomicUsize>,
    inner: ThreadUnparker,
}

impl Unpark for CountingUnparker {
    fn unpark(&self) {
        // Relaxed: a counter, see the note at the imports.
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.inner.unpark();
    }
}

impl Park for CountingWaker {
    type Unparker = CountingUnparker;
    fn unparker(&self) -> CountingUnparker {
        CountingUnparker {
            wakes: self.wakes.clone(),
            inner: self.inner.unparker(),
        }
    }
    fn park(&self, timeout: Option<Duration>) {
        self.inner.park(timeout);
    }
}

#[derive(Debug, Default)]
struct Ledger {
    pushed: AtomicUsize,
    ran: AtomicUsize,
    prevented: AtomicUsize,
}

/// An I/O thread: takes requests, "does the I/O", and queues the completion on the loop.
fn io_thread(
    requests: mpsc::Receiver<Request>,
    to_loop: Sender<Callback>,
    shared: Arc<Shared>,
    ledger: Arc<Ledger>,
) {
    let mut n = 0usize;
    while let Ok(Request::Step(task)) = requests.recv() {
        n += 1;
        // A little simulated I/O latency, so the loop sometimes runs dry and parks.
        if n % 64 == 0 {
            thread::sleep(Duration::from_micros(50));
        }
        loop {
            let (s, l, t) = (shared.clone(), ledger.clone(), task.clone());
            let handle = to_loop
                .call_soon(move || on_complete(&s, &l, t))
                .unwrap_or_else(|_| panic!("the loop closed its queue early"));
            // Relaxed: a counter, see the note at the imports.
            ledger.pushed.fetch_add(1, Ordering::Relaxed);
            if n % TIMEOUT_EVERY == 0 && handle.cancel() {
                // The timeout won: the completion will not run, so do the I/O again.
                ledger.prevented.fetch_add(1, Ordering::Relaxed);
                n += 1;
                continue;
            }
            break;
        }
    }
}

/// A completion callback, on the loop thread: advance the task, or finish it.
fn on_complete(shared: &Shared, ledger: &Ledger, task: Task<TaskInfo>) {
    // Relaxed: a counter, see the note at the imports.
    ledger.ran.fetch_add(1, Ordering::Relaxed);
    shared
        .registry
        .set_current(Some(&task))
        .expect("task of this loop");
    // Relaxed: a counter, see the note at the imports.
    let step = task.step.fetch_add(1, Ordering::Relaxed) + 1;
    if step == STEPS {
        assert_eq!(
            task.ctx.get("task"),
            Some(&task.id),
            "the task's context kept its variable"
        );
        assert!(
            shared.registry.unregister(&task),
            "a finished task is unregistered once"
        );
        // Relaxed: a counter, see the note at the imports.
        shared.finished.fetch_add(1, Ordering::Relaxed);
    } else {
        let io = &shared.io[task.id % IO_THREADS];
        io.send(Request::Step(task)).expect("I/O thread alive");
    }
    shared.registry.set_current(None).expect("loop thread");
}

fn main() {
    let started = Instant::now();
    let waker = CountingWaker::default();
    let wakes = waker.wakes.clone();
    let (to_loop, mut rx) = queue::with_parker::<Callback, _>(waker);
    let ledger = Arc::new(Ledger::default());

    let mut io_senders = Vec::new();
    let mut io_receivers = Vec::new();
    for _ in 0..IO_THREADS {
        let (tx, rx) = mpsc::channel();
        io_senders.push(tx);
        io_receivers.push(rx);
    }
    let shared = Arc::new(Shared {
        registry: Registry::new(),
        io: io_senders,
        finished: AtomicUsize::new(0),
    });
    let io: Vec<_> = io_receivers
        .into_iter()
        .map(|requests| {
            let (tx, s, l) = (to_loop.clone(), shared.clone(), ledger.clone());
            thread::spawn(move || io_thread(requests, tx, s, l))
        })
        .collect();
    drop(to_loop);

    // The monitor: all_tasks() and the loop's current task, from another thread, while the loop
    // runs. It never pauses the loop.
    let loop_key = shared.registry.thread_key().expect("loop thread");
    let monitor = {
        let shared = shared.clone();
        thread::spawn(move || {
            let (mut snapshots, mut max_seen, mut current_seen) = (0usize, 0usize, 0usize);
            // Relaxed: a counter, see the note at the imports.
            while shared.finished.load(Ordering::Relaxed) < TASKS {
                let all = shared.registry.snapshot();
                for t in &all {
                    assert!(
                        // Relaxed: a counter, see the note at the imports.
                        t.step.load(Ordering::Relaxed) <= STEPS,
                        "a live task, never a freed one"
                    );
                }
                max_seen = max_seen.max(all.len());
                snapshots += 1;
                if shared.registry.current_of(loop_key).is_some() {
                    current_seen += 1;
                }
                thread::sleep(Duration::from_micros(200));
            }
            (snapshots, max_seen, current_seen)
        })
    };

    // The loop: start the tasks in batches, run what is queued, park when idle.
    let root: Hamt<&'static str, usize> = Hamt::new().insert("loop", 0);
    let (mut started_tasks, mut parks, mut ran_total) = (0usize, 0usize, 0usize);
    // Relaxed: a counter, see the note at the imports.
    while shared.finished.load(Ordering::Relaxed) < TASKS {
        while started_tasks < TASKS
            // Relaxed: a counter, see the note at the imports.
            && started_tasks - shared.finished.load(Ordering::Relaxed) < 1_000
        {
            let id = started_tasks;
            let task = Task::new(TaskInfo {
                id,
                step: AtomicUsize::new(0),
                ctx: root.insert("task", id), // copy_context + set: the root is not touched
            });
            shared
                .registry
                .register(&task)
                .expect("loop thread registers its own tasks");
            let io = &shared.io[id % IO_THREADS];
            io.send(Request::Step(task)).expect("I/O thread alive");
            started_tasks += 1;
        }
        let ran = rx.run_pending();
        ran_total += ran;
        if ran == 0 {
            parks += 1;
            rx.park_timeout(Duration::from_millis(100));
        }
    }
    for io in &shared.io {
        io.send(Request::Stop).expect("I/O thread alive");
    }
    for t in io {
        t.join().expect("I/O thread");
    }
    let (snapshots, max_seen, current_seen) = monitor.join().expect("monitor");
    let pending = rx.close();
    let left = shared.registry.snapshot().len();
    assert_eq!(
        Arc::strong_count(&shared),
        1,
        "no callback or thread still holds the loop state"
    );
    let elapsed = started.elapsed();

    // Relaxed: a counter, see the note at the imports.
    let pushed = ledger.pushed.load(Ordering::Relaxed);
    // Relaxed: a counter, see the note at the imports.
    let ran = ledger.ran.load(Ordering::Relaxed);
    // Relaxed: a counter, see the note at the imports.
    let prevented = ledger.prevented.load(Ordering::Relaxed);
    // Relaxed: a counter, see the note at the imports.
    let wakes = wakes.load(Ordering::Relaxed);
    println!("loopkit event loop: {TASKS} tasks x {STEPS} I/O steps on {IO_THREADS} I/O threads, {elapsed:.2?}");
    println!("  callbacks pushed  {pushed:>8}  (call_soon from I/O threads)");
    println!("  callbacks ran     {ran:>8}  (run_pending calls ran {ran_total})");
    println!("  cancelled (timeouts that prevented the run) {prevented}");
    println!("  loop parks {parks}, wake calls {wakes} (at most one per park; none while busy)");
    println!("  snapshots taken by the monitor {snapshots}, largest {max_seen} tasks, loop seen inside a task {current_seen} times");
    println!("  tasks left registered {left}, callbacks pending at close {pending}");
    assert_eq!(
        ran + prevented,
        pushed,
        "every callback ran or was cancelled, exactly once"
    );
    assert_eq!(ran, TASKS * STEPS, "every I/O step completed once");
    assert_eq!(ran, ran_total);
    assert!(wakes <= parks, "never more wake calls than parks");
    assert_eq!(left, 0, "every task was unregistered");
    assert_eq!(pending, 0);
    assert_eq!(root.len(), 1, "the root context was never changed");
    println!("ledger ok");
}
