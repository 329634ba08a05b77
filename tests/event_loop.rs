//! The event-loop example's loop and scenarios, run at small sizes: every check of the report
//! must hold, and a watchdog fails a test that hangs.
//!
//! The loop and the scenarios are the example's own files (`examples/event_loop/`), compiled
//! into this test with `#[path]`, so what is tested is what the example runs.

#![allow(unreachable_pub)]

#[allow(dead_code)]
#[path = "../examples/event_loop/runtime/mod.rs"]
mod runtime;
#[allow(dead_code)]
#[path = "../examples/event_loop/scenarios/mod.rs"]
mod scenarios;
mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use loopkit::context::ContextVar;
use loopkit::registry::Registry;

use runtime::{sleep, Loop};
use scenarios::{heartbeat, lost_wakeup, many, Check, Output};
use support::watchdog::Watchdog;

fn assert_all_ok(checks: &[Check]) {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.to_string())
        .collect();
    assert!(failed.is_empty(), "failed checks:\n{}", failed.join("\n"));
    assert!(!checks.is_empty());
}

#[test]
fn lost_wakeup_scenario() {
    let _w = Watchdog::new("lost_wakeup_scenario", Duration::from_secs(30));
    let config = lost_wakeup::Config {
        rounds: 2,
        set_after: Duration::from_millis(10),
        safety: Duration::from_millis(150),
    };
    let r = lost_wakeup::run(config, Output::SILENT);
    r.print(Output::SILENT);
    assert_all_ok(&r.checks());
    let unwoken = r.spread(lost_wakeup::Way::Unwoken);
    let threadsafe = r.spread(lost_wakeup::Way::Threadsafe);
    assert_eq!((unwoken.n, threadsafe.n), (2, 2));
    assert!(unwoken.p50 >= config.safety - config.set_after * 2);
    assert!(threadsafe.max < config.safety - config.set_after);
}

#[test]
fn heartbeat_scenario() {
    let _w = Watchdog::new("heartbeat_scenario", Duration::from_secs(30));
    let config = heartbeat::Config {
        size: 2_000,
        interval: Duration::from_millis(10),
        duration: Duration::from_millis(300),
        in_flight: 2,
    };
    let r = heartbeat::run(config, Output::SILENT);
    r.print(Output::SILENT);
    assert_all_ok(&r.checks());
    assert!(r.on_loop.at.len() >= 2 && r.threaded.at.len() >= 2);
    assert!(r.on_loop.steps > 0 && r.threaded.steps > 0);
}

#[test]
fn many_loops_scenario() {
    let _w = Watchdog::new("many_loops_scenario", Duration::from_secs(60));
    let config = many::Config {
        loops: 3,
        workers: 2,
        duration: Duration::from_millis(300),
        ..many::Config::default()
    };
    let r = many::run(config, Output::SILENT);
    r.print(Output::SILENT);
    assert_all_ok(&r.checks());
    assert!(r.monitor.contexts_read > 0 && r.monitor.snapshots > 0);
    assert_eq!(r.loops.len(), 3);
    assert!(r.workers.iter().all(|w| w.pushed > 0));
    assert!(r.workers.iter().map(|w| w.cancelled).sum::<usize>() > 0);
}

/// Runs `body` on a fresh loop on a new thread, with a watchdog; returns the loop's stats and
/// what `body` returned.
fn on_loop<R: Send + 'static>(
    body: impl FnOnce(&Loop, runtime::LoopHandle) -> R + Send + 'static,
) -> (runtime::LoopStats, R) {
    let _w = Watchdog::new("on_loop", Duration::from_secs(20));
    thread::spawn(move || {
        let registry = Registry::new();
        let (lp, handle) = Loop::new(&registry);
        let r = body(&lp, handle);
        let stats = lp.run();
        assert!(registry.snapshot().is_empty(), "every task unregistered");
        (stats, r)
    })
    .join()
    .expect("loop thread")
}

