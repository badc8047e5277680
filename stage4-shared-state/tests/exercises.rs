//! Checks for the code exercises of stage 4 (book chapter "Stage 4", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one through the runner when you think you have solved it:
//!
//! ```sh
//! cargo run -p workshop -- check 4.3
//! cargo test -p stage4 --test exercises -- --ignored --exact exercise_3_work_outside_the_lock
//! ```
//!
//! A check that fails starts its sentence with "exercise 4.K not done yet: " and says
//! what is still missing. Reference solutions are in `solutions/stage4-shared-state/`;
//! try on your own first.
//!
//! The checks start the stage's own binary, exactly as `cargo run -p stage4` does, and
//! talk to it over HTTP. What the server reports about itself (`/stats`) can be made to
//! say anything, so every check also judges by what it sees from outside: the answers,
//! the balances they carry, and how long a batch of slow work took on the check's own
//! clock. Those times are sleeps, which need no CPU, so they are compared only with wide
//! margins (work that takes turns needs at least N × work_ms; work that overlaps needs
//! about one work_ms) and never against a tight upper bound.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinSet;

/// A generous bound on any one answer. It only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(20);

/// Slow work per event in the timed checks: four events take at least 4 s when they take
/// turns and about 1 s when they overlap.
const WORK_MS: u64 = 1000;

/// How long four overlapping events of `WORK_MS` may take before the check calls them
/// serial: three times what overlap needs, and still a second short of the 4 s that four
/// turns need at the least. It also caps how long the check waits on the starting code.
const OVERLAP_DEADLINE: Duration = Duration::from_millis(3 * WORK_MS);

/// What a timer may undershoot by when the check's clock and the server's disagree on
/// where a sleep started (a request leaves the check before the server reads it).
const CLOCK_SLACK: Duration = Duration::from_millis(50);

// Lazy answers this check catches:
// - hard-coding the gauge (`peak_busy_workers`, or calling `start_work` several times)
//   with the work still inside the lock: four events then take at least 4 s, and the
//   check's own clock gives up on them after 3 s;
// - deleting the slow work, or ignoring `--work-ms`: every answer must take at least one
//   work_ms on the check's clock;
// - answering before the work is done (spawning it): same, and the balances must be exact;
// - dropping the lock, or reading the balance before the work and writing it after:
//   four events of one user must see four different running totals ending in 10;
// - moving the work out but dropping `start_work`/`finish_work`: `/stats` must still
//   count the overlap it showed and every event processed.
#[tokio::test]
#[ignore = "exercise 4.3: Do the slow work outside the lock"]
async fn exercise_3_work_outside_the_lock() {
    let server = Server::start("4.3", &["--work-ms", &WORK_MS.to_string()]);
    let batch = [("ann", 1), ("ann", 2), ("ann", 3), ("ann", 4)];
    let Some(answers) = server.post_together(&batch, OVERLAP_DEADLINE).await else {
        not_done(
            "4.3",
            &format!(
                "four events sent together were not all answered within {} s, while their \
                 slow work together takes about {} s when it overlaps: the work still \
                 runs one event at a time, inside the lock",
                OVERLAP_DEADLINE.as_secs(),
                WORK_MS / 1000
            ),
            "in `apply`, do `work::slow_call` before `lock().await`, so the lock is held \
             only for the map update",
        );
    };
    every_answer_did_the_work("4.3", &answers);
    exact_running_balances("4.3", &answers, 10);
    let stats = server.stats().await;
    if stats["peak_busy_workers"].as_u64().unwrap_or(0) < 2 || stats["processed"] != 4 {
        not_done(
            "4.3",
            &format!(
                "the four events overlapped, but /stats shows peak_busy_workers {} and \
                 processed {} (expected at least 2 and exactly 4)",
                stats["peak_busy_workers"], stats["processed"]
            ),
            "keep `app.counters.start_work()` right before the slow work and \
             `finish_work()` after the update, so the gauges count events in their work",
        );
    }
}

