//! Checks for the exercises of stage 6 (book chapter "Stage 6", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one when you think you have solved it:
//!
//! ```sh
//! cargo test -p stage6 --test exercises -- --ignored exercise_3_
//! ```
//!
//! A check that fails says what is still missing. Reference solutions are in
//! `solutions/stage6-workers/`; try on your own first.
//!
//! The checks start the stage's own binary, exactly as `cargo run -p stage6` does, send
//! it quick bursts, and judge by status codes, headers, counts and the gauges of `/stats`
//! (how many events were worked on at the same time), never by a stopwatch.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A generous bound on any one answer. It only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test]
#[ignore = "exercise 6.3: A Retry-After that counts the workers"]
async fn exercise_3_retry_after_counts_workers() {
    // (workers, capacity, work_ms, the Retry-After a full queue earns): 4 events at 2 × 1
    // per second take 4 s to clear; 8 events at 4 × 1 per second take 2 s.
    for (workers, capacity, work_ms, expected) in [(2u64, 4u64, 2000u64, 4), (4, 8, 1000, 2)] {
        let flags = [
            "--workers",
            &workers.to_string(),
            "--capacity",
            &capacity.to_string(),
            "--work-ms",
            &work_ms.to_string(),
        ];
        let server = Server::start("6.3", &flags);
        let rejected = server.burst_until_rejected(workers + capacity + 3).await;
        let retry_after = rejected.retry_after.as_deref().unwrap_or("(none)");
        let seconds: Option<u64> = retry_after.parse().ok();
        // One event more or less than a full queue: a worker may take an event, or you
        // may count the ones being worked on.
        let clear_secs = |events: u64| (events * work_ms).div_ceil(1000 * workers);
        let fair = clear_secs(capacity - 1)..=clear_secs(capacity + workers);
        if !seconds.is_some_and(|seconds| fair.contains(&seconds)) {
            not_done(
                "6.3",
                &format!(
                    "with `{}` and a full queue, a 503 said `Retry-After: {retry_after}`; \
                     about {expected} s of queued work were ahead of that client",
                    flags.join(" ")
                ),
                "answer `Retry-After: ceil(queue_depth / model_jobs_per_sec)` seconds (at \
                 least 1), where the model counts every worker",
            );
        }
    }
}

#[tokio::test]
#[ignore = "exercise 6.4: Keep each user's events in order"]
async fn exercise_4_one_user_one_worker() {
    let flags = ["--workers", "4", "--capacity", "40", "--work-ms", "200"];
    let server = Server::start("6.4", &flags);
    // Eight events of one user: one worker must apply them, one after the other.
    for amount in 1..=8 {
        let answer = server.post_event("hal", amount).await;
        if answer.status != 202 {
            not_done(
                "6.4",
                &format!(
                    "with room for 40 events, event {amount} of one user was answered {} {}",
                    answer.status, answer.body
                ),
                "give every worker a queue of its own with room for about capacity / \
                 workers events, so eight events of one user still fit",
            );
        }
    }
    let one_user = server.wait_until_processed(8).await;
    if one_user["peak_busy_workers"] != 1 {
        not_done(
            "6.4",
            &format!(
                "eight events of the same user were worked on by {} workers at once, so \
                 they could be applied in any order",
                one_user["peak_busy_workers"]
            ),
            "send every event of one user to the same worker: one queue per worker, each \
             worker owning its receiver, and the queue chosen by a hash of the user",
        );
    }
    // Eight users: their events spread over the workers and overlap.
    for (user, amount) in ["ida", "jon", "kim", "lea", "max", "ned", "ola", "pia"]
        .into_iter()
        .zip(1..)
    {
        let answer = server.post_event(user, amount).await;
        if answer.status != 202 {
            not_done(
                "6.4",
                &format!(
                    "the first event of user {user} was answered {} {}",
                    answer.status, answer.body
                ),
                "accept events with 202 as before while their worker's queue has room",
            );
        }
    }
    let stats = server.wait_until_processed(16).await;
    if stats["peak_busy_workers"].as_u64().unwrap_or(0) < 2 {
        not_done(
            "6.4",
            "eight events of eight different users were worked on one at a time \
             (/stats: peak_busy_workers 1)",
            "choose the worker by a hash of the user, so different users spread over \
             the pool",
        );
    }
    if stats["processed"] != 16 || stats["balance_total"] != 72 || stats["users"] != 9 {
        not_done(
            "6.4",
            &format!(
                "after 16 accepted events worth 72 for 9 users, /stats shows processed {}, \
                 balance_total {} and users {}",
                stats["processed"], stats["balance_total"], stats["users"]
            ),
            "every accepted event must be applied exactly once",
        );
    }
}

/// One answer of the server.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

/// The stage's binary, started on a free port and killed when the check ends.
struct Server {
    child: Child,
    url: String,
    client: reqwest::Client,
}

impl Server {
    /// Starts `stage6 --addr 127.0.0.1:0 <flags>` and reads the address it prints first.
    /// A flag the stage does not know yet means `exercise` is not done.
    fn start(exercise: &str, flags: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stage6"))
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the stage 6 binary");
        let stdout = child.stdout.take().expect("the server's stdout");
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        let _ = lines.read_line(&mut first);
        let Some(url) = first.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            // clap exits with 2 on a flag it does not know.
            if child.wait().ok().and_then(|status| status.code()) == Some(2) {
                not_done(
                    exercise,
                    &format!("stage 6 refused the flags `{}`", flags.join(" ")),
                    "add the new flag to `Config` in src/lib.rs (with a `///` line: it \
                     becomes the `--help` text)",
                );
            }
            panic!(
                "stage 6 did not start with `{}`: it printed {first:?} instead of \
                 `listening on http://...` (does `cargo run -p stage6` still work?)",
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

    /// Posts one event to `/events` for `user`.
    async fn post_event(&self, user: &str, amount: i64) -> Answer {
        let response = self
            .client
            .post(format!("{}/events", self.url))
            .json(&json!({ "user": user, "action": "buy", "amount": amount }))
            .send()
            .await
            .expect("stage 6 answers within the patience bound");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            retry_after,
            body,
        }
    }

    /// Posts events one after the other until one is refused, and returns that refusal.
    async fn burst_until_rejected(&self, most: u64) -> Answer {
        for amount in 1..=most {
            let answer = self.post_event("gus", amount as i64).await;
            if answer.status == 503 {
                return answer;
            }
        }
        panic!("{most} events in a quick burst were all accepted: the queue never filled")
    }

    /// The server's `/stats` report.
    async fn stats(&self) -> Value {
        self.client
            .get(format!("{}/stats", self.url))
            .send()
            .await
            .expect("stage 6 answers /stats")
            .json()
            .await
            .expect("/stats answers JSON")
    }

    /// Waits until the workers have applied `processed` events in all, and returns
    /// `/stats` then.
    async fn wait_until_processed(&self, processed: u64) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let stats = self.stats().await;
            if stats["processed"].as_u64() >= Some(processed) || Instant::now() > deadline {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
         Hint: book chapter 'Stage 6', exercise {exercise}, or stage6-backpressure/README.md.\n"
    )
}
