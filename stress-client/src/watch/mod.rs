//! `stress-client watch URL`: a live view of a stage's `/stats` for a room to read, and
//! `run --watch`, the same view while a run is under way.
//!
//! ```text
//! cargo run --release -p stage5                                  # terminal 1
//! cargo run --release -p stress-client -- watch http://127.0.0.1:8085   # terminal 2
//! cargo run --release -p stress-client -- run http://127.0.0.1:8085     # terminal 3
//! ```
//!
//! On a terminal it draws full-screen (ratatui, `view.rs`); piped, it prints one line per
//! poll (`plain.rs`). The rates come from counter deltas between polls (`history.rs`).
//!
//! Start-up: a URL that answers without stats (stages 1–3) ends the watch at once with exit
//! code 2. A URL that does not answer at all is waited for, retrying every interval: in a
//! demo the view is often opened before the stage is started. A server that goes away later
//! is shown as gone, with its last numbers, and retried the same way.

pub mod history;
pub mod plain;
pub mod state;
mod tui;
pub mod view;

use crate::stats::StatsClient;
use crate::target::Target;
use state::{no_stats_message, Link, PollError, WatchState};
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime};

/// Four polls a second: the queue visibly fills and drains, and a poll costs the server one
/// short connection (well under 1 % of a core on either side; measured in the README).
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub url: String,
    pub interval: Duration,
    /// Stop after this many polls (for tests and for logs of a fixed length).
    pub count: Option<u64>,
}

/// Polls one server and folds each answer into a `WatchState`.
pub(crate) struct Poller {
    client: StatsClient,
    started: Instant,
    pub state: WatchState,
    polls: u64,
}

impl Poller {
    fn new(target: &Target, url: &str, interval: Duration) -> Self {
        Self {
            client: StatsClient::new(target),
            started: Instant::now(),
            state: WatchState::new(url, interval),
            polls: 0,
        }
    }

    /// One poll. `Err` only when the server answers without stats and never had any: a
    /// stage 1–3 (or another program) that waiting will not turn into a stage with stats.
    async fn poll(&mut self) -> Result<(), String> {
        let poll = self.client.fetch().await.map_err(PollError::classify);
        if let (Err(PollError::NoStats(detail)), None) = (&poll, &self.state.latest) {
            return Err(no_stats_message(&self.state.url, detail));
        }
        self.polls += 1;
        let at = self.started.elapsed().as_secs_f64();
        self.state.record(at, poll);
        Ok(())
    }

    fn done(&self, count: Option<u64>) -> bool {
        count.is_some_and(|count| self.polls >= count)
    }
}

/// Why `watch` ended badly, and so its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchFailure {
    /// Exit 2: a bad URL, or a server that answers without `/stats` (stages 1–3).
    Usage(String),
    /// Exit 1: `--count` polls and not one answered, so the log it printed is only
    /// "waiting" lines; a script must not read that as success.
    NeverAnswered(String),
}

/// The `watch` subcommand.
pub async fn watch(options: &WatchOptions) -> Result<(), WatchFailure> {
    let outcome = watch_until_done(options)
        .await
        .map_err(WatchFailure::Usage)?;
    match outcome {
        Some(last_reason) => Err(WatchFailure::NeverAnswered(format!(
            "{} polls of {} and none answered ({last_reason}): is the stage running, and is the port right? (stage N listens on 127.0.0.1:808N)",
            options.count.unwrap_or(0),
            options.url
        ))),
        None => Ok(()),
    }
}

/// `Ok(Some(reason))` when `--count` ran out before a single poll answered.
async fn watch_until_done(options: &WatchOptions) -> Result<Option<String>, String> {
    let target = Target::resolve(&options.url).await?;
    let mut poller = Poller::new(&target, &options.url, options.interval);
    // Before the alternate screen: a "no /stats" message must stay readable.
    poller.poll().await?;
    if std::io::stdout().is_terminal() {
        let closed = tui::show(&mut poller, options.count, std::future::pending::<()>())
            .await
            .map_err(|e| format!("the terminal view failed: {e}"))?;
        match closed {
            tui::Closed::NoStats(message) => return Err(message),
            tui::Closed::ByUser => return Ok(None),
            tui::Closed::Finished(()) => {}
        }
    } else {
        print_lines(&mut poller, options.count).await?;
    }
    let ran_out = options.count.is_some_and(|count| poller.polls >= count);
    Ok(match (&poller.state.link, &poller.state.latest) {
        (Link::Waiting { reason }, None) if ran_out => Some(reason.clone()),
        _ => None,
    })
}

/// One line per poll until `count` lines, Ctrl-C (exit 0: stopping is how a log ends) or a
/// closed stdout (`watch … | head -3`).
async fn print_lines(poller: &mut Poller, count: Option<u64>) -> Result<(), String> {
    let mut ticker = ticker(poller.state.interval);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let line = plain::line(&poller.state, SystemTime::now());
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(());
        }
        drop(stdout);
        if poller.done(count) {
            return Ok(());
        }
        tokio::select! {
            _ = ticker.tick() => poller.poll().await?,
            _ = &mut ctrl_c => return Ok(()),
        }
    }
}

/// After the view is closed early: `work` to its end, with a plain `watch` line on stderr
/// every second so the run does not look frozen.
async fn progress_lines<F: Future>(poller: &mut Poller, work: std::pin::Pin<&mut F>) -> F::Output {
    let mut ticker = ticker(Duration::from_secs(1));
    tokio::pin!(work);
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = ticker.tick() => {
                // A server that lost its stats mid-run is reported by the check anyway.
                let _ = poller.poll().await;
                eprintln!("{}", plain::line(&poller.state, SystemTime::now()));
            }
        }
    }
}

/// Ticks every `interval`, the first one an interval from now (the first poll is already
/// done); a slow poll delays the next tick rather than bunching several up.
fn ticker(interval: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

/// `run --watch`: drives `work` (the run and its server check) while the view shows the
/// server, and returns its output once it is done. If the user quits the view first, the
/// terminal is restored and `work` carries on to its end. Without a terminal, or against a
/// server without `/stats`, there is nothing to show: a note on stderr, and `work` alone.
pub async fn during<F: Future>(target: &Target, url: &str, work: F) -> F::Output {
    if !std::io::stdout().is_terminal() {
        eprintln!("note: --watch needs a terminal on stdout; running without the view");
        return work.await;
    }
    let mut poller = Poller::new(target, url, DEFAULT_INTERVAL);
    if let Err(message) = poller.poll().await {
        eprintln!("note: no view: {message}");
        return work.await;
    }
    tokio::pin!(work);
    match tui::show(&mut poller, None, work.as_mut()).await {
        Ok(tui::Closed::Finished(output)) => output,
        Ok(tui::Closed::NoStats(message)) => {
            eprintln!("note: view closed: {message}");
            work.await
        }
        Ok(tui::Closed::ByUser) => {
            eprintln!("view closed: the run goes on to its end, tables follow");
            progress_lines(&mut poller, work).await
        }
        Err(e) => {
            eprintln!("note: the terminal view failed ({e}); the run goes on");
            work.await
        }
    }
}
