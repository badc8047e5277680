//! Checks for the exercises of stage 4 (book chapter "Stage 4", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one when you think you have solved it:
//!
//! ```sh
//! cargo test -p stage4 --test exercises -- --ignored exercise_3_
//! ```
//!
//! A check that fails says what is still missing. Reference solutions are in
//! `solutions/stage4-shared-state/`; try on your own first.
//!
//! The checks start the stage's own binary, exactly as `cargo run -p stage4` does, and
//! talk to it over HTTP. They judge by the gauges of `/stats` (how many events were in
//! their slow work at the same time), never by a stopwatch.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinSet;

/// A generous bound on any one answer. It only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(20);

/// Slow work per event in these checks: long enough that four requests sent together
/// are all in flight before the first one finishes, short enough to keep a check quick.
const WORK_MS: &str = "400";

#[tokio::test]
#[ignore = "exercise 4.3: Do the slow work outside the lock"]
async fn exercise_3_work_outside_the_lock() {
    let server = Server::start(&["--work-ms", WORK_MS]);
    let answers = server
        .post_together(&[("ann", 1), ("ann", 2), ("ann", 3), ("ann", 4)])
        .await;
    exact_running_balances("4.3", &answers);
    let stats = server.stats().await;
    if stats["peak_busy_workers"].as_u64().unwrap_or(0) < 2 {
        not_done(
            "4.3",
            &format!(
                "four requests sent together did their slow work one at a time \
                 (/stats: peak_busy_workers {})",
                stats["peak_busy_workers"]
            ),
            "in `apply`, do `work::slow_call` before `lock().await`, so only the map update \
             holds the lock; keep `start_work()` right before the slow work and \
             `finish_work()` after the update, so `busy_workers` counts events in their work",
        );
    }
}

#[tokio::test]
#[ignore = "exercise 4.4: One lock per user"]
async fn exercise_4_one_lock_per_user() {
    let server = Server::start(&["--work-ms", WORK_MS]);
    // One user first: these must still take turns, from the slow work to the update.
    let answers = server
        .post_together(&[("bea", 1), ("bea", 2), ("bea", 3), ("bea", 4)])
        .await;
    exact_running_balances("4.4", &answers);
    let one_user = server.stats().await;
    if one_user["peak_busy_workers"] != 1 {
        not_done(
            "4.4",
            &format!(
                "four events for the same user were in their slow work together \
                 (/stats: peak_busy_workers {})",
                one_user["peak_busy_workers"]
            ),
            "in this exercise one user's events still take turns through the whole slow \
             work (think of a provider that needs them in order): hold that user's lock \
             across the work, and only different users overlap",
        );
    }
    // Then four users: now they must overlap.
    let answers = server
        .post_together(&[("cid", 1), ("dora", 2), ("eve", 3), ("finn", 4)])
        .await;
    for (answer, amount) in answers.iter().zip(1..) {
        if answer.status != 200 || answer.body["balance"] != amount {
            not_done(
                "4.4",
                &format!(
                    "a new user's first event of {amount} was answered {} {}",
                    answer.status, answer.body
                ),
                "answer 200 with the user's new balance, as before",
            );
        }
    }
    let stats = server.stats().await;
    if stats["peak_busy_workers"].as_u64().unwrap_or(0) < 2 {
        not_done(
            "4.4",
            "four events for four different users sent together still did their slow \
             work one at a time (/stats: peak_busy_workers 1)",
            "give every user a lock of their own (a map from user to \
             `Arc<tokio::sync::Mutex<i64>>`, behind a short-lived std mutex), and hold only \
             that user's lock across the slow work",
        );
    }
    if stats["users"] != 5 || stats["balance_total"] != 20 {
        not_done(
            "4.4",
            &format!(
                "after 10 + 1 + 2 + 3 + 4 for five users, /stats shows users {} and \
                 balance_total {}",
                stats["users"], stats["balance_total"]
            ),
            "keep `users` and `balance_total` in step: `Totals::add` updates the total, \
             and a user's first event must add one to `users`",
        );
    }
}

/// The answers to events of one user sent together must each see a different running
/// balance: one update after the other, none lost.
fn exact_running_balances(exercise: &str, answers: &[Answer]) {
    let mut balances = Vec::new();
    for answer in answers {
        match answer.body["balance"].as_i64() {
            Some(balance) if answer.status == 200 => balances.push(balance),
            _ => not_done(
                exercise,
                &format!("an event was answered {} {}", answer.status, answer.body),
                "answer every valid event 200 with the user's new balance, as before",
            ),
        }
    }
    balances.sort_unstable();
    balances.dedup();
    // The order they are applied in is up to the server; the final 10 is not.
    if balances.len() != answers.len() || balances.last() != Some(&10) {
        not_done(
            exercise,
            &format!(
                "four events of 1, 2, 3 and 4 for one user were answered the balances \
                 {balances:?} (duplicates removed), not four different running totals \
                 ending in 10"
            ),
            "an update must read and write the balance under the same lock, or two events \
             overwrite each other",
        );
    }
}

/// One answer of the server.
struct Answer {
    status: u16,
    body: Value,
}

/// The stage's binary, started on a free port and killed when the check ends.
struct Server {
    child: Child,
    url: String,
    client: reqwest::Client,
}

impl Server {
    /// Starts `stage4 --addr 127.0.0.1:0 <flags>` and reads the address it prints first.
    fn start(flags: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stage4"))
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the stage 4 binary");
        let stdout = child.stdout.take().expect("the server's stdout");
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        let _ = lines.read_line(&mut first);
        let Some(url) = first.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!(
                "stage 4 did not start with `{}`: it printed {first:?} instead of \
                 `listening on http://...` (does `cargo run -p stage4` still work?)",
                flags.join(" ")
            );
        };
        // Keep reading the banner and later lines, so the server never blocks on a full pipe.
        thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
        Server {
            url: url.to_owned(),
            child,
            client: reqwest::Client::builder()
                .timeout(PATIENCE)
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Posts every `(user, amount)` of `batch` at the same moment, each on a connection of
    /// its own, and returns the answers in the order of `batch`.
    async fn post_together(&self, batch: &[(&str, i64)]) -> Vec<Answer> {
        let mut requests = JoinSet::new();
        for (index, &(user, amount)) in batch.iter().enumerate() {
            let request = self
                .client
                .post(format!("{}/events", self.url))
                .json(&json!({ "user": user, "action": "buy", "amount": amount }));
            requests.spawn(async move {
                let response = request
                    .send()
                    .await
                    .expect("stage 4 answers within the patience bound");
                let status = response.status().as_u16();
                let body = response.json().await.unwrap_or(Value::Null);
                (index, Answer { status, body })
            });
        }
        let mut answers: Vec<(usize, Answer)> = requests.join_all().await;
        answers.sort_by_key(|(index, _)| *index);
        answers.into_iter().map(|(_, answer)| answer).collect()
    }

    /// The server's `/stats` report.
    async fn stats(&self) -> Value {
        self.client
            .get(format!("{}/stats", self.url))
            .send()
            .await
            .expect("stage 4 answers /stats")
            .json()
            .await
            .expect("/stats answers JSON")
    }
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
         Hint: book chapter 'Stage 4', exercise {exercise}, or stage4-shared-state/README.md.\n"
    )
}
