//! [`LocalShard`]: the calling thread's shard, held across calls so the owner fast path skips
//! the thread-local lookup.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use super::remote::OWNED;
use super::shard::Shard;
use super::{Inner, RegisterError, Registry, Task};
use crate::loom::Ordering;

/// The calling thread's shard of a [`Registry`], for a loop that registers and unregisters many
/// tasks: the same operations as on the registry, without the thread-local lookup per call.
///
/// It is neither `Send` nor `Sync` (it stands for "this thread"). If the thread's shard has been
/// handed over (the thread is exiting), `register` returns [`RegisterError::ThreadExiting`] and
/// `unregister` takes the foreign path, so it stays correct even then.
///
/// | operation | cost |
/// |---|---|
/// | [`LocalShard::register`] | O(1), no RMW, no fence |
/// | [`LocalShard::unregister`] | O(1), one uncontended CAS |
///
/// # Examples
///
/// ```
/// use loopkit::registry::{Registry, Task};
///
/// let reg = Registry::new();
/// let local = reg.local().unwrap();
/// let t = Task::new(1);
/// local.register(&t).unwrap();
/// assert_eq!(reg.snapshot().len(), 1);
/// assert!(local.unregister(&t));
/// assert!(!reg.unregister(&t));
/// ```
pub struct LocalShard<'a, T> {
    inner: &'a Inner<T>,
    shard: &'a Shard<T>,
    /// `shard` as `Inner::new_shard` returned it (the pointer a node keeps as its home).
    shard_ptr: NonNull<Shard<T>>,
    _this_thread: PhantomData<*const ()>,
}

impl<T> fmt::Debug for LocalShard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalShard")
            .field("shard", self.shard)
            .finish()
    }
}

impl<T: Send + Sync + 'static> Registry<T> {
    /// The calling thread's shard (created on first use), as a handle for repeated owner calls.
    ///
    /// # Errors
    ///
    /// [`RegisterError::ThreadExiting`].
    ///
    /// # Examples
    ///
    /// See [`LocalShard`].
    pub fn local(&self) -> Result<LocalShard<'_, T>, RegisterError> {
        let shard_ptr = self.mine_ptr(true)?.expect("shard created");
        Ok(LocalShard {
            inner: self.inner(),
            // SAFETY: `self` keeps the registry alive, whose reference keeps the shard alive, for
            // the borrow's lifetime.
            shard: unsafe { shard_ptr.as_ref() },
            shard_ptr,
            _this_thread: PhantomData,
        })
    }
}

impl<T> LocalShard<'_, T> {
    /// Is this thread still the shard's owner? Only this thread moves it away from OWNED.
    #[inline]
    fn owned(&self) -> bool {
        // Relaxed: the only writer that leaves OWNED is this thread (at exit), program order.
        self.shard.owner.load(Ordering::Relaxed) == OWNED
    }

    /// [`Registry::register`] on this thread's shard.
    ///
    /// # Errors
    ///
    /// As [`Registry::register`].
    ///
    /// # Examples
    ///
    /// See [`LocalShard`].
    pub fn register(&self, task: &Task<T>) -> Result<(), RegisterError> {
        if !self.owned() {
            return Err(RegisterError::ThreadExiting);
        }
        // SAFETY: this thread owns the shard (checked above; the handle is not `Send`).
        unsafe { self.inner.register_in(self.shard_ptr, task) }
    }

    /// [`Registry::unregister`] from this thread.
    ///
    /// # Examples
    ///
    /// See [`LocalShard`].
    pub fn unregister(&self, task: &Task<T>) -> bool {
        let mine = self.owned().then_some(self.shard);
        // SAFETY: `mine` is given only while this thread owns the shard.
        unsafe { self.inner.unregister_in(mine, task) }
    }
}
