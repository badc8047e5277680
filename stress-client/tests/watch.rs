//! `stress-client watch`: the frame drawn from recorded `/stats` answers (ratatui's
//! `TestBackend`), the plain lines against real stages in-process on 127.0.0.1:0, the exit
//! code against a stage without `/stats`, and the real terminal under tmux.
//! Run with `timeout 600 cargo test -p stress-client --test watch`.

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::future::pending;
use std::process::Stdio;
use std::time::{Duration, Instant};
use stress_client::stats::ServerStats;
use stress_client::watch::state::{PollError, WatchState};
use stress_client::watch::view;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::task::JoinHandle;

const STAGE5_BURST: &str = include_str!("watch_snapshots/stage5-burst.json");
const STAGE7_BURST: &str = include_str!("watch_snapshots/stage7-burst.json");

fn snapshot(json: &str) -> ServerStats {
    serde_json::from_str(json).expect("recorded /stats parses")
}

/// A state that has seen the snapshot twice, a second apart, with `accepted_before` fewer
/// acceptances the first time, so the rates are known.
fn watched(stats: &ServerStats, accepted_before: u64) -> WatchState {
    let mut state = WatchState::new("http://127.0.0.1:8087", Duration::from_millis(250));
    let mut earlier = stats.clone();
    earlier.accepted -= accepted_before;
    earlier.uptime_secs -= 1.0;
    state.record(10.0, Ok(earlier));
    state.record(11.0, Ok(stats.clone()));
    state
}

