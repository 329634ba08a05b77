//! [`Context`], [`copy_context`], [`Iter`], [`Entry`] and [`InContext`].

use super::inner::Inner;
use super::local;
use super::value::{value_ptr, value_ref, Value, VarId};
use super::{ContextError, ContextVar};
use crate::loom::Arc;
use core::any::Any;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::task::{Context as TaskContext, Poll};

/// A mapping from [`ContextVar`]s to values: the unit a thread or a task runs in.
///
/// A context is entered with [`run`](Context::run); inside, [`ContextVar::set`] changes this
/// context and nothing else, and reads see its values. A context can be entered by one thread
/// at a time (entering it elsewhere is [`ContextError::AlreadyEntered`]), but any thread may
/// read it at any time ([`get`](Context::get), [`len`](Context::len), [`iter`](Context::iter),
/// [`copy`](Context::copy)) and sees one consistent version of it.
///
/// `Context` is a shared handle: [`Clone`] gives another handle to the *same* context (one
/// reference-count increment); [`copy`](Context::copy) and [`copy_context`] make a *new*
/// context with the same values, in O(1) whatever their number.
///
/// # Complexity
///
/// | operation | cost |
/// |---|---|
/// | [`new`](Context::new), [`copy`](Context::copy), [`copy_context`] | O(1): one allocation, no copy of the map |
/// | [`run`](Context::run) enter + exit | O(1): one compare-exchange, one store |
/// | [`get`](Context::get), [`contains`](Context::contains) | O(log<sub>32</sub> n) under an epoch pin |
/// | [`len`](Context::len), [`is_empty`](Context::is_empty) | O(1) under an epoch pin |
/// | [`iter`](Context::iter) | O(n): collects the entries of one version |
///
/// # Examples
///
/// ```
/// use loopkit::context::{copy_context, Context, ContextVar};
///
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// let _t = USER.set("alice");
/// let ctx = copy_context(); // a new context with the current values
/// ctx.run(|| {
///     assert_eq!(USER.get(), Some("alice"));
///     USER.set("bob");
///     assert_eq!(USER.get(), Some("bob"));
/// })
/// .unwrap();
/// assert_eq!(USER.get(), Some("alice")); // the caller's context is unchanged
/// assert_eq!(ctx.get(&USER), Some("bob"));
/// assert_eq!(ctx.len(), 1);
/// ```
#[derive(Clone)]
pub struct Context {
    pub(super) inner: Arc<Inner>,
}

// Compile-time check of the documented auto traits.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Context>();
};

/// A new context with the calling thread's current values (the current context's map, shared,
/// not copied: O(1) whatever its size). A fresh thread's current context is empty.
///
/// # Examples
///
/// ```
/// use loopkit::context::{copy_context, ContextVar};
/// static V: ContextVar<i32> = ContextVar::new("v");
/// let _t = V.set(1);
/// let snapshot = copy_context();
/// V.set(2);
/// assert_eq!(snapshot.get(&V), Some(1));
/// ```
pub fn copy_context() -> Context {
    Context {
        inner: Arc::new(Inner::new(local::current_map(), false)),
    }
}

impl Context {
    /// An empty context.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::Context;
    /// assert!(Context::new().is_empty());
    /// ```
    pub fn new() -> Context {
        Context {
            inner: Arc::new(Inner::empty()),
        }
    }

