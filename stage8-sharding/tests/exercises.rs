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
//! counts and gauges (updates per shard, lock holders at once), and because a gauge is
//! only as honest as the code that reports it, also by exact totals, answers on the wire
//! and the check's own clock on holds that *sleep* (eight 1 s holds take at least 8 s one
//! after the other and about 1 s side by side, however busy the machine). No check
//! asserts that anything was fast beyond such a wide ratio.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use tokio::time::Instant;

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
// Lazy answers this check catches: counting users (entries) instead of updates (every
// user gets two updates); `processed` split evenly over the shards (one hot user's 64
// updates must all land in one shard); a list of eight whatever `--shards` says (three
// shards give three counts); counts for DashMap, whose shards are not public (null).
async fn exercise_5_count_shard_updates() {
    let server = Server::start("8.5", &[&HAND_ROLLED[..], &["--hold-ms", "0"]].concat());
    let fresh = server.stats().await;
    if !fresh["shard_updates"].is_array() {
        not_done(
            "8.5",
            &format!(
                "with `--map sharded`, `/stats` has no list `shard_updates` yet (it has {})",
                fresh["shard_updates"]
            ),
            "count the updates each shard of `ShardedMap` takes, and serve the counts as \
             a list `shard_updates` in `/stats`, one number per shard",
        );
    }
    // 256 users, two updates each.
    for _ in 0..2 {
        server
            .post_events((0..256).map(|i| format!("user{i}")))
            .await;
    }
    let stats = server.drained(512).await;
    let counts = shard_list("8.5", &stats, "shard_updates", 8);
    let sum: u64 = counts.iter().sum();
    if sum != 512 || counts.contains(&0) {
        not_done(
            "8.5",
            &format!(
                "after two updates each for 256 users (512 in all), `shard_updates` is \
                 {counts:?} (sum {sum})"
            ),
            "count every update once, in the shard that took it, not the users it holds: \
             the counts add up to `processed`, and 256 users leave no shard of eight \
             without one",
        );
    }
    // One hot user on three shards: all 64 of their updates go to the same shard.
    let hot = Server::start(
        "8.5",
        &[
            "--map",
            "sharded",
            "--shards",
            "3",
            "--work-ms",
            "0",
            "--hold-ms",
            "0",
        ],
    );
    hot.post_events((0..64).map(|_| "hot".to_owned())).await;
    let stats = hot.drained(64).await;
    let mut counts = shard_list("8.5", &stats, "shard_updates", 3);
    counts.sort_unstable();
    if counts != [0, 0, 64] {
        not_done(
            "8.5",
            &format!(
                "64 updates of one user on three shards gave `shard_updates` {}",
                stats["shard_updates"]
            ),
            "raise the counter of the shard the update really goes to (where the shard \
             is chosen), one per update",
        );
    }
    let dash = Server::start("8.5", &["--map", "dashmap", "--hold-ms", "0"]);
    let stats = dash.stats().await;
    if !stats["shard_updates"].is_null() {
        not_done(
            "8.5",
            &format!(
                "with `--map dashmap`, `shard_updates` is {}",
                stats["shard_updates"]
            ),
            "serve `null` for DashMap, whose shards are not public: an `Option` that is \
             `None` for it",
        );
    }
}