/// The frame as text, one line per row.
fn render(state: &WatchState, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal
        .draw(|frame| view::draw(frame, state))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn stage7_frame_shows_queue_workers_formula_and_lock() {
    let state = watched(&snapshot(STAGE7_BURST), 40);
    let screen = render(&state, 120, 40);
    for expected in [
        "stage 7 · contention",
        "54 / 100 queued",
        "16 / 16 busy",
        "min(workers × 1000 / (work_ms + hold_ms), 1000 / hold_ms) = 100.0 jobs/s",
        "workers 16",
        "accepted/s 40.0",
        " lock ",
        "wait  p50 51.9 ms   p99 132.5 ms",
        "hold  p50 10.1 ms   p99 13.6 ms",
        "holders now 1 (peak 1)",
        "RSS 7.4 MB",
        " live ",
    ] {
        assert!(screen.contains(expected), "{expected:?} missing:\n{screen}");
    }
    assert!(
        !screen.contains("max_body"),
        "plumbing knobs stay off:\n{screen}"
    );
}

/// At the 80x24 the doctor asks for, the bottom panels cut no number short: a cut number
/// reads as a different one ("rejected 488" for 4884).
#[test]
fn at_80_by_24_the_lock_and_peaks_panels_show_whole_numbers() {
    let mut stats = snapshot(STAGE7_BURST);
    stats.accepted = 116;
    stats.rejected = 48_840;
    stats.processed = 116;
    stats.model_lock_jobs_per_sec = Some(100.0);
    let screen = render(&watched(&stats, 40), 80, 24);
    for expected in [
        "total accepted 116  rejected 48840 ",
        "processed 116 ",
        "accepted/s 40.0  processed/s ",
        "wait  p50 51.9 ms   p99 132.5 ms",
        "holders now 1 (peak 1)",
        // The model's numbers first; only the formula may meet the border.
        "model: 100.0 jobs/s · lock bound 100.0 jobs/s · min(workers",
    ] {
        assert!(screen.contains(expected), "{expected:?} missing:\n{screen}");
    }
}

/// Stage 7 with `--hold-ms 0` serves `null` bounds: the view says so instead of a number.
#[test]
fn a_stage_without_bounds_shows_no_bound_and_no_lock_bound() {
    let mut stats = snapshot(STAGE7_BURST);
    stats.model_jobs_per_sec = None;
    stats.model_lock_jobs_per_sec = None;
    stats
        .knobs
        .insert("hold_ms".into(), serde_json::Value::from(0));
    let screen = render(&watched(&stats, 40), 120, 40);
    assert!(
        screen.contains("model: no bound · no lock bound"),
        "{screen}"
    );
    stats.model_lock_jobs_per_sec = Some(100.0);
    stats
        .knobs
        .insert("hold_ms".into(), serde_json::Value::from(10));
    let screen = render(&watched(&stats, 40), 120, 40);
    assert!(screen.contains("lock bound 100.0 jobs/s"), "{screen}");
}

#[test]
fn stage5_frame_has_no_lock_panel() {
    let state = watched(&snapshot(STAGE5_BURST), 101);
    let screen = render(&state, 120, 40);
    for expected in [
        "stage 5 · backpressure",
        "99 / 100 queued",
        "1 / 1 busy",
        "1000 / work_ms = 2.0 jobs/s",
        "accepted/s 101.0",
        "queue 99",
    ] {
        assert!(screen.contains(expected), "{expected:?} missing:\n{screen}");
    }
    assert!(!screen.contains(" lock "), "stage 5 has no lock:\n{screen}");
    assert!(
        !screen.contains("wait  p50"),
        "stage 5 has no lock:\n{screen}"
    );
}

#[test]
fn stage8_with_one_user_is_held_against_the_hot_key_bound() {
    let mut stats = snapshot(STAGE7_BURST);
    stats.stage = 8;
    stats.name = "sharding".into();
    stats.users = 1;
    stats.model_jobs_per_sec = Some(1454.5);
    // What stage 8's /stats publishes beside its spread-keys bound (1000 / hold_ms).
    stats.model_hot_key_jobs_per_sec = Some(100.0);
    stats.model_hot_key_formula =
        Some("1000 / hold_ms (one hot key: its shard lock serializes every job)".into());
    let screen = render(&watched(&stats, 40), 120, 40);
    assert!(
        screen.contains(
            "1000 / hold_ms (one hot key: its shard lock serializes every job) = 100.0 jobs/s"
        ),
        "{screen}"
    );
    stats.users = 86;
    let screen = render(&watched(&stats, 40), 120, 40);
    assert!(screen.contains("= 1454.5 jobs/s"), "{screen}");
}

#[test]
fn a_server_that_goes_away_is_shown_gone_with_its_last_numbers() {
    let mut state = watched(&snapshot(STAGE5_BURST), 101);
    state.record(
        12.0,
        Err(PollError::Unreachable("connection refused".into())),
    );
    state.record(
        15.0,
        Err(PollError::Unreachable("connection refused".into())),
    );
    let screen = render(&state, 120, 40);
    assert!(screen.contains(" GONE "), "{screen}");
    assert!(screen.contains("for 3 s (connection refused)"), "{screen}");
    assert!(
        screen.contains("99 / 100 queued"),
        "last numbers stay:\n{screen}"
    );
}

#[test]
fn a_small_terminal_still_draws() {
    let state = watched(&snapshot(STAGE7_BURST), 40);
    let screen = render(&state, 80, 24);
    assert!(screen.contains("54 / 100 queued"), "{screen}");
    let tiny = render(&state, 20, 5);
    assert_eq!(tiny.lines().count(), 5);
}

/// Aborts the server task when the test ends, pass or fail.
struct Running(JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn start_stage7() -> (Running, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let config = stage7::Config {
        work_ms: 5,
        hold_ms: 1,
        capacity: stress_client::load::at_least_one(8),
        workers: stress_client::load::at_least_one(3),
        ..stage7::Config::default()
    };
    let task = tokio::spawn(async move {
        stage7::run(listener, config, pending()).await;
    });
    (Running(task), url)
}

fn watch_command(url: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stress-client"));
    command
        .args(["watch", url, "--interval", "100ms"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_watch_prints_one_line_per_poll_against_stage7() {
    let (_server, url) = start_stage7().await;
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        watch_command(&url, &["--count", "15"]).output(),
    )
    .await
    .expect("watch --count ends")
    .expect("watch runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 15, "{stdout}");
    for line in &lines {
        assert!(line.contains(" stage 7 queue 0/8 busy 0/3 "), "{line}");
        assert!(line.contains(" lock-wait-p99 "), "{line}");
    }
    // Rates appear once two polls are most of a second apart (ten polls at 100 ms).
    let last = lines.last().expect("lines");
    assert!(
        last.contains(" accepted/s 0.0 rejected/s 0.0 processed/s 0.0 "),
        "{last}"
    );
}

type ChildLines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

async fn next_line(lines: &mut ChildLines) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("a line within 20 s")
        .expect("readable stdout")
        .expect("a line before the end")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_watch_reports_a_server_that_goes_away_and_keeps_polling() {
    let (server, url) = start_stage7().await;
    let mut child = watch_command(&url, &["--count", "12"])
        .spawn()
        .expect("watch starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = next_line(&mut lines).await;
    assert!(first.contains(" stage 7 queue "), "{first}");
    drop(server);
    let mut seen = vec![first];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.last().is_some_and(|l| l.contains(" gone: ")) {
        assert!(Instant::now() < deadline, "never shown gone: {seen:?}");
        seen.push(next_line(&mut lines).await);
    }
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("watch ends after --count")
        .expect("status");
    assert!(
        status.success(),
        "a vanished server is not an error: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_against_a_stage_without_stats_exits_2() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let _server = Running(tokio::spawn(stage3::run(
        listener,
        stage3::Config::default(),
        pending(),
    )));
    let output = tokio::time::timeout(Duration::from_secs(30), watch_command(&url, &[]).output())
        .await
        .expect("watch gives up at once, without --count")
        .expect("watch runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("watch needs /stats"), "{stderr}");
    assert!(stderr.contains("stages 4–8"), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "no lines for a stage without stats"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_waits_for_a_server_that_is_not_up_yet_and_fails_if_it_never_comes() {
    // A port that was free a moment ago: nothing listens there.
    let url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        watch_command(&url, &["--count", "3"]).output(),
    )
    .await
    .expect("watch --count ends")
    .expect("watch runs");
    // Three "waiting" lines and not one answer: a log that measured nothing fails.
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.lines().all(|l| l.contains(" waiting: ")), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("none answered"), "{stderr}");
    assert!(stderr.contains("is the stage running"), "{stderr}");
}

/// A tmux server of the test's own (`-L`), killed when the test ends, pass or fail.
/// tmux and `sh` are Unix tools: the terminal tests run there only.
#[cfg(unix)]
struct Tmux(String);

#[cfg(unix)]
impl Tmux {
    fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .args(["-L", &self.0])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "watch"]).stdout)
            .into_owned()
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{what} never showed:\n{screen}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(unix)]
impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_draws_in_a_real_terminal_and_q_restores_it() {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("note: tmux is not installed; the real-terminal check is skipped (apt-get install -y tmux)");
        return;
    }
    let (_server, url) = start_stage7().await;
    let tmux = Tmux(format!("stress-client-watch-{}", std::process::id()));
    // After watch ends, the shell reports its exit code and whether the terminal is back in
    // canonical mode ("icanon"; raw mode would read "-icanon"), then stays for the capture.
    let script = format!(
        "{} watch {url}; echo watch-exited-$?; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?icanon'; sleep 60",
        env!("CARGO_BIN_EXE_stress-client")
    );
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "watch",
        "-x",
        "120",
        "-y",
        "40",
        "sh",
        "-c",
        &script,
    ]);
    assert!(started.status.success(), "{started:?}");
    let screen = tmux
        .wait_for("the full-screen view", |s| {
            s.contains("stage 7 · contention") && s.contains("0 / 3 busy") && s.contains(" live ")
        })
        .await;
    assert!(screen.contains("0 / 8 queued"), "{screen}");
    assert!(screen.contains("wait  p50"), "{screen}");
    tmux.run(&["send-keys", "-t", "watch", "q"]);
    let screen = tmux
        .wait_for("the restored shell", |s| s.contains("watch-exited-"))
        .await;
    assert!(screen.contains("watch-exited-0"), "{screen}");
    let screen = tmux
        .wait_for("the terminal mode", |s| {
            s.lines().any(|l| l.ends_with("icanon"))
        })
        .await;
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "raw mode left on:\n{screen}"
    );
    assert!(
        !screen.contains("stage 7 · contention"),
        "the view stays:\n{screen}"
    );
}
