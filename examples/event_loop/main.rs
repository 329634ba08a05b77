//! The main example: an asyncio-style event loop built only from loopkit, running the three
//! stories the crate grew from.
//!
//! 1. The lost wakeup: a cross-thread "set an event" against a parked loop, queued without a
//!    wake (what asyncio's `call_soon` does from another thread) and through
//!    `call_soon_threadsafe`; how long the loop took to notice each.
//! 2. The heartbeat: a counter only the loop touches, fed from another thread, and a heartbeat
//!    timer checking its invariant; its jitter and drift beside the lock-based threaded version.
//! 3. Many loops, tasks and contexts: several loops on several threads, workers feeding them,
//!    some handles cancelled, a monitor taking `all_tasks()` snapshots; the ledger balances.
//!
//! Run it with `cargo run --release --example event_loop` (`-- --help` for the flags).

// The loop and the scenarios are shared with `tests/event_loop.rs`, which includes these module
// files with `#[path]`: their items are `pub` for that crate, and each crate uses a part of them.
#![allow(unreachable_pub)]

#[allow(dead_code)]
mod runtime;
#[allow(dead_code)]
mod scenarios;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use scenarios::{heartbeat, lost_wakeup, many, Check, Output};

const USAGE: &str = "\
usage: event_loop [--loops N] [--seconds S] [--scenario NAME] [--quiet] [--help]

  --loops N        loops (threads) in the many-loops scenario (default 4)
  --seconds S      how long the timed parts run: each heartbeat program and the
                   many-loops scenario (default 2; a number, fractions allowed)
  --scenario NAME  lost-wakeup, heartbeat, many or all (default all)
  --quiet          print only failed checks and the summary line
  --help           this text";

#[derive(Debug, Clone, PartialEq)]
struct Args {
    loops: usize,
    seconds: f64,
    scenario: Scenario,
    quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    All,
    LostWakeup,
    Heartbeat,
    Many,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut out = Args {
        loops: 4,
        seconds: 2.0,
        scenario: Scenario::All,
        quiet: false,
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(Parsed::Help),
            "--quiet" | "-q" => out.quiet = true,
            "--loops" => {
                let v = value("--loops")?;
                out.loops = match v.parse::<usize>() {
                    Ok(n) if (1..=64).contains(&n) => n,
                    _ => {
                        return Err(format!(
                            "--loops: expected a whole number from 1 to 64, got {v:?}"
                        ))
                    }
                };
            }
            "--seconds" => {
                let v = value("--seconds")?;
                out.seconds = match v.parse::<f64>() {
                    Ok(s) if s.is_finite() && (0.1..=3600.0).contains(&s) => s,
                    _ => {
                        return Err(format!(
                            "--seconds: expected a number from 0.1 to 3600, got {v:?}"
                        ))
                    }
                };
            }
            "--scenario" => {
                let v = value("--scenario")?;
                out.scenario = match v.as_str() {
                    "all" => Scenario::All,
                    "lost-wakeup" | "lost_wakeup" | "1" => Scenario::LostWakeup,
                    "heartbeat" | "2" => Scenario::Heartbeat,
                    "many" | "3" => Scenario::Many,
                    _ => {
                        return Err(format!(
                            "--scenario: expected lost-wakeup, heartbeat, many or all, got {v:?}"
                        ))
                    }
                };
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Parsed::Run(out))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("event_loop: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let out = Output {
        verbose: !args.quiet,
        // A progress line when a run takes long enough to wonder whether it is stuck.
        progress: !args.quiet && args.seconds >= 4.0,
    };
    let seconds = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    out.line(format!(
        "loopkit event loop: asyncio's stories on loopkit's queue, registry and context ({} build, {cores} CPUs)",
        if cfg!(debug_assertions) { "debug" } else { "release" }
    ));
    let mut checks: Vec<Check> = Vec::new();
    let mut section = |checks_of: Vec<Check>| {
        for c in &checks_of {
            if out.verbose || !c.ok {
                println!("{c}");
            }
        }
        checks.extend(checks_of);
        out.line("");
    };

    let all = args.scenario == Scenario::All;
    if all || args.scenario == Scenario::LostWakeup {
        out.line("");
        let r = lost_wakeup::run(lost_wakeup::Config::default(), out);
        r.print(out);
        section(r.checks());
    }
    if all || args.scenario == Scenario::Heartbeat {
        let config = heartbeat::Config {
            duration: seconds,
            // A debug build steps about twenty times slower.
            size: if cfg!(debug_assertions) {
                5_000
            } else {
                100_000
            },
            ..heartbeat::Config::default()
        };
        let r = heartbeat::run(config, out);
        r.print(out);
        section(r.checks());
    }
    if all || args.scenario == Scenario::Many {
        let config = many::Config {
            loops: args.loops,
            duration: seconds,
            ..many::Config::default()
        };
        let r = many::run(config, out);
        r.print(out);
        section(r.checks());
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    println!(
        "{}: {} checks, {} failed, {:.1} s",
        if failed == 0 {
            "all checks passed"
        } else {
            "CHECKS FAILED"
        },
        checks.len(),
        failed,
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
