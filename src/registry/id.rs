//! Process-wide unique ids for registries and shards.
//!
//! A registry is named by an id, never by its address: a [`ThreadKey`](super::ThreadKey) or a
//! task's home shard can outlive the registry, and a new registry may be allocated at the same
//! address. Ids come from one 64-bit counter and are never reused (at one id per nanosecond the
//! counter lasts 584 years).
//!
//! The counter is `std`'s atomic even under loom: a `static` needs a `const` constructor, which
//! loom's atomics lack, and handing out distinct numbers is no part of any modelled protocol.

use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A fresh id, distinct from every id handed out before in this process.
pub(crate) fn fresh() -> u64 {
    // Relaxed: only uniqueness matters, which the RMW gives on its own.
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(id != u64::MAX, "registry: id counter exhausted");
    id
}
