//! The crate's design notes, the memory-ordering table, the testing guide and the benchmark
//! tables: the `docs/` folder of the repository, shown here so that it is on docs.rs too.

// These pages are markdown written for the repository as much as for rustdoc: list items wrap
// without indentation (valid CommonMark lazy continuation).
#![allow(clippy::doc_lazy_continuation, clippy::doc_overindented_list_items)]

#[doc = include_str!("../docs/list.md")]
pub mod list {}

#[doc = include_str!("../docs/registry.md")]
pub mod registry {}

#[doc = include_str!("../docs/hamt.md")]
pub mod hamt {}

#[doc = include_str!("../docs/context.md")]
pub mod context {}

#[doc = include_str!("../docs/queue.md")]
pub mod queue {}

#[doc = include_str!("../docs/memory-ordering.md")]
pub mod memory_ordering {}

#[doc = include_str!("../docs/testing.md")]
pub mod testing {}

#[doc = include_str!("../docs/BENCHMARKS.md")]
pub mod benchmarks {}