    /// Runs `f` with this context as the calling thread's current context, then restores the
    /// previous one, also when `f` panics (the panic then continues, and this context stays
    /// usable).
    ///
    /// # Errors
    ///
    /// [`ContextError::AlreadyEntered`] if a thread (this one or another) is running in this
    /// context; `f` is not called.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::{Context, ContextError, ContextVar};
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let ctx = Context::new();
    /// let got = ctx.run(|| {
    ///     V.set(1);
    ///     assert_eq!(ctx.run(|| ()), Err(ContextError::AlreadyEntered));
    ///     V.get()
    /// });
    /// assert_eq!(got, Ok(Some(1)));
    /// assert_eq!(V.get(), None);
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> Result<R, ContextError> {
        let prev = local::enter(&self.inner)?;
        /// Leaves the context when dropped (on return or unwind).
        struct Exit<'a>(&'a Inner, *const Inner);
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                local::exit(self.0, self.1);
            }
        }
        let _exit = Exit(&self.inner, prev);
        Ok(f())
    }

    /// Makes this context the calling thread's current context until the returned guard is
    /// dropped (the guard form of [`run`](Context::run), for runtimes that cannot wrap a
    /// closure, like `tracing`'s `Span::enter` or `opentelemetry`'s `attach`).
    ///
    /// Guards are meant to be dropped in the reverse order of their making. A guard dropped
    /// early (while a guard made after it, or a `run` inside it, is current) leaves its context
    /// when that context becomes current again; a guard made inside a `run` and kept past it is
    /// left when the `run` returns (its drop then does nothing). A forgotten guard keeps its
    /// context entered until the thread exits. None of these is unsafe; each is a logic error.
    ///
    /// # Errors
    ///
    /// [`ContextError::AlreadyEntered`] if a thread (this one or another) is running in this
    /// context (or, on a thread whose context state is being destroyed, always).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::{Context, ContextError, ContextVar};
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let ctx = Context::new();
    /// {
    ///     let _guard = ctx.enter().unwrap();
    ///     V.set(1);
    ///     assert_eq!(V.get(), Some(1));
    ///     assert_eq!(ctx.enter().unwrap_err(), ContextError::AlreadyEntered);
    /// }
    /// assert_eq!(V.get(), None);
    /// assert_eq!(ctx.get(&V), Some(1));
    /// ```
    pub fn enter(&self) -> Result<EnterGuard<'_>, ContextError> {
        let serial = local::enter_guard(&self.inner)?;
        Ok(EnterGuard {
            _ctx: self,
            serial,
            _not_send: PhantomData,
        })
    }

    /// Calls `f` with a reference to `var`'s value in this context, or `None` if it is not set
    /// here (the variable's default is not used). Safe from any thread, also while another
    /// thread runs in this context and sets variables: `f` sees one version.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::{Context, ContextVar};
    /// static V: ContextVar<String> = ContextVar::with_default("v", String::new());
    /// let ctx = Context::new();
    /// assert_eq!(ctx.with(&V, |v| v.is_none()), true);
    /// ctx.run(|| V.set("x".repeat(3))).unwrap();
    /// assert_eq!(ctx.with(&V, |v| v.map(String::len)), Some(3));
    /// ```
    pub fn with<T: Send + Sync + 'static, R>(
        &self,
        var: &ContextVar<T>,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> R {
        let id = var.id();
        // A reference count on the value, taken under the pin: `f` runs unpinned, so a long `f`
        // holds back no reclamation, and keeps alive only this value.
        let value: Option<Value> = self.inner.read(|map| map.get(&id).cloned());
        // SAFETY: values under `var`'s id are `Stored<T>` (see `ContextVar::with`); `value`
        // holds a count on it until after `f` returns.
        let r = f(value
            .as_ref()
            .map(|v| unsafe { value_ref::<T>(value_ptr(v)) }));
        drop(value);
        local::resume_dropped_panic();
        r
    }

    /// `var`'s value in this context, or `None` if it is not set here (the variable's default
    /// is not used, as in Python's `Context.get(var)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::{Context, ContextVar};
    /// static V: ContextVar<u32> = ContextVar::with_default("v", 9);
    /// let ctx = Context::new();
    /// assert_eq!(ctx.get(&V), None);
    /// ctx.run(|| V.set(1)).unwrap();
    /// assert_eq!(ctx.get(&V), Some(1));
    /// ```
    pub fn get<T: Clone + Send + Sync + 'static>(&self, var: &ContextVar<T>) -> Option<T> {
        self.with(var, |v| v.cloned())
    }

    /// Whether `var` is set in this context.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::{Context, ContextVar};
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// let ctx = Context::new();
    /// assert!(!ctx.contains(&V));
    /// ctx.run(|| V.set(1)).unwrap();
    /// assert!(ctx.contains(&V));
    /// ```
    pub fn contains<T>(&self, var: &ContextVar<T>) -> bool {
        let id = var.id();
        self.inner.read(|map| map.contains_key(&id))
    }

    /// The number of variables set in this context.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::{Context, ContextVar};
    /// static A: ContextVar<u32> = ContextVar::new("a");
    /// static B: ContextVar<u32> = ContextVar::new("b");
    /// let ctx = Context::new();
    /// ctx.run(|| { A.set(1); B.set(2); A.set(3); }).unwrap();
    /// assert_eq!(ctx.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.read(|map| map.len())
    }

    /// Whether no variable is set in this context.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::Context;
    /// assert!(Context::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries of one version of this context (collected, so the iterator does not pin
    /// anything while it is held), in no particular order.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::{Context, ContextVar};
    /// static A: ContextVar<u32> = ContextVar::new("a");
    /// static B: ContextVar<&str> = ContextVar::new("b");
    /// let ctx = Context::new();
    /// ctx.run(|| { A.set(1); B.set("two"); }).unwrap();
    /// let mut names: Vec<_> = ctx.iter().map(|e| e.name().to_string()).collect();
    /// names.sort();
    /// assert_eq!(names, ["a", "b"]);
    /// let a = ctx.iter().find(|e| e.is(&A)).unwrap();
    /// assert_eq!(a.get(&A), Some(&1));
    /// assert_eq!(a.downcast_ref::<u32>(), Some(&1));
    /// ```
    pub fn iter(&self) -> Iter {
        let entries: Vec<Entry> = self.inner.read(|map| {
            map.iter()
                .map(|(id, value)| Entry {
                    id: *id,
                    value: value.clone(),
                })
                .collect()
        });
        Iter {
            entries: entries.into_iter(),
        }
    }

    /// A new context with this context's values (O(1): the map is shared). Safe from any
    /// thread, also while another thread runs in this context.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::{Context, ContextVar};
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// let a = Context::new();
    /// a.run(|| V.set(1)).unwrap();
    /// let b = a.copy();
    /// b.run(|| V.set(2)).unwrap();
    /// assert_eq!((a.get(&V), b.get(&V)), (Some(1), Some(2)));
    /// ```
    pub fn copy(&self) -> Context {
        Context {
            inner: Arc::new(Inner::new(self.inner.read(Clone::clone), false)),
        }
    }

    /// Whether `self` and `other` are handles to the same context.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::Context;
    /// let a = Context::new();
    /// assert!(a.ptr_eq(&a.clone()));
    /// assert!(!a.ptr_eq(&a.copy()));
    /// ```
    pub fn ptr_eq(&self, other: &Context) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Wraps `future` so that every poll of it (and its drop) runs inside this context, as an
    /// asyncio task owns its context.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::{Context, ContextVar};
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context as Cx, Poll, Waker};
    ///
    /// static TASK: ContextVar<u32> = ContextVar::new("task");
    /// let ctx = Context::new();
    /// let fut = ctx.clone().scope(async {
    ///     TASK.set(1);
    ///     TASK.get()
    /// });
    /// let mut fut = pin!(fut);
    /// let mut cx = Cx::from_waker(Waker::noop());
    /// assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(Some(1))));
    /// assert_eq!(TASK.get(), None);
    /// assert_eq!(ctx.get(&TASK), Some(1));
    /// ```
    pub fn scope<F: Future>(self, future: F) -> InContext<F> {
        InContext {
            ctx: self,
            future: ManuallyDrop::new(future),
        }
    }
}

