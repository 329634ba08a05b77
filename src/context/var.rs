//! [`ContextVar`], [`Token`] and [`ScopedToken`].

use super::local;
use super::value::{erase, value_ptr, value_ref, Name, Stored, Value, VarId};
use super::ContextError;
use core::fmt;
use std::cell::Cell;
use std::sync::OnceLock;

/// A context variable: a key whose value depends on the current [`Context`](super::Context).
///
/// Declare it in a `static` (the constructors are `const`), like a `thread_local!` or
/// `task_local!` key. Each variable is its own key: two variables with the same name are
/// different keys.
///
/// A read looks the variable up in the current context of the calling thread; if it is not set
/// there, the variable's default (if it has one) is used. [`get`](ContextVar::get) clones the
/// value, [`with`](ContextVar::with) lends it without a copy. Reads go through a per-thread
/// cache: a hit costs a few thread-local loads and compares, touches no reference count and no
/// shared cache line.
///
/// A variable that is dropped leaves the values it set in contexts behind (they are dropped with
/// those contexts); its key is never reused.
///
/// # Examples
///
/// ```
/// use loopkit::context::{Context, ContextVar};
///
/// static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
/// static LEVEL: ContextVar<&str> = ContextVar::with_default("level", "info");
///
/// assert_eq!(REQUEST_ID.get(), None);
/// assert_eq!(LEVEL.get(), Some("info"));
///
/// let ctx = Context::new();
/// ctx.run(|| {
///     let _token = REQUEST_ID.set(7);
///     assert_eq!(REQUEST_ID.get(), Some(7));
/// })
/// .unwrap();
/// assert_eq!(REQUEST_ID.get(), None); // only `ctx` changed
/// assert_eq!(ctx.get(&REQUEST_ID), Some(7));
/// ```
pub struct ContextVar<T> {
    name: NameSource,
    default: Option<T>,
    id: OnceLock<VarId>,
}

/// The name as given; the shared form is made at first use so the constructors stay `const`.
enum NameSource {
    Static(&'static str),
    Owned(OnceLock<Name>, String),
}

// Compile-time check of the documented auto traits.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ContextVar<u64>>();
};

impl<T> ContextVar<T> {
    /// A variable named `name`, with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// static USER: ContextVar<String> = ContextVar::new("user");
    /// assert_eq!(USER.name(), "user");
    /// assert_eq!(USER.get(), None);
    /// ```
    pub const fn new(name: &'static str) -> Self {
        ContextVar {
            name: NameSource::Static(name),
            default: None,
            id: OnceLock::new(),
        }
    }

    /// A variable named `name` whose value is `default` wherever it is not set.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// static RETRIES: ContextVar<u32> = ContextVar::with_default("retries", 3);
    /// assert_eq!(RETRIES.get(), Some(3));
    /// ```
    pub const fn with_default(name: &'static str, default: T) -> Self {
        ContextVar {
            name: NameSource::Static(name),
            default: Some(default),
            id: OnceLock::new(),
        }
    }

    /// A variable with a name built at run time, with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// let shard = 3;
    /// let var: ContextVar<u8> = ContextVar::named(format!("shard-{shard}"));
    /// assert_eq!(var.name(), "shard-3");
    /// ```
    pub fn named(name: String) -> Self {
        ContextVar {
            name: NameSource::Owned(OnceLock::new(), name),
            default: None,
            id: OnceLock::new(),
        }
    }

    /// A variable with a name built at run time and a default.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// let var = ContextVar::named_with_default("limit".to_string(), 10u32);
    /// assert_eq!(var.get(), Some(10));
    /// ```
    pub fn named_with_default(name: String, default: T) -> Self {
        ContextVar {
            name: NameSource::Owned(OnceLock::new(), name),
            default: Some(default),
            id: OnceLock::new(),
        }
    }