// Lazy answers this check catches:
// - 4.3's answer (work outside any lock): one user's four events then overlap, and the
//   check's clock sees them done in well under the 4 s that four turns need;
// - hard-coding the gauges with one lock for everyone: four users then take at least
//   4 s, and the check gives up on them after 3 s;
// - a lock per user that is released before the work (read, work, write): the running
//   balances of one user must be four different totals ending in 10;
// - forgetting to count a new user: `/stats` must show users 5 and balance_total 20;
// - deleting the work or ignoring `--work-ms`: every answer takes at least one work_ms.
#[tokio::test]
#[ignore = "exercise 4.4: One lock per user"]
async fn exercise_4_one_lock_per_user() {
    let server = Server::start("4.4", &["--work-ms", &WORK_MS.to_string()]);
    // Four users first: they have nothing to do with each other, so they must overlap.
    let batch = [("cid", 1), ("dora", 2), ("eve", 3), ("finn", 4)];
    let Some(answers) = server.post_together(&batch, OVERLAP_DEADLINE).await else {
        not_done(
            "4.4",
            &format!(
                "four events of four different users sent together were not all answered \
                 within {} s: they still take turns at one lock",
                OVERLAP_DEADLINE.as_secs()
            ),
            "give every user a lock of their own and hold only that user's lock across \
             the slow work",
        );
    };
    every_answer_did_the_work("4.4", &answers);
    for (answer, (user, amount)) in answers.iter().zip(batch) {
        if answer.status != 200 || answer.body["balance"] != amount {
            not_done(
                "4.4",
                &format!(
                    "{user}'s first event of {amount} was answered {} {}",
                    answer.status, answer.body
                ),
                "answer 200 with the user's new balance, as before",
            );
        }
    }
    // Then one user: their events must still take turns, from the slow work to the update.
    let batch = [("bea", 1), ("bea", 2), ("bea", 3), ("bea", 4)];
    let started = Instant::now();
    let answers = server.post_together_later(&batch).await;
    let took = started.elapsed();
    exact_running_balances("4.4", &answers, 10);
    if took + CLOCK_SLACK < Duration::from_millis(4 * WORK_MS) {
        not_done(
            "4.4",
            &format!(
                "four events of one user sent together were all answered after {:.1} s; \
                 taking turns through {WORK_MS} ms of work each needs at least 4 s",
                took.as_secs_f64()
            ),
            "one user's events still take turns through the whole slow work (think of a \
             provider that needs them in order): hold that user's lock across the work",
        );
    }
    let stats = server.stats().await;
    if stats["users"] != 5 || stats["balance_total"] != 20 {
        not_done(
            "4.4",
            &format!(
                "after 1 + 2 + 3 + 4 for four users and 10 for a fifth, /stats shows users \
                 {} and balance_total {}",
                stats["users"], stats["balance_total"]
            ),
            "keep `users` and `balance_total` in step: `Totals::add` updates the total, \
             and a user's first event must add one to `users`",
        );
    }
}

