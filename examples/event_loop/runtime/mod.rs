//! A small asyncio-style event loop built only from loopkit's structures.
//!
//! * [`Loop`] runs on one thread (it is `!Send`): `call_soon`, `call_later`/`call_at` (a timer
//!   heap), `spawn(future)`, and `run()`, which drains its queues, fires due timers, runs what is
//!   ready, and parks when idle.
//! * [`LoopHandle`] is the loop seen from other threads (`Send + Sync + Clone`):
//!   `call_soon_threadsafe` pushes a job into the loop's handle queue (a `loopkit::queue`) and
//!   returns a handle that cancels it from any thread; `all_tasks()` and `current_task()` read
//!   the loop's tasks from the `loopkit::registry` without pausing it.
//! * Every callback runs in a context (`loopkit::context`), as in asyncio: the caller's, copied
//!   with `copy_context()` when it called `call_soon`, `call_later` or `call_soon_threadsafe`
//!   (so a job from another thread sees that thread's context variables). A task captures
//!   `copy_context()` when it is spawned and is polled inside it (`Context::scope`), so what
//!   it sets stays in its own context, and a child sees its parent's values as of its spawn.
//! * Tasks are registered in a [`Registry`] on the loop thread while pending, unregistered when
//!   done, and set as the thread's current task while polled.
//! * A task's waker pushes its id into a second queue, the loop's own wake queue. The loop parks
//!   on both queues at once through the queues' two-step park (`prepare_park` on each, one
//!   block, `finish_park` on each); a push into either wakes it, with at most one wake per
//!   queue per park.
//! * The loop never holds a sender of its handle queue: the last `LoopHandle`'s drop disconnects
//!   the queue and wakes the loop, and once no local work is left, `run()` returns.

mod futures;
mod task;
mod timer;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use loopkit::context::{copy_context, Context};
use loopkit::queue::{self, Handle, NoPark, Receiver, SendError, Sender, Unpark};
use loopkit::registry::{Registry, Task, ThreadKey};

pub use self::futures::{sleep, yield_now, Event};
pub use self::task::{JoinHandle, TaskInfo, FINISHED};
pub use self::timer::{LocalCallback, LocalHandle};

use self::task::{JoinState, TaskWaker};
use self::timer::Timers;

/// A callback pushed from another thread.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

static NEXT_LOOP_ID: AtomicU32 = AtomicU32::new(1);

thread_local! {
    /// The loop running on this thread (asyncio's `get_running_loop()`).
    static RUNNING: RefCell<Option<Loop>> = const { RefCell::new(None) };
}

/// Wakes the loop thread and counts the wake calls a queue makes.
#[derive(Debug)]
pub struct CountingWaker {
    wakes: AtomicUsize,
    thread: Thread,
}

impl Unpark for CountingWaker {
    fn unpark(&self) {
        // Relaxed: a counter, read after the loop thread is joined or by the loop itself.
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.thread.unpark();
    }
}

impl CountingWaker {
    /// Blocks the loop thread (the one this waker unparks) until an unpark or `timeout`.
    fn block(&self, timeout: Option<Duration>) {
        match timeout {
            Some(t) => thread::park_timeout(t),
            None => thread::park(),
        }
    }
}

impl CountingWaker {
    fn wakes(&self) -> usize {
        // Relaxed: a counter.
        self.wakes.load(Ordering::Relaxed)
    }
}

/// A waker that never wakes anything: the queue behind `call_soon_unwoken`, whose consumer
/// never announces a park, so the queue never calls it.
#[derive(Debug)]
struct NoWake;

impl Unpark for NoWake {
    fn unpark(&self) {}
}

