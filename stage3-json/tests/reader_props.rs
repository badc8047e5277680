//! Property tests of the request reader (`http::Connection::read_request`), driven by a
//! scripted byte stream instead of a socket, on a runtime with paused time (timeouts
//! fire at once, so "stalls forever" is cheap to test).
//!
//! For arbitrary bytes, for every way of splitting valid pipelined requests into reads,
//! and for mutated valid requests, the reader never panics, never returns a body over
//! `max_body`, never keeps reading once a limit is crossed, and always ends in a request,
//! a well-formed error answer, or a clean close. Every split of a valid request yields
//! exactly the requests that were sent, byte for byte.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use stage3::http::{Connection, Limits, Request, Response, MAX_HEAD_BYTES};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Small, so bodies on both sides of the limit are cheap to generate.
const MAX_BODY: usize = 512;
const LIMITS: Limits = Limits {
    max_body: MAX_BODY,
    read_timeout: Duration::from_secs(10),
};
/// More requests than any script here can hold; only stops a runaway loop.
const MAX_REQUESTS: usize = 64;
/// "Forever" for an endless client: four times the head limit and far past the body's.
const ENDLESS_BYTES: usize = 4 * MAX_HEAD_BYTES;

/// What the stream does once its scripted chunks are used up.
#[derive(Clone, Debug)]
enum Tail {
    /// The client closes.
    Eof,
    /// The client goes silent and never closes.
    Stall,
    /// The client keeps sending this pattern, `chunk` bytes per read, for far longer
    /// than any limit (`ENDLESS_BYTES`), then closes.
    Endless { pattern: Vec<u8>, chunk: usize },
}

/// A stream whose reads hand out the script one chunk at a time (or less, when the
/// reader's buffer is smaller), counting every byte handed out.
struct Scripted {
    chunks: VecDeque<Vec<u8>>,
    tail: Tail,
    endless_offset: usize,
    delivered: Rc<Cell<usize>>,
    written: Rc<RefCell<Vec<u8>>>,
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if let Some(mut chunk) = this.chunks.pop_front() {
            let n = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..n]);
            this.delivered.set(this.delivered.get() + n);
            if n < chunk.len() {
                chunk.drain(..n);
                this.chunks.push_front(chunk);
            }
            return Poll::Ready(Ok(()));
        }
        match &this.tail {
            Tail::Eof => Poll::Ready(Ok(())),
            // Never woken by us: only the reader's timeout can end this wait.
            Tail::Stall => Poll::Pending,
            Tail::Endless { pattern, chunk } => {
                let left = ENDLESS_BYTES.saturating_sub(this.endless_offset);
                let n = (*chunk).min(buf.remaining()).min(left);
                for _ in 0..n {
                    buf.put_slice(&[pattern[this.endless_offset % pattern.len()]]);
                    this.endless_offset += 1;
                }
                this.delivered.set(this.delivered.get() + n);
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.borrow_mut().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// How a scripted connection ended.
#[derive(Debug)]
enum End {
    /// `Ok(None)`: the client closed or stayed silent between requests.
    Closed,
    /// The last request asked for `Connection: close`.
    ClosedAfterRequest,
    /// The reader gave up on the framing and answered this.
    Answered(Response),
}

#[derive(Debug)]
struct Outcome {
    requests: Vec<Request>,
    end: End,
    /// Bytes the reader pulled from the stream before it stopped reading requests.
    delivered: usize,
}

/// Serves one scripted connection the way `serve_connection` does: requests until the
/// client closes, asks to close, or breaks the framing, every answer written back.
fn drive(chunks: Vec<Vec<u8>>, tail: Tail) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a test runtime");
    let delivered = Rc::new(Cell::new(0));
    let written = Rc::new(RefCell::new(Vec::new()));
    let stream = Scripted {
        chunks: chunks.into(),
        tail,
        endless_offset: 0,
        delivered: Rc::clone(&delivered),
        written: Rc::clone(&written),
    };
    let outcome = runtime.block_on(async {
        let mut connection = Connection::new(stream);
        let mut requests = Vec::new();
        let end = loop {
            assert!(requests.len() < MAX_REQUESTS, "runaway request loop");
            match connection.read_request(&LIMITS).await {
                Ok(Some(request)) => {
                    let keep_alive = request.keep_alive;
                    let answer = Response::error(404, "not_found", "scripted");
                    connection
                        .write_response(&answer, keep_alive)
                        .await
                        .expect("scripted writes succeed");
                    requests.push(request);
                    if !keep_alive {
                        break End::ClosedAfterRequest;
                    }
                }
                Ok(None) => break End::Closed,
                Err(answer) => {
                    connection
                        .write_response(&answer, false)
                        .await
                        .expect("scripted writes succeed");
                    break End::Answered(answer);
                }
            }
        };
        let delivered = delivered.get();
        // The lingering close must end too, whatever the client keeps doing.
        connection.close().await;
        Outcome {
            requests,
            end,
            delivered,
        }
    });
    let written = written.borrow();
    assert!(
        written.is_empty() || written.starts_with(b"HTTP/1.1 "),
        "answers are HTTP/1.1: {:?}",
        String::from_utf8_lossy(&written)
    );
    outcome
}

/// The properties every outcome must have, whatever the input.
fn check_well_formed(outcome: &Outcome) {
    for request in &outcome.requests {
        assert!(request.body.len() <= MAX_BODY, "body over the limit");
    }
    if let End::Answered(answer) = &outcome.end {
        let allowed: &[&str] = match answer.status {
            400 => &["bad_request", "invalid_content_length"],
            408 => &["request_timeout"],
            411 => &["length_required"],
            413 => &["body_too_large"],
            431 => &["headers_too_large"],
            501 => &["unsupported_transfer_encoding"],
            505 => &["http_version_not_supported"],
            other => panic!("the reader never answers {other}: {answer:?}"),
        };
        let body: serde_json::Value =
            serde_json::from_str(&answer.body).expect("error answers are JSON");
        assert_eq!(body["status"], "error", "{body}");
        let reason = body["reason"].as_str().expect("a reason");
        assert!(allowed.contains(&reason), "{} with {reason}", answer.status);
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }
}

/// Cuts `bytes` into reads of the given sizes, cycling through them.
fn split(bytes: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut rest = bytes;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).clamp(1, rest.len()));
        chunks.push(chunk.to_vec());
        rest = tail;
    }
    chunks
}

