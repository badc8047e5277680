//! Checks for the code exercises of stage 5 (book chapter "Stage 5", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one through the runner when you think you have solved it:
//!
//! ```sh
//! cargo run -p workshop -- check 5.3
//! cargo test -p stage5 --test exercises -- --ignored --exact exercise_3_retry_after_from_the_queue
//! ```
//!
//! A check that fails starts its sentence with "exercise 5.K not done yet: " and says
//! what is still missing. Reference solutions are in `solutions/stage5-backpressure/`;
//! try on your own first.
//!
//! The checks start the stage's own binary, exactly as `cargo run -p stage5` does, fill
//! its queue with a quick burst (answers to a burst come back in milliseconds, while each
//! event's work takes a second), and judge by what they see from outside: status codes,
//! headers and bodies, and the totals of `/stats` once the queue has drained, which say
//! exactly which events were applied (the amounts are powers of two).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A generous bound on any one answer, and on waiting for a queue to drain. It only turns
/// a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(20);

// Lazy answers this check catches:
// - a constant (`Retry-After: 8`, or any other number): three queues, three answers;
// - the capacity alone, or `--work-ms` alone, instead of the time the queue needs:
//   the three runs differ in both;
// - rounding down (`as u64`): 5 events of 300 ms need 1.5 s, and `1` sends the client
//   back early; without "at least 1", a queue of 1 at 400 ms says `0`, retry at once;
// - breaking the refusal while at it: every 503 still says reason `server_busy`.
#[tokio::test]
#[ignore = "exercise 5.3: Compute Retry-After from the queue"]
async fn exercise_3_retry_after_from_the_queue() {
    // (capacity, work_ms): 4 events of 2 s need 8 s to clear; 5 of 300 ms need 1.5 s, so
    // 2; 1 of 400 ms needs 0.4 s, so 1, the least worth sending.
    for (capacity, work_ms) in [(4u64, 2000u64), (5, 300), (1, 400)] {
        let flags = [
            "--capacity".to_owned(),
            capacity.to_string(),
            "--work-ms".to_owned(),
            work_ms.to_string(),
        ];
        let server = Server::start("5.3", &flags);
        let Some(rejected) = server.burst_until_rejected(capacity + 3).await else {
            not_done(
                "5.3",
                &format!(
                    "with `{}`, a quick burst was never refused",
                    flags.join(" ")
                ),
                "keep `try_send` and its 503 when the queue is full",
            );
        };
        if rejected.body["reason"] != "server_busy" {
            not_done(
                "5.3",
                &format!("a refusal said {}", rejected.body),
                "a full queue is still answered 503 with reason `server_busy`",
            );
        }
        let retry_after = rejected.retry_after.as_deref().unwrap_or("(none)");
        let seconds: Option<u64> = retry_after.parse().ok();
        // When the burst outruns the worker the queue holds `capacity` events; one more or
        // less is fair, since the worker may just have taken one, or you may count the one
        // it is working on.
        let clear_secs = |events: u64| (events * work_ms).div_ceil(1000).max(1);
        let fair = clear_secs(capacity - 1)..=clear_secs(capacity + 1);
        if !seconds.is_some_and(|seconds| fair.contains(&seconds)) {
            not_done(
                "5.3",
                &format!(
                    "with `{}` and a full queue, a 503 said `Retry-After: {retry_after}`; the \
                     events queued ahead of that client need {} s to clear (rounded up, at \
                     least 1)",
                    flags.join(" "),
                    clear_secs(capacity)
                ),
                "where `accept_event` answers 503, compute the seconds from the queue's depth and the model's rate, \
                 and send them with `with_header`",
            );
        }
    }
}

