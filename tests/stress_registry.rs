//! Stress test of `loopkit::registry` with real threads and a ledger.
//!
//! Owners churn register/unregister on their own shards, share some tasks with a foreign thread
//! that unregisters them (racing the owners' own unregisters), drop some registered tasks
//! (auto-unregister), and short-lived threads exit with tasks left registered (orphans). A
//! snapshot loop checks the documented guarantees against the ledger and that every returned
//! task is alive. At the end every task is unregistered exactly once and no value is leaked.
//! A watchdog aborts the process if anything hangs.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use loopkit::registry::{Registry, Task};
use support::rng::Rng;

mod support;

const MAX_TASKS: usize = 60_000;
const CHURN: Duration = Duration::from_millis(1200);

/// Global order of ledger events (SeqCst RMWs: one total order).
static SEQ: AtomicU64 = AtomicU64::new(1);
/// Values alive.
static LIVE: AtomicUsize = AtomicUsize::new(0);

fn tick() -> u64 {
    SEQ.fetch_add(1, SeqCst)
}

#[derive(Default)]
struct Entry {
    /// Seq after `register` returned (0: never).
    reg_done: AtomicU64,
    /// Seq before the first unregister attempt or the drop of a registered task (0: none).
    unreg_start: AtomicU64,
    /// Seq after a winning unregister returned (0: none).
    unreg_done: AtomicU64,
    /// Number of unregister calls that returned true.
    wins: AtomicU32,
    /// Dropped while registered (an auto-unregister).
    dropped: AtomicBool,
}

struct Ledger {
    entries: Vec<Entry>,
    next: AtomicUsize,
}

impl Ledger {
    fn start_unreg(&self, id: usize) {
        let s = tick();
        // Keep the first start.
        let _ = self.entries[id]
            .unreg_start
            .compare_exchange(0, s, SeqCst, SeqCst);
    }
}

struct Val {
    id: usize,
    alive: AtomicBool,
}