/// What the loop did, for the report and the ledgers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoopStats {
    /// The loop's id.
    pub loop_id: u32,
    /// Jobs from `call_soon_threadsafe` that ran.
    pub threadsafe_ran: usize,
    /// Jobs from `call_soon_unwoken` that ran.
    pub unwoken_ran: usize,
    /// `call_soon` callbacks that ran.
    pub soon_ran: usize,
    /// Timer callbacks that ran.
    pub timers_ran: usize,
    /// Tasks spawned, registered, polled, finished, unregistered.
    pub spawned: usize,
    /// Successful registrations.
    pub registered: usize,
    /// Polls of a task's future.
    pub polls: usize,
    /// Tasks that completed.
    pub finished: usize,
    /// Successful unregistrations (finished plus abandoned).
    pub unregistered: usize,
    /// Tasks still pending when the loop stopped (nothing could wake them any more).
    pub abandoned: usize,
    /// Task wakes that found their task already finished.
    pub stale_wakes: usize,
    /// Parks announced on the handle queue / on the wake queue.
    pub parks_handle_queue: usize,
    /// See `parks_handle_queue`.
    pub parks_wake_queue: usize,
    /// Wake calls made by the handle queue / by the wake queue.
    pub wakes_handle_queue: usize,
    /// See `wakes_handle_queue`.
    pub wakes_wake_queue: usize,
    /// Loop iterations.
    pub iterations: usize,
}

enum Ready {
    Callback(LocalCallback, LocalHandle),
    Poll(u64),
}

struct LocalTask {
    future: Pin<Box<dyn Future<Output = ()>>>,
    task: Task<TaskInfo>,
    wake_state: Arc<TaskWaker>,
    waker: Waker,
}

struct Inner {
    id: u32,
    registry: Registry<TaskInfo>,
    handle_rx: RefCell<Receiver<Job, NoPark>>,
    handle_waker: Arc<CountingWaker>,
    wake_rx: RefCell<Receiver<u64, NoPark>>,
    wake_tx: Sender<u64>,
    wake_waker: Arc<CountingWaker>,
    unwoken_rx: RefCell<Receiver<Job, NoPark>>,
    ready: RefCell<VecDeque<Ready>>,
    timers: RefCell<Timers>,
    tasks: RefCell<HashMap<u64, LocalTask>>,
    current: Cell<Option<u64>>,
    stats: RefCell<LoopStats>,
}

/// The event loop. Create it on the thread that will run it.
#[derive(Clone)]
pub struct Loop {
    inner: Rc<Inner>,
}

impl fmt::Debug for Loop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loop")
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

/// The loop seen from any thread.
#[derive(Clone)]
pub struct LoopHandle {
    id: u32,
    handle_tx: Sender<Job>,
    unwoken_tx: Sender<Job>,
    registry: Registry<TaskInfo>,
    key: ThreadKey,
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Loop {
    /// A new loop on the calling thread, registering its tasks in `registry`; the handle is the
    /// only way in from other threads (clone it for each).
    pub fn new(registry: &Registry<TaskInfo>) -> (Loop, LoopHandle) {
        // Relaxed: a unique number.
        let id = NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed);
        let me = thread::current();
        let handle_waker = Arc::new(CountingWaker {
            wakes: AtomicUsize::new(0),
            thread: me.clone(),
        });
        let wake_waker = Arc::new(CountingWaker {
            wakes: AtomicUsize::new(0),
            thread: me,
        });
        let (handle_tx, handle_rx) = queue::with_unparker::<Job, _>(handle_waker.clone());
        let (wake_tx, wake_rx) = queue::with_unparker::<u64, _>(wake_waker.clone());
        let (unwoken_tx, unwoken_rx) = queue::with_unparker::<Job, _>(NoWake);
        let key = registry
            .thread_key()
            .expect("a running thread has a registry key");
        let inner = Rc::new(Inner {
            id,
            registry: registry.clone(),
            handle_rx: RefCell::new(handle_rx),
            handle_waker,
            wake_rx: RefCell::new(wake_rx),
            wake_tx,
            wake_waker,
            unwoken_rx: RefCell::new(unwoken_rx),
            ready: RefCell::new(VecDeque::new()),
            timers: RefCell::new(Timers::default()),
            tasks: RefCell::new(HashMap::new()),
            current: Cell::new(None),
            stats: RefCell::new(LoopStats {
                loop_id: id,
                ..LoopStats::default()
            }),
        });
        let handle = LoopHandle {
            id,
            handle_tx,
            unwoken_tx,
            registry: registry.clone(),
            key,
        };
        (Loop { inner }, handle)
    }