    /// The variable's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// static V: ContextVar<i32> = ContextVar::new("v");
    /// assert_eq!(V.name(), "v");
    /// ```
    pub fn name(&self) -> &str {
        match &self.name {
            NameSource::Static(s) => s,
            NameSource::Owned(_, s) => s,
        }
    }

    /// The variable's default value, if it has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// static V: ContextVar<i32> = ContextVar::with_default("v", 1);
    /// assert_eq!(V.default(), Some(&1));
    /// ```
    pub fn default(&self) -> Option<&T> {
        self.default.as_ref()
    }

    /// The key of this variable (assigned at first use).
    #[inline]
    pub(crate) fn id(&self) -> VarId {
        *self.id.get_or_init(VarId::fresh)
    }

    fn shared_name(&self) -> Name {
        match &self.name {
            NameSource::Static(s) => Name::Static(s),
            NameSource::Owned(cell, s) => cell.get_or_init(|| Name::from_string(s.clone())).clone(),
        }
    }
}

impl<T: Send + Sync + 'static> ContextVar<T> {
    /// Calls `f` with a reference to the variable's value in the current context, or to its
    /// default, or `None`; nothing is cloned.
    ///
    /// `f` may set, reset and run contexts freely: the value it holds stays alive until it
    /// returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// static NAME: ContextVar<String> = ContextVar::new("name");
    /// let _t = NAME.set("a long string".to_string());
    /// assert_eq!(NAME.with(|v| v.map(|s| s.len())), Some(13));
    /// ```
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let id = self.id();
        local::with_value(id, |p| {
            if p.is_null() {
                f(self.default.as_ref())
            } else {
                // `p` is the value pointer of this variable's id in the current context; only
                // `set` and `reset` of this variable store under its id, and ids are never reused.
                // SAFETY: so `p` is a `Stored<T>` with this `T`, and `with_value` keeps the
                // version holding it alive until this closure returns.
                f(Some(unsafe { value_ref::<T>(p) }))
            }
        })
    }

    /// The variable's value in the current context, else its default, else `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// static V: ContextVar<u64> = ContextVar::new("v");
    /// assert_eq!(V.get(), None);
    /// let _t = V.set(5);
    /// assert_eq!(V.get(), Some(5));
    /// ```
    #[inline]
    pub fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        self.with(|v| v.cloned())
    }

    /// Whether the variable is set in the current context (its default does not count).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// static V: ContextVar<u64> = ContextVar::with_default("v", 0);
    /// assert!(!V.is_set());
    /// let _t = V.set(1);
    /// assert!(V.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        local::with_value(self.id(), |p| !p.is_null())
    }

    /// Sets the variable in the current context, and returns a [`Token`] to restore the
    /// previous value with [`reset`](ContextVar::reset).
    ///
    /// The change is seen by this thread's reads in this context, and by other threads reading
    /// the context (e.g. [`Context::get`](super::Context::get)); no other context changes.
    ///
    /// # When the replaced value is dropped, and by which thread
    ///
    /// The value this set replaces stays alive while anything can still read it: the returned
    /// token ([`Token::old_value`]), a copy of the context ([`copy_context`](super::copy_context),
    /// [`Context::copy`](super::Context::copy)), a `with` borrow lending it, or a foreign
    /// reader of the replaced map version. The replaced version is queued on this thread and
    /// handed to the epoch collector (`crossbeam-epoch`) in batches: after at most 7 more sets
    /// or resets on this thread, when the thread leaves a context (the end of a
    /// [`Context::run`](super::Context::run), or the drop of the guard of
    /// [`Context::enter`](super::Context::enter)), or when it exits. Its values are dropped once no
    /// thread is pinned in an epoch that could see it, **by whichever thread collects it
    /// then**: this one in a later operation, or another thread in any operation that pins. A
    /// value's `Drop` may therefore run on another thread, some operations later. It always runs
    /// with every context and every read cache in a consistent state, so it may use the whole
    /// API (set, reset, run, read, copy).
    ///
    /// # Panics
    ///
    /// A panic from a value's `Drop` never interrupts the structure that drops it (the other
    /// values are dropped): it is kept and resumed on the thread that ran the `Drop`, from the
    /// next set, reset, [`Token`] drop or [`Context::with`](super::Context::with) there, once
    /// that operation's work is done. So `set` resumes such a panic after the variable is set.
    ///
    /// Called from a thread-local destructor after this thread's context state was destroyed,
    /// `set` works on a fresh context of its own (the values set there are dropped with the
    /// thread's state when the call comes from a value dropped by it, and are leaked when it
    /// comes from a later thread-local destructor).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// static V: ContextVar<&str> = ContextVar::new("v");
    /// let t1 = V.set("a");
    /// let t2 = V.set("b");
    /// assert_eq!(t2.old_value(), Some(&"a"));
    /// V.reset(&t2).unwrap();
    /// assert_eq!(V.get(), Some("a"));
    /// V.reset(&t1).unwrap();
    /// assert_eq!(V.get(), None);
    /// ```
    pub fn set(&self, value: T) -> Token<'_, T> {
        let stored = erase(Stored::new(self.shared_name(), value));
        let (ctx, old, undo) = local::replace(self.id(), Some(stored), true);
        Token {
            var: self,
            ctx,
            old,
            undo: Cell::new(undo),
            used: Cell::new(false),
        }
    }

    /// Sets the variable and returns a guard that resets it when dropped (Python's
    /// `with var.set(value):`).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// {
    ///     let _scope = V.set_scoped(1);
    ///     assert_eq!(V.get(), Some(1));
    /// }
    /// assert_eq!(V.get(), None);
    /// ```
    pub fn set_scoped(&self, value: T) -> ScopedToken<'_, T> {
        ScopedToken {
            token: self.set(value),
        }
    }

    /// Restores the value the variable had before the [`set`](ContextVar::set) that made
    /// `token` (removes it if it was not set then).
    ///
    /// # Errors
    ///
    /// Checked in this order, and nothing changes on an error:
    /// - [`ContextError::TokenUsed`] if `token` was already used;
    /// - [`ContextError::TokenWrongVar`] if another variable made it;
    /// - [`ContextError::TokenWrongContext`] if it was made in another context than the
    ///   current one.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::{Context, ContextError, ContextVar};
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let t = V.set(1);
    /// assert_eq!(Context::new().run(|| V.reset(&t)).unwrap(), Err(ContextError::TokenWrongContext));
    /// assert_eq!(V.reset(&t), Ok(()));
    /// assert_eq!(V.reset(&t), Err(ContextError::TokenUsed));
    /// ```
    pub fn reset(&self, token: &Token<'_, T>) -> Result<(), ContextError> {
        if token.used.get() {
            return Err(ContextError::TokenUsed);
        }
        if token.var.id() != self.id() {
            return Err(ContextError::TokenWrongVar);
        }
        if local::current_id() != Some(token.ctx) {
            return Err(ContextError::TokenWrongContext);
        }
        token.used.set(true);
        let old_ptr = token.old.as_ref().map_or(core::ptr::null(), value_ptr);
        let undo = match token.undo.take() {
            Some(undo) => match local::undo(self.id(), undo, old_ptr) {
                Ok(()) => return Ok(()),
                Err(undo) => Some(undo),
            },
            None => None,
        };
        let _old = local::replace(self.id(), token.old.clone(), false);
        // Once the reset is complete: the version the thread held for it may hold the last
        // count on values.
        if let Some(undo) = undo {
            local::forget_undo(undo);
        }
        Ok(())
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name())
            .field("has_default", &self.default.is_some())
            .finish_non_exhaustive()
    }
}