#[test]
fn callback_order_is_fifo_then_deadline() {
    let _w = Watchdog::new("callback_order", Duration::from_secs(20));
    let order = thread::spawn(|| {
        let registry = Registry::new();
        let (lp, handle) = Loop::new(&registry);
        drop(handle);
        let log = Rc::new(RefCell::new(Vec::new()));
        for (delay, name) in [(20, "t20"), (5, "t5"), (10, "t10-cancelled"), (10, "t10")] {
            let l = log.clone();
            let h = lp.call_later(Duration::from_millis(delay), move || {
                l.borrow_mut().push(name)
            });
            if name.ends_with("cancelled") {
                assert!(h.cancel());
            }
        }
        for name in ["s1", "s2-cancelled", "s3"] {
            let l = log.clone();
            let h = lp.call_soon(move || l.borrow_mut().push(name));
            if name.ends_with("cancelled") {
                assert!(h.cancel());
                assert!(!h.cancel());
            }
        }
        lp.run();
        let v = log.borrow().clone();
        v
    })
    .join()
    .expect("loop thread");
    assert_eq!(order, ["s1", "s3", "t5", "t10", "t20"]);
}

#[test]
fn spawn_join_and_current_task() {
    let (stats, ()) = on_loop(|lp, handle| {
        drop(handle);
        lp.spawn("parent", async {
            let lp = Loop::current();
            let me = lp.current_task().expect("inside a task").id;
            let child = lp.spawn("child", async {
                sleep(Duration::from_millis(2)).await;
                let t = Loop::current().current_task().expect("inside a task");
                (t.id, t.parent)
            });
            let child_id = child.id();
            let (id, parent) = child.await;
            assert_eq!((id, parent), (child_id, Some(me)));
            assert_eq!(Loop::current().current_task().map(|t| t.id), Some(me));
        });
    });
    assert_eq!(
        (stats.spawned, stats.finished, stats.unregistered),
        (2, 2, 2)
    );
    assert_eq!(stats.abandoned, 0);
}

#[test]
fn current_task_and_all_tasks_from_another_thread() {
    let (polled_tx, polled_rx) = mpsc::channel::<()>();
    let (handle_tx, handle_rx) = mpsc::channel::<runtime::LoopHandle>();
    let reader = thread::spawn(move || {
        let observer = handle_rx.recv().expect("handle").observer();
        // The observer holds no sender: the loop may stop once the handle is gone.
        polled_rx.recv().expect("the busy task is being polled");
        let current = observer.current_task().map(|t| (t.id, t.name));
        let mut all: Vec<u64> = observer.all_tasks().iter().map(|t| t.id).collect();
        all.sort_unstable();
        (current, all)
    });
    let (stats, (idle, busy)) = on_loop(move |lp, handle| {
        handle_tx.send(handle).expect("reader alive");
        let idle = lp.spawn("idle", sleep(Duration::from_millis(100))).id();
        let busy = lp
            .spawn("busy", async move {
                // Hold the loop thread inside this poll while the reader looks.
                polled_tx.send(()).expect("reader alive");
                thread::sleep(Duration::from_millis(50));
            })
            .id();
        (idle, busy)
    });
    let (current, all) = reader.join().expect("reader");
    assert_eq!(current, Some((busy, "busy")), "the task being polled");
    let mut expected = vec![idle, busy];
    expected.sort_unstable();
    assert_eq!(all, expected, "both pending tasks, nothing else");
    assert_eq!((stats.finished, stats.unregistered), (2, 2));
}

#[test]
fn threadsafe_jobs_cancel_from_another_thread() {
    let (stats, ran) = on_loop(move |_lp, handle| {
        let ran = Arc::new(AtomicUsize::new(0));
        // The loop is not running yet: both jobs wait in its queue.
        let r = ran.clone();
        let keep = handle
            .call_soon_threadsafe(move || {
                // Relaxed: a counter, read after the loop thread is joined.
                r.fetch_add(1, Ordering::Relaxed);
            })
            .map_err(drop)
            .expect("loop alive");
        let r = ran.clone();
        let cancel = handle
            .call_soon_threadsafe(move || {
                // Relaxed: as above.
                r.fetch_add(100, Ordering::Relaxed);
            })
            .map_err(drop)
            .expect("loop alive");
        let cancelled = thread::spawn(move || (cancel.cancel(), cancel.cancel()))
            .join()
            .expect("canceller");
        assert_eq!(
            cancelled,
            (true, false),
            "one cancel wins, from another thread"
        );
        drop(keep); // dropping a handle does not cancel
        ran
    });
    // Relaxed: the loop thread was joined.
    assert_eq!(ran.load(Ordering::Relaxed), 1);
    assert_eq!(stats.threadsafe_ran, 1);
}