/// Two contexts are equal when they hold the same variables with the same values, as
/// CPython's `Context.__eq__`; a context shares its map with its copies until one side sets, so
/// comparing a context with an unchanged copy takes O(1).
///
/// Values are compared by identity: the same stored value (set once, and shared by copies and
/// by a reset that restores it), since a variable's values need not be `PartialEq`. Setting an
/// equal value again makes a different value: CPython's `==` compares such values with their
/// `__eq__`, here they differ.
///
/// # Examples
///
/// ```
/// use loopkit::context::{Context, ContextVar};
/// static V: ContextVar<u32> = ContextVar::new("v");
/// let a = Context::new();
/// a.run(|| V.set(1)).unwrap();
/// let b = a.copy();
/// assert_eq!(a, b); // shared map
/// b.run(|| {
///     let t = V.set(2);
///     V.reset(&t).unwrap();
/// })
/// .unwrap();
/// assert_eq!(a, b); // the reset restored the same value
/// b.run(|| V.set(1)).unwrap();
/// assert_ne!(a, b); // an equal value set again is another value
/// assert_eq!(Context::new(), Context::new());
/// ```
impl PartialEq for Context {
    fn eq(&self, other: &Context) -> bool {
        if self.ptr_eq(other) {
            return true;
        }
        // Each map version is cloned under its pin (one reference count) and compared unpinned.
        let (a, b) = (
            self.inner.read(Clone::clone),
            other.inner.read(Clone::clone),
        );
        a.ptr_eq(&b)
            || (a.len() == b.len()
                && a.iter()
                    .all(|(id, v)| b.get(id).is_some_and(|w| value_ptr(v) == value_ptr(w))))
    }
}

