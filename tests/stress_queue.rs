//! Stress tests for `loopkit::queue` on real threads: ledgers, drop counters, and a watchdog on
//! everything that can block. Sizes are cut in debug builds (except the 100,000 ping-pong rounds,
//! which every build runs) so the file stays within a few seconds on 2 cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use loopkit::queue::{channel, Callback, Handle, Receiver, SendError};
use support::rng::Rng;
use support::watchdog::Watchdog;

mod support;

/// Scale for the debug build (the CI unit-test budget) versus release.
const fn scaled(release: usize, debug: usize) -> usize {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

fn spin(n: u64) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

/// Pops one payload, parking (no timeout) whenever the queue is empty.
fn pop_parking<T>(rx: &mut Receiver<T>) -> T {
    loop {
        if let Ok(v) = rx.try_recv() {
            return v;
        }
        rx.park();
    }
}

#[test]
fn per_producer_fifo_no_gaps_no_dups() {
    let _w = Watchdog::new("per_producer_fifo", Duration::from_secs(60));
    let producers = 4;
    let per = scaled(200_000, 20_000);
    let (tx, mut rx) = channel::<(usize, usize)>();
    let threads: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for seq in 0..per {
                    tx.send((p, seq)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut next = vec![0usize; producers];
    let mut total = 0;
    while total < producers * per {
        let n = rx.drain(|(p, seq)| {
            assert_eq!(seq, next[p], "producer {p}: gap, duplicate or reordering");
            next[p] += 1;
        });
        total += n;
        if n == 0 {
            rx.park();
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(next.iter().all(|&n| n == per));
    assert!(rx.is_empty());
    rx.assert_valid();
}

/// 100,000 rounds (in every build): each side pushes, then parks until the reply arrives, with
/// random spins so the push lands before, during and after the other side's park announcement.
#[test]
fn ping_pong_parking_100k_rounds() {
    let _w = Watchdog::new("ping_pong", Duration::from_secs(120));
    const ROUNDS: u32 = 100_000;
    let (tx_ping, mut rx_ping) = channel::<u32>();
    let (tx_pong, mut rx_pong) = channel::<u32>();
    let echo = thread::spawn(move || {
        let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
        for i in 0..ROUNDS {
            let v = pop_parking(&mut rx_ping);
            assert_eq!(v, i);
            spin(rng.below(64));
            tx_pong.send(v).unwrap();
        }
    });
    let mut rng = Rng::new(0xD1B5_4A32_D192_ED03);
    for i in 0..ROUNDS {
        spin(rng.below(64));
        tx_ping.send(i).unwrap();
        assert_eq!(pop_parking(&mut rx_pong), i);
    }
    echo.join().unwrap();
}

#[test]
fn random_cancels_ledger() {
    let _w = Watchdog::new("random_cancels", Duration::from_secs(60));
    let producers = 3;
    let per = scaled(50_000, 8_000);
    let (tx, mut rx) = channel::<Callback>();
    let ran = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let prevented = Arc::new(AtomicUsize::new(0));
    let handles: Arc<Mutex<Vec<Handle>>> = Arc::default();
    struct CountDrop(Arc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let done = Arc::new(AtomicUsize::new(0));
    let mut threads: Vec<_> = (0..producers)
        .map(|p| {
            let (tx, ran, drops, handles, done) = (
                tx.clone(),
                ran.clone(),
                drops.clone(),
                handles.clone(),
                done.clone(),
            );
            thread::spawn(move || {
                for i in 0..per {
                    let guard = CountDrop(drops.clone());
                    let ran = ran.clone();
                    let h = tx
                        .call_soon(move || {
                            let _g = guard;
                            ran.fetch_add(1, Ordering::Relaxed);
                        })
                        .unwrap();
                    if (i + p) % 3 != 0 {
                        handles.lock().unwrap().push(h);
                    }
                }
                done.fetch_add(1, Ordering::Release);
            })
        })
        .collect();
    // Two cancellers take random handles (some already run, some not).
    for c in 0..2u64 {
        let (handles, prevented, done) = (handles.clone(), prevented.clone(), done.clone());
        threads.push(thread::spawn(move || {
            let mut rng = Rng::new(0x1234_5678 + c);
            loop {
                let finished = done.load(Ordering::Acquire) == producers;
                let h = {
                    let mut v = handles.lock().unwrap();
                    if v.is_empty() {
                        None
                    } else {
                        let k = rng.below(v.len() as u64) as usize;
                        Some(v.swap_remove(k))
                    }
                };
                match h {
                    Some(h) => {
                        if rng.below(2) == 0 && h.cancel() {
                            assert!(h.is_cancelled());
                            prevented.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None if finished => break,
                    None => thread::yield_now(),
                }
            }
        }));
    }
    drop(tx);
    let pushed = producers * per;
    loop {
        let n = rx.run_pending();
        let settled = ran.load(Ordering::Relaxed) + prevented.load(Ordering::Relaxed);
        if settled == pushed && threads.iter().all(|t| t.is_finished()) {
            break;
        }
        if n == 0 {
            rx.park_timeout(Duration::from_millis(5));
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    rx.run_pending();
    let (r, c) = (
        ran.load(Ordering::Relaxed),
        prevented.load(Ordering::Relaxed),
    );
    // How many cancels win depends on scheduling (a fast consumer may run every handle first);
    // the ledger is what must hold.
    assert_eq!(r + c, pushed, "ran + prevented = pushed");
    assert_eq!(
        drops.load(Ordering::Relaxed),
        pushed,
        "every payload dropped exactly once"
    );
}

#[test]
fn close_races_producers_drop_counters() {
    let _w = Watchdog::new("close_races", Duration::from_secs(60));
    let rounds = scaled(200, 40);
    let producers = 3;
    let max_per_producer = scaled(20_000, 2_000);
    let mut raced = 0;
    for round in 0..rounds {
        let drops = Arc::new(AtomicUsize::new(0));
        struct D(Arc<AtomicUsize>, usize);
        impl Drop for D {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let (tx, mut rx) = channel::<D>();
        let attempts = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..producers)
            .map(|p| {
                let (tx, drops, attempts) = (tx.clone(), drops.clone(), attempts.clone());
                thread::spawn(move || {
                    let mut accepted = 0usize;
                    // Bounded, so a descheduled consumer cannot let the producers run away.
                    while accepted < max_per_producer {
                        attempts.fetch_add(1, Ordering::Relaxed);
                        match tx.send(D(drops.clone(), p)) {
                            Ok(()) => accepted += 1,
                            Err(SendError(back)) => {
                                assert_eq!(back.1, p, "refused payload comes back intact");
                                return accepted;
                            }
                        }
                    }
                    accepted
                })
            })
            .collect();
        drop(tx);
        // Consume a little, then close while the producers are pushing.
        let mut ran = 0;
        let mut rng = Rng::new(round as u64 + 1);
        let before = rng.below(400) as usize;
        while ran < before {
            ran += rx.drain(drop);
        }
        let pending = rx.close();
        let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        if attempts.load(Ordering::Relaxed) > accepted {
            raced += 1; // some push was refused: the close landed while producers were pushing
        }
        assert_eq!(ran + pending, accepted, "close counted every accepted push");
        // Run half of what is left, drop the rest with the receiver.
        let mut left = pending;
        if round % 2 == 0 {
            left -= rx.drain(drop);
        }
        assert_eq!(left, rx.len());
        drop(rx);
        assert_eq!(
            drops.load(Ordering::Relaxed),
            attempts.load(Ordering::Relaxed),
            "every payload (run, dropped with the receiver, or refused) dropped exactly once"
        );
    }
    assert!(
        raced > 0,
        "no round closed while producers were still pushing"
    );
    eprintln!("close_races: {raced}/{rounds} rounds refused a push");
}

#[test]
fn more_threads_than_cores() {
    let _w = Watchdog::new("more_threads_than_cores", Duration::from_secs(60));
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    let producers = cores * 4;
    let per = scaled(20_000, 2_000);
    let (tx, mut rx) = channel::<Callback>();
    let sum = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..producers)
        .map(|_| {
            let (tx, sum) = (tx.clone(), sum.clone());
            thread::spawn(move || {
                for i in 0..per {
                    let sum = sum.clone();
                    tx.call_soon_detached(move || {
                        sum.fetch_add(i, Ordering::Relaxed);
                    })
                    .unwrap();
                    if i % 64 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let want = producers * per * (per - 1) / 2;
    let mut ran = 0;
    while ran < producers * per {
        let n = rx.run_pending();
        ran += n;
        if n == 0 {
            rx.park();
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(sum.load(Ordering::Relaxed), want);
    assert_eq!(rx.run_pending(), 0);
}

/// Disconnect under real threads: each round, producers push a few items and drop their
/// senders at random moments while the consumer blocks in `recv()` (no timeout); the consumer
/// must get every item once, in per-producer order, and then `Err(RecvError)`: a lost
/// last-sender wake is a hang (the watchdog fails it). Ends with a ledger over all rounds.
#[test]
fn disconnect_wakes_a_blocked_recv() {
    let _w = Watchdog::new("disconnect_wakes_a_blocked_recv", Duration::from_secs(60));
    let rounds = scaled(2_000, 300);
    let producers = 3;
    let mut received = 0usize;
    let mut pushed = 0usize;
    for round in 0..rounds {
        let (tx, mut rx) = channel::<(usize, usize)>();
        let per: Vec<usize> = (0..producers).map(|p| (round + p) % 4).collect();
        let threads: Vec<_> = (0..producers)
            .map(|p| {
                let tx = tx.clone();
                let n = per[p];
                thread::spawn(move || {
                    let mut rng = Rng::new((round * producers + p) as u64 + 1);
                    for seq in 0..n {
                        spin(rng.below(200));
                        tx.send((p, seq)).unwrap();
                    }
                    spin(rng.below(200));
                    drop(tx);
                })
            })
            .collect();
        drop(tx);
        let mut next = vec![0usize; producers];
        while let Ok((p, seq)) = rx.recv() {
            assert_eq!(seq, next[p], "round {round}, producer {p}: out of order");
            next[p] += 1;
            received += 1;
        }
        assert_eq!(
            next, per,
            "round {round}: every item received before the disconnect"
        );
        assert!(rx.is_disconnected());
        pushed += per.iter().sum::<usize>();
        for t in threads {
            t.join().unwrap();
        }
    }
    assert_eq!(received, pushed);
}
