//! Checks for the exercises of stage 7 (book chapter "Stage 7", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one when you think you have solved it:
//!
//! ```sh
//! cargo test -p stage7 --test exercises -- --ignored exercise_5_
//! ```
//!
//! A check that fails says what is still missing. Reference solutions are in
//! `solutions/stage7-contention/`; try on your own first.
//!
//! The checks start the stage's own binary, exactly as `cargo run -p stage7` does, and
//! talk to it over HTTP. That way a check only relies on what never changes: the flags,
//! the first line the server prints, and the fields of `/stats`. They judge the lock by
//! its gauges (who holds it, who waits, who is busy), never by how fast anything was.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// A generous bound on any one answer, and on a drain. It only turns a hang into a
/// failure.
const PATIENCE: Duration = Duration::from_secs(20);

/// How often a check samples `/stats` while jobs are running.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

#[tokio::test]
#[ignore = "exercise 7.5: Count the workers waiting for the lock"]
async fn exercise_5_count_lock_waiters() {
    // Four workers, eight jobs that hold the lock for 400 ms each and do nothing else:
    // while one worker holds the lock, the three others are in line for it.
    let server = Server::start(
        "7.5",
        &["--workers", "4", "--work-ms", "0", "--hold-ms", "400"],
    );
    server.post_events((0..8).map(|i| format!("user{i}"))).await;
    let stats = server.drained(8).await;
    let Some(peak) = stats["peak_lock_waiters"].as_u64() else {
        not_done(
            "7.5",
            "`/stats` has no number `peak_lock_waiters` yet",
            "count the workers that asked for the balances lock and do not have it yet \
             (`lock_waiters`, and the most at once: `peak_lock_waiters`), next to \
             `lock_holders` in `/stats`",
        );
    };
    if peak < 3 {
        not_done(
            "7.5",
            &format!(
                "four workers took turns at one lock held 400 ms a time, yet \
                 `peak_lock_waiters` is {peak}"
            ),
            "raise the gauge before asking for the lock and lower it once the lock is \
             yours, in `Ledger::apply`: then three workers are seen waiting behind the \
             fourth",
        );
    }
    if stats["lock_waiters"].as_u64() != Some(0) {
        not_done(
            "7.5",
            &format!(
                "every job is done, yet `lock_waiters` is {}",
                stats["lock_waiters"]
            ),
            "`/stats` must also serve `lock_waiters`, the workers waiting right now, and \
             every worker that raised it must lower it again",
        );
    }
}

#[tokio::test]
#[ignore = "exercise 7.6: Write the audit record after the lock is released"]
async fn exercise_6_audit_after_the_lock() {
    // No work outside, no hold inside: all a job does is its 2 s audit. If the audit
    // runs outside the lock, four workers do it at the same time with nobody holding
    // the lock; inside it, one worker holds the lock and three wait.
    let server = Server::start(
        "7.6",
        &[
            "--workers",
            "4",
            "--work-ms",
            "0",
            "--hold-ms",
            "0",
            "--audit-ms",
            "2000",
        ],
    );
    let seen = server.busy_without_a_holder(4).await;
    if seen < 5 {
        not_done(
            "7.6",
            &format!(
                "while four 2 s audits ran, `/stats` showed all four workers busy with \
                 nobody holding the lock in {seen} samples (every 50 ms)"
            ),
            "call the audit after `ledger.apply` has returned (the guard is gone by \
             then), and before `finish_work`, so a job counts as processed only once its \
             record is written",
        );
    }
}

#[tokio::test]
#[ignore = "exercise 7.7: Take the held work out of the lock"]
async fn exercise_7_hold_outside_the_lock() {
    let server = Server::start(
        "7.7",
        &["--workers", "4", "--work-ms", "0", "--hold-ms", "2000"],
    );
    let seen = server.busy_without_a_holder(4).await;
    if seen < 5 {
        not_done(
            "7.7",
            &format!(
                "while four jobs with a 2 s hold ran, `/stats` showed all four workers \
                 busy with nobody holding the lock in {seen} samples (every 50 ms): the \
                 hold still happens under the lock, one worker at a time"
            ),
            "in `Ledger::apply`, sleep `hold` before asking for the lock, so the lock is \
             held only for the update",
        );
    }
}

/// The stage's binary, started on a free port and killed when the check ends.
struct Server {
    child: Child,
    url: String,
    client: reqwest::Client,
    exercise: &'static str,
}

