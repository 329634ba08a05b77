//! The one file that imports atomics, `UnsafeCell`, `Arc`, `thread`, `hint` and thread-locals.
//!
//! Under `--cfg loopkit_loom` everything here comes from [`loom`](https://docs.rs/loom), so the
//! concurrent protocols in this crate can be model-checked. Without it, the same names come from
//! `std`, and [`UnsafeCell`] gets loom's closure API (`with` / `with_mut`) so code is written once.
//!
//! [`model`] runs its closure under loom's exhaustive scheduler with `--cfg loopkit_loom`, and exactly once
//! otherwise. Every loom model in the crate is therefore also an ordinary unit test and a Miri
//! test.
#![allow(unused_imports, dead_code)]

#[cfg(loopkit_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::hint;
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::{Arc, Condvar, Mutex};
    pub(crate) use loom::thread;
    pub(crate) use loom::thread_local;

    /// Runs `f` under loom's model checker (bounded by `LOOM_MAX_PREEMPTIONS`).
    pub(crate) fn model<F>(f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        loom::model(f)
    }

    /// Collects `iter` into an `Arc<[T]>` in one allocation when the iterator's length is
    /// exact (`TrustedLen`), through std's `Arc<[T]>: FromIterator` and loom's `Arc::from_std`.
    pub(crate) fn arc_slice<T, I: IntoIterator<Item = T>>(iter: I) -> Arc<[T]> {
        Arc::from_std(iter.into_iter().collect::<std::sync::Arc<[T]>>())
    }

    /// A spin-wait hint; under loom it yields so the model can make progress.
    #[inline]
    pub(crate) fn spin_loop() {
        loom::thread::yield_now();
    }
}

#[cfg(not(loopkit_loom))]
mod imp {
    pub(crate) use std::hint;
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::{Arc, Condvar, Mutex};
    pub(crate) use std::thread;
    pub(crate) use std::thread_local;

    /// Runs `f` once: without `--cfg loopkit_loom` a model is an ordinary test.
    pub(crate) fn model<F>(f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        f()
    }

    /// Collects `iter` into an `Arc<[T]>`: one allocation when the iterator's length is exact
    /// (`TrustedLen`). loom's `Arc` has no `FromIterator`, hence this helper.
    pub(crate) fn arc_slice<T, I: IntoIterator<Item = T>>(iter: I) -> Arc<[T]> {
        iter.into_iter().collect()
    }

    /// A spin-wait hint (`std::hint::spin_loop`).
    #[inline]
    pub(crate) fn spin_loop() {
        std::hint::spin_loop();
    }

    /// `core::cell::UnsafeCell` with loom's closure-based access API.
    ///
    /// Code that touches the cell through `with`/`with_mut` compiles unchanged against
    /// `loom::cell::UnsafeCell`, which checks every access for data races.
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        /// Wraps `value`.
        #[inline(always)]
        pub(crate) const fn new(value: T) -> Self {
            Self(core::cell::UnsafeCell::new(value))
        }

        /// Unwraps the value.
        #[inline(always)]
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        /// Gives `f` a shared raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Gives `f` a unique raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

pub(crate) use imp::*;
