//! The three stories, each a function that runs it and returns its numbers and checks.

pub mod heartbeat;
pub mod lost_wakeup;
pub mod many;

use std::fmt;
use std::time::Duration;

/// One invariant of a scenario and whether it held.
#[derive(Debug, Clone)]
pub struct Check {
    /// What must hold.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// The numbers behind it.
    pub detail: String,
}

impl Check {
    /// A check named `name` with the numbers in `detail`.
    pub fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        }
    }

    /// The queue's at-most-one-wake-per-park rule, on both of one loop's queues.
    pub fn wakes_within_parks(st: &crate::runtime::LoopStats) -> Check {
        Check::new(
            "wake calls never above parks",
            st.wakes_handle_queue <= st.parks_handle_queue
                && st.wakes_wake_queue <= st.parks_wake_queue,
            format!(
                "handle queue {} wakes / {} parks, wake queue {} / {}",
                st.wakes_handle_queue,
                st.parks_handle_queue,
                st.wakes_wake_queue,
                st.parks_wake_queue
            ),
        )
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.ok { "ok  " } else { "FAIL" };
        write!(f, "  [{mark}] {} ({})", self.name, self.detail)
    }
}

/// Where output goes: the report (stdout) and, on long runs, a progress line (stderr).
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print the report's numbers (not only the checks).
    pub verbose: bool,
    /// Print a progress line now and then.
    pub progress: bool,
}

impl Output {
    /// Prints nothing: for tests.
    pub const SILENT: Output = Output {
        verbose: false,
        progress: false,
    };

    /// A line of the report.
    pub fn line(&self, s: impl AsRef<str>) {
        if self.verbose {
            println!("{}", s.as_ref());
        }
    }

    /// A progress line.
    pub fn progress(&self, s: impl AsRef<str>) {
        if self.progress {
            eprintln!("  .. {}", s.as_ref());
        }
    }
}

/// p50 / p99 / max of a sample (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
    /// Sample size.
    pub n: usize,
}

impl Spread {
    /// The spread of `sample` (all zero when it is empty).
    pub fn of(sample: &[Duration]) -> Spread {
        if sample.is_empty() {
            return Spread::default();
        }
        let mut s = sample.to_vec();
        s.sort_unstable();
        let rank = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Spread {
            p50: rank(0.50),
            p99: rank(0.99),
            max: s[s.len() - 1],
            n: s.len(),
        }
    }
}

/// A duration in the unit that reads best.
pub fn fmt_dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.0} us")
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}