/// What [`ContextVar::set`] returns: the record of one change, to undo it with
/// [`ContextVar::reset`]. Usable once.
///
/// # Examples
///
/// ```
/// use loopkit::context::ContextVar;
/// static V: ContextVar<u32> = ContextVar::new("v");
/// let token = V.set(1);
/// assert_eq!(token.var().name(), "v");
/// assert_eq!(token.old_value(), None); // it was not set before
/// assert!(!token.is_used());
/// V.reset(&token).unwrap();
/// assert!(token.is_used());
/// ```
pub struct Token<'v, T> {
    var: &'v ContextVar<T>,
    /// Id of the context the set happened in.
    ctx: u64,
    /// The value before the set; `None` when the variable was not set.
    old: Option<Value>,
    /// What undoes the set in O(1) if nothing changed since (taken by the first reset; the
    /// version the set replaced is held by the thread until its next set).
    undo: Cell<Option<local::Undo>>,
    used: Cell<bool>,
}

impl<'v, T: Send + Sync + 'static> Token<'v, T> {
    /// The variable that made this token.
    pub fn var(&self) -> &'v ContextVar<T> {
        self.var
    }

    /// The value the variable had before the set, or `None` if it was not set (its default does
    /// not count).
    pub fn old_value(&self) -> Option<&T> {
        self.old.as_ref().map(|v| {
            // SAFETY: `old` came from the map under this variable's id, so it was made from a
            // `Stored<T>`; the token holds a reference count on it.
            unsafe { value_ref::<T>(super::value::value_ptr(v)) }
        })
    }

    /// Whether [`ContextVar::reset`] already used this token.
    pub fn is_used(&self) -> bool {
        self.used.get()
    }
}

