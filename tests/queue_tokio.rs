//! `Receiver::recv_async` on tokio's current-thread runtime, as a runtime author would await it:
//! producer threads send while one task awaits, and the last sender's drop ends the loop.
//! tokio's own waker and scheduler decide when the task is polled again, so a wake lost by the
//! queue is a hang here (turned into a failure by the watchdog).
#![cfg(not(any(miri, loopkit_loom)))]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use loopkit::queue::{self, RecvError};
use support::watchdog::Watchdog;

mod support;

/// Counts the `Pending`s of the future it wraps: each one is a wait that only a wake from a
/// sending thread (or the disconnect) can end, so a count above zero shows the test exercised
/// the wake path and did not just find a payload at every poll.
struct CountPending<'a, F> {
    fut: F,
    pendings: &'a mut usize,
}

impl<F: Future + Unpin> Future for CountPending<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let r = Pin::new(&mut this.fut).poll(cx);
        if r.is_pending() {
            *this.pendings += 1;
        }
        r
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

#[test]
fn recv_async_on_a_current_thread_runtime_ends_at_disconnect() {
    let _w = Watchdog::new("recv_async on tokio", Duration::from_secs(60));
    const PRODUCERS: u64 = 4;
    const PER: u64 = 5_000;
    let (tx, mut rx) = queue::channel::<(u64, u64)>();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for seq in 0..PER {
                    tx.send((p, seq)).unwrap();
                    if seq % 512 == 0 {
                        // Let the consumer catch up and park, so later sends must wake it.
                        thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let (next, end, pendings) = runtime().block_on(async move {
        let mut next = vec![0u64; PRODUCERS as usize];
        let mut pendings = 0;
        let end = loop {
            let fut = rx.recv_async();
            match (CountPending {
                fut,
                pendings: &mut pendings,
            })
            .await
            {
                Ok((p, seq)) => {
                    assert_eq!(seq, next[p as usize], "producer {p}: out of order");
                    next[p as usize] += 1;
                }
                Err(e) => break e,
            }
        };
        (next, end, pendings)
    });
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(end, RecvError);
    assert_eq!(
        next,
        vec![PER; PRODUCERS as usize],
        "every send received once"
    );
    assert!(
        pendings > 0,
        "the task never waited: the wake path was not exercised"
    );
}

#[test]
fn recv_async_in_a_spawned_task_is_woken_from_another_thread() {
    let _w = Watchdog::new("recv_async in a spawned task", Duration::from_secs(60));
    let rt = runtime();
    let (tx, mut rx) = queue::channel::<u32>();
    let got = rt.block_on(async move {
        let consumer = tokio::task::spawn(async move {
            let mut got = Vec::new();
            let mut pendings = 0;
            loop {
                let fut = rx.recv_async();
                match (CountPending {
                    fut,
                    pendings: &mut pendings,
                })
                .await
                {
                    Ok(v) => got.push(v),
                    Err(RecvError) => break,
                }
            }
            (got, pendings)
        });
        // The task has parked (nothing sent yet) by the time the sender thread starts sending.
        tokio::task::yield_now().await;
        let sender = thread::spawn(move || {
            for i in 0..100 {
                tx.send(i).unwrap();
                thread::sleep(Duration::from_micros(200));
            }
            // `tx` dropped here: the disconnect wakes the task a last time.
        });
        let got = consumer.await.unwrap();
        sender.join().unwrap();
        got
    });
    let (got, pendings) = got;
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert!(
        pendings > 0,
        "the task never waited: the wake path was not exercised"
    );
}