impl Eq for Context {}

/// Wraps `future` so that every poll of it runs in a copy of the calling thread's current
/// context, taken now: what a spawn site wants for a new task (asyncio gives each task a
/// `copy_context()` made at its creation). The same as `copy_context().scope(future)`.
///
/// # Examples
///
/// ```
/// use loopkit::context::{scope_copy, ContextVar};
/// use std::future::Future;
/// use std::pin::pin;
/// use std::task::{Context as Cx, Poll, Waker};
///
/// static USER: ContextVar<&str> = ContextVar::new("user");
/// let _t = USER.set("alice");
/// // At the spawn site: the task starts with the spawner's values, and its sets stay its own.
/// let task = scope_copy(async {
///     let seen = USER.get();
///     USER.set("bob");
///     seen
/// });
/// let mut task = pin!(task);
/// let mut cx = Cx::from_waker(Waker::noop());
/// assert_eq!(task.as_mut().poll(&mut cx), Poll::Ready(Ok(Some("alice"))));
/// assert_eq!(USER.get(), Some("alice"));
/// ```
pub fn scope_copy<F: Future>(future: F) -> InContext<F> {
    copy_context().scope(future)
}

/// The guard of [`Context::enter`]: the context stays current on this thread until it drops.
/// Not `Send`: it leaves the context on the thread that entered it.
///
/// # Examples
///
/// ```
/// use loopkit::context::{Context, ContextVar};
/// static V: ContextVar<u8> = ContextVar::new("v");
/// let (a, b) = (Context::new(), Context::new());
/// let ga = a.enter().unwrap();
/// V.set(1);
/// let gb = b.enter().unwrap();
/// assert_eq!(V.get(), None);
/// drop(gb);
/// assert_eq!(V.get(), Some(1));
/// drop(ga);
/// assert_eq!(a.get(&V), Some(1));
/// ```
#[must_use = "the context is left when the guard drops"]
pub struct EnterGuard<'a> {
    _ctx: &'a Context,
    serial: u64,
    _not_send: PhantomData<*const ()>,
}

impl Drop for EnterGuard<'_> {
    fn drop(&mut self) {
        local::exit_guard(self.serial);
    }
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