impl<T> Drop for Token<'_, T> {
    fn drop(&mut self) {
        // The old value may be the last reference to it; its destructor never unwinds (a panic
        // from it is kept and resumed here, once the token is gone).
        drop(self.old.take());
        if let Some(undo) = self.undo.take() {
            local::forget_undo(undo);
        }
        local::resume_dropped_panic();
    }
}

impl<T> fmt::Debug for Token<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("var", &self.var.name())
            .field("was_set", &self.old.is_some())
            .field("used", &self.used.get())
            .finish()
    }
}

/// A [`Token`] that resets its variable when dropped; made by [`ContextVar::set_scoped`].
///
/// Dropping it in a context other than the one it was made in (or after the token was used)
/// changes nothing; call [`reset`](ScopedToken::reset) to see that error instead.
///
/// # Examples
///
/// ```
/// use loopkit::context::ContextVar;
/// static DEPTH: ContextVar<u32> = ContextVar::with_default("depth", 0);
/// fn nested(n: u32) -> u32 {
///     let _scope = DEPTH.set_scoped(DEPTH.get().unwrap() + 1);
///     if n == 0 { DEPTH.get().unwrap() } else { nested(n - 1) }
/// }
/// assert_eq!(nested(4), 5);
/// assert_eq!(DEPTH.get(), Some(0));
/// ```
pub struct ScopedToken<'v, T: Send + Sync + 'static> {
    token: Token<'v, T>,
}

impl<'v, T: Send + Sync + 'static> ScopedToken<'v, T> {
    /// The token inside.
    pub fn token(&self) -> &Token<'v, T> {
        &self.token
    }

    /// Resets now, reporting what a drop would silently ignore.
    ///
    /// # Errors
    ///
    /// As [`ContextVar::reset`].
    ///
    /// # Examples
    ///
    /// ```
    /// use loopkit::context::ContextVar;
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let scope = V.set_scoped(1);
    /// assert_eq!(scope.reset(), Ok(()));
    /// assert_eq!(V.get(), None);
    /// ```
    pub fn reset(self) -> Result<(), ContextError> {
        self.token.var.reset(&self.token)
    }
}

impl<T: Send + Sync + 'static> Drop for ScopedToken<'_, T> {
    fn drop(&mut self) {
        let _ = self.token.var.reset(&self.token);
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for ScopedToken<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ScopedToken").field(&self.token).finish()
    }
}