#[test]
fn a_dropped_loop_gives_jobs_back() {
    let _w = Watchdog::new("a_dropped_loop_gives_jobs_back", Duration::from_secs(20));
    let handle = thread::spawn(|| {
        let registry = Registry::new();
        let (lp, handle) = Loop::new(&registry);
        drop(lp);
        handle
    })
    .join()
    .expect("loop thread");
    let marker = Arc::new(());
    let m = marker.clone();
    let back = handle.call_soon_threadsafe(move || drop(m));
    let job = back.map(drop).expect_err("a dropped loop refuses jobs").0;
    assert_eq!(Arc::strong_count(&marker), 2, "the job came back unrun");
    drop(job);
    assert_eq!(Arc::strong_count(&marker), 1);
}

#[test]
fn a_task_nothing_can_wake_is_abandoned_when_the_loop_stops() {
    let (stats, ()) = on_loop(|lp, handle| {
        drop(handle);
        lp.spawn("pending forever", std::future::pending::<()>());
        lp.spawn("done", async {});
    });
    assert_eq!((stats.spawned, stats.finished), (2, 1));
    assert_eq!((stats.abandoned, stats.unregistered), (1, 2));
}

#[test]
fn the_last_handle_drop_stops_a_parked_loop() {
    let (handle_tx, handle_rx) = mpsc::channel::<runtime::LoopHandle>();
    let dropper = thread::spawn(move || {
        let handle = handle_rx.recv().expect("handle");
        let second = handle.clone();
        thread::sleep(Duration::from_millis(50));
        drop(handle);
        thread::sleep(Duration::from_millis(50));
        drop(second); // the last one: the parked loop wakes and stops
    });
    let (stats, ()) = on_loop(move |_lp, handle| handle_tx.send(handle).expect("dropper alive"));
    dropper.join().expect("dropper");
    assert!(stats.parks_handle_queue >= 1, "the loop parked, idle");
    assert!(stats.wakes_handle_queue >= 1, "the last drop woke it");
    assert!(stats.wakes_handle_queue <= stats.parks_handle_queue);
}

#[test]
fn callbacks_and_tasks_run_in_their_captured_contexts() {
    static V: ContextVar<u32> = ContextVar::new("v");
    let (stats, ()) = on_loop(|lp, handle| {
        drop(handle);
        let _on_loop_thread = V.set(1);
        // A copy of the caller's context is taken at each call.
        lp.call_soon(|| assert_eq!(V.get(), Some(1)));
        lp.call_later(Duration::from_millis(1), || {
            assert_eq!(V.get(), Some(1));
            V.set(9); // changes this callback's copy only
        });
        lp.spawn("parent", async {
            assert_eq!(V.get(), Some(1), "the context as of the spawn");
            V.set(2);
            let child = Loop::current().spawn("child", async {
                let seen = V.get();
                V.set(3);
                sleep(Duration::from_millis(2)).await;
                (seen, V.get())
            });
            V.set(4);
            let (seen, own) = child.await;
            assert_eq!(
                seen,
                Some(2),
                "the child sees its parent's value as of its spawn"
            );
            assert_eq!(own, Some(3), "and keeps its own across an await");
            assert_eq!(V.get(), Some(4), "the child's set stayed in the child");
            let me = Loop::current().current_task().expect("in a task");
            assert_eq!(
                me.context.get(&V),
                Some(4),
                "readable through the task's Context"
            );
        });
        V.set(5); // after the copies: none of them sees it
    });
    // Callbacks: call_soon, call_later and the child's sleep timer.
    assert_eq!((stats.finished, stats.soon_ran), (2, 3));
}
