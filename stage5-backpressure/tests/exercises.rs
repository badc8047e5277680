//! Checks for the exercises of stage 5 (book chapter "Stage 5", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one when you think you have solved it:
//!
//! ```sh
//! cargo test -p stage5 --test exercises -- --ignored exercise_3_
//! ```
//!
//! A check that fails says what is still missing. Reference solutions are in
//! `solutions/stage5-backpressure/`; try on your own first.
//!
//! The checks start the stage's own binary, exactly as `cargo run -p stage5` does, fill
//! its queue with a quick burst, and judge by status codes, headers and counts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// A generous bound on any one answer. It only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test]
#[ignore = "exercise 5.3: Compute Retry-After from the queue"]
async fn exercise_3_retry_after_from_the_queue() {
    // (capacity, work_ms, the Retry-After a full queue earns): 4 events at 0.5 per second
    // take 8 s to clear; 6 events at 2 per second take 3 s.
    for (capacity, work_ms, expected) in [(4u64, 2000u64, 8), (6, 500, 3)] {
        let flags = [
            "--capacity",
            &capacity.to_string(),
            "--work-ms",
            &work_ms.to_string(),
        ];
        let server = Server::start("5.3", &flags);
        let rejected = server.burst_until_rejected(capacity + 3).await;
        let retry_after = rejected.retry_after.as_deref().unwrap_or("(none)");
        let seconds: Option<u64> = retry_after.parse().ok();
        // One event more or less than a full queue: the worker may take an event, or
        // you may count the one it is working on.
        let clear_secs = |events: u64| (events * work_ms).div_ceil(1000);
        let fair = clear_secs(capacity - 1)..=clear_secs(capacity + 1);
        if !seconds.is_some_and(|seconds| fair.contains(&seconds)) {
            not_done(
                "5.3",
                &format!(
                    "with `{}` and a full queue, a 503 said `Retry-After: {retry_after}`; \
                     about {expected} s of queued work were ahead of that client",
                    flags.join(" ")
                ),
                "answer `Retry-After: ceil(queue_depth / model_jobs_per_sec)` seconds (at \
                 least 1): the time the events already waiting need to clear",
            );
        }
    }
}

#[tokio::test]
#[ignore = "exercise 5.4: Promise a maximum wait"]
async fn exercise_4_promise_a_maximum_wait() {
    // One event per second, at most 3 s of waiting: about 3 events in the queue and one
    // in the worker, although the queue has room for 100.
    let flags = [
        "--capacity",
        "100",
        "--work-ms",
        "1000",
        "--max-wait-ms",
        "3000",
    ];
    let server = Server::start("5.4", &flags);
    let mut accepted = 0;
    for amount in 1..=10 {
        let answer = server.post_event(amount).await;
        match answer.status {
            202 => accepted += 1,
            503 if answer.body["reason"] == "server_busy" => {}
            _ => not_done(
                "5.4",
                &format!("an event was answered {} {}", answer.status, answer.body),
                "an event that would wait too long is refused exactly like one that finds \
                 the queue full: 503, reason `server_busy`",
            ),
        }
    }
    if !(3..=5).contains(&accepted) {
        not_done(
            "5.4",
            &format!(
                "with `{}`, a quick burst of 10 events had {accepted} accepted, not about 4 \
                 (3 s of waiting at 1 event/s, plus the one in the worker)",
                flags.join(" ")
            ),
            "before `try_send`, refuse the event when the events already queued plus this \
             one need more than `max_wait_ms` at `model_jobs_per_sec`",
        );
    }
    // Without the flag the queue's capacity is the only bound, as before.
    let server = Server::start("5.4", &["--capacity", "6", "--work-ms", "1000"]);
    let mut accepted = 0;
    for amount in 1..=10 {
        if server.post_event(amount).await.status == 202 {
            accepted += 1;
        }
    }
    if !(6..=7).contains(&accepted) {
        not_done(
            "5.4",
            &format!(
                "without `--max-wait-ms`, a queue of 6 accepted {accepted} of a quick \
                 burst of 10"
            ),
            "when the flag is not given, only `--capacity` limits the queue",
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
    /// Starts `stage5 --addr 127.0.0.1:0 <flags>` and reads the address it prints first.
    /// A flag the stage does not know yet means `exercise` is not done.
    fn start(exercise: &str, flags: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stage5"))
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the stage 5 binary");
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
                    &format!("stage 5 refused the flags `{}`", flags.join(" ")),
                    "add the new flag to `Config` in src/lib.rs (with a `///` line: it \
                     becomes the `--help` text)",
                );
            }
            panic!(
                "stage 5 did not start with `{}`: it printed {first:?} instead of \
                 `listening on http://...` (does `cargo run -p stage5` still work?)",
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

    /// Posts one event to `/events`.
    async fn post_event(&self, amount: i64) -> Answer {
        let response = self
            .client
            .post(format!("{}/events", self.url))
            .json(&json!({ "user": "gus", "action": "buy", "amount": amount }))
            .send()
            .await
            .expect("stage 5 answers within the patience bound");
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
            let answer = self.post_event(amount as i64).await;
            if answer.status == 503 {
                return answer;
            }
        }
        panic!("{most} events in a quick burst were all accepted: the queue never filled")
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
         Hint: book chapter 'Stage 5', exercise {exercise}, or stage5-backpressure/README.md.\n"
    )
}