fn read_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1usize..8, 1usize..300, 1usize..10_000], 1..16)
}

fn tail() -> impl Strategy<Value = Tail> {
    prop_oneof![Just(Tail::Eof), Just(Tail::Stall)]
}

/// A valid request, and what the reader must make of it.
#[derive(Clone, Debug)]
struct Valid {
    bytes: Vec<u8>,
    body: Vec<u8>,
    keep_alive: bool,
}

fn odd_case(name: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), name.len()).prop_map(move |upper| {
        name.chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

fn spacing() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", " ", "  ", "\t", " \t "])
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::char::range('a', 'z'), 1..=64)
        .prop_map(|chars| chars.into_iter().collect())
}

fn valid_request(may_close: bool) -> impl Strategy<Value = Valid> {
    (
        odd_case("content-length"),
        spacing(),
        spacing(),
        name(),
        -1_000_000_000i64..=1_000_000_000,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            move |(length_name, before, after, user, amount, expect, close, query)| {
                let close = close && may_close;
                let body = format!(r#"{{"user":"{user}","action":"buy","amount":{amount}}}"#);
                let mut head = String::from(if query {
                    "POST /events?x=1 HTTP/1.1\r\n"
                } else {
                    "POST /events HTTP/1.1\r\n"
                });
                head.push_str("Host: test\r\n");
                head.push_str(&format!("{length_name}:{before}{}{after}\r\n", body.len()));
                if expect {
                    head.push_str("Expect: 100-continue\r\n");
                }
                if close {
                    head.push_str("Connection: close\r\n");
                }
                head.push_str("\r\n");
                let mut bytes = head.into_bytes();
                bytes.extend_from_slice(body.as_bytes());
                Valid {
                    bytes,
                    body: body.into_bytes(),
                    keep_alive: !close,
                }
            },
        )
}

/// One to three pipelined valid requests; only the last may ask to close.
fn pipeline() -> impl Strategy<Value = Vec<Valid>> {
    (
        prop::collection::vec(valid_request(false), 0..3),
        valid_request(true),
    )
        .prop_map(|(mut requests, last)| {
            requests.push(last);
            requests
        })
}

#[derive(Clone, Debug)]
enum Mutation {
    Replace(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    /// Copies a slice of the request to another place (repeated headers, lines).
    Duplicate(Index, Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Replace(at, byte)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(from, len, to)| Mutation::Duplicate(from, len, to)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        if bytes.is_empty() {
            break;
        }
        match mutation {
            Mutation::Replace(at, byte) => {
                let at = at.index(bytes.len());
                bytes[at] = *byte;
            }
            Mutation::Insert(at, byte) => bytes.insert(at.index(bytes.len() + 1), *byte),
            Mutation::Delete(at) => {
                bytes.remove(at.index(bytes.len()));
            }
            Mutation::Duplicate(from, len, to) => {
                let from = from.index(bytes.len());
                let len = len.index(bytes.len() - from) + 1;
                let slice = bytes[from..from + len].to_vec();
                let to = to.index(bytes.len() + 1);
                bytes.splice(to..to, slice);
            }
        }
    }
    bytes
}

/// A line ending broken in the head of a valid request.
#[derive(Clone, Debug)]
enum BareEnding {
    /// Drops the CR (`Index`, false) or the LF (true) of one of the head's CRLFs.
    Unpair(Index, bool),
    /// Inserts a lone CR (true) or LF (false) anywhere before the head's last byte.
    Insert(Index, bool),
}

fn bare_ending() -> impl Strategy<Value = BareEnding> {
    prop_oneof![
        (any::<Index>(), any::<bool>()).prop_map(|(at, lf)| BareEnding::Unpair(at, lf)),
        (any::<Index>(), any::<bool>()).prop_map(|(at, cr)| BareEnding::Insert(at, cr)),
    ]
}

/// Applies `ending` to the head of `request`, which must be a valid request.
fn break_line_ending(request: &[u8], ending: &BareEnding) -> Vec<u8> {
    let head_len = request
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a valid request has a head")
        + 4;
    let mut bytes = request.to_vec();
    match ending {
        BareEnding::Unpair(at, lf) => {
            let pairs: Vec<usize> = (0..head_len - 1)
                .filter(|&at| &request[at..at + 2] == b"\r\n")
                .collect();
            let pair = pairs[at.index(pairs.len())];
            bytes.remove(if *lf { pair + 1 } else { pair });
        }
        // Before the last byte only: an LF between the final CR and LF would just end
        // the head one byte early and start the body with it, which is no bare ending.
        BareEnding::Insert(at, cr) => {
            let byte = if *cr { b'\r' } else { b'\n' };
            bytes.insert(at.index(head_len - 1), byte);
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A bare CR or LF anywhere in a head is refused with one 400: the requests before
    /// it are served, it and everything after it (a request it might hide) are not.
    #[test]
    fn a_bare_cr_or_lf_in_a_head_is_one_bad_request_and_hides_nothing(
        requests in pipeline(),
        broken in any::<Index>(),
        ending in bare_ending(),
        sizes in read_sizes(),
        tail in tail(),
    ) {
        let broken = broken.index(requests.len());
        let mut bytes = Vec::new();
        for (at, request) in requests.iter().enumerate() {
            if at == broken {
                bytes.extend_from_slice(&break_line_ending(&request.bytes, &ending));
            } else {
                bytes.extend_from_slice(&request.bytes);
            }
        }
        let outcome = drive(split(&bytes, &sizes), tail);
        check_well_formed(&outcome);
        prop_assert_eq!(outcome.requests.len(), broken, "{:?}", outcome.end);
        match &outcome.end {
            End::Answered(answer) => {
                prop_assert_eq!(answer.status, 400);
                prop_assert!(answer.body.contains(r#""reason":"bad_request""#), "{:?}", answer);
            }
            other => prop_assert!(false, "not refused: {:?}", other),
        }
    }

    #[test]
    fn arbitrary_bytes_end_in_an_answer_or_a_close(
        bytes in prop::collection::vec(any::<u8>(), 0..2 * MAX_HEAD_BYTES),
        sizes in read_sizes(),
        tail in tail(),
    ) {
        let outcome = drive(split(&bytes, &sizes), tail);
        check_well_formed(&outcome);
        prop_assert!(outcome.delivered <= bytes.len());
    }

    #[test]
    fn arbitrary_bytes_after_a_request_line_end_in_an_answer_or_a_close(
        line in prop::sample::select(vec![
            "POST /events HTTP/1.1\r\n",
            "GET /events HTTP/1.0\r\n",
            "POST /events HTTP/1.1\r\nContent-Length: 10\r\n",
        ]),
        rest in prop::collection::vec(any::<u8>(), 0..4096),
        sizes in read_sizes(),
        tail in tail(),
    ) {
        let mut bytes = line.as_bytes().to_vec();
        bytes.extend_from_slice(&rest);
        let outcome = drive(split(&bytes, &sizes), tail);
        check_well_formed(&outcome);
    }

    #[test]
    fn every_split_of_valid_requests_reads_them_exactly(
        requests in pipeline(),
        sizes in read_sizes(),
        tail in tail(),
    ) {
        let bytes: Vec<u8> = requests.iter().flat_map(|r| r.bytes.clone()).collect();
        let outcome = drive(split(&bytes, &sizes), tail);
        check_well_formed(&outcome);
        prop_assert_eq!(outcome.requests.len(), requests.len(), "{:?}", outcome.end);
        for (read, sent) in outcome.requests.iter().zip(&requests) {
            prop_assert_eq!(&read.method, "POST");
            prop_assert_eq!(&read.path, "/events");
            prop_assert_eq!(&read.body, &sent.body);
            prop_assert_eq!(read.keep_alive, sent.keep_alive);
        }
        let last_closes = requests.last().is_some_and(|r| !r.keep_alive);
        match outcome.end {
            End::ClosedAfterRequest => prop_assert!(last_closes),
            End::Closed => prop_assert!(!last_closes),
            End::Answered(answer) => prop_assert!(false, "answered {:?}", answer),
        }
        prop_assert_eq!(outcome.delivered, bytes.len());
    }

    #[test]
    fn mutated_valid_requests_end_in_an_answer_or_a_close(
        requests in pipeline(),
        mutations in prop::collection::vec(mutation(), 1..8),
        sizes in read_sizes(),
        tail in tail(),
    ) {
        let bytes: Vec<u8> = requests.iter().flat_map(|r| r.bytes.clone()).collect();
        let bytes = mutate(bytes, &mutations);
        let outcome = drive(split(&bytes, &sizes), tail);
        check_well_formed(&outcome);
        prop_assert!(outcome.delivered <= bytes.len());
    }

    /// A head that never ends is refused once it passes the limit: the reader stops
    /// within one read of `MAX_HEAD_BYTES`, however the bytes arrive.
    #[test]
    fn an_endless_head_is_cut_off_at_the_limit(
        header in prop::sample::select(vec![&b"X-Pad: aaaaaaaa\r\n"[..], b"a", b"X: \t"]),
        chunk in 1usize..10_000,
    ) {
        let outcome = drive(
            vec![b"GET /events HTTP/1.1\r\n".to_vec()],
            Tail::Endless { pattern: header.to_vec(), chunk },
        );
        check_well_formed(&outcome);
        match &outcome.end {
            End::Answered(answer) => prop_assert!(
                answer.status == 431 || answer.status == 400,
                "{:?}", answer
            ),
            other => prop_assert!(false, "{:?}", other),
        }
        prop_assert!(
            outcome.delivered < MAX_HEAD_BYTES + chunk,
            "read {} bytes for a head limited to {}", outcome.delivered, MAX_HEAD_BYTES
        );
    }

    /// A claimed body over the limit is refused from the head alone; a body within the
    /// limit followed by an endless stream is read to exactly its length.
    #[test]
    fn an_endless_body_is_read_only_as_far_as_content_length(
        length in 0usize..2 * MAX_BODY,
        head_chunk in 1usize..10_000,
        chunk in 1usize..10_000,
    ) {
        let head = format!("POST /events HTTP/1.1\r\nContent-Length: {length}\r\n\r\n");
        let outcome = drive(
            split(head.as_bytes(), &[head_chunk]),
            Tail::Endless { pattern: b"{\"user\":".to_vec(), chunk },
        );
        check_well_formed(&outcome);
        if length > MAX_BODY {
            prop_assert!(outcome.requests.is_empty());
            match &outcome.end {
                End::Answered(answer) => prop_assert_eq!(answer.status, 413),
                other => prop_assert!(false, "{:?}", other),
            }
            prop_assert!(outcome.delivered < head.len() + chunk);
        } else {
            prop_assert_eq!(outcome.requests[0].body.len(), length);
        }
        // Whatever follows, the reader never runs ahead by more than one read.
        prop_assert!(outcome.delivered < MAX_HEAD_BYTES + MAX_BODY + chunk);
    }
}