impl Default for Context {
    /// An empty context.
    fn default() -> Context {
        Context::new()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl IntoIterator for &Context {
    type Item = Entry;
    type IntoIter = Iter;
    fn into_iter(self) -> Iter {
        self.iter()
    }
}

/// One variable set in a [`Context`], from [`Context::iter`]. Holds a reference count on the
/// value.
///
/// # Examples
///
/// ```
/// use loopkit::context::{Context, ContextVar};
/// static V: ContextVar<u32> = ContextVar::new("v");
/// let ctx = Context::new();
/// ctx.run(|| V.set(5)).unwrap();
/// let e = ctx.iter().next().unwrap();
/// assert_eq!(e.name(), "v");
/// assert!(e.is(&V));
/// assert_eq!(e.get(&V), Some(&5));
/// assert_eq!(e.downcast_ref::<String>(), None);
/// ```
#[derive(Clone)]
pub struct Entry {
    id: VarId,
    value: Value,
}

impl Entry {
    /// The name of the variable.
    pub fn name(&self) -> &str {
        self.value.name()
    }

    /// Whether this is `var`'s entry.
    pub fn is<T>(&self, var: &ContextVar<T>) -> bool {
        var.id() == self.id
    }

    /// The value, if this is `var`'s entry.
    pub fn get<T: Send + Sync + 'static>(&self, var: &ContextVar<T>) -> Option<&T> {
        // SAFETY: the entry is `var`'s, so its value is a `Stored<T>` (see `ContextVar::with`);
        // `self.value` holds a reference count on it for the borrow of `self`.
        self.is(var)
            .then(|| unsafe { value_ref::<T>(value_ptr(&self.value)) })
    }

    /// The value, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.value.value_any().downcast_ref()
    }

    /// The value as `dyn Any`.
    pub fn value(&self) -> &(dyn Any + Send + Sync) {
        self.value.value_any()
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// The entries of one version of a [`Context`]; made by [`Context::iter`].
#[derive(Debug, Clone)]
pub struct Iter {
    entries: std::vec::IntoIter<Entry>,
}

impl Iterator for Iter {
    type Item = Entry;
    fn next(&mut self) -> Option<Entry> {
        self.entries.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Iter {}
impl core::iter::FusedIterator for Iter {}

/// A future that is polled (and dropped) inside a [`Context`]; made by [`Context::scope`].
///
/// Its output is the inner future's, or [`ContextError::AlreadyEntered`] if a poll finds the
/// context entered elsewhere (the inner future is then not polled).
///
/// # Examples
///
/// ```
/// use loopkit::context::{Context, ContextError};
/// use std::future::{ready, Future};
/// use std::pin::pin;
/// use std::task::{Context as Cx, Poll, Waker};
///
/// let ctx = Context::new();
/// let mut fut = pin!(ctx.clone().scope(ready(1)));
/// let mut cx = Cx::from_waker(Waker::noop());
/// // Polled while its context is entered: reported, not polled.
/// let r = ctx.run(|| fut.as_mut().poll(&mut cx)).unwrap();
/// assert_eq!(r, Poll::Ready(Err(ContextError::AlreadyEntered)));
/// ```
pub struct InContext<F> {
    ctx: Context,
    /// Pinned structurally; dropped inside the context by `Drop`.
    future: ManuallyDrop<F>,
}

impl<F> InContext<F> {
    /// The context the future runs in.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

impl<F: Future> Future for InContext<F> {
    type Output = Result<F::Output, ContextError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is pinned structurally: it is never moved out of `self` (it is only
        // dropped in place, by `Drop`), `InContext` is `Unpin` only when `F` is (auto trait),
        // and `ctx` is never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above; `ManuallyDrop<F>` is `repr(transparent)` over `F`.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        match this.ctx.run(|| future.poll(cx)) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<F> Drop for InContext<F> {
    fn drop(&mut self) {
        let future = &mut self.future;
        let mut dropped = false;
        // The future's destructor sees the task's context too, when it can be entered.
        let _ = self.ctx.run(|| {
            dropped = true;
            // SAFETY: `future` is dropped exactly once: here, or below when the closure did
            // not run; it is never used again (this is `InContext`'s destructor).
            unsafe { ManuallyDrop::drop(future) };
        });
        if !dropped {
            // SAFETY: as above: the closure did not run, so the future was not dropped.
            unsafe { ManuallyDrop::drop(&mut self.future) };
        }
    }
}

impl<F> fmt::Debug for InContext<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InContext")
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}
