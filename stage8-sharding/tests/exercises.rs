//! Checks for the exercises of stage 8 (book chapter "Stage 8", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one when you think you have solved it:
//!
//! ```sh
//! cargo test -p stage8 --test exercises -- --ignored exercise_5_
//! ```
//!
//! A check that fails says what is still missing. Reference solutions are in
//! `solutions/stage8-sharding/`; try on your own first.
//!
//! The checks start the stage's own binary, exactly as `cargo run -p stage8` does, and
//! talk to it over HTTP. That way a check only relies on what never changes: the flags,
//! the first line the server prints, and the fields of `/stats`. They judge the shards by
//! counts and gauges (updates per shard, lock holders at once), never by how fast
//! anything was.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// A generous bound on any one answer, and on a drain. It only turns a hang into a
/// failure.
const PATIENCE: Duration = Duration::from_secs(20);

/// How often a check polls `/stats` while jobs are running.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// The hand-rolled map with eight shards and no simulated work: what these checks
/// look at is where each update goes.
const HAND_ROLLED: [&str; 6] = ["--map", "sharded", "--shards", "8", "--work-ms", "0"];

#[tokio::test]
#[ignore = "exercise 8.5: Count the updates each shard takes"]
async fn exercise_5_count_shard_updates() {
    let server = Server::start("8.5", &[&HAND_ROLLED[..], &["--hold-ms", "0"]].concat());
    server
        .post_events((0..256).map(|i| format!("user{i}")))
        .await;
    let stats = server.drained(256).await;
    let Some(updates) = stats["shard_updates"].as_array() else {
        not_done(
            "8.5",
            &format!(
                "with `--map sharded`, `/stats` has no list `shard_updates` yet (it has {})",
                stats["shard_updates"]
            ),
            "count the updates each shard of `ShardedMap` takes, and serve the counts as \
             a list `shard_updates` in `/stats`, one number per shard",
        );
    };
    let counts: Vec<u64> = updates.iter().filter_map(Value::as_u64).collect();
    if counts.len() != 8 {
        not_done(
            "8.5",
            &format!(
                "with `--shards 8`, `shard_updates` is {}",
                stats["shard_updates"]
            ),
            "serve one number per shard, shard 0 first",
        );
    }
    let sum: u64 = counts.iter().sum();
    if sum != 256 || counts.contains(&0) {
        not_done(
            "8.5",
            &format!("after 256 updates for 256 users, `shard_updates` is {counts:?} (sum {sum})"),
            "count every update once, in the shard that took it: the counts add up to \
             `processed`, and 256 users leave no shard of eight without one",
        );
    }
}

#[tokio::test]
#[ignore = "exercise 8.6: Choose the shard for a user yourself"]
async fn exercise_6_choose_the_shard() {
    // Eight users that the rule puts in eight different shards, holding for 2 s each:
    // all eight hold their shard's lock at the same moment. And eight that it puts in
    // shard 0: they take turns, one at a time.
    let spread = Server::start(
        "8.6",
        &[&HAND_ROLLED[..], &["--workers", "8", "--hold-ms", "2000"]].concat(),
    );
    let crowded = Server::start(
        "8.6",
        &[&HAND_ROLLED[..], &["--workers", "8", "--hold-ms", "200"]].concat(),
    );
    let spread_users = (0..8).map(|i| format!("user{i}"));
    let crowded_users = (0..8).map(|i| format!("user{}", i * 8));
    tokio::join!(
        spread.post_events(spread_users),
        crowded.post_events(crowded_users)
    );
    let (spread, crowded) = tokio::join!(spread.drained(8), crowded.drained(8));
    if spread["peak_lock_holders"].as_u64() != Some(8) {
        not_done(
            "8.6",
            &format!(
                "`user0` to `user7` on eight shards held at most {} shard locks at once, \
                 not 8",
                spread["peak_lock_holders"]
            ),
            "in `ShardedMap::shard`, send a user whose name ends in a number to shard \
             `number % shards` (`user3` to shard 3), and any other name by its hash as \
             before",
        );
    }
    if crowded["peak_lock_holders"].as_u64() != Some(1) || crowded["users"].as_u64() != Some(8) {
        not_done(
            "8.6",
            &format!(
                "`user0`, `user8`, ... `user56` should all share shard 0 and take turns, \
                 yet {} shard locks were held at once (users: {})",
                crowded["peak_lock_holders"], crowded["users"]
            ),
            "route by the number at the end of the name modulo the shard count, so \
             numbers eight apart land in the same shard",
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
    /// Starts `stage8 --addr 127.0.0.1:0 <flags>` and reads the address it prints first.
    /// A flag the stage does not know yet fails `exercise` with clap's own words.
    fn start(exercise: &'static str, flags: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stage8"))
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the stage 8 binary");
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
                    "`stage8 {}` did not start; it said: {said}",
                    flags.join(" ")
                ),
                "add the flag the exercise asks for to `Config` in src/lib.rs (a field \
                 with `#[arg(long)]` becomes a flag), and check that `cargo run -p stage8` \
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
                    .expect("stage 8 answers a POST within the patience bound");
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
            .expect("stage 8 answers /stats within the patience bound");
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
         Hint: book chapter 'Stage 8', exercise {exercise}, or stage8-sharding/README.md.\n"
    )
}
