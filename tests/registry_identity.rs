//! Registry identity is never reused: a registry allocated where a dropped one lived accepts
//! neither the old one's `ThreadKey` nor its tasks.
//!
//! The global allocator of this test binary hands out the most recently freed block of the same
//! layout first, from any thread, so a new registry really lands on the address of the old one
//! (the system allocator keeps per-thread caches and rarely does so across threads).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use loopkit::registry::{Registry, Task};

/// A LIFO cache of freed blocks in front of `System`.
struct Reuse {
    lock: AtomicBool,
    cache: UnsafeCell<([(*mut u8, Layout); CACHE], usize)>,
}

const CACHE: usize = 64;

// SAFETY: `cache` is touched only under `lock`.
unsafe impl Sync for Reuse {}

impl Reuse {
    fn with<R>(&self, f: impl FnOnce(&mut ([(*mut u8, Layout); CACHE], usize)) -> R) -> R {
        // Acquire: pairs with the Release store below (the previous holder's writes).
        while self.lock.swap(true, Ordering::Acquire) {
            std::hint::spin_loop();
        }
        // SAFETY: we hold the lock.
        let r = f(unsafe { &mut *self.cache.get() });
        // Release: publishes our writes to the next holder.
        self.lock.store(false, Ordering::Release);
        r
    }
}

// SAFETY: every block comes from `System` with the layout it is cached under.
unsafe impl GlobalAlloc for Reuse {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let hit = self.with(|(blocks, len)| {
            let i = blocks[..*len].iter().rposition(|b| b.1 == layout)?;
            let p = blocks[i].0;
            blocks.copy_within(i + 1..*len, i);
            *len -= 1;
            Some(p)
        });
        // SAFETY: `layout` is non-zero-sized (GlobalAlloc contract).
        hit.unwrap_or_else(|| unsafe { System.alloc(layout) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let evicted = self.with(|(blocks, len)| {
            let evicted = (*len == CACHE).then(|| {
                let oldest = blocks[0];
                blocks.copy_within(1.., 0);
                *len -= 1;
                oldest
            });
            blocks[*len] = (ptr, layout);
            *len += 1;
            evicted
        });
        if let Some((p, l)) = evicted {
            // SAFETY: from `System` with layout `l`.
            unsafe { System.dealloc(p, l) };
        }
    }
}

#[global_allocator]
static ALLOC: Reuse = Reuse {
    lock: AtomicBool::new(false),
    cache: UnsafeCell::new(([(std::ptr::null_mut(), Layout::new::<u8>()); CACHE], 0)),
};

#[test]
fn a_new_registry_is_not_the_old_one() {
    for _ in 0..if cfg!(miri) { 2 } else { 16 } {
        let (key, t) = thread::spawn(|| {
            let reg = Registry::new();
            let t = Task::new(0u64);
            reg.register(&t).unwrap();
            reg.set_current(Some(&t)).unwrap();
            (reg.thread_key().unwrap(), t)
        })
        .join()
        .unwrap();
        // The old registry is freed (its only thread exited); the new ones take its memory.
        let fresh: Vec<Registry<u64>> = (0..8).map(|_| Registry::new()).collect();
        for reg in &fresh {
            assert!(
                reg.current_of(key).is_none(),
                "an old key names a new registry"
            );
            assert!(
                !reg.unregister(&t),
                "a new registry unregistered an old task"
            );
        }
        assert!(t.is_registered(), "the old task was unregistered");
    }
}

/// The same on a thread that lives on: the registry is dropped while its thread-local entry (and
/// the one-entry cache) still name it, then new registries are made and used on that thread,
/// enough for the map to sweep the dead entry and free the old registry's memory for reuse. None
/// of them reaches the old shard.
#[test]
fn a_new_registry_on_the_same_thread_is_not_the_old_one() {
    thread::spawn(|| {
        let reg = Registry::new();
        let t = Task::new(0u64);
        reg.register(&t).unwrap();
        reg.set_current(Some(&t)).unwrap();
        let key = reg.thread_key().unwrap();
        drop(reg);
        for i in 0..if cfg!(miri) { 40 } else { 200 } {
            let reg = Registry::new();
            assert!(
                reg.current().is_none(),
                "a new registry sees an old current task"
            );
            assert!(
                reg.current_of(key).is_none(),
                "an old key names a new registry"
            );
            assert!(
                !reg.unregister(&t),
                "a new registry unregistered an old task"
            );
            assert_eq!(
                reg.local_len(),
                0,
                "a new registry has the old shard's tasks"
            );
            let u = Task::new(i);
            reg.register(&u).unwrap();
            assert_eq!(reg.local_len(), 1);
        }
        assert!(t.is_registered(), "the old task was unregistered");
    })
    .join()
    .unwrap();
}
