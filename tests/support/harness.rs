//! Thread harness for the multi-threaded benches: start every thread at once, time the run.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Runs `worker(i)` on `n` new threads (`i` in `0..n`) and `main()` on the calling thread, all
/// released together by one barrier, and returns the wall time from that release until `main`
/// has returned and every worker has finished.
pub fn timed_threads<W, M>(n: usize, worker: W, main: M) -> Duration
where
    W: Fn(usize) + Sync,
    M: FnOnce(),
{
    let start = Barrier::new(n + 1);
    let t0 = thread::scope(|s| {
        for i in 0..n {
            let (start, worker) = (&start, &worker);
            s.spawn(move || {
                start.wait();
                worker(i);
            });
        }
        start.wait();
        let t0 = Instant::now();
        main();
        t0
        // The scope's end joins every worker.
    });
    t0.elapsed()
}