    /// The loop running on this thread. Panics outside `run` (as `get_running_loop()` raises).
    pub fn current() -> Loop {
        Self::try_current().expect("no event loop is running on this thread")
    }

    /// The loop running on this thread, if any.
    pub fn try_current() -> Option<Loop> {
        RUNNING.with(|r| r.borrow().clone())
    }

    /// The loop's id.
    pub fn id(&self) -> u32 {
        self.inner.id
    }

    /// Runs `f` at the next iteration (same thread only: the loop is `!Send`).
    /// It runs in a copy of the caller's current context, as asyncio's `call_soon` does.
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> LocalHandle {
        let h = LocalHandle::default();
        self.inner
            .ready
            .borrow_mut()
            .push_back(Ready::Callback(in_context(copy_context(), f), h.clone()));
        h
    }

    /// Runs `f` once `delay` has passed.
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> LocalHandle {
        self.call_at(Instant::now() + delay, f)
    }

    /// Runs `f` at `when` (or at the first iteration after it), in a copy of the caller's
    /// context.
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> LocalHandle {
        self.inner
            .timers
            .borrow_mut()
            .push(when, in_context(copy_context(), f))
    }

    /// Spawns `future` as a task: registered in the registry until it completes, polled by this
    /// loop, first at the next iteration, always inside the context it captures here
    /// (`copy_context()`: inside another task, a copy of that task's context as it is now).
    pub fn spawn<F>(&self, name: &'static str, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let inner = &self.inner;
        let id = task::next_task_id();
        let context = copy_context();
        let task = Task::new(TaskInfo {
            id,
            loop_id: inner.id,
            parent: inner.current.get(),
            name,
            context: context.clone(),
            finished: Default::default(),
        });
        inner
            .registry
            .register(&task)
            .expect("the loop thread registers its own new task");
        let state = Rc::new(JoinState {
            result: RefCell::new(None),
            waiter: RefCell::new(None),
        });
        let done = state.clone();
        // Every poll (and the drop) of the task's future runs inside its context.
        let in_context = context.scope(async move {
            let out = future.await;
            done.complete(out);
        });
        let future = Box::pin(async move {
            in_context
                .await
                .expect("only its loop enters a task's context, one poll at a time");
        });
        let wake_state = Arc::new(TaskWaker {
            id,
            // Queued below, through `ready`, not through the wake queue.
            scheduled: AtomicBool::new(true),
            wake_tx: inner.wake_tx.clone(),
        });
        let waker = Waker::from(wake_state.clone());
        inner.tasks.borrow_mut().insert(
            id,
            LocalTask {
                future,
                task,
                wake_state,
                waker,
            },
        );
        inner.ready.borrow_mut().push_back(Ready::Poll(id));
        let mut stats = inner.stats.borrow_mut();
        stats.spawned += 1;
        stats.registered += 1;
        JoinHandle { state, id }
    }

    /// The task being polled now, if any.
    pub fn current_task(&self) -> Option<Task<TaskInfo>> {
        let id = self.inner.current.get()?;
        let from_registry = self.inner.registry.current()?;
        debug_assert_eq!(from_registry.id, id);
        Some(from_registry)
    }

    /// What the loop did so far.
    pub fn stats(&self) -> LoopStats {
        let mut s = self.inner.stats.borrow().clone();
        s.wakes_handle_queue = self.inner.handle_waker.wakes();
        s.wakes_wake_queue = self.inner.wake_waker.wakes();
        s
    }

    /// Runs until every `LoopHandle` is dropped and no callback, timer or woken task is left;
    /// tasks still pending then can never be woken and are dropped (counted as abandoned).
    pub fn run(&self) -> LoopStats {
        let _running = Running::enter(self);
        loop {
            self.inner.stats.borrow_mut().iterations += 1;
            // Work already queued means no park (asyncio's timeout of 0). `has_ready` reads only
            // the consumer's end of a queue; `prepare_park` below is the exact check.
            let has_ready = !self.inner.ready.borrow().is_empty()
                || self.inner.wake_rx.borrow().has_ready()
                || self.inner.unwoken_rx.borrow().has_ready();
            if !has_ready {
                let deadline = self.inner.timers.borrow_mut().next_deadline();
                if deadline.is_none() && self.finished_all() {
                    break;
                }
                self.park(deadline);
            }
            self.run_once();
        }
        self.abandon_pending();
        self.stats()
    }

