//! Test and bench support, kept in one place and shared by every test crate.
//!
//! - [`hash`]: a hasher that passes a written `u64` through, and a key whose hash the test picks
//!   (deep tries and full-width collisions without touching the map's real layout);
//! - [`alloc`]: a counting global allocator (calls per thread, live bytes in total);
//! - [`rng`]: one small deterministic generator (splitmix64);
//! - [`watchdog`]: aborts a test that hangs (a lost wakeup shows up as a hang);
//! - [`waker`]: a counting `std::task::Waker`;
//! - [`harness`]: starts threads together and times them (the multi-threaded benches);
//! - [`rss`]: the process's resident set size.
//!
//! Included as `mod support;` by the integration tests, as
//! `#[path = "../tests/support/mod.rs"] mod support;` by the benches and as a `cfg(test)` module
//! of the library for its unit tests. It names no type of the crate, so the same file compiles in
//! all three places; a crate that uses only part of it sees no dead-code warnings.
#![allow(dead_code, unused_imports, unreachable_pub)]

pub mod alloc;
pub mod harness;
pub mod hash;
pub mod rng;
pub mod rss;
pub mod waker;
pub mod watchdog;