#[tokio::test]
#[ignore = "exercise 8.6: Choose the shard for a user yourself"]
// Lazy answers this check catches: the rule for numbered names, and every other name
// sent to shard 0 (eight names without digits must still spread); the holders gauge
// silenced or faked (eight 1 s holds on eight shards end in under 5 s, eight 200 ms holds
// on one shard take at least 1.2 s); hashing kept (numbers eight apart do not collide).
async fn exercise_6_choose_the_shard() {
    // Eight users that the rule puts in eight different shards, holding for 1 s each:
    // all eight hold their shard's lock at the same moment. Eight that it puts in shard
    // 0: they take turns, one at a time. Eight names without a number: spread by hash.
    let eight_workers = [&HAND_ROLLED[..], &["--workers", "8"]].concat();
    let spread = Server::start(
        "8.6",
        &[&eight_workers[..], &["--hold-ms", "1000"]].concat(),
    );
    let crowded = Server::start("8.6", &[&eight_workers[..], &["--hold-ms", "200"]].concat());
    let named = Server::start(
        "8.6",
        &[&eight_workers[..], &["--hold-ms", "1000"]].concat(),
    );
    let spread_users = (0..8).map(|i| format!("user{i}"));
    let crowded_users = (0..8).map(|i| format!("user{}", i * 8));
    let names = ["ada", "bob", "cyd", "dot", "eve", "fay", "gil", "hal"];
    let clock = Instant::now();
    tokio::join!(
        spread.post_events(spread_users),
        crowded.post_events(crowded_users),
        named.post_events(names.iter().map(|name| name.to_string())),
    );
    let timed = |server: &'static str, drained| async move {
        let stats: Value = drained.await;
        (stats, clock.elapsed().as_secs_f64(), server)
    };
    let ((spread, spread_took, _), (crowded, crowded_took, _), (named, _, _)) = tokio::join!(
        timed("spread", spread.drained(8)),
        timed("crowded", crowded.drained(8)),
        timed("named", named.drained(8)),
    );
    if spread["peak_lock_holders"].as_u64() != Some(8) || spread_took >= 5.0 {
        not_done(
            "8.6",
            &format!(
                "`user0` to `user7` on eight shards held at most {} shard locks at once, \
                 and their eight 1 s holds took {spread_took:.1} s (side by side 1 s, one \
                 at a time 8 s)",
                spread["peak_lock_holders"]
            ),
            "in `ShardedMap::shard`, send a user whose name ends in a number to shard \
             `number % shards` (`user3` to shard 3), and any other name by its hash as \
             before",
        );
    }
    if crowded["peak_lock_holders"].as_u64() != Some(1)
        || crowded["users"].as_u64() != Some(8)
        || crowded_took < 1.2
    {
        not_done(
            "8.6",
            &format!(
                "`user0`, `user8`, ... `user56` should all share shard 0 and take turns \
                 (eight 200 ms holds: at least 1.6 s), yet {} shard locks were held at \
                 once, they were done after {crowded_took:.1} s, and /stats counts {} users",
                crowded["peak_lock_holders"], crowded["users"]
            ),
            "route by the number at the end of the name modulo the shard count, so \
             numbers eight apart land in the same shard",
        );
    }
    if named["peak_lock_holders"].as_u64().unwrap_or(0) < 2 {
        not_done(
            "8.6",
            &format!(
                "eight names without a number ({}) all took turns at one shard lock",
                names.join(", ")
            ),
            "keep hashing the names that do not end in a number, so they still spread \
             over the shards",
        );
    }
}