// Builds on exercise 4.4's solution (per-user locks).
//
// Lazy answers this check catches:
// - a bound on everyone's events instead of one user's (refuse when `queue_depth` or
//   `busy_workers` is high): another user's event, sent while the first user's line is
//   full, must be accepted;
// - a count that never goes down, or refusing every event after the Nth: once the line
//   has drained, the same user's next event must be accepted;
// - answering 503 but applying the event anyway, or queueing it first and refusing
//   later: a refusal must come back before any accepted event finished its work, and
//   `balance_total` must be exactly the sum of the accepted amounts;
// - hard-coding the bound instead of reading the flag: the check uses 3, not 2;
// - not counting the refusals: `/stats` `rejected` must equal the 503s seen.
#[tokio::test]
#[ignore = "exercise 4.5: A bounded line per user"]
async fn exercise_5_a_bounded_line_per_user() {
    let flags = ["--work-ms", &WORK_MS.to_string(), "--max-per-user", "3"];
    let server = Server::start("4.5", &flags);
    // Powers of two, so the total says exactly which events were applied.
    let batch = [("hal", 1), ("hal", 2), ("hal", 4), ("hal", 8), ("hal", 16)];
    let hal = server.post_together_later(&batch);
    // The second user arrives once the first user's line has formed, seen from outside.
    server.wait_for_line("4.5").await;
    let ivy = server.post_together_later(&[("ivy", 32)]).await;
    let hal = hal.await;
    let accepted: Vec<&Answer> = hal.iter().filter(|answer| answer.status == 200).collect();
    let refused: Vec<&Answer> = hal.iter().filter(|answer| answer.status == 503).collect();
    if accepted.len() != 3 || refused.len() != 2 {
        not_done(
            "4.5",
            &format!(
                "with `{}`, five events of one user sent together got {} answers 200 and {} \
                 answers 503 (expected 3 and 2)",
                flags.join(" "),
                accepted.len(),
                refused.len()
            ),
            "count each user's events in the server (waiting for their lock or in their \
             work) and refuse one more than `--max-per-user`",
        );
    }
    if refused
        .iter()
        .any(|answer| answer.body["reason"] != "server_busy")
    {
        not_done(
            "4.5",
            "a refusal did not carry reason `server_busy`",
            "refuse with `Response::error(503, \"server_busy\", ...)` and a Retry-After",
        );
    }
    let first_done = accepted.iter().map(|answer| answer.took).min();
    if refused.iter().any(|answer| Some(answer.took) >= first_done) {
        not_done(
            "4.5",
            "a refusal came back only after an accepted event had finished its work: the \
             refused event waited in the line before it was turned away",
            "decide before `lock().await`, from a count kept beside the user's lock",
        );
    }
    if ivy[0].status != 200 || ivy[0].body["balance"] != 32 {
        not_done(
            "4.5",
            &format!(
                "while one user's line was full, another user's first event was answered \
                 {} {}",
                ivy[0].status, ivy[0].body
            ),
            "the bound is per user: count the events of each user separately",
        );
    }
    // The line has drained now: the same user is welcome again.
    let again = server.post_together_later(&[("hal", 64)]).await;
    if again[0].status != 200 {
        not_done(
            "4.5",
            "after hal's line drained, hal's next event was not accepted",
            "take one off the user's count when an event is done (also when it is refused)",
        );
    }
    let applied: i64 = accepted
        .iter()
        .filter_map(|answer| answer.amount)
        .sum::<i64>()
        + 32
        + 64;
    let stats = server.stats().await;
    if stats["balance_total"] != applied || stats["rejected"] != 2 {
        not_done(
            "4.5",
            &format!(
                "/stats shows balance_total {} and rejected {}; the accepted amounts add up \
                 to {applied} and 2 events were refused",
                stats["balance_total"], stats["rejected"]
            ),
            "a refused event changes no balance, and counts one in `counters.rejected`",
        );
    }
}

