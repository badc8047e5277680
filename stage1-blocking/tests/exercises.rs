//! Checks for the code exercises of stage 1 (book chapter "Stage 1", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one when you think you have solved it, through the workshop runner:
//!
//! ```sh
//! cargo run -p workshop -- check 1.2
//! cargo test -p stage1 --test exercises -- --ignored --exact exercise_2_read_timeout
//! ```
//!
//! A check that fails starts with "exercise N.K not done yet: " and says what it saw and
//! what is still missing. Reference solutions are in `solutions/stage1-blocking/`; try
//! on your own first.
//!
//! The checks talk raw HTTP/1.1 over blocking sockets, because what they watch (a client
//! that pauses, drips or says nothing) is exactly what an HTTP library would hide. Every
//! wait is bounded by the check's own clock: a server that never answers makes a check
//! fail after a few seconds, not hang.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use stage1::READ_TIMEOUT;

/// What the checks were timed for. The exercises are about the mechanism, so changing
/// the constant instead is answered with a sentence rather than with a confusing timing.
const EXPECTED_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Slack on top of the read timeout before a check gives up on something that must
/// happen. It is not a performance bound: a working server needs milliseconds of it.
const SLACK: Duration = Duration::from_secs(3);

/// How long a well-behaved client pauses in the middle of its request. Shorter than the
/// read timeout, so a server must wait for it; a timeout far below the 2 s asked for
/// (a hard-coded 1 ms, a non-blocking socket) drops this client and fails the check.
const POLITE_PAUSE: Duration = Duration::from_secs(1);

/// How often the drip client of exercise 1.6 sends one more complete header line.
const DRIP_EVERY: Duration = Duration::from_millis(250);

/// How many clients sit in the middle of their request in exercise 1.3: more than any
/// plausible fixed number of accept threads, few enough for any laptop.
const SLOW_CLIENTS: usize = 20;

// Lazy answers this check catches:
// - a thread per connection (1.3's answer) instead of a timeout: the second request is
//   answered, but the silent client is never closed;
// - a timeout far below 2 s (1 ms, or a non-blocking socket): the client that pauses 1 s
//   mid-request is dropped instead of echoed;
// - changing `READ_TIMEOUT` rather than using it: caught first, by name;
// - closing connections without reading them: the echo is wrong or missing.
#[test]
#[ignore = "exercise 1.2: Bound the freeze with a read timeout"]
fn exercise_2_read_timeout() {
    expect_read_timeout_unchanged("1.2");
    let addr = start_server();
    let silent = watch_silent_client(addr);

    let Some(answer) = post(addr, "hello", Duration::ZERO, READ_TIMEOUT + SLACK) else {
        not_done(
            "1.2",
            "with one silent client connected, a second request got no answer within 5 s",
            "give every accepted connection a read timeout of `READ_TIMEOUT`, so a \
             silent client is dropped and the loop goes back to `accept`",
        );
    };
    expect_echo("1.2", &answer, "hello");
    match silent.join().expect("the silent client's thread") {
        Some(after) if after >= POLITE_PAUSE => {}
        Some(after) => not_done(
            "1.2",
            &format!("the silent client was closed after only {after:?}"),
            "wait the whole `READ_TIMEOUT` before giving up on a client",
        ),
        None => not_done(
            "1.2",
            "the second request was answered, but the silent connection is still open: \
             nothing timed it out (a thread per connection is exercise 1.3)",
            "this exercise is about a read timeout that drops the silent client",
        ),
    }
    expect_patient_server("1.2", addr);
}

// Lazy answers this check catches:
// - a read timeout (1.2's answer) instead of threads: the second client waits behind 20
//   slow ones, and the slow clients are cut off before they finish;
// - `thread::spawn(...).join()`: still one connection at a time;
// - a few threads each running the accept loop: 20 slow clients occupy all of them.
#[test]
#[ignore = "exercise 1.3: Serve each connection on its own thread"]
fn exercise_3_thread_per_connection() {
    let addr = start_server();
    // Clients in the middle of their request: the request line is sent, nothing else.
    let mut slow: Vec<TcpStream> = (0..SLOW_CLIENTS)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).expect("a slow client connects");
            stream
                .write_all(b"POST / HTTP/1.1\r\n")
                .expect("send the request line");
            stream
        })
        .collect();

    let Some(answer) = post(addr, "second", Duration::ZERO, SLACK) else {
        not_done(
            "1.3",
            &format!(
                "while {SLOW_CLIENTS} clients were still sending their requests, another \
                 client got no echo within 3 s"
            ),
            "serve every accepted connection on its own thread, so the accept loop never \
             waits for a client",
        );
    };
    expect_echo("1.3", &answer, "second");

    // None of the slow clients was forgotten: each finishes and gets its own echo.
    for (number, stream) in slow.iter_mut().enumerate() {
        let body = format!("slow-{number:02}");
        let finished = stream
            .write_all(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes())
            .is_ok();
        let answer = read_until_close(stream, Instant::now() + SLACK);
        if !finished || !answer.ends_with(&format!("\r\n\r\n{body}")) {
            not_done(
                "1.3",
                &format!(
                    "another client was answered, but slow client {number} was cut off or \
                     got {answer:?} when it finished its request"
                ),
                "a read timeout only bounds the freeze; a thread per connection removes \
                 it without dropping anyone",
            );
        }
    }
}