impl Val {
    fn new(ledger: &Ledger) -> Self {
        LIVE.fetch_add(1, SeqCst);
        let id = ledger.next.fetch_add(1, SeqCst);
        assert!(id < MAX_TASKS, "ledger full");
        Val {
            id,
            alive: AtomicBool::new(true),
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        assert!(self.alive.swap(false, SeqCst), "value dropped twice");
        LIVE.fetch_sub(1, SeqCst);
    }
}

type Reg = Registry<Val>;
type Pool = Arc<Mutex<Vec<Task<Val>>>>;

fn register(reg: &Reg, ledger: &Ledger, t: &Task<Val>) {
    reg.register(t).unwrap();
    ledger.entries[t.id].reg_done.store(tick(), SeqCst);
}

fn unregister(reg: &Reg, ledger: &Ledger, t: &Task<Val>) -> bool {
    ledger.start_unreg(t.id);
    let won = reg.unregister(t);
    if won {
        ledger.entries[t.id].unreg_done.store(tick(), SeqCst);
        ledger.entries[t.id].wins.fetch_add(1, SeqCst);
    }
    won
}

fn owner(reg: Reg, ledger: Arc<Ledger>, pool: Pool, seed: u64, stop: Arc<AtomicBool>) {
    let mut rng = Rng::new(seed);
    let mut mine: Vec<Task<Val>> = Vec::new();
    let mut private: Vec<Task<Val>> = Vec::new(); // never shared: dropping them auto-unregisters
    while !stop.load(SeqCst) && ledger.next.load(SeqCst) < MAX_TASKS - 2_000 {
        match rng.next_u64() % 8 {
            0..=2 => {
                let t = Task::new(Val::new(&ledger));
                register(&reg, &ledger, &t);
                mine.push(t);
            }
            3 => {
                let t = Task::new(Val::new(&ledger));
                register(&reg, &ledger, &t);
                private.push(t);
            }
            4 if !mine.is_empty() => {
                let t = mine.swap_remove(rng.next_u64() as usize % mine.len());
                unregister(&reg, &ledger, &t);
            }
            5 if !mine.is_empty() => {
                // Share with the foreign thread and keep racing it.
                let i = rng.next_u64() as usize % mine.len();
                pool.lock().unwrap().push(mine[i].clone());
            }
            6 if !private.is_empty() => {
                let t = private.swap_remove(rng.next_u64() as usize % private.len());
                ledger.start_unreg(t.id);
                ledger.entries[t.id].dropped.store(true, SeqCst);
                drop(t);
            }
            _ => {
                if rng.next_u64() % 64 == 0 {
                    // A short-lived thread that exits with tasks still registered.
                    let (r, l, p) = (reg.clone(), ledger.clone(), pool.clone());
                    thread::spawn(move || {
                        for _ in 0..8 {
                            let t = Task::new(Val::new(&l));
                            register(&r, &l, &t);
                            p.lock().unwrap().push(t);
                        }
                    })
                    .join()
                    .unwrap();
                }
            }
        }
    }
    // Leave the rest registered and shared: this thread exits with them (orphans).
    pool.lock().unwrap().extend(mine);
    for t in private {
        pool.lock().unwrap().push(t);
    }
}

fn foreign(reg: Reg, ledger: Arc<Ledger>, pool: Pool, stop: Arc<AtomicBool>) {
    loop {
        let batch: Vec<_> = std::mem::take(&mut *pool.lock().unwrap());
        for t in &batch {
            unregister(&reg, &ledger, t);
        }
        drop(batch);
        if stop.load(SeqCst) {
            break;
        }
        thread::yield_now();
    }
}

fn check_snapshot(reg: &Reg, ledger: &Ledger) -> usize {
    let s0 = tick();
    let snap = reg.snapshot();
    let s1 = tick();
    let mut ids = HashSet::new();
    for t in &snap {
        assert!(
            t.alive.load(SeqCst),
            "snapshot returned a dropped task {}",
            t.id
        );
        assert!(ids.insert(t.id), "snapshot returned task {} twice", t.id);
    }
    let n = ledger.next.load(SeqCst);
    for (id, e) in ledger.entries[..n].iter().enumerate() {
        let reg_done = e.reg_done.load(SeqCst);
        let unreg_start = e.unreg_start.load(SeqCst);
        if reg_done != 0 && reg_done < s0 && (unreg_start == 0 || unreg_start > s1) {
            assert!(
                ids.contains(&id),
                "task {id} registered before the snapshot and never unregistered is missing"
            );
        }
        let unreg_done = e.unreg_done.load(SeqCst);
        if unreg_done != 0 && unreg_done < s0 {
            assert!(
                !ids.contains(&id),
                "task {id} unregistered before the snapshot was returned"
            );
        }
    }
    snap.len()
}

#[test]
fn stress_registry() {
    let watchdog_done = Arc::new(AtomicBool::new(false));
    {
        let done = watchdog_done.clone();
        thread::spawn(move || {
            let t0 = Instant::now();
            while !done.load(SeqCst) {
                if t0.elapsed() > Duration::from_secs(120) {
                    eprintln!("stress_registry: watchdog fired (hang)");
                    std::process::abort();
                }
                thread::sleep(Duration::from_millis(50));
            }
        });
    }

    let reg: Reg = Registry::new();
    let ledger = Arc::new(Ledger {
        entries: (0..MAX_TASKS).map(|_| Entry::default()).collect(),
        next: AtomicUsize::new(0),
    });
    let pool: Pool = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));

    let owners: Vec<_> = (0..2)
        .map(|i| {
            let (r, l, p, s) = (reg.clone(), ledger.clone(), pool.clone(), stop.clone());
            thread::spawn(move || owner(r, l, p, 0x9E37_79B9_7F4A_7C15 ^ (i + 1), s))
        })
        .collect();
    let foreign_t = {
        let (r, l, p, s) = (reg.clone(), ledger.clone(), pool.clone(), stop.clone());
        thread::spawn(move || foreign(r, l, p, s))
    };
    let snapper = {
        let (r, l, s) = (reg.clone(), ledger.clone(), stop.clone());
        thread::spawn(move || {
            let mut rounds = 0;
            while !s.load(SeqCst) {
                check_snapshot(&r, &l);
                rounds += 1;
            }
            rounds
        })
    };

    thread::sleep(CHURN);
    stop.store(true, SeqCst);
    for o in owners {
        o.join().unwrap();
    }
    let rounds = snapper.join().unwrap();
    foreign_t.join().unwrap();
    assert!(rounds > 0, "no snapshot ran");

    // Everything left (the last pool batch, orphans) is unregistered from this thread.
    let rest: Vec<_> = std::mem::take(&mut *pool.lock().unwrap());
    for t in &rest {
        unregister(&reg, &ledger, t);
    }
    drop(rest);
    check_snapshot(&reg, &ledger);
    assert!(reg.snapshot().is_empty(), "tasks left registered");

    let n = ledger.next.load(SeqCst);
    assert!(n > 1_000, "too little churn: {n} tasks");
    for (id, e) in ledger.entries[..n].iter().enumerate() {
        let wins = e.wins.load(SeqCst);
        if e.dropped.load(SeqCst) {
            assert_eq!(
                wins, 0,
                "task {id} dropped while registered but also unregistered"
            );
        } else {
            assert_eq!(wins, 1, "task {id} unregistered {wins} times");
        }
    }
    assert_eq!(LIVE.load(SeqCst), 0, "values leaked");
    reg.assert_valid();
    eprintln!("stress_registry: {n} tasks, {rounds} snapshots");
    watchdog_done.store(true, SeqCst);
}
