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

/// The thread counts a multi-threaded bench sweeps: `default` (sized for a 2-core machine), or
/// the comma-separated list in `LOOPKIT_BENCH_THREADS` (e.g. `1,2,4,8,16` on a larger machine).
/// A malformed list panics with the variable's value, so a typo never silently runs the default.
#[allow(dead_code)] // not every bench sweeps threads
pub fn thread_sweep(default: &[usize]) -> Vec<usize> {
    match std::env::var("LOOPKIT_BENCH_THREADS") {
        Ok(s) => s
            .split(',')
            .map(|t| match t.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => panic!("LOOPKIT_BENCH_THREADS={s:?}: expected a list like 1,2,4,8,16"),
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}
