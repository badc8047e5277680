//! Measurements made with plain sockets on a schedule (stages 1 and 3): what matters is when
//! a byte is sent and when the answer comes, so no load generator stands in between. Every
//! wait has a cap, and a stage that answers too early or never is reported, not waited on.
//!
//! Run one: `cargo run -p workshop -- predict 1.1` (or `3.5`).

use super::{secs, Measurement};
use crate::predict::lab::{Lab, RunningStage};
use crate::UserError;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// When the first silent client leaves, counted from the third client's request.
pub const FIRST_LEAVES: Duration = Duration::from_secs(2);
/// When the second silent client leaves.
pub const SECOND_LEAVES: Duration = Duration::from_secs(4);
/// How long after the second client leaves the third may still be answered; a stage that
/// needs longer is frozen for a reason the exercise is not about.
const ANSWER_GRACE: Duration = Duration::from_secs(10);

/// The stage 3 read timeout the row starts the stage with (`--read-timeout 3s`).
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// One body byte per this interval.
pub const DRIP: Duration = Duration::from_millis(500);
/// The body the trickling client announces, and what it sends with its head.
pub const ANNOUNCED_BODY: usize = 50;
pub const FIRST_BODY_BYTES: usize = 7;
/// Past this the trickle stops waiting for an answer: five read timeouts.
const TRICKLE_CAP: Duration = Duration::from_secs(15);

pub const TWO_SILENT_TERMS: [&str; 4] = [
    "first_leaves_secs",
    "second_leaves_secs",
    "model_secs",
    "after_second_secs",
];

pub const TRICKLE_TERMS: [&str; 6] = [
    "read_timeout_secs",
    "drip_ms",
    "bytes_sent",
    "announced",
    "status",
    "full_body_secs",
];

/// The model of 1.1 with the measured answer time: the thread serves one connection to its
/// end, so the request is read when the last silent client ahead of it leaves.
pub fn two_silent_terms(answered_secs: f64) -> Measurement {
    let model = FIRST_LEAVES.max(SECOND_LEAVES).as_secs_f64();
    Measurement::named(
        answered_secs,
        &TWO_SILENT_TERMS,
        [
            secs(FIRST_LEAVES.as_secs_f64()),
            secs(SECOND_LEAVES.as_secs_f64()),
            secs(model),
            secs(answered_secs - model),
        ],
    )
}

/// The model of 3.5 with what the trickling client saw: the answer's time from its first
/// byte, how many body bytes it had sent by then and the status it got.
pub fn trickle_terms(answered_secs: f64, body_bytes_sent: usize, status: &str) -> Measurement {
    let drips_needed = ANNOUNCED_BODY.saturating_sub(FIRST_BODY_BYTES) as f64;
    Measurement::named(
        answered_secs,
        &TRICKLE_TERMS,
        [
            secs(READ_TIMEOUT.as_secs_f64()),
            DRIP.as_millis().to_string(),
            body_bytes_sent.to_string(),
            ANNOUNCED_BODY.to_string(),
            status.to_string(),
            secs(drips_needed * DRIP.as_secs_f64()),
        ],
    )
}

/// 1.1: two clients connect and say nothing; a third sends its request right behind them.
/// The first silent client leaves after 2 s, the second after 4 s; the value is the number
/// of seconds until the third gets the first byte of its answer.
pub fn two_silent_clients(_lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    let first = connect(stage.addr)?;
    let second = connect(stage.addr)?;
    let mut third = connect(stage.addr)?;
    let request = b"POST /echo HTTP/1.1\r\nHost: stage1\r\nContent-Length: 5\r\n\r\nhello";
    third.write_all(request).map_err(io_error)?;
    let sent = Instant::now();
    // The answer is watched on its own thread, so a stage that answers before the silent
    // clients leave is timed when it answers, not when this thread looks.
    let (answered, answer) = mpsc::channel();
    let reader = third.try_clone().map_err(io_error)?;
    let cap = SECOND_LEAVES + ANSWER_GRACE;
    std::thread::spawn(move || {
        let _ = answered.send(first_byte_at(reader, cap));
    });
    sleep_until(sent + FIRST_LEAVES);
    drop(first);
    sleep_until(sent + SECOND_LEAVES);
    drop(second);
    let at = answer
        .recv_timeout(cap + Duration::from_secs(1))
        .map_err(|_| no_answer(cap, 1))??;
    Ok(two_silent_terms((at - sent).as_secs_f64()))
}

/// 3.5: a request whose head announces a 50-byte body, sent with 7 of its bytes and then
/// one byte every 500 ms; the value is the seconds from its first byte to the answer.
pub fn trickle_408(_lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    let mut stream = connect(stage.addr)?;
    let head = format!(
        "POST /events HTTP/1.1\r\nHost: stage3\r\nContent-Type: application/json\r\n\
         Content-Length: {ANNOUNCED_BODY}\r\n\r\n"
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(&b"{\"user\": \"trickle\"}"[..FIRST_BODY_BYTES]);
    let started = Instant::now();
    stream.write_all(&request).map_err(io_error)?;
    let mut sent = FIRST_BODY_BYTES;
    // The read timeout is the drip's clock: each read that times out sends the next byte.
    stream.set_read_timeout(Some(DRIP)).map_err(io_error)?;
    let mut answer = [0u8; 64];
    while started.elapsed() < TRICKLE_CAP {
        match stream.read(&mut answer) {
            Ok(0) => {
                return Err(UserError::new(
                    "stage 3 closed the trickling connection without an answer; \
                     `cargo run -p workshop -- reset 3` restores the stage if you changed it",
                ))
            }
            Ok(read) => {
                let at = started.elapsed().as_secs_f64();
                return Ok(trickle_terms(at, sent, &status_of(&answer[..read])));
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // A byte the stage no longer reads is only lost, never an error here: the
                // answer, or its absence, is what is measured.
                if sent < ANNOUNCED_BODY && stream.write_all(b" ").is_ok() {
                    sent += 1;
                }
            }
            Err(err) => return Err(io_error(err)),
        }
    }
    Err(no_answer(TRICKLE_CAP, 3))
}

/// The status code of an answer's first bytes (`HTTP/1.1 408 ...` gives `408`), or `?`.
pub fn status_of(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer)
        .split_whitespace()
        .nth(1)
        .filter(|code| code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or("?")
        .to_string()
}

/// When the first byte of an answer arrives on `stream`, waiting at most `cap`.
fn first_byte_at(mut stream: TcpStream, cap: Duration) -> Result<Instant, UserError> {
    stream.set_read_timeout(Some(cap)).map_err(io_error)?;
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => Err(UserError::new(
            "the stage closed the third client's connection without an answer; \
             `cargo run -p workshop -- reset 1` restores the stage if you changed it",
        )),
        Ok(_) => Ok(Instant::now()),
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Err(no_answer(cap, 1))
        }
        Err(err) => Err(io_error(err)),
    }
}

fn connect(addr: SocketAddr) -> Result<TcpStream, UserError> {
    TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|err| UserError::new(format!("cannot connect to the stage at {addr}: {err}")))
}

fn sleep_until(moment: Instant) {
    std::thread::sleep(moment.saturating_duration_since(Instant::now()));
}

fn no_answer(cap: Duration, stage: u8) -> UserError {
    UserError::new(format!(
        "no answer within {} s; if you changed stage {stage}, `cargo run -p workshop -- reset \
         {stage}` restores it",
        cap.as_secs()
    ))
}

fn io_error(err: std::io::Error) -> UserError {
    UserError::new(format!("the measurement's connection failed: {err}"))
}