    /// Whether nothing can give the loop work any more: the handle queue is disconnected (every
    /// `LoopHandle` is gone) and nothing is queued anywhere.
    fn finished_all(&self) -> bool {
        self.inner.handle_rx.borrow().is_disconnected()
            && self.inner.handle_rx.borrow().is_empty()
            && self.inner.wake_rx.borrow().is_empty()
            && self.inner.unwoken_rx.borrow().is_empty()
            && self.inner.ready.borrow().is_empty()
    }

    /// Parks on both queues until a push into either, the last `LoopHandle`'s drop, or
    /// `deadline`. A disconnected, drained handle queue is left out: nothing can arrive there.
    fn park(&self, deadline: Option<Instant>) {
        let inner = &self.inner;
        let mut handle_rx = inner.handle_rx.borrow_mut();
        let mut wake_rx = inner.wake_rx.borrow_mut();
        let handle_parked = handle_rx.prepare_park();
        if handle_parked {
            inner.stats.borrow_mut().parks_handle_queue += 1;
        } else if !(handle_rx.is_disconnected() && handle_rx.is_empty()) {
            return; // work is waiting
        }
        if !wake_rx.prepare_park() {
            if handle_parked {
                handle_rx.finish_park();
            }
            return;
        }
        inner.stats.borrow_mut().parks_wake_queue += 1;
        inner
            .handle_waker
            .block(deadline.map(|d| d.saturating_duration_since(Instant::now())));
        wake_rx.finish_park();
        if handle_parked {
            handle_rx.finish_park();
        }
    }

    /// One iteration after the park: the queues, the due timers, then what was ready.
    fn run_once(&self) {
        let inner = &self.inner;
        let ran = inner.handle_rx.borrow_mut().drain(|job| job());
        inner.stats.borrow_mut().threadsafe_ran += ran;
        let ran = inner.unwoken_rx.borrow_mut().drain(|job| job());
        inner.stats.borrow_mut().unwoken_ran += ran;
        {
            let mut ready = inner.ready.borrow_mut();
            inner
                .wake_rx
                .borrow_mut()
                .drain(|id| ready.push_back(Ready::Poll(id)));
            let now = Instant::now();
            inner
                .timers
                .borrow_mut()
                .pop_due(now, |cb, h| ready.push_back(Ready::Callback(cb, h)));
        }
        let ntodo = inner.ready.borrow().len();
        for _ in 0..ntodo {
            let item = inner.ready.borrow_mut().pop_front();
            match item {
                Some(Ready::Callback(cb, h)) => {
                    if !h.is_cancelled() {
                        h.finish();
                        cb();
                        inner.stats.borrow_mut().soon_ran += 1;
                    }
                }
                Some(Ready::Poll(id)) => self.poll_task(id),
                None => break,
            }
        }
    }

    fn poll_task(&self, id: u64) {
        let inner = &self.inner;
        let Some(mut t) = inner.tasks.borrow_mut().remove(&id) else {
            inner.stats.borrow_mut().stale_wakes += 1;
            return;
        };
        // Release: a wake after this store queues the task again; pairs with the AcqRel swap
        // in `TaskWaker::wake_by_ref`.
        t.wake_state.scheduled.store(false, Ordering::Release);
        inner
            .registry
            .set_current(Some(&t.task))
            .expect("the task belongs to this loop's thread");
        inner.current.set(Some(id));
        let mut cx = TaskCx::from_waker(&t.waker);
        let polled = t.future.as_mut().poll(&mut cx);
        inner.current.set(None);
        inner
            .registry
            .set_current(None)
            .expect("the loop thread has a shard");
        inner.stats.borrow_mut().polls += 1;
        match polled {
            Poll::Ready(()) => self.finish_task(t, false),
            Poll::Pending => {
                inner.tasks.borrow_mut().insert(id, t);
            }
        }
    }

