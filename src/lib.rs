//! # loopkit
//!
//! Lock-free concurrent data structures for event-loop runtimes: the three structures CPython's
//! asyncio and contextvars rest on, rebuilt in Rust so that they stay correct and scale when many
//! OS threads each run a loop.
//!
//! | module | what it is | CPython counterpart |
//! |---|---|---|
//! | [`list`] | intrusive circular doubly linked list, single owner, O(1), no allocation | `pycore_llist.h` |
//! | [`registry`] | per-thread task registry: lock-free register/unregister, pause-free snapshot | `asyncio_tasks_head`, `all_tasks` |
//! | [`hamt`] | persistent hash array mapped trie, CHAMP layout | `Python/hamt.c` |
//! | [`context`] | context variables (PEP 567) on the HAMT, per-thread read cache, safe foreign reads | `Python/context.c` |
//! | [`queue`] | MPSC handle queue with cancellable handles and a lost-wakeup-free park | `call_soon_threadsafe` |
//!
//! Every atomic protocol is model-checked with loom, every structure is tested against a `std`
//! model with proptest and cargo-fuzz, unsafe code runs under Miri, and each structure is
//! benchmarked against the crates a user would otherwise pick ([`docs::benchmarks`]).
// Lint levels are set once, in Cargo.toml's `[lints]`.
#![cfg_attr(docsrs, feature(doc_cfg))]
// The crate-private test cfgs are no part of what users get: no badge for them.
#![cfg_attr(docsrs, doc(auto_cfg(hide(loopkit_loom, loopkit_fuzz))))]

mod loom;

pub mod context;
pub mod docs;
pub mod hamt;
pub mod list;
pub mod queue;
pub mod registry;

/// The shared test support (`tests/support/`), for the unit tests.
#[cfg(test)]
#[path = "../tests/support/mod.rs"]
pub(crate) mod support;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
