//! Tasks: what the registry holds for each one ([`TaskInfo`], readable from any thread), the
//! waker that reschedules a task through the loop's wake queue, and [`JoinHandle`].

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll, Wake, Waker};

use loopkit::context::Context;
use loopkit::queue::Sender;

/// Task ids, unique in the process (so ledgers can add up tasks of several loops).
static NEXT_TASK_ID: AtomicU64 = AtomicU64::new(1);

/// Counts finished tasks in the process. A task takes its number *after* it is unregistered, so
/// a reader that loads the counter and then takes `all_tasks()` can tell "finished before my
/// snapshot began" (number at most what it loaded) from "finished while it ran".
pub static FINISHED: AtomicU64 = AtomicU64::new(0);

pub(super) fn next_task_id() -> u64 {
    // Relaxed: a unique number; nothing is published through it.
    NEXT_TASK_ID.fetch_add(1, Ordering::Relaxed)
}

/// What the registry holds for a task: `Send + Sync`, so `all_tasks()` and `current_task()` can
/// hand it to any thread. The future itself stays on its loop's thread.
pub struct TaskInfo {
    /// Unique in the process.
    pub id: u64,
    /// The loop that runs it.
    pub loop_id: u32,
    /// The task that spawned it, if it was spawned from inside a task.
    pub parent: Option<u64>,
    /// A label for reports.
    pub name: &'static str,
    /// The task's context: a `copy_context()` taken when it was spawned, entered on every poll.
    /// Any thread may read it (`context.get(&VAR)`) while the task runs and sets variables.
    pub context: Context,
    /// 0 while the task runs; then its number in [`FINISHED`] (1-based), stored after the task
    /// left the registry.
    pub(super) finished: AtomicU64,
}

impl TaskInfo {
    /// The task's number in [`FINISHED`] (1-based), or `None` while it is not finished.
    pub fn finished_seq(&self) -> Option<u64> {
        // Acquire: pairs with the Release store in `Loop::finish_task`, which comes after the
        // task's unregister.
        match self.finished.load(Ordering::Acquire) {
            0 => None,
            n => Some(n),
        }
    }
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo")
            .field("id", &self.id)
            .field("loop_id", &self.loop_id)
            .field("parent", &self.parent)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The waker of one task: the first wake after a poll pushes the task's id into the loop's
/// wake queue (from any thread); later ones before the next poll do nothing.
pub(super) struct TaskWaker {
    pub(super) id: u64,
    /// Set by the wake that queued the id; cleared by the loop just before it polls the task,
    /// so a wake during the poll queues it again.
    pub(super) scheduled: AtomicBool,
    pub(super) wake_tx: Sender<u64>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // AcqRel: the swap that wins queues the id once; pairs with the loop's Release store
        // of `false` before the poll, so a wake after that store queues again.
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            // A loop that has stopped refuses the push: the task is gone with it.
            let _ = self.wake_tx.send(self.id);
        }
    }
}

/// The result slot shared by a task and its [`JoinHandle`].
pub(super) struct JoinState<T> {
    pub(super) result: RefCell<Option<T>>,
    pub(super) waiter: RefCell<Option<Waker>>,
}

impl<T> JoinState<T> {
    pub(super) fn complete(&self, value: T) {
        *self.result.borrow_mut() = Some(value);
        if let Some(w) = self.waiter.borrow_mut().take() {
            w.wake();
        }
    }
}

/// Awaits a spawned task's output (on the same loop).
pub struct JoinHandle<T> {
    pub(super) state: Rc<JoinState<T>>,
    pub(super) id: u64,
}

impl<T> JoinHandle<T> {
    /// The task's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The output, if the task has completed (taken once).
    pub fn try_take(&self) -> Option<T> {
        self.state.result.borrow_mut().take()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<T> {
        if let Some(v) = self.state.result.borrow_mut().take() {
            return Poll::Ready(v);
        }
        *self.state.waiter.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id).finish()
    }
}