#[tokio::test]
#[ignore = "exercise 8.7: Count the updates that found their shard taken"]
// Lazy answers this check catches: stage 7.8's single counter copied into every entry,
// or the whole count put in entry 0 (the line forms only in the hot user's shard, which
// the check finds through `shard_updates`); a count of every update (updates that never
// overlap must count 0); a list that ignores `--shards` (three shards, three counts).
// Done before 8.5: `shard_updates` is missing, and the check says so.
async fn exercise_7_count_contention_per_shard() {
    let flags = [
        "--map",
        "sharded",
        "--shards",
        "3",
        "--workers",
        "4",
        "--work-ms",
        "0",
    ];
    let calm = Server::start("8.7", &[&flags[..], &["--hold-ms", "50"]].concat());
    let fresh = calm.stats().await;
    if !fresh["shard_updates"].is_array() {
        not_done(
            "8.7",
            "`/stats` has no list `shard_updates`: this exercise builds on 8.5",
            "do exercise 8.5 first",
        );
    }
    if !fresh["shard_contended"].is_array() {
        not_done(
            "8.7",
            &format!(
                "with `--map sharded`, `/stats` has no list `shard_contended` yet (it has {})",
                fresh["shard_contended"]
            ),
            "count, per shard, the updates whose `try_lock` on that shard was refused, and \
             serve the counts as `shard_contended`, shard 0 first",
        );
    }
    // Four updates of one user, each done before the next is sent: none found it taken.
    for i in 0..4u64 {
        calm.post_events(std::iter::once("solo".to_owned())).await;
        calm.drained(i + 1).await;
    }
    let stats = calm.stats().await;
    if shard_list("8.7", &stats, "shard_contended", 3) != [0, 0, 0] {
        not_done(
            "8.7",
            &format!(
                "four updates sent one after the other, each done before the next arrived, \
                 found their shard free every time, yet `shard_contended` is {}",
                stats["shard_contended"]
            ),
            "count an update only when its shard was taken at the moment it asked: \
             `try_lock` first, count the refusal, then wait with `lock`",
        );
    }
    // Four updates of one user at once, holding the shard 300 ms each: the first finds
    // it free, the three others wait in that shard's line; the other shards see nobody.
    let hot = Server::start("8.7", &[&flags[..], &["--hold-ms", "300"]].concat());
    hot.post_events((0..4).map(|_| "hot".to_owned())).await;
    let stats = hot.drained(4).await;
    let updates = shard_list("8.7", &stats, "shard_updates", 3);
    let contended = shard_list("8.7", &stats, "shard_contended", 3);
    let expected: Vec<u64> = updates.iter().map(|&n| n.saturating_sub(1)).collect();
    if contended != expected {
        not_done(
            "8.7",
            &format!(
                "four updates of one user arrived together at their shard (`shard_updates` \
                 {updates:?}); three of them found it taken, yet `shard_contended` is \
                 {contended:?}"
            ),
            "count each refusal in the shard whose `try_lock` refused it",
        );
    }
}

#[tokio::test]
#[ignore = "exercise 8.8: Read one balance"]
// Lazy answers this check catches: 200 with a made-up or zero balance (exact sums of
// several events per user, on both maps); the route without the 404 for a user never
// seen; a balance read from a copy kept outside the shard (during a 2 s hold it does
// not have the update yet; the shard's lock makes the read wait for it).
async fn exercise_8_read_one_balance() {
    for map in ["sharded", "dashmap"] {
        let server = Server::start("8.8", &["--map", map, "--work-ms", "0", "--hold-ms", "0"]);
        // user{i} gets events of 1, 2, ... i + 1: a balance of (i + 1)(i + 2) / 2.
        for round in 0..8i64 {
            server
                .post_amounts((round..8).map(|i| (format!("user{i}"), round + 1)))
                .await;
        }
        server.drained(36).await;
        for i in 0..8i64 {
            let user = format!("user{i}");
            let (status, body) = server.get(&format!("/balances/{user}")).await;
            let expected = (i + 1) * (i + 2) / 2;
            if status != 200 || body["balance"] != expected {
                not_done(
                    "8.8",
                    &format!(
                        "with `--map {map}`, {user} got events worth {expected}, and \
                         `GET /balances/{user}` answered {status} {body}"
                    ),
                    "route `GET /balances/{user}` to the ledger, read that user's balance \
                     under their shard's lock, and answer `{\"user\": ..., \"balance\": \
                     ...}`",
                );
            }
        }
        let (status, body) = server.get("/balances/nobody").await;
        if status != 404 || !body["reason"].is_string() {
            not_done(
                "8.8",
                &format!(
                    "with `--map {map}`, `GET /balances/nobody` (no event ever) answered \
                     {status} {body}"
                ),
                "answer 404 with a JSON error (`reason` and `detail`) for a user with no \
                 balance yet",
            );
        }
    }
    // A read during an update of the same user waits for it, so it sees the new balance.
    let server = Server::start("8.8", &[&HAND_ROLLED[..], &["--hold-ms", "2000"]].concat());
    server
        .post_amounts(std::iter::once(("slow".to_owned(), 5)))
        .await;
    server
        .sample_until(
            |stats| stats["lock_holders"] == 1,
            "the update to hold its shard",
        )
        .await;
    let (status, body) = server.get("/balances/slow").await;
    if status != 200 || body["balance"] != 5 {
        not_done(
            "8.8",
            &format!(
                "while an event worth 5 for `slow` held its shard for 2 s, \
                 `GET /balances/slow` answered {status} {body}: it did not wait for the \
                 update in progress"
            ),
            "read the balance through the shard's own lock (the map itself), not from a \
             copy kept elsewhere",
        );
    }
}

