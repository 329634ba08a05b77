//! The few awaitables the scenarios need: `sleep`, `yield_now`, and a loop-local `Event`
//! (asyncio's `Event`: not thread-safe; another thread sets it through the loop).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::{Duration, Instant};

use super::timer::LocalHandle;
use super::Loop;

/// Completes once `d` has passed (a timer on the running loop).
pub fn sleep(d: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + d,
        timer: None,
    }
}

/// See [`sleep`].
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    timer: Option<LocalHandle>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        if self.timer.is_none() {
            let waker = cx.waker().clone();
            let deadline = self.deadline;
            self.timer = Some(Loop::current().call_at(deadline, move || waker.wake()));
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(t) = &self.timer {
            t.cancel();
        }
    }
}

/// Gives the other ready callbacks and tasks a turn (asyncio's `await asyncio.sleep(0)`).
pub fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// See [`yield_now`].
#[derive(Debug)]
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A loop-local event: `set` wakes every task waiting in `wait_until`.
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<EventInner>,
}

#[derive(Default)]
struct EventInner {
    set: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.inner.set.get())
            .finish()
    }
}

impl Event {
    /// A new, unset event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the event and wakes its waiters. Loop thread only (the type is `!Send`).
    pub fn set(&self) {
        self.inner.set.set(true);
        for w in self.inner.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Whether `set` was called.
    pub fn is_set(&self) -> bool {
        self.inner.set.get()
    }

    /// Completes with `true` when the event is set, or with `false` at `deadline` (a safety
    /// timeout on the running loop).
    pub fn wait_until(&self, deadline: Instant) -> WaitUntil {
        WaitUntil {
            event: self.clone(),
            deadline,
            timer: None,
        }
    }
}

/// See [`Event::wait_until`].
#[derive(Debug)]
pub struct WaitUntil {
    event: Event,
    deadline: Instant,
    timer: Option<LocalHandle>,
}

impl Future for WaitUntil {
    type Output = bool;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<bool> {
        if self.event.is_set() {
            return Poll::Ready(true);
        }
        if Instant::now() >= self.deadline {
            return Poll::Ready(false);
        }
        self.event
            .inner
            .waiters
            .borrow_mut()
            .push(cx.waker().clone());
        if self.timer.is_none() {
            let waker = cx.waker().clone();
            let deadline = self.deadline;
            self.timer = Some(Loop::current().call_at(deadline, move || waker.wake()));
        }
        Poll::Pending
    }
}

impl Drop for WaitUntil {
    fn drop(&mut self) {
        if let Some(t) = &self.timer {
            t.cancel();
        }
    }
}
