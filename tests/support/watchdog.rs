//! Aborts the process if a test runs too long: a lost wakeup shows up as a hang, and a hang must
//! fail the test rather than stall CI.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Armed by [`Watchdog::new`], disarmed when dropped (keep it alive for the whole test).
#[derive(Debug)]
pub struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    /// Aborts with a message naming `name` unless dropped within `limit`.
    pub fn new(name: &'static str, limit: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("watchdog: {name} still running after {limit:?} (a hang or lost wakeup)");
                std::process::abort();
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Dropping the sender wakes the watchdog thread with `Disconnected`.
        self.0.take();
    }
}
