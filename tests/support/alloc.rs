//! A counting global allocator: allocator calls per thread and live bytes in total.
//!
//! A test crate installs it with
//! `#[global_allocator] static GLOBAL: support::alloc::CountingAlloc = support::alloc::CountingAlloc;`
//! then reads [`thread_calls`] around the code that must not allocate (per thread, so tests that
//! run in parallel do not see each other) or [`live_bytes`] around a build whose size it reports.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

/// Forwards to [`System`], counting calls (per thread) and requested bytes (globally).
#[derive(Debug)]
pub struct CountingAlloc;

std::thread_local! {
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

/// Bytes requested and not yet freed, over every thread. Headers and rounding of the underlying
/// allocator are not counted: a lower bound on RSS that compares like for like.
static LIVE: AtomicIsize = AtomicIsize::new(0);

fn bump(bytes: isize) {
    // `try_with`: the allocator may run while this thread's TLS is being torn down.
    let _ = CALLS.try_with(|c| c.set(c.get() + 1));
    // Relaxed: a statistic read after the measured code, on the thread that ran it or after a
    // join (which orders it); it publishes nothing.
    LIVE.fetch_add(bytes, Relaxed);
}

/// Allocator calls (alloc, dealloc, realloc) made by this thread so far.
pub fn thread_calls() -> usize {
    CALLS.with(Cell::get)
}

/// Bytes live in the heap (requested, not freed) over every thread.
pub fn live_bytes() -> isize {
    // Relaxed: see `bump`.
    LIVE.load(Relaxed)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counters only observe sizes and never allocate
// (a `const` thread-local `Cell` and a static atomic).
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(layout.size() as isize);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bump(-(layout.size() as isize));
        // SAFETY: forwarded unchanged; `ptr` came from `System` through this allocator with
        // `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
