//! Context variables (PEP 567) on the crate's [`Hamt`](crate::hamt::Hamt): [`ContextVar`],
//! [`Token`], [`Context`], [`copy_context`].
//!
//! A [`Context`] maps variables to values. Every OS thread has a current context (a fresh
//! thread's is empty); [`ContextVar::get`] reads the variable in it, [`ContextVar::set`] changes
//! it and returns a [`Token`] that [`ContextVar::reset`] uses to undo the change.
//! [`Context::run`] makes another context current for the length of a call, and
//! [`Context::scope`] does it for every poll of a future, so each task can own a context as an
//! asyncio task does. [`copy_context`] takes a new context with the current values in O(1),
//! whatever their number: the map is a persistent hash trie, shared until one side changes it.
//!
//! The semantics are Python's (`contextvars`, PEP 567, CPython 3.14), including the errors:
//! entering a context that a thread is running in, reusing a token, resetting a token through
//! another variable or in another context are each a [`ContextError`].
//!
//! # Thread safety
//!
//! - Reads go through a **per-thread** cache, invalidated by every set, reset, enter and exit on
//!   that thread. No cache is shared between threads, so there is no race on it, and a hit
//!   touches no reference count, no atomic read-modify-write and no shared cache line: reads
//!   scale with the number of threads.
//! - A context can be read from any thread ([`Context::get`], [`Context::len`],
//!   [`Context::iter`], [`Context::copy`]), also while the thread running in it sets
//!   variables. Each set publishes a new map version; a reader sees one whole version, and the
//!   version it reads is never freed under it (replaced versions are reclaimed through
//!   `crossbeam-epoch`).
//! - Entering is a compare-exchange: of two threads entering one context, exactly one wins.
//!
//! [`docs/context.md`] maps each PEP 567 rule to the code and explains the design.
//!
//! [`docs/context.md`]: crate::docs::context
//!
//! # Examples
//!
//! ```
//! use loopkit::context::{copy_context, Context, ContextError, ContextVar};
//!
//! static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
//!
//! fn handle() -> Option<u64> {
//!     REQUEST_ID.get() // whatever the caller's context holds
//! }
//!
//! let task_a = Context::new();
//! let task_b = copy_context();
//! task_a.run(|| REQUEST_ID.set(1)).unwrap();
//! task_b.run(|| REQUEST_ID.set(2)).unwrap();
//! assert_eq!(task_a.run(handle), Ok(Some(1)));
//! assert_eq!(task_b.run(handle), Ok(Some(2)));
//! assert_eq!(handle(), None);
//!
//! // A token undoes one set, once, in the context it was made in.
//! let token = REQUEST_ID.set(3);
//! assert_eq!(REQUEST_ID.get(), Some(3));
//! REQUEST_ID.reset(&token).unwrap();
//! assert_eq!(REQUEST_ID.reset(&token), Err(ContextError::TokenUsed));
//! assert_eq!(REQUEST_ID.get(), None);
//! ```

mod ctx;
mod inner;
mod local;
mod value;
mod var;

#[cfg(any(test, loopkit_fuzz))]
#[doc(hidden)]
pub mod ops;

#[cfg(test)]
mod loom_models;
#[cfg(test)]
mod tests;

pub use ctx::{copy_context, scope_copy, Context, EnterGuard, Entry, InContext, Iter};
pub use var::{ContextVar, ScopedToken, Token};

use core::fmt;

/// The number of slots of each thread's read cache. The cache is direct-mapped by variable:
/// variables are numbered in the order of their first use, and two whose numbers differ by a
/// multiple of this share a slot (reading them in turn misses every time).
///
/// # Examples
///
/// ```
/// assert!(loopkit::context::READ_CACHE_SLOTS.is_power_of_two());
/// ```
pub const READ_CACHE_SLOTS: usize = local::SLOTS;

/// The errors of context operations.
///
/// # Examples
///
/// ```
/// use loopkit::context::{Context, ContextError};
/// let ctx = Context::new();
/// let err = ctx.run(|| ctx.run(|| ()).unwrap_err()).unwrap();
/// assert_eq!(err, ContextError::AlreadyEntered);
/// assert_eq!(err.to_string(), "the context is already entered by a thread");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContextError {
    /// [`Context::run`] on a context that a thread (this one or another) is running in.
    AlreadyEntered,
    /// [`ContextVar::reset`] with a token that was already used.
    TokenUsed,
    /// [`ContextVar::reset`] with a token that another variable made.
    TokenWrongVar,
    /// [`ContextVar::reset`] with a token made in a context other than the current one.
    TokenWrongContext,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContextError::AlreadyEntered => "the context is already entered by a thread",
            ContextError::TokenUsed => "the token has already been used once",
            ContextError::TokenWrongVar => "the token was created by a different ContextVar",
            ContextError::TokenWrongContext => "the token was created in a different Context",
        })
    }
}

impl std::error::Error for ContextError {}