impl Server {
    /// Starts `stage7 --addr 127.0.0.1:0 <flags>` and reads the address it prints first.
    /// A flag the stage does not know yet fails `exercise` with clap's own words.
    fn start(exercise: &'static str, flags: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stage7"))
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the stage 7 binary");
        let stdout = child.stdout.take().expect("the server's stdout");
        let mut stderr = child.stderr.take().expect("the server's stderr");
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        let _ = lines.read_line(&mut first);
        let Some(url) = first.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let mut said = String::new();
            let _ = stderr.read_to_string(&mut said);
            let said = said.lines().next().unwrap_or("nothing").to_owned();
            not_done(
                exercise,
                &format!(
                    "`stage7 {}` did not start; it said: {said}",
                    flags.join(" ")
                ),
                "add the flag the exercise asks for to `Config` in src/lib.rs (a field \
                 with `#[arg(long)]` becomes a flag), and check that `cargo run -p stage7` \
                 still starts",
            );
        };
        // Keep reading both pipes, so the server never blocks on a full one.
        thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
        thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Server {
            url: url.to_owned(),
            child,
            client: reqwest::Client::builder()
                .timeout(PATIENCE)
                .build()
                .expect("an HTTP client"),
            exercise,
        }
    }

    /// Posts one event per user, all at once, and expects each to be accepted.
    async fn post_events(&self, users: impl Iterator<Item = String>) {
        let posts = users.map(|user| {
            let event = json!({ "user": user, "action": "buy", "amount": 1 });
            let request = self
                .client
                .post(format!("{}/events", self.url))
                .json(&event);
            async move {
                let response = request
                    .send()
                    .await
                    .expect("stage 7 answers a POST within the patience bound");
                (
                    response.status().as_u16(),
                    response.text().await.unwrap_or_default(),
                )
            }
        });
        for (status, body) in all_at_once(posts).await {
            if status != 202 {
                not_done(
                    self.exercise,
                    &format!("an event was answered {status} {body}, not 202"),
                    "keep `/events` accepting events as the stage did",
                );
            }
        }
    }

    /// The current `/stats` as JSON.
    async fn stats(&self) -> Value {
        let response = self
            .client
            .get(format!("{}/stats", self.url))
            .send()
            .await
            .expect("stage 7 answers /stats within the patience bound");
        response.json().await.expect("/stats answers JSON")
    }

    /// Waits until `count` jobs are processed; returns the `/stats` that showed it.
    async fn drained(&self, count: u64) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let stats = self.stats().await;
            if stats["processed"].as_u64() >= Some(count) {
                return stats;
            }
            if tokio::time::Instant::now() > deadline {
                not_done(
                    self.exercise,
                    &format!(
                        "{count} events were accepted, but after {PATIENCE:?} `/stats` shows \
                         `processed` {}",
                        stats["processed"]
                    ),
                    "every accepted event must still be applied and counted",
                );
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    }

    /// Sends one event each to `workers` users, then samples `/stats` until all are
    /// processed. Returns in how many samples every worker was busy while nobody held
    /// the lock: a state one lock around the work can only pass through for an instant.
    async fn busy_without_a_holder(&self, workers: u64) -> usize {
        self.post_events((0..workers).map(|i| format!("user{i}")))
            .await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut seen = 0;
        loop {
            let stats = self.stats().await;
            if stats["busy_workers"].as_u64() == Some(workers)
                && stats["lock_holders"].as_u64() == Some(0)
            {
                seen += 1;
            }
            if stats["processed"].as_u64() >= Some(workers) {
                return seen;
            }
            if tokio::time::Instant::now() > deadline {
                not_done(
                    self.exercise,
                    &format!(
                        "after {PATIENCE:?} `/stats` shows `processed` {}",
                        stats["processed"]
                    ),
                    "every accepted event must still be applied and counted",
                );
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    }
}

/// Runs the futures at the same time and collects their outputs, in order.
async fn all_at_once<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(tasks.len());
    for task in tasks {
        outputs.push(task.await.expect("a request task panicked"));
    }
    outputs
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails the check with a message that says what is missing and where the hint is.
fn not_done(exercise: &str, observed: &str, todo: &str) -> ! {
    panic!(
        "\n\nexercise {exercise} not done yet: {observed}.\n\
         What to do: {todo}.\n\
         Hint: book chapter 'Stage 7', exercise {exercise}, or stage7-contention/README.md.\n"
    )
}
