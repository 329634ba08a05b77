//! Aborts the process if a test runs too long: a lost wakeup shows up as a hang, and a hang must
//! fail the test rather than stall CI.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Armed by [`Watchdog::new`], disarmed when dropped (keep it alive for the whole test).
#[derive(Debug)]
pub struct Watchdog(Arc<AtomicBool>);

impl Watchdog {
    /// Aborts with a message naming `name` unless dropped within `limit`.
    pub fn new(name: &'static str, limit: Duration) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        thread::spawn(move || {
            let start = Instant::now();
            // Acquire: pairs with the Release store in `drop`; only the flag itself matters.
            while !d.load(Ordering::Acquire) {
                if start.elapsed() > limit {
                    eprintln!("watchdog: {name} still running after {limit:?}: lost wakeup?");
                    std::process::abort();
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Release: pairs with the Acquire load in the watchdog thread.
        self.0.store(true, Ordering::Release);
    }
}