// Lazy answers this check catches:
// - refusing at once whenever someone holds the lock (`queue_depth` > 0): a refusal must
//   come after the promised wait, at least `--max-lock-wait-ms` on the check's clock, and
//   an event that gets the lock in time must be accepted (second run);
// - a timeout around the whole of `apply` (lock and work): the first event's work alone
//   is longer than the wait, so nothing would be accepted;
// - answering 503 but applying the event anyway: `balance_total` must be the sum of the
//   accepted amounts only;
// - not counting the refusals: `/stats` `rejected` must equal the 503s seen.
#[tokio::test]
#[ignore = "exercise 4.6: Give up waiting for the lock"]
async fn exercise_6_give_up_waiting_for_the_lock() {
    // Work of 2 s and a wait of 1 s: the first event takes the lock, and the other three
    // give up after 1 s, long before the lock is free.
    let flags = ["--work-ms", "2000", "--max-lock-wait-ms", "1000"];
    let server = Server::start("4.6", &flags);
    let batch = [("jo", 1), ("jo", 2), ("jo", 4), ("jo", 8)];
    let answers = server.post_together_later(&batch).await;
    let accepted: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    if accepted.len() != 1 || refused.len() != 3 {
        not_done(
            "4.6",
            &format!(
                "with `{}`, four events sent together got {} answers 200 and {} answers 503; \
                 the first holds the lock for 2 s, so the other three should give up",
                flags.join(" "),
                accepted.len(),
                refused.len()
            ),
            "wrap only `lock().await` in `tokio::time::timeout` and answer 503 \
             `server_busy` when it expires",
        );
    }
    if let Some(early) = refused
        .iter()
        .find(|answer| answer.took + CLOCK_SLACK < Duration::from_secs(1))
    {
        not_done(
            "4.6",
            &format!(
                "a refusal came back after {:.2} s, before the promised 1 s of waiting",
                early.took.as_secs_f64()
            ),
            "refuse only when the wait for the lock has lasted `--max-lock-wait-ms`",
        );
    }
    if refused.iter().any(|a| a.body["reason"] != "server_busy") {
        not_done(
            "4.6",
            "a refusal did not carry reason `server_busy`",
            "refuse with `Response::error(503, \"server_busy\", ...)`",
        );
    }
    let stats = server.stats().await;
    let applied = accepted[0].amount.unwrap_or(0);
    if stats["balance_total"] != applied || stats["rejected"] != 3 {
        not_done(
            "4.6",
            &format!(
                "/stats shows balance_total {} and rejected {}; the accepted amount is \
                 {applied} and 3 events were refused",
                stats["balance_total"], stats["rejected"]
            ),
            "a refused event changes no balance, and counts one in `counters.rejected`",
        );
    }
    // A wait that is long enough must end in the lock, not in a refusal.
    let flags = [
        "--work-ms",
        &WORK_MS.to_string(),
        "--max-lock-wait-ms",
        "3000",
    ];
    let server = Server::start("4.6", &flags);
    let answers = server.post_together_later(&[("kim", 1), ("kim", 2)]).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    if statuses != [200, 200] {
        not_done(
            "4.6",
            &format!(
                "with `{}`, two events sent together were answered {statuses:?}: the second \
                 waits about 1 s for the lock, well within 3 s",
                flags.join(" ")
            ),
            "refuse only an event whose wait for the lock ran out, not every event that \
             has to wait",
        );
    }
}

/// Every accepted answer must have taken at least one work_ms: the work was done before
/// the answer, and done with the configured length.
fn every_answer_did_the_work(exercise: &str, answers: &[Answer]) {
    let work = Duration::from_millis(WORK_MS);
    if let Some(quick) = answers
        .iter()
        .find(|answer| answer.took + CLOCK_SLACK < work)
    {
        not_done(
            exercise,
            &format!(
                "an event was answered after {:.2} s, less than its {WORK_MS} ms of slow \
                 work",
                quick.took.as_secs_f64()
            ),
            "keep the slow work (`work::slow_call` with `--work-ms`) before the answer",
        );
    }
}

/// The answers to events of one user sent together must each see a different running
/// balance: one update after the other, none lost, ending at `total`.
fn exact_running_balances(exercise: &str, answers: &[Answer], total: i64) {
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
    // The order they are applied in is up to the server; the final total is not.
    if balances.len() != answers.len() || balances.last() != Some(&total) {
        not_done(
            exercise,
            &format!(
                "events of one user sent together were answered the balances {balances:?} \
                 (duplicates removed), not {} different running totals ending in {total}",
                answers.len()
            ),
            "an update must read and write the balance under the same lock, or two events \
             overwrite each other",
        );
    }
}