/// The list `field` of `/stats`, which must have one number per shard.
fn shard_list(exercise: &str, stats: &Value, field: &str, shards: usize) -> Vec<u64> {
    let counts: Vec<u64> = stats[field]
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    if counts.len() != shards {
        not_done(
            exercise,
            &format!("with `--shards {shards}`, `{field}` is {}", stats[field]),
            "serve one number per shard, shard 0 first",
        );
    }
    counts
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

    /// Posts one event of 1 per user, all at once, and expects each to be accepted.
    async fn post_events(&self, users: impl Iterator<Item = String>) {
        self.post_amounts(users.map(|user| (user, 1))).await;
    }

    /// Posts one event per (user, amount), all at once, and expects each to be accepted.
    async fn post_amounts(&self, events: impl Iterator<Item = (String, i64)>) {
        let posts = events.map(|(user, amount)| {
            let event = json!({ "user": user, "action": "buy", "amount": amount });
            let request = self
                .client
                .post(format!("{}/events", self.url))
                .json(&event);
            async move {
                let response = request.send().await.map_err(|err| err.to_string())?;
                let status = response.status().as_u16();
                Ok::<_, String>((status, response.text().await.unwrap_or_default()))
            }
        });
        for answer in all_at_once(posts).await {
            let (status, body) = answer.unwrap_or_else(|err| self.crashed("POST /events", &err));
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
            .unwrap_or_else(|err| self.crashed("GET /stats", &err.to_string()));
        let stats = response.json().await;
        stats.unwrap_or_else(|err| self.crashed("GET /stats with JSON", &err.to_string()))
    }

    /// Fails the check when the server did not answer at all: it most likely crashed.
    fn crashed(&self, request: &str, err: &str) -> ! {
        not_done(
            self.exercise,
            &format!("stage 8 did not answer `{request}`: {err}"),
            "look for a panic in the server: run `cargo run -p stage8` and send the same \
             requests; a panic in a worker or a connection ends the answer",
        )
    }

    /// A GET of `path`: the status and the JSON body (null if it is not JSON).
    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap_or_else(|err| self.crashed(&format!("GET {path}"), &err.to_string()));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `count` jobs are processed; returns the `/stats` that showed it.
    async fn drained(&self, count: u64) -> Value {
        let waiting_for = format!("{count} accepted events to be processed");
        self.sample_until(
            |stats| stats["processed"].as_u64() >= Some(count),
            &waiting_for,
        )
        .await
    }

    /// Polls `/stats` until `ready` holds, and returns it then. Bounded by the patience
    /// deadline: it waits for a state, it never judges how long reaching it took.
    async fn sample_until(&self, ready: impl Fn(&Value) -> bool, waiting_for: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let stats = self.stats().await;
            if ready(&stats) {
                return stats;
            }
            if Instant::now() > deadline {
                not_done(
                    self.exercise,
                    &format!(
                        "after {PATIENCE:?} of waiting for {waiting_for}, `/stats` shows {stats}"
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
         Hint: `cargo run -p workshop -- hint {exercise}`, or the book chapter 'Stage 8'.\n"
    )
}