// Lazy answers this check catches:
// - answering 408 to everyone (or at once, on accept): a normal request must still be
//   echoed, and the silent client's 408 must come after the read timeout, not before;
// - turning every error into a 408: a Content-Length that is not a number stays a 400;
// - a bare close, as in 1.2: the silent client must receive a complete 408 response;
// - a tiny timeout: the client that pauses 1 s mid-request is still echoed.
#[test]
#[ignore = "exercise 1.4: Tell a silent client why it is dropped"]
fn exercise_4_answer_408() {
    expect_read_timeout_unchanged("1.4");
    let addr = start_server();
    let connected = Instant::now();
    let mut silent = TcpStream::connect(addr).expect("the silent client connects");
    let answer = read_until_close(&mut silent, connected + READ_TIMEOUT + SLACK);
    let after = connected.elapsed();
    if answer.is_empty() {
        not_done(
            "1.4",
            "a silent client got no answer at all within 5 s (nothing, or a bare close)",
            "when the read timeout fires, answer `408 Request Timeout` before closing",
        );
    }
    if !answer.starts_with("HTTP/1.1 408 ") {
        let first_line = answer.lines().next().unwrap_or_default();
        not_done(
            "1.4",
            &format!("a silent client was answered {first_line:?} instead of a 408"),
            "a read that timed out is the client's fault: answer `408 Request Timeout`",
        );
    }
    if after < POLITE_PAUSE {
        not_done(
            "1.4",
            &format!("the silent client got its 408 after only {after:?}"),
            "answer 408 when `READ_TIMEOUT` has passed, not before",
        );
    }
    if !body_matches_length(&answer) {
        not_done(
            "1.4",
            &format!("the 408 is not a complete response: {answer:?}"),
            "build it with `response(...)`, which writes a matching Content-Length",
        );
    }

    let Some(echo) = post(addr, "hello", Duration::ZERO, SLACK) else {
        not_done(
            "1.4",
            "after the 408, a normal request got no answer within 3 s",
            "only a client that lets the read timeout pass gets a 408",
        );
    };
    expect_echo("1.4", &echo, "hello");
    let bad = exchange(
        addr,
        &[b"POST / HTTP/1.1\r\nContent-Length: lots\r\n\r\n"],
        Duration::ZERO,
        SLACK,
    )
    .unwrap_or_default();
    if !bad.starts_with("HTTP/1.1 400 ") {
        not_done(
            "1.4",
            &format!("a Content-Length that is not a number was answered {bad:?}"),
            "keep the 400 for a malformed request; add the 408 beside it, only for a read \
             that timed out",
        );
    }
    expect_patient_server("1.4", addr);
}

// Lazy answers this check catches:
// - a read timeout per read (1.2's answer): every line the drip client sends restarts it,
//   so the client holds the only thread for as long as it keeps dripping;
// - a lower header-line limit, or any other constant: the drip sends short, complete
//   lines, so no size limit notices it;
// - a tiny timeout: the client that pauses 1 s mid-request is still echoed;
// - changing `READ_TIMEOUT`: caught first, by name.
#[test]
#[ignore = "exercise 1.6: A deadline for the whole request"]
fn exercise_6_request_deadline() {
    expect_read_timeout_unchanged("1.6");
    let addr = start_server();
    let dripping = drip_client(addr, READ_TIMEOUT + SLACK + SLACK);
    // Let the drip client be accepted first, so the server is busy with it.
    thread::sleep(DRIP_EVERY);

    let Some(answer) = post(addr, "hello", Duration::ZERO, READ_TIMEOUT + SLACK) else {
        not_done(
            "1.6",
            "a client that sends one short header line every 250 ms still held the \
             server 5 s later: nothing bounds a whole request (a per-read timeout \
             restarts with every line)",
            "give each request one deadline, `READ_TIMEOUT` after it is accepted, and \
             before every read set the read timeout to the time that is left",
        );
    };
    expect_echo("1.6", &answer, "hello");
    match dripping.join().expect("the drip client's thread") {
        Some(after) if after >= POLITE_PAUSE => {}
        Some(after) => not_done(
            "1.6",
            &format!("the drip client was cut off after only {after:?}"),
            "the deadline is `READ_TIMEOUT` after the request started, not less",
        ),
        None => not_done(
            "1.6",
            "another request was answered, but the drip client was never cut off",
            "end the connection when the request's deadline has passed",
        ),
    }
    expect_patient_server("1.6", addr);
}