/// One answer of the server, with how long it took on the check's clock.
struct Answer {
    status: u16,
    body: Value,
    /// The amount the event carried, to add up what was applied.
    amount: Option<i64>,
    took: Duration,
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
    /// Starts `stage4 --addr 127.0.0.1:0 <flags>` and reads the address it prints first.
    /// A flag the stage does not know yet means `exercise` is not done.
    fn start(exercise: &str, flags: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stage4"))
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            // The server's own complaints (a panic, clap's error for an unknown flag)
            // show above the check's verdict.
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the stage 4 binary");
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
                    &format!("stage 4 refused the flags `{}`", flags.join(" ")),
                    "add the new flag to `Config` in src/lib.rs (with a `///` line: it \
                     becomes the `--help` text)",
                );
            }
            panic!(
                "exercise {exercise} not done yet: stage 4 did not start with `{}`: it \
                 printed {first:?} instead of `listening on http://...` (does \
                 `cargo run -p stage4` still work?)",
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

    /// Posts every `(user, amount)` of `batch` at the same moment, each on a connection of
    /// its own, and returns the answers in the order of `batch`, or `None` when they are
    /// not all in by `deadline` (which is how a check tells serial work from overlap).
    async fn post_together(
        &self,
        batch: &[(&str, i64)],
        deadline: Duration,
    ) -> Option<Vec<Answer>> {
        tokio::time::timeout(deadline, self.post_together_later(batch))
            .await
            .ok()
    }

    /// Starts sending `batch` at once (on this single-threaded test runtime the requests
    /// leave as soon as the check next waits for something) and gives a
    /// future for the answers, timed from now. An event without an answer (the server
    /// closed the connection, or took longer than `PATIENCE`) fails the check.
    fn post_together_later(
        &self,
        batch: &[(&str, i64)],
    ) -> impl std::future::Future<Output = Vec<Answer>> {
        let mut requests = JoinSet::new();
        let started = Instant::now();
        for (index, &(user, amount)) in batch.iter().enumerate() {
            let request = self
                .client
                .post(format!("{}/events", self.url))
                .json(&json!({ "user": user, "action": "buy", "amount": amount }));
            requests.spawn(async move {
                let response = request.send().await.map_err(|err| err.to_string())?;
                let status = response.status().as_u16();
                let body = response.json().await.unwrap_or(Value::Null);
                let took = started.elapsed();
                let amount = Some(amount);
                Ok((
                    index,
                    Answer {
                        status,
                        body,
                        amount,
                        took,
                    },
                ))
            });
        }
        let exercise = self.exercise.clone();
        async move {
            let answers: Vec<Result<(usize, Answer), String>> = requests.join_all().await;
            let answers: Result<Vec<(usize, Answer)>, String> = answers.into_iter().collect();
            let mut answers = answers.unwrap_or_else(|err| {
                not_done(
                    &exercise,
                    &format!(
                        "an event got no answer ({err}): did the server stop, or a \
                         connection task panic? its own output, if any, is above"
                    ),
                    "answer every event: 200 after its work, or 503",
                )
            });
            answers.sort_by_key(|(index, _)| *index);
            answers.into_iter().map(|(_, answer)| answer).collect()
        }
    }

    /// Waits until `/stats` shows one event in its work and others waiting: the line the
    /// check sent has formed. Polls rather than sleeps, so a slow machine only waits longer.
    async fn wait_for_line(&self, exercise: &str) {
        let started = Instant::now();
        loop {
            let stats = self.stats().await;
            if stats["busy_workers"] == 1 && stats["queue_depth"].as_u64().unwrap_or(0) >= 1 {
                return;
            }
            if started.elapsed() > PATIENCE {
                not_done(
                    exercise,
                    &format!(
                        "/stats never showed an event in its work and others waiting: {stats}"
                    ),
                    "keep `queue_depth` counting the events that wait for a lock, and \
                     `start_work()`/`finish_work()` around the work",
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
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
                "stage 4 did not answer GET /stats with JSON (did it stop? its own output, \
                 if any, is above)",
                "run `cargo run -p stage4` and send it the check's requests by hand",
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
         Hint: `cargo run -p workshop -- hint {exercise}`, or the book chapter 'Stage 4', \
         exercise {exercise}.\n"
    )
}