// Lazy answers this check catches:
// - forgetting the event in the worker (`(queued + 1) × work_ms`): 4 accepted, not 3;
// - a constant count of accepted events instead of the wait: the second run accepts 4;
// - refusing everything once the flag is given, or answering 503 with the event queued
//   anyway: the second run must get exactly its 4 accepted amounts applied;
// - making the flag change the default for everyone: without it, `--capacity` alone
//   bounds the queue as before.
#[tokio::test]
#[ignore = "exercise 5.4: Promise a maximum wait"]
async fn exercise_4_promise_a_maximum_wait() {
    // One event per second, done within 3 s: the one the worker is on, one waiting, and
    // this one. The queue has room for 100.
    let server = Server::start("5.4", &max_wait_flags(1000, 3000));
    let answers = server.burst(10).await;
    accepted_then_refused("5.4", &answers, 3, "1000 ms each, done within 3000 ms");
    // Two events per second, done within 2 s: four.
    let server = Server::start("5.4", &max_wait_flags(500, 2000));
    let answers = server.burst(10).await;
    accepted_then_refused("5.4", &answers, 4, "500 ms each, done within 2000 ms");
    let stats = server.drained("5.4", 4).await;
    if stats["balance_total"] != 1 + 2 + 4 + 8 || stats["rejected"] != 6 {
        not_done(
            "5.4",
            &format!(
                "after the 4 accepted events of 1, 2, 4 and 8 were applied, /stats shows \
                 balance_total {} and rejected {} (expected 15 and 6)",
                stats["balance_total"], stats["rejected"]
            ),
            "refuse before `try_send`, so a refused event never reaches the queue, and \
             count it in `rejected`",
        );
    }
    // Without the flag the queue's capacity is the only bound, as before.
    let server = Server::start("5.4", &["--capacity", "6", "--work-ms", "1000"]);
    let answers = server.burst(10).await;
    let accepted = answers.iter().filter(|answer| answer.status == 202).count();
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

// Lazy answers this check catches:
// - counting only the queue (the event in the worker is ahead too): the second event of
//   a burst must hear 1 ahead, not 0;
// - a counter that only grows (events accepted so far): once the queue has drained, the
//   next event must hear 0 ahead again;
// - `done_in_ms` from a constant or the default work instead of `--work-ms`: the check
//   runs at 700 ms;
// - changing the answer's status or dropping its `status` field.
#[tokio::test]
#[ignore = "exercise 5.5: Tell the client where it is in line"]
async fn exercise_5_tell_the_client_where_it_is_in_line() {
    let server = Server::start("5.5", &["--capacity", "10", "--work-ms", "700"]);
    let answers = server.burst(3).await;
    let mut seen = Vec::new();
    for answer in &answers {
        if answer.status != 202 || answer.body["status"] != "accepted" {
            not_done(
                "5.5",
                &format!("an event was answered {} {}", answer.status, answer.body),
                "keep answering 202 with status `accepted`, and add the two fields",
            );
        }
        seen.push((
            answer.body["ahead"].clone(),
            answer.body["done_in_ms"].clone(),
        ));
    }
    let expected = [(0, 700), (1, 1400), (2, 2100)].map(|(a, d)| (json!(a), json!(d)));
    if seen != expected {
        not_done(
            "5.5",
            &format!(
                "with `--work-ms 700`, three events sent one after the other were told \
                 (ahead, done_in_ms) {} (expected (0, 700), (1, 1400), (2, 2100))",
                pairs(&seen)
            ),
            "`ahead` counts the events accepted before and not yet done: those in the \
             queue and the one in the worker; `done_in_ms` is (ahead + 1) × work_ms",
        );
    }
    server.drained("5.5", 3).await;
    let answer = &server.burst(1).await[0];
    if answer.body["ahead"] != 0 || answer.body["done_in_ms"] != 700 {
        not_done(
            "5.5",
            &format!(
                "once the queue had drained, the next event was told ahead {} and \
                 done_in_ms {}",
                answer.body["ahead"], answer.body["done_in_ms"]
            ),
            "count what is queued and in work now, not what was ever accepted",
        );
    }
}

// Lazy answers this check catches:
// - a bound on everyone's events (or a smaller `--capacity`): another user's event,
//   sent while the first user holds their share, must be accepted;
// - a count lowered when the worker takes the event instead of when it is applied:
//   the first user then gets 4 in, not 3;
// - a count that never goes down: once the queue drains, the same user is accepted again;
// - a hard-coded share: the check uses 3;
// - answering 503 but queueing the event anyway: `balance_total` must be exactly the sum
//   of the accepted amounts, and `rejected` the number of 503s.
#[tokio::test]
#[ignore = "exercise 5.6: A fair share of the queue"]
async fn exercise_6_a_fair_share_of_the_queue() {
    let flags = [
        "--capacity",
        "10",
        "--work-ms",
        "1000",
        "--max-queued-per-user",
        "3",
    ];
    let server = Server::start("5.6", &flags);
    let hot = server.post_events("hot", &[1, 2, 4, 8, 16]).await;
    let statuses: Vec<u16> = hot.iter().map(|answer| answer.status).collect();
    if statuses != [202, 202, 202, 503, 503] {
        not_done(
            "5.6",
            &format!(
                "with `{}`, one user's quick burst of 5 events was answered {statuses:?} \
                 (expected three 202s, then 503s)",
                flags.join(" ")
            ),
            "count each user's events accepted and not yet applied; refuse one more than \
             `--max-queued-per-user`, and lower the count when the worker has applied it",
        );
    }
    if hot[3].body["reason"] != "server_busy" {
        not_done(
            "5.6",
            &format!("a refusal said {}", hot[3].body),
            "refuse exactly as for a full queue: 503, reason `server_busy`",
        );
    }
    let cold = &server.post_events("cold", &[32]).await[0];
    if cold.status != 202 {
        not_done(
            "5.6",
            &format!(
                "while one user held their whole share, another user's first event was \
                 answered {} {}",
                cold.status, cold.body
            ),
            "the share is per user: one user's count must not refuse anyone else",
        );
    }
    let stats = server.drained("5.6", 4).await;
    if stats["balance_total"] != 1 + 2 + 4 + 32 || stats["rejected"] != 2 {
        not_done(
            "5.6",
            &format!(
                "after the accepted 1, 2, 4 and 32 were applied, /stats shows balance_total \
                 {} and rejected {} (expected 39 and 2)",
                stats["balance_total"], stats["rejected"]
            ),
            "a refused event must never reach the queue, and counts one in `rejected`",
        );
    }
    let again = &server.post_events("hot", &[64]).await[0];
    if again.status != 202 {
        not_done(
            "5.6",
            "once the queue had drained, the first user's next event was refused",
            "lower the user's count when the worker has applied their event",
        );
    }
}

/// The flags of a run with a promised wait and room for 100 in the queue.
fn max_wait_flags(work_ms: u64, max_wait_ms: u64) -> [String; 6] {
    [
        "--capacity".to_owned(),
        "100".to_owned(),
        "--work-ms".to_owned(),
        work_ms.to_string(),
        "--max-wait-ms".to_owned(),
        max_wait_ms.to_string(),
    ]
}

/// A burst must be answered `accepted` times 202, then 503 `server_busy` for the rest.
fn accepted_then_refused(exercise: &str, answers: &[Answer], accepted: usize, setting: &str) {
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    let expected: Vec<u16> = (0..answers.len())
        .map(|index| if index < accepted { 202 } else { 503 })
        .collect();
    if statuses != expected {
        not_done(
            exercise,
            &format!(
                "with {setting} and room for 100, a quick burst of {} was answered \
                 {statuses:?}, not {accepted} accepted and then refused",
                answers.len()
            ),
            "accept an event only if it would be done within `--max-wait-ms`: the event in \
             the worker, those queued, and itself, at `work_ms` each",
        );
    }
    if let Some(refused) = answers
        .iter()
        .find(|answer| answer.status == 503 && answer.body["reason"] != "server_busy")
    {
        not_done(
            exercise,
            &format!("a refusal said {}", refused.body),
            "an event that would wait too long is refused exactly like one that finds the \
             queue full: 503, reason `server_busy`",
        );
    }
}

fn pairs(seen: &[(Value, Value)]) -> String {
    let shown: Vec<String> = seen.iter().map(|(a, d)| format!("({a}, {d})")).collect();
    shown.join(", ")
}

/// One answer of the server.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

/// The stage's binary, started on a free port and killed when the check ends.
struct Server {
    /// The exercise being checked, so a server that stops answering fails it by name.
    exercise: String,
    child: Child,
    url: String,
    client: reqwest::Client,
}

impl Server {
    /// Starts `stage5 --addr 127.0.0.1:0 <flags>` and reads the address it prints first.
    /// A flag the stage does not know yet means `exercise` is not done.
    fn start<S: AsRef<str>>(exercise: &str, flags: &[S]) -> Server {
        let flags: Vec<&str> = flags.iter().map(AsRef::as_ref).collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_stage5"))
            .args(["--addr", "127.0.0.1:0"])
            .args(&flags)
            .stdout(Stdio::piped())
            // The server's own complaints (a panic, clap's error for an unknown flag)
            // show above the check's verdict.
            .stderr(Stdio::inherit())
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
                "exercise {exercise} not done yet: stage 5 did not start with `{}`: it \
                 printed {first:?} instead of `listening on http://...` (does \
                 `cargo run -p stage5` still work?)",
                flags.join(" ")
            );
        };
        // Keep reading the banner and later lines, so the server never blocks on a full pipe.
        thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
        Server {
            exercise: exercise.to_owned(),
            url: url.to_owned(),
            child,
            client: reqwest::Client::builder()
                .timeout(PATIENCE)
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Posts one event of `user` to `/events`.
    async fn post_event(&self, user: &str, amount: i64) -> Answer {
        let response = self
            .client
            .post(format!("{}/events", self.url))
            .json(&json!({ "user": user, "action": "buy", "amount": amount }))
            .send()
            .await
            .unwrap_or_else(|err| {
                not_done(
                    &self.exercise,
                    &format!("stage 5 did not answer an event: {err}"),
                    "every event gets an answer at once: 202, or 503 when there is no room",
                )
            });
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

    /// Posts `amounts` for `user`, one right after the other.
    async fn post_events(&self, user: &str, amounts: &[i64]) -> Vec<Answer> {
        let mut answers = Vec::new();
        for &amount in amounts {
            answers.push(self.post_event(user, amount).await);
        }
        answers
    }

    /// A quick burst of `count` events of one user, of 1, 2, 4, ... so the total says
    /// which were applied.
    async fn burst(&self, count: u32) -> Vec<Answer> {
        let amounts: Vec<i64> = (0..count).map(|power| 1 << power).collect();
        self.post_events("gus", &amounts).await
    }

    /// Posts events one after the other until one is refused, and returns that refusal.
    async fn burst_until_rejected(&self, most: u64) -> Option<Answer> {
        for amount in 1..=most {
            let answer = self.post_event("gus", amount as i64).await;
            if answer.status == 503 {
                return Some(answer);
            }
        }
        None
    }

    /// Waits until `/stats` shows `processed` events and nothing in the queue or the
    /// worker, then returns that report. Polls, so a slow machine only waits longer.
    async fn drained(&self, exercise: &str, processed: u64) -> Value {
        let started = Instant::now();
        loop {
            let stats = self.stats().await;
            let idle = stats["queue_depth"] == 0 && stats["busy_workers"] == 0;
            if idle && stats["processed"].as_u64().unwrap_or(0) >= processed {
                return stats;
            }
            if started.elapsed() > PATIENCE {
                not_done(
                    exercise,
                    &format!("the queue never drained to {processed} processed: {stats}"),
                    "every accepted event must be applied by the worker",
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's `/stats` report.
    async fn stats(&self) -> Value {
        let report = match self.client.get(format!("{}/stats", self.url)).send().await {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        report.unwrap_or_else(|| {
            not_done(
                &self.exercise,
                "stage 5 did not answer GET /stats with JSON (did it stop? its own output, \
                 if any, is above)",
                "run `cargo run -p stage5` and send it the check's requests by hand",
            )
        })
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
         Hint: `cargo run -p workshop -- hint {exercise}`, or the book chapter 'Stage 5', \
         exercise {exercise}.\n"
    )
}