/// Starts stage 1 on a free port, on its own thread, for the rest of the test process.
fn start_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    thread::spawn(move || stage1::run(listener));
    addr
}

fn expect_read_timeout_unchanged(exercise: &str) {
    if READ_TIMEOUT != EXPECTED_READ_TIMEOUT {
        not_done(
            exercise,
            &format!("`READ_TIMEOUT` is {READ_TIMEOUT:?}, and the check is timed for 2 s"),
            "put `READ_TIMEOUT` back to 2 s: the exercise is to use it, not to tune it",
        );
    }
}

/// A client that pauses 1 s in the middle of its request must still be echoed.
fn expect_patient_server(exercise: &str, addr: SocketAddr) {
    match post(addr, "patient", POLITE_PAUSE, POLITE_PAUSE + SLACK) {
        Some(answer) if answer.ends_with("\r\n\r\npatient") => {}
        other => not_done(
            exercise,
            &format!("a client that paused 1 s in the middle of its request got {other:?}"),
            "a client is allowed `READ_TIMEOUT` (2 s); do not drop it sooner",
        ),
    }
}

fn expect_echo(exercise: &str, answer: &str, body: &str) {
    if !answer.starts_with("HTTP/1.1 200 ") || !answer.ends_with(&format!("\r\n\r\n{body}")) {
        not_done(
            exercise,
            &format!("a request with the body {body:?} was answered {answer:?}"),
            "answer a normal request exactly as before: 200 and its own body",
        );
    }
}

/// Connects a client that says nothing; the thread returns how long after connecting
/// the server closed it, or `None` if it was still open at the check's patience.
fn watch_silent_client(addr: SocketAddr) -> thread::JoinHandle<Option<Duration>> {
    let connected = Instant::now();
    let mut silent = TcpStream::connect(addr).expect("the silent client connects");
    thread::spawn(move || {
        let deadline = connected + READ_TIMEOUT + SLACK + SLACK;
        read_until_close(&mut silent, deadline);
        let after = connected.elapsed();
        (Instant::now() < deadline).then_some(after)
    })
}

/// A slowloris: it starts a request and sends one short, complete header line every
/// `DRIP_EVERY`, never finishing the head. The thread returns when the server cut it
/// off (a failed write or a closed connection), or `None` if it never did.
fn drip_client(addr: SocketAddr, patience: Duration) -> thread::JoinHandle<Option<Duration>> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("the drip client connects");
    thread::spawn(move || {
        let _ = stream.write_all(b"POST / HTTP/1.1\r\n");
        stream
            .set_read_timeout(Some(DRIP_EVERY))
            .expect("set the drip interval");
        let mut byte = [0u8; 1];
        while started.elapsed() < patience {
            if stream.write_all(b"X-Drip: 1\r\n").is_err() {
                return Some(started.elapsed());
            }
            match stream.read(&mut byte) {
                Ok(_) => return Some(started.elapsed()),
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return Some(started.elapsed()),
            }
        }
        None
    })
}

/// Posts `body`, pausing `pause` between the head and the body; returns the whole
/// answer, or `None` if the server did not close it within `patience`.
fn post(addr: SocketAddr, body: &str, pause: Duration, patience: Duration) -> Option<String> {
    let head = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len());
    exchange(addr, &[head.as_bytes(), body.as_bytes()], pause, patience)
}

/// Sends `parts` with `pause` between them and reads the answer until the server closes
/// the connection; `None` if nothing complete came back within `patience`.
fn exchange(
    addr: SocketAddr,
    parts: &[&[u8]],
    pause: Duration,
    patience: Duration,
) -> Option<String> {
    let deadline = Instant::now() + patience;
    let mut stream = TcpStream::connect(addr).ok()?;
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            thread::sleep(pause);
        }
        stream.write_all(part).ok()?;
    }
    let answer = read_until_close(&mut stream, deadline);
    (Instant::now() < deadline && !answer.is_empty()).then_some(answer)
}

/// Reads until the server closes `stream` or `deadline` passes, whichever comes first.
fn read_until_close(stream: &mut TcpStream, deadline: Instant) -> String {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// True if the answer's body is exactly as long as its Content-Length says.
fn body_matches_length(answer: &str) -> bool {
    let Some((head, body)) = answer.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        == Some(body.len())
}

/// Fails the check with a message that says what is missing and where the hint is.
fn not_done(exercise: &str, observed: &str, todo: &str) -> ! {
    panic!(
        "\n\nexercise {exercise} not done yet: {observed}.\n\
         What to do: {todo}.\n\
         Hints: `cargo run -p workshop -- hint {exercise}`, or the book chapter 'Stage 1'.\n"
    )
}