    /// Unregisters a task that completed (or is abandoned), then stamps it finished.
    fn finish_task(&self, t: LocalTask, abandoned: bool) {
        let inner = &self.inner;
        let was = inner.registry.unregister(&t.task);
        // AcqRel: the number is taken after the unregister above (program order + Release);
        // a reader's Acquire load of a later value sees the unregister done.
        let seq = FINISHED.fetch_add(1, Ordering::AcqRel) + 1;
        // Release: pairs with the Acquire load in `TaskInfo::finished_seq`.
        t.task.finished.store(seq, Ordering::Release);
        let mut stats = inner.stats.borrow_mut();
        if was {
            stats.unregistered += 1;
        }
        if abandoned {
            stats.abandoned += 1;
        } else {
            stats.finished += 1;
        }
    }

    fn abandon_pending(&self) {
        let left: Vec<LocalTask> = self
            .inner
            .tasks
            .borrow_mut()
            .drain()
            .map(|(_, t)| t)
            .collect();
        for t in left {
            self.finish_task(t, true);
        }
    }
}

/// `f`, to be run inside `ctx`.
fn in_context(ctx: Context, f: impl FnOnce() + 'static) -> LocalCallback {
    Box::new(move || {
        ctx.run(f)
            .expect("a copied context is entered only by the callback it was copied for")
    })
}

/// `f`, to be run inside `ctx`, on another thread.
fn in_context_send(ctx: Context, f: impl FnOnce() + Send + 'static) -> Job {
    Box::new(move || {
        ctx.run(f)
            .expect("a copied context is entered only by the callback it was copied for")
    })
}

/// Marks the loop as this thread's running loop for the duration of `run`.
struct Running;

impl Running {
    fn enter(l: &Loop) -> Running {
        RUNNING.with(|r| {
            let mut r = r.borrow_mut();
            assert!(r.is_none(), "a loop is already running on this thread");
            *r = Some(l.clone());
        });
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.with(|r| r.borrow_mut().take());
    }
}

impl LoopHandle {
    /// The loop's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// asyncio's `call_soon_threadsafe`: queues `f` to run on the loop thread and wakes the loop
    /// if it is parked. The handle cancels it from any thread. Gives `f` back (boxed) if the
    /// loop has stopped.
    pub fn call_soon_threadsafe<F>(&self, f: F) -> Result<Handle, SendError<Job>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.handle_tx.push(in_context_send(copy_context(), f))
    }

    /// What asyncio's `call_soon` does when called from another thread: the callback is queued,
    /// but a parked loop is not woken; it runs when the loop next wakes for another reason.
    /// Here only to measure the lost wakeup.
    pub fn call_soon_unwoken<F>(&self, f: F) -> Result<(), SendError<Job>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.unwoken_tx.send(in_context_send(copy_context(), f))
    }

    /// A view of the loop's tasks that does not keep the loop running.
    pub fn observer(&self) -> LoopObserver {
        LoopObserver {
            id: self.id,
            registry: self.registry.clone(),
            key: self.key,
        }
    }

    /// See [`LoopObserver::all_tasks`].
    pub fn all_tasks(&self) -> Vec<Task<TaskInfo>> {
        self.observer().all_tasks()
    }

    /// See [`LoopObserver::current_task`].
    pub fn current_task(&self) -> Option<Task<TaskInfo>> {
        self.observer().current_task()
    }
}

/// Reads a loop's tasks from any thread; unlike a [`LoopHandle`] it holds no sender, so it does
/// not keep the loop from stopping.
#[derive(Clone)]
pub struct LoopObserver {
    id: u32,
    registry: Registry<TaskInfo>,
    key: ThreadKey,
}

impl fmt::Debug for LoopObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopObserver")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl LoopObserver {
    /// The loop's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The loop's pending tasks (asyncio's `all_tasks(loop)`), from any thread, pausing nothing:
    /// the registry's snapshot, kept to this loop's tasks.
    pub fn all_tasks(&self) -> Vec<Task<TaskInfo>> {
        let mut all = self.registry.snapshot();
        all.retain(|t| t.loop_id == self.id);
        all
    }

    /// The task the loop is polling now, read from any thread.
    pub fn current_task(&self) -> Option<Task<TaskInfo>> {
        self.registry.current_of(self.key)
    }
}
