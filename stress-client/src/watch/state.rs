//! Everything one frame of `watch` shows, whether drawn full-screen or printed as a line:
//! the last `/stats` answer, the history of rates, and whether the server is answering.

use super::history::History;
use crate::stats::ServerStats;
use std::time::Duration;

/// Where the server stands, as far as the last poll could tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// No poll has answered yet: `watch` was started before the server (a normal order in a
    /// demo: start the view, then the stage).
    Waiting { reason: String },
    /// The last poll answered with stats.
    Live,
    /// Polls answered before and no longer do: stopped, crashed or restarting. The last
    /// stats stay on screen, marked as old, while `watch` keeps polling.
    Gone { reason: String, since_secs: f64 },
}

/// Why a poll has no stats, decided from `StatsClient::fetch`'s sentence.
#[derive(Debug, Clone, PartialEq)]
pub enum PollError {
    /// The server answered, but not with stats: stages 1–3 (or another program). Waiting
    /// will not change that.
    NoStats(String),
    /// No answer at all: not started, stopped, or stuck.
    Unreachable(String),
}

impl PollError {
    /// `fetch` words every "answered, but not with stats" case as "GET /stats answered …";
    /// every other failure is about reaching the server.
    pub fn classify(message: String) -> Self {
        if message.starts_with("GET /stats answered") {
            PollError::NoStats(message)
        } else {
            PollError::Unreachable(message)
        }
    }

    pub fn message(&self) -> &str {
        match self {
            PollError::NoStats(m) | PollError::Unreachable(m) => m,
        }
    }
}

/// The sentence printed (exit code 2) when the URL serves no stats.
pub fn no_stats_message(url: &str, detail: &str) -> String {
    format!(
        "{url}: {detail}. watch needs /stats, which only stages 4–8 serve: start one \
         (e.g. cargo run --release -p stage5) and watch http://127.0.0.1:8085"
    )
}

#[derive(Debug)]
pub struct WatchState {
    /// As the user typed it, for the title.
    pub url: String,
    pub interval: Duration,
    pub link: Link,
    /// The last stats that did arrive; kept while the server is gone so the screen does not
    /// go blank at the moment the audience is looking.
    pub latest: Option<ServerStats>,
    pub history: History,
    /// Seconds since the watch began, at the last poll.
    pub now_secs: f64,
}

impl WatchState {
    pub fn new(url: &str, interval: Duration) -> Self {
        Self {
            url: url.to_string(),
            interval,
            link: Link::Waiting {
                reason: "no answer yet".into(),
            },
            latest: None,
            history: History::default(),
            now_secs: 0.0,
        }
    }

    /// Folds one poll into the state.
    pub fn record(&mut self, at_secs: f64, poll: Result<ServerStats, PollError>) {
        self.now_secs = at_secs;
        match poll {
            Ok(stats) => {
                self.history.record(at_secs, &stats);
                self.latest = Some(stats);
                self.link = Link::Live;
            }
            Err(error) => {
                let reason = error.message().to_string();
                self.link = match &self.link {
                    Link::Waiting { .. } => Link::Waiting { reason },
                    Link::Gone { since_secs, .. } => Link::Gone {
                        reason,
                        since_secs: *since_secs,
                    },
                    Link::Live => Link::Gone {
                        reason,
                        since_secs: at_secs,
                    },
                };
            }
        }
    }
}

/// `12.5 MB`: RSS at the precision a person reads; `n/a` where the OS has no `/proc`.
pub fn format_bytes(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) if b >= 1 << 30 => format!("{:.2} GB", b as f64 / f64::from(1u32 << 30)),
        Some(b) => format!("{:.1} MB", b as f64 / f64::from(1u32 << 20)),
        None => "n/a".into(),
    }
}

/// `850 µs`, `12.3 ms`, `1.20 s`: lock times span four orders of magnitude.
pub fn format_micros(micros: f64) -> String {
    if micros < 1000.0 {
        format!("{micros:.0} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.1} ms", micros / 1000.0)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

/// `1h 02m 05s` / `3m 07s` / `12.4 s`.
pub fn format_uptime(secs: f64) -> String {
    let whole = secs.max(0.0) as u64;
    match whole {
        0..=59 => format!("{secs:.1} s"),
        60..=3599 => format!("{}m {:02}s", whole / 60, whole % 60),
        _ => format!(
            "{}h {:02}m {:02}s",
            whole / 3600,
            whole / 60 % 60,
            whole % 60
        ),
    }
}

/// Whether this stage has a lock worth a panel: stages 7–8 serve lock summaries (stages
/// 4–6 serve none, or `null`).
pub fn has_lock_panel(stats: &ServerStats) -> bool {
    stats.lock_wait_us.is_some()
}

/// Knobs that guard the server rather than shape the lesson; left off the screen to keep the
/// line that matters short.
const PLUMBING_KNOBS: [&str; 2] = ["max_body", "read_timeout_ms"];

/// The knobs as `capacity 100 · hold_ms 10 · work_ms 100 · workers 16` (by name).
pub fn format_knobs(stats: &ServerStats) -> String {
    stats
        .knobs
        .iter()
        .filter(|(name, _)| !PLUMBING_KNOBS.contains(&name.as_str()))
        .map(|(name, value)| match value {
            serde_json::Value::String(s) => format!("{name} {s}"),
            other => format!("{name} {other}"),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}
