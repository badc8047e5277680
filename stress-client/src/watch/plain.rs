//! `watch` when stdout is not a terminal: one line per poll, for logs, recordings and tests.
//! Every field is `name value` so `grep`/`awk` can pick one out:
//!
//! ```text
//! 22:38:52 stage 7 queue 100/100 busy 16/16 accepted/s 99.0 rejected/s 51.0 processed/s 98.0 lock-wait-p99 134.4 ms
//! 22:38:53 gone: GET /stats failed: connect: Connection refused (os error 111) (retrying)
//! ```

use super::history::Counter;
use super::state::{format_micros, Link, WatchState};
use std::time::{SystemTime, UNIX_EPOCH};

/// The line for the state after a poll.
pub fn line(state: &WatchState, wall_clock: SystemTime) -> String {
    let time = utc_hms(wall_clock);
    let stats = match (&state.link, &state.latest) {
        (Link::Live, Some(stats)) => stats,
        (Link::Waiting { reason }, _) => return format!("{time} waiting: {reason} (retrying)"),
        (Link::Gone { reason, .. }, _) => return format!("{time} gone: {reason} (retrying)"),
        (Link::Live, None) => return format!("{time} live, no stats yet"),
    };
    let capacity = stats
        .capacity
        .map_or_else(|| "unbounded".to_string(), |c| c.to_string());
    let workers = stats
        .workers
        .map_or_else(|| "?".to_string(), |w| w.to_string());
    let mut line = format!(
        "{time} stage {} queue {}/{capacity} busy {}/{workers}",
        stats.stage, stats.queue_depth, stats.busy_workers
    );
    for counter in Counter::ALL {
        match state.history.rate(counter) {
            Some(rate) => line.push_str(&format!(" {} {rate:.1}", counter.label())),
            None => line.push_str(&format!(" {} -", counter.label())),
        }
    }
    if let Some(wait) = stats.lock_wait_us {
        line.push_str(&format!(
            " lock-wait-p99 {}",
            format_micros(wait.p99 as f64)
        ));
    }
    if let Some(crate::model::LockBound::None) = crate::model::lock_bound(stats) {
        line.push_str(" no-lock-bound");
    }
    line
}

/// `HH:MM:SS` in UTC: enough to line a log up with another, without a time-zone crate.
fn utc_hms(wall_clock: SystemTime) -> String {
    let secs = wall_clock
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let of_day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}
