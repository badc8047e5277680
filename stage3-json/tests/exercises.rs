//! Checks for the exercises of stage 3 (book chapter "Stage 3", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one when you think you have solved it, through the workshop runner:
//!
//! ```sh
//! cargo run -p workshop -- check 3.2
//! cargo test -p stage3 --test exercises -- --ignored --exact exercise_2_user_letters_and_digits
//! ```
//!
//! A check that fails starts with "exercise N.K not done yet: " and says what it saw and
//! what is still missing. Reference solutions are in `solutions/stage3-json/`; try on
//! your own first.
//!
//! The checks start the stage's own binary, exactly as `cargo run -p stage3` does, and
//! talk to it over HTTP. That way a check only relies on what never changes: the flags
//! and the first line the server prints.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A generous bound on any one answer. It only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(20);

// Lazy answers this check catches:
// - refusing only the characters the book names (space, `é`, `!`, newline, `/`): other
//   punctuation, a tab, a dot, a dash and an underscore must be refused too;
// - `char::is_alphanumeric` (Unicode letters): a full-width letter and an Arabic digit
//   are letters and digits, but not ASCII;
// - testing only the first or last character: the bad ones sit in the middle too;
// - refusing every event (answering the status without the test): valid names pass.
#[tokio::test]
#[ignore = "exercise 3.2: Accept only letters and digits in a user name"]
async fn exercise_2_user_letters_and_digits() {
    const EXERCISE: &str = "3.2";
    let server = Server::start(&[]);
    for user in ["alice", "Bob42", "7"] {
        let (status, body) = server.post_event(EXERCISE, &event(user, "buy", 5)).await;
        if status != 200 {
            not_done(
                "3.2",
                &format!("the user {user:?} was refused: {status} {body}"),
                "ASCII letters and digits are all valid in a user name",
            );
        }
    }
    for user in [
        "al ice", "älice", "alice!", "bob\n", "../etc", "al-ice", "al_ice", "al.ice", "al\tice",
        "!alice", "ａlice", "bob٣", "a\u{0}b",
    ] {
        let (status, body) = server.post_event(EXERCISE, &event(user, "buy", 5)).await;
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

// Lazy answers this check catches:
// - a case-insensitive comparison: `BUY` and `Sell` are refused;
// - `starts_with` or `contains` instead of equality: `buy `, `buyer`, `withdrawal` and
//   `sel` are refused;
// - refusing only the book's examples (`steal`, `refund`): any other word is refused;
// - refusing every event: the four actions pass, for a user other than `alice` too.
#[tokio::test]
#[ignore = "exercise 3.3: Allow only four actions"]
async fn exercise_3_known_actions() {
    const EXERCISE: &str = "3.3";
    let server = Server::start(&[]);
    for (user, action) in [
        ("alice", "buy"),
        ("alice", "sell"),
        ("bob", "deposit"),
        ("carol7", "withdraw"),
    ] {
        let (status, body) = server.post_event(EXERCISE, &event(user, action, 5)).await;
        if status != 200 {
            not_done(
                "3.3",
                &format!("the action {action:?} was refused: {status} {body}"),
                "buy, sell, deposit and withdraw are the four valid actions",
            );
        }
    }
    for action in [
        "steal",
        "BUY",
        "Sell",
        "buy ",
        "buyer",
        "sel",
        "withdrawal",
        "refund",
        "transfer",
    ] {
        let (status, body) = server
            .post_event(EXERCISE, &event("alice", action, 5))
            .await;
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

// Lazy answers this check catches:
// - refusing every amount of 0 or less, whatever the action: `buy -5` and `sell 0` stay
//   valid;
// - `< 0` instead of `<= 0`: a withdrawal of 0 is refused;
// - refusing `withdraw` altogether: a positive withdrawal, up to the largest amount,
//   passes;
// - answering 400 with another reason: the reason must be `invalid_event`.
#[tokio::test]
#[ignore = "exercise 3.4: A withdrawal takes a positive amount"]
async fn exercise_4_positive_withdrawal() {
    const EXERCISE: &str = "3.4";
    let server = Server::start(&[]);
    for (action, amount) in [
        ("withdraw", 5),
        ("withdraw", 1),
        ("withdraw", 1_000_000_000),
        ("buy", -5),
        ("sell", 0),
        ("deposit", -1),
    ] {
        let (status, body) = server
            .post_event(EXERCISE, &event("alice", action, amount))
            .await;
        if status != 200 {
            not_done(
                "3.4",
                &format!("{action} {amount} was refused: {status} {body}"),
                "a positive withdrawal is valid, and other actions keep their rules",
            );
        }
    }
    for amount in [-5, 0, -1_000_000_000] {
        let (status, body) = server
            .post_event(EXERCISE, &event("alice", "withdraw", amount))
            .await;
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

/// Exercise 3.7's connection age, as the check passes it on the command line.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(1);

/// How long a check waits for something that must happen at all (a retired
/// connection, an answer). Not a performance bound: a working server needs a fraction.
const SLACK: Duration = Duration::from_secs(5);

// Lazy answers this check catches:
// - keep-alive switched off (or `Connection: close` on every answer): the connection must
//   serve requests for the whole age, 1 s, before it is retired;
// - a cap on requests per connection instead of an age: one client sends every 100 ms,
//   the other every 400 ms, and both must retire after 1 s, not after N requests;
// - a smaller read timeout: both clients send well within any read timeout, so it never
//   retires them;
// - closing the connection between requests (a timer around the whole connection)
//   instead of saying so on an answer: the client's next request is then lost, and the
//   check sees a connection that closed without answering it;
// - retiring the server rather than the connection: a new connection is still served.
#[test]
#[ignore = "exercise 3.7: Retire a keep-alive connection"]
fn exercise_7_connection_age() {
    let server = match Server::try_start(&["--max-connection-age", "1s"]) {
        Ok(server) => server,
        Err(printed) => not_done(
            "3.7",
            &format!("stage 3 does not accept `--max-connection-age 1s` yet ({printed})"),
            "add a `max_connection_age` knob to `Config`, read by clap like `read_timeout`",
        ),
    };
    let addr = server.addr();
    let clients: Vec<_> = [100, 400]
        .into_iter()
        .map(|every| {
            let addr = addr.clone();
            (every, thread::spawn(move || keep_sending(&addr, every)))
        })
        .collect();
    for (every, client) in clients {
        match client.join().expect("the keep-alive client's thread") {
            Ok((answers, after)) if after >= MAX_CONNECTION_AGE.mul_f64(0.9) && answers >= 2 => {}
            Ok((answers, after)) => not_done(
                "3.7",
                &format!(
                    "a client sending every {every} ms was told `Connection: close` after \
                     {answers} answers and {after:?}, before the connection was 1 s old"
                ),
                "keep the connection open for requests until it reaches its age; retire \
                 it by its age, not by a count of requests",
            ),
            Err(observed) => not_done(
                "3.7",
                &format!("a client sending every {every} ms {observed}"),
                "once a connection is older than `max_connection_age`, answer its current \
                 request with `Connection: close` and close it",
            ),
        }
    }
    match keep_sending(&addr, 0) {
        Ok(_) => {}
        Err(observed) => not_done(
            "3.7",
            &format!("after two connections were retired, a new one {observed}"),
            "retire the old connection only; the server keeps serving new ones",
        ),
    }
}

fn event(user: &str, action: &str, amount: i64) -> Value {
    json!({ "user": user, "action": action, "amount": amount })
}

/// Sends one event every `every_ms` over one keep-alive connection until the server
/// answers `Connection: close`. Returns the answers counted and how long after connecting
/// that close came, or what went wrong (as the end of a sentence).
fn keep_sending(addr: &str, every_ms: u64) -> Result<(usize, Duration), String> {
    let body = event("alice", "buy", 1).to_string();
    let request = format!(
        "POST /events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let started = Instant::now();
    let deadline = started + MAX_CONNECTION_AGE + SLACK;
    let stream = TcpStream::connect(addr).map_err(|err| format!("could not connect: {err}"))?;
    let mut reader = BufReader::new(stream);
    for answers in 0.. {
        if Instant::now() >= deadline {
            return Err(format!(
                "was still kept alive after {answers} answers and 6 s: nothing retires it"
            ));
        }
        if reader.get_mut().write_all(request.as_bytes()).is_err() {
            return Err(format!(
                "found the connection closed after {answers} answers, \
                                without an answer saying `Connection: close`"
            ));
        }
        let Some((head, _body)) = read_response(&mut reader, deadline) else {
            return Err(format!(
                "got no answer to request {} on a connection the server had not said it \
                 would close",
                answers + 1
            ));
        };
        if !head.starts_with("HTTP/1.1 200 ") {
            return Err(format!("got {head:?} for a valid event"));
        }
        if head
            .lines()
            .any(|line| line.eq_ignore_ascii_case("connection: close"))
        {
            return Ok((answers + 1, started.elapsed()));
        }
        thread::sleep(Duration::from_millis(every_ms));
    }
    unreachable!("the loop above only ends by returning")
}

/// Reads one response (head and Content-Length body) before `deadline`.
fn read_response(
    reader: &mut BufReader<TcpStream>,
    deadline: Instant,
) -> Option<(String, Vec<u8>)> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return None;
    }
    reader.get_ref().set_read_timeout(Some(left)).ok()?;
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(line.trim_end());
        head.push('\n');
    }
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// The stage's binary, started on a free port and killed when the check ends.
struct Server {
    child: Child,
    url: String,
    client: reqwest::Client,
}

impl Server {
    /// Starts `stage3 --addr 127.0.0.1:0 <flags>`; a check of something the starting
    /// code already has cannot proceed without a server, so it stops here.
    fn start(flags: &[&str]) -> Server {
        Server::try_start(flags).unwrap_or_else(|printed| {
            panic!(
                "stage 3 did not start with `{}`: {printed} (does `cargo run -p stage3` \
                 still work?)",
                flags.join(" ")
            )
        })
    }

    /// Starts the binary and reads the address it prints first; on failure, returns what
    /// it printed instead (clap's complaint about an unknown flag, for example).
    fn try_start(flags: &[&str]) -> Result<Server, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stage3"))
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("could not run the stage 3 binary: {err}"))?;
        let stdout = child.stdout.take().expect("the server's stdout");
        let mut stderr = child.stderr.take().expect("the server's stderr");
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        let _ = lines.read_line(&mut first);
        let Some(url) = first.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let mut printed = String::new();
            let _ = stderr.read_to_string(&mut printed);
            let said = printed.lines().next().unwrap_or(first.trim()).to_owned();
            return Err(format!("it said {said:?}"));
        };
        // Keep reading both pipes, so the server never blocks on a full one.
        thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
        thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Ok(Server {
            url: url.to_owned(),
            child,
            client: reqwest::Client::builder()
                .timeout(PATIENCE)
                .build()
                .expect("an HTTP client"),
        })
    }

    /// `host:port`, for the checks that talk raw HTTP.
    fn addr(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    /// Posts one event to `/events`; returns the status and the JSON answer.
    async fn post_event(&self, exercise: &str, event: &Value) -> (u16, Value) {
        let sent = self
            .client
            .post(format!("{}/events", self.url))
            .json(event)
            .send()
            .await;
        let response = sent.unwrap_or_else(|err| {
            not_done(
                exercise,
                &format!("the event {event} got no answer within 20 s ({err})"),
                "every event gets an answer: 200, or 400 with a reason",
            )
        });
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
         Hint: `cargo run -p workshop -- hint {exercise}`, or the book chapter 'Stage 3'.\n"
    )
}
