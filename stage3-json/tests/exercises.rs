//! Checks for the exercises of stage 3 (book chapter "Stage 3", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one when you think you have solved it:
//!
//! ```sh
//! cargo test -p stage3 --test exercises -- --ignored exercise_2_
//! ```
//!
//! A check that fails says what is still missing. Reference solutions are in
//! `solutions/stage3-json/`; try on your own first.
//!
//! The checks start the stage's own binary, exactly as `cargo run -p stage3` does, and
//! talk to it over HTTP. That way a check only relies on what never changes: the flags
//! and the first line the server prints.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// A generous bound on any one answer. It only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test]
#[ignore = "exercise 3.2: Accept only letters and digits in a user name"]
async fn exercise_2_user_letters_and_digits() {
    let server = Server::start(&[]);
    for user in ["alice", "Bob42", "7"] {
        let (status, body) = server.post_event(&event(user, "buy", 5)).await;
        if status != 200 {
            not_done(
                "3.2",
                &format!("the user {user:?} was refused: {status} {body}"),
                "ASCII letters and digits are all valid in a user name",
            );
        }
    }
    for user in ["al ice", "älice", "alice!", "bob\n", "../etc"] {
        let (status, body) = server.post_event(&event(user, "buy", 5)).await;
        if status != 400 || body["reason"] != "invalid_event" {
            not_done(
                "3.2",
                &format!("the user {user:?} was answered {status} {body}"),
                "a user name with anything but ASCII letters and digits must be refused \
                 with 400 and reason `invalid_event`",
            );
        }
    }
}

#[tokio::test]
#[ignore = "exercise 3.3: Allow only four actions"]
async fn exercise_3_known_actions() {
    let server = Server::start(&[]);
    for action in ["buy", "sell", "deposit", "withdraw"] {
        let (status, body) = server.post_event(&event("alice", action, 5)).await;
        if status != 200 {
            not_done(
                "3.3",
                &format!("the action {action:?} was refused: {status} {body}"),
                "buy, sell, deposit and withdraw are the four valid actions",
            );
        }
    }
    for action in ["steal", "BUY", "buy ", "refund"] {
        let (status, body) = server.post_event(&event("alice", action, 5)).await;
        if status != 400 || body["reason"] != "invalid_event" {
            not_done(
                "3.3",
                &format!("the action {action:?} was answered {status} {body}"),
                "any action but buy, sell, deposit or withdraw must be refused with 400 and \
                 reason `invalid_event`",
            );
        }
    }
}

#[tokio::test]
#[ignore = "exercise 3.4: A withdrawal takes a positive amount"]
async fn exercise_4_positive_withdrawal() {
    let server = Server::start(&[]);
    for (action, amount) in [("withdraw", 5), ("withdraw", 1_000_000_000), ("buy", -5)] {
        let (status, body) = server.post_event(&event("alice", action, amount)).await;
        if status != 200 {
            not_done(
                "3.4",
                &format!("{action} {amount} was refused: {status} {body}"),
                "a positive withdrawal is valid, and other actions keep their rules",
            );
        }
    }
    for amount in [-5, 0] {
        let (status, body) = server.post_event(&event("alice", "withdraw", amount)).await;
        if status != 400 || body["reason"] != "invalid_event" {
            not_done(
                "3.4",
                &format!("withdraw {amount} was answered {status} {body}"),
                "a `withdraw` whose amount is 0 or negative must be refused with 400 and \
                 reason `invalid_event`",
            );
        }
    }
}

fn event(user: &str, action: &str, amount: i64) -> Value {
    json!({ "user": user, "action": action, "amount": amount })
}

/// The stage's binary, started on a free port and killed when the check ends.
struct Server {
    child: Child,
    url: String,
    client: reqwest::Client,
}

impl Server {
    /// Starts `stage3 --addr 127.0.0.1:0 <flags>` and reads the address it prints first.
    fn start(flags: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stage3"))
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the stage 3 binary");
        let stdout = child.stdout.take().expect("the server's stdout");
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        let _ = lines.read_line(&mut first);
        let Some(url) = first.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!(
                "stage 3 did not start with `{}`: it printed {first:?} instead of \
                 `listening on http://...` (does `cargo run -p stage3` still work?)",
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

    /// Posts one event to `/events`; returns the status and the JSON answer.
    async fn post_event(&self, event: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/events", self.url))
            .json(event)
            .send()
            .await
            .expect("stage 3 answers within the patience bound");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
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
         Hint: book chapter 'Stage 3', exercise {exercise}, or stage3-json/README.md.\n"
    )
}
