//! `garbage URL`: a catalogue of malformed requests, each sent on its own connection, with
//! the answer the wire protocol prescribes (the error table in stage 3's README) beside the
//! answer the server gave. Then a client that pipelines requests and never reads the
//! answers, which the server must let go of. Ends with one valid request proving the server
//! still serves. The bar is the workshop's rule: bad input gets a clear answer, never a
//! crash or a hang.
//!
//! The catalogue is a table ([`CATALOGUE`]): a name, a builder for the bytes, and the
//! expected answer per row. Run it with
//! `cargo run --release -p stress-client -- garbage http://127.0.0.1:8083`.

use crate::http::{excerpt, ExchangeError, HttpConnection};
use crate::target::Target;
use serde::Serialize;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::time::Instant;

/// What the spec says a case must get.
#[derive(Debug, Clone)]
pub enum Expected {
    /// One of these status/reason pairs (the first is the spec's; others are defensible).
    Error(&'static [(u16, &'static str)]),
    /// Any 2xx (the malformed-looking but legal cases).
    Success,
    /// Exactly these answers, in order, read until the server closes the connection: for
    /// requests that must not be read as more (or fewer) requests than they are.
    Answers(&'static [Want]),
}

/// One answer of an [`Expected::Answers`] conversation.
#[derive(Debug, Clone, Copy)]
pub enum Want {
    /// This status and reason.
    Error(u16, &'static str),
    /// Any 2xx.
    Success,
    /// This status, with headers only: the answer to a HEAD request.
    Bodiless(u16),
}

impl Want {
    fn describe(&self) -> String {
        match self {
            Want::Error(status, reason) => format!("{status} {reason}"),
            Want::Success => "2xx".into(),
            Want::Bodiless(status) => format!("{status} (no body)"),
        }
    }
}

impl Expected {
    fn describe(&self) -> String {
        match self {
            Expected::Error(answers) => answers
                .iter()
                .map(|(status, reason)| format!("{status} {reason}"))
                .collect::<Vec<_>>()
                .join(" | "),
            Expected::Success => "2xx".into(),
            Expected::Answers(wants) => {
                let wants: Vec<_> = wants.iter().map(Want::describe).collect();
                format!("only {}", wants.join(", then "))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct GarbageCase {
    pub name: &'static str,
    pub request: Vec<u8>,
    pub expected: Expected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseVerdict {
    /// Status and reason as the spec says.
    Matches,
    /// A clear answer, but not the one the spec prescribes.
    Differs,
    /// Closed or reset without answering: not a hang, not an answer either.
    NoResponse,
    /// Nothing within the timeout: the server hangs on this input.
    Hung,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub expected: String,
    pub got: String,
    pub status: Option<u16>,
    pub reason: Option<String>,
    pub verdict: CaseVerdict,
    pub millis: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GarbageReport {
    pub cases: Vec<CaseResult>,
    /// Whether the server let go of a client that never reads; `None` when not tried.
    pub slow_reader_closed: Option<bool>,
    pub slow_reader: String,
    /// The final valid request got an answer.
    pub still_serving: bool,
    pub final_request: String,
}

impl GarbageReport {
    pub fn count(&self, verdict: CaseVerdict) -> usize {
        self.cases.iter().filter(|c| c.verdict == verdict).count()
    }

    /// Died (final request unanswered), hung on some case, or held a client that never
    /// reads.
    pub fn failed(&self) -> bool {
        !self.still_serving
            || self.count(CaseVerdict::Hung) > 0
            || self.slow_reader_closed == Some(false)
    }
}

/// The event every case that needs a valid body sends.
const EVENT: &[u8] = br#"{"user":"garbage","action":"probe","amount":1}"#;

const BAD_REQUEST: &[(u16, &str)] = &[(400, "bad_request")];
const BAD_LENGTH: &[(u16, &str)] = &[(400, "invalid_content_length")];
const INVALID_JSON: &[(u16, &str)] = &[(400, "invalid_json")];
const INVALID_EVENT: &[(u16, &str)] = &[(400, "invalid_event")];
const TOO_LARGE: &[(u16, &str)] = &[(413, "body_too_large")];
const HEADERS_TOO_LARGE: &[(u16, &str)] = &[(431, "headers_too_large")];
const VERSION: &[(u16, &str)] = &[(505, "http_version_not_supported")];
const TRANSFER_ENCODING: &[(u16, &str)] = &[(501, "unsupported_transfer_encoding")];

/// What the builders of the catalogue fill in: where the target's events go.
struct Context<'a> {
    host: &'a str,
    path: &'a str,
}

impl Context<'_> {
    /// `template` with `{host}`, `{path}` and `{len}` (the length of `body`) filled in,
    /// exactly as written: a case about line endings spells every `\r` and `\n` itself.
    fn raw(&self, template: &str, body: &[u8]) -> Vec<u8> {
        let mut bytes = template
            .replace("{host}", self.host)
            .replace("{path}", self.path)
            .replace("{len}", &body.len().to_string())
            .into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    /// Like [`Context::raw`], with every `\n` of the template sent as CRLF.
    fn lines(&self, template: &str, body: &[u8]) -> Vec<u8> {
        self.raw(&template.replace('\n', "\r\n"), body)
    }

    /// A `POST` of the valid event with `extra` header lines (CRLF-ended) in its head.
    fn post(&self, extra: &str) -> Vec<u8> {
        let template =
            format!("POST {{path}} HTTP/1.1\nHost: {{host}}\n{extra}Connection: close\n\n");
        self.lines(&template, EVENT)
    }

    /// A well-framed `POST` of `body` to `path`.
    fn json_to(&self, path: &str, body: &[u8]) -> Vec<u8> {
        let head = "POST {target} HTTP/1.1\nHost: {host}\nContent-Type: application/json\n\
                    Content-Length: {len}\nConnection: close\n\n";
        self.lines(&head.replace("{target}", path), body)
    }

    /// A well-framed `POST` of `body` to the events path.
    fn json(&self, body: &[u8]) -> Vec<u8> {
        self.json_to(self.path, body)
    }

    /// `GET` of `target` (raw bytes, so it may hold anything) and a CRLF head.
    fn get(&self, target: &[u8]) -> Vec<u8> {
        let mut bytes = b"GET ".to_vec();
        bytes.extend_from_slice(target);
        bytes.extend_from_slice(&self.lines(" HTTP/1.1\nHost: {host}\nConnection: close\n\n", b""));
        bytes
    }
}

/// One row of the catalogue: data, plus the bytes built for the target it runs against.
struct Row {
    name: &'static str,
    request: fn(&Context) -> Vec<u8>,
    expected: Expected,
}

const fn row(name: &'static str, request: fn(&Context) -> Vec<u8>, expected: Expected) -> Row {
    Row {
        name,
        request,
        expected,
    }
}

/// The catalogue. Valid-but-unusual requests are included so that a server rejecting
/// everything cannot pass.
#[rustfmt::skip]
const CATALOGUE: &[Row] = &[
    row("not HTTP at all", |_| b"hello there\r\n\r\n".to_vec(), Expected::Error(BAD_REQUEST)),
    row(
        "TLS handshake bytes",
        |_| vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, b'\r', b'\n', b'\r', b'\n'],
        Expected::Error(BAD_REQUEST),
    ),
    row("request line without version", |c| c.lines("POST {path}\nHost: {host}\n\n", b""), Expected::Error(BAD_REQUEST)),
    row("HTTP/2.0 in the request line", |c| c.lines("POST {path} HTTP/2.0\nHost: {host}\nContent-Length: {len}\n\n", EVENT), Expected::Error(VERSION)),
    row("HTTP/9.9 in the request line", |c| c.lines("POST {path} HTTP/9.9\nHost: {host}\nContent-Length: {len}\n\n", EVENT), Expected::Error(VERSION)),
    row("NUL byte in the path", |c| c.lines("POST {path}\0x HTTP/1.1\nHost: {host}\nContent-Length: {len}\n\n", EVENT), Expected::Error(BAD_REQUEST)),
    // Line endings: anything but CRLF lets a proxy and the server disagree on where
    // headers (and so requests) end. RFC 9112 §2.2 allows leniency; refusing is safe.
    row("bare LF after the request line", |c| c.raw("POST {path} HTTP/1.1\nHost: {host}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n", EVENT), Expected::Error(BAD_REQUEST)),
    row("bare LF between headers", |c| c.raw("POST {path} HTTP/1.1\r\nHost: {host}\nContent-Length: {len}\r\nConnection: close\r\n\r\n", EVENT), Expected::Error(BAD_REQUEST)),
    row("head ended by a bare LF pair", |c| c.raw("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len}\r\nConnection: close\n\n", EVENT), Expected::Error(BAD_REQUEST)),
    row("head ended by CRLF then a bare LF", |c| c.raw("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len}\r\nConnection: close\r\n\n", EVENT), Expected::Error(BAD_REQUEST)),
    row("bare LF before the request line", |c| c.raw("\nPOST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n", EVENT), Expected::Error(BAD_REQUEST)),
    row("bare CR between headers", |c| c.raw("POST {path} HTTP/1.1\r\nHost: {host}\rContent-Length: {len}\r\nConnection: close\r\n\r\n", EVENT), Expected::Error(BAD_REQUEST)),
    // To a CRLF-strict proxy `Dummy`'s value runs on to the end of the line, so the
    // request has no length and what follows is garbage; a server that also ends lines at
    // a bare LF reads a Content-Length, an event, and then a second request. One answer.
    row(
        "request hidden after a bare LF",
        |c| c.raw("POST {path} HTTP/1.1\r\nHost: {host}\r\nDummy: x\nContent-Length: {len}\r\n\r\n", EVENT)
            .into_iter()
            .chain(c.lines("GET {path} HTTP/1.1\nHost: {host}\nConnection: close\n\n", b""))
            .collect(),
        Expected::Answers(&[Want::Error(400, "bad_request")]),
    ),
    row("space before the header colon", |c| c.post(&format!("Content-Length : {}\n", EVENT.len())), Expected::Error(BAD_REQUEST)),
    row("header line without a colon", |c| c.post(&format!("X-Broken\nContent-Length: {}\n", EVENT.len())), Expected::Error(BAD_REQUEST)),
    row("obsolete folded header", |c| c.post(&format!("X-Folded: a\n  b\nContent-Length: {}\n", EVENT.len())), Expected::Error(BAD_REQUEST)),
    row("POST without Content-Length", |c| c.post(""), Expected::Error(&[(411, "length_required")])),
    row("Content-Length: abc", |c| c.post("Content-Length: abc\n"), Expected::Error(BAD_LENGTH)),
    row("Content-Length: -1", |c| c.post("Content-Length: -1\n"), Expected::Error(BAD_LENGTH)),
    row("Content-Length: +46 (sign)", |c| c.post(&format!("Content-Length: +{}\n", EVENT.len())), Expected::Error(BAD_LENGTH)),
    row(
        "two different Content-Lengths",
        |c| c.post(&format!("Content-Length: {}\nContent-Length: {}\n", EVENT.len(), EVENT.len() + 1)),
        Expected::Error(BAD_LENGTH),
    ),
    row(
        "Content-Length beyond u64",
        |c| c.post("Content-Length: 99999999999999999999999\n"),
        Expected::Error(&[(400, "invalid_content_length"), (413, "body_too_large")]),
    ),
    row("claimed 10 GB body", |c| c.lines("POST {path} HTTP/1.1\nHost: {host}\nContent-Length: 10000000000\n\n", b""), Expected::Error(TOO_LARGE)),
    row("70 000-byte body", |c| c.json(&[b' '; 70_000]), Expected::Error(TOO_LARGE)),
    row(
        "Transfer-Encoding: chunked",
        |c| {
            let chunked = format!("{:x}\r\n{}\r\n0\r\n\r\n", EVENT.len(), String::from_utf8_lossy(EVENT));
            c.lines("POST {path} HTTP/1.1\nHost: {host}\nTransfer-Encoding: chunked\n\n", chunked.as_bytes())
        },
        Expected::Error(TRANSFER_ENCODING),
    ),
    row(
        "Transfer-Encoding beside Content-Length",
        |c| c.post(&format!("Transfer-Encoding: identity\nContent-Length: {}\n", EVENT.len())),
        Expected::Error(TRANSFER_ENCODING),
    ),
    row(
        "one 9 KiB header",
        |c| c.post(&format!("X-Filler: {}\nContent-Length: {}\n", "a".repeat(9 * 1024), EVENT.len())),
        Expected::Error(HEADERS_TOO_LARGE),
    ),
    row(
        "120 headers, 10 KiB in all",
        |c| {
            let many: String = (0..120).map(|i| format!("X-Filler-{i}: {}\n", "b".repeat(80))).collect();
            c.post(&format!("{many}Content-Length: {}\n", EVENT.len()))
        },
        Expected::Error(&[(431, "headers_too_large"), (400, "bad_request")]),
    ),
    row(
        "10 KiB request target",
        |c| c.json_to(&format!("/{}", "c".repeat(10 * 1024)), EVENT),
        Expected::Error(HEADERS_TOO_LARGE),
    ),
    // Request targets: a path of visible ASCII (RFC 9112 §3.2); anything else is
    // percent-encoded by an honest client.
    row("target `!`", |c| c.get(b"!"), Expected::Error(BAD_REQUEST)),
    row("target `*` outside OPTIONS", |c| c.get(b"*"), Expected::Error(BAD_REQUEST)),
    row("raw UTF-8 in the target", |c| c.get("/caf\u{e9}".as_bytes()), Expected::Error(BAD_REQUEST)),
    row("control byte in the target", |c| c.get(b"/a\x01b"), Expected::Error(BAD_REQUEST)),
    row("DEL byte in the target", |c| c.get(b"/a\x7fb"), Expected::Error(BAD_REQUEST)),
    row("truncated JSON", |c| c.json(br#"{"user":"a","action":"#), Expected::Error(INVALID_JSON)),
    row("empty body", |c| c.json(b""), Expected::Error(INVALID_JSON)),
    row(
        "invalid UTF-8 in JSON",
        |c| c.json(b"{\"user\":\"\xff\xfe\",\"action\":\"buy\",\"amount\":1}"),
        Expected::Error(&[(400, "invalid_json"), (400, "invalid_event")]),
    ),
    row("JSON array, not an object", |c| c.json(b"[1,2,3]"), Expected::Error(INVALID_EVENT)),
    row(
        "20 000 nested brackets",
        |c| c.json(format!(r#"{{"user":{}"#, "[".repeat(20_000)).as_bytes()),
        Expected::Error(&[(400, "invalid_event"), (400, "invalid_json")]),
    ),
    row("missing amount", |c| c.json(br#"{"user":"a","action":"buy"}"#), Expected::Error(INVALID_EVENT)),
    row("empty user", |c| c.json(br#"{"user":"","action":"buy","amount":1}"#), Expected::Error(INVALID_EVENT)),
    row(
        "65-byte user",
        |c| c.json(format!(r#"{{"user":"{}","action":"buy","amount":1}}"#, "u".repeat(65)).as_bytes()),
        Expected::Error(INVALID_EVENT),
    ),
    row("amount 1 000 000 001", |c| c.json(br#"{"user":"a","action":"buy","amount":1000000001}"#), Expected::Error(INVALID_EVENT)),
    row("amount 1.5", |c| c.json(br#"{"user":"a","action":"buy","amount":1.5}"#), Expected::Error(INVALID_EVENT)),
    row("amount \"100\"", |c| c.json(br#"{"user":"a","action":"buy","amount":"100"}"#), Expected::Error(INVALID_EVENT)),
    row("amount beyond i64", |c| c.json(br#"{"user":"a","action":"buy","amount":99999999999999999999}"#), Expected::Error(INVALID_EVENT)),
    row("GET /events", |c| c.get(c.path.as_bytes()), Expected::Error(&[(405, "method_not_allowed")])),
    // An answer to HEAD has no body (RFC 9110 §9.3.2): a body would be read by the
    // client as the start of the next answer, which is why the next request is here.
    row(
        "HEAD /events, then a valid POST",
        |c| c.lines("HEAD {path} HTTP/1.1\nHost: {host}\n\n", b"").into_iter().chain(c.json(EVENT)).collect(),
        Expected::Answers(&[Want::Bodiless(405), Want::Success]),
    ),
    row("POST /nowhere", |c| c.json_to("/nowhere", EVENT), Expected::Error(&[(404, "not_found")])),
    row("absolute-form target (legal)", |c| c.json_to(&format!("http://{}{}", c.host, c.path), EVENT), Expected::Success),
    row("lower-case content-length (legal)", |c| c.lines("POST {path} HTTP/1.1\nHost: {host}\ncontent-length: {len}\nConnection: close\n\n", EVENT), Expected::Success),
    row(
        "CONTENT-LENGTH with padding (legal)",
        |c| c.lines("POST {path} HTTP/1.1\nHost: {host}\nCONTENT-LENGTH:   {len}  \nConnection: close\n\n", EVENT),
        Expected::Success,
    ),
];

/// The catalogue, built for `target`.
pub fn catalogue(target: &Target) -> Vec<GarbageCase> {
    let context = Context {
        host: &target.host_header,
        path: &target.events_path,
    };
    CATALOGUE
        .iter()
        .map(|row| GarbageCase {
            name: row.name,
            request: (row.request)(&context),
            expected: row.expected.clone(),
        })
        .collect()
}

/// Runs every case on its own connection, in order (a blocking stage serves one at a time),
/// without the slow reader.
pub async fn run_garbage(target: &Target, timeout: Duration) -> GarbageReport {
    run_all(target, timeout, None).await
}

/// How long `garbage --slow-reader-wait` waits by default: longer than the stages' 10 s read
/// timeout, which is what closes a client that never reads.
pub const DEFAULT_SLOW_READER_WAIT: Duration = Duration::from_secs(15);

/// Runs every case, then (with `slow_reader_wait`) the slow reader, then the final
/// valid request.
pub async fn run_all(
    target: &Target,
    timeout: Duration,
    slow_reader_wait: Option<Duration>,
) -> GarbageReport {
    run_cases_then(target, &catalogue(target), timeout, slow_reader_wait).await
}

/// Runs the given cases, then the final valid request.
pub async fn run_cases(
    target: &Target,
    catalogue: &[GarbageCase],
    timeout: Duration,
) -> GarbageReport {
    run_cases_then(target, catalogue, timeout, None).await
}

async fn run_cases_then(
    target: &Target,
    catalogue: &[GarbageCase],
    timeout: Duration,
    slow_reader_wait: Option<Duration>,
) -> GarbageReport {
    let mut cases = Vec::new();
    for case in catalogue {
        cases.push(run_case(target, case, timeout).await);
    }
    let hung = cases.iter().any(|case| case.verdict == CaseVerdict::Hung);
    let (slow_reader_closed, slow_reader) = match slow_reader_wait {
        // A server that does not answer cannot be told from one that holds the slow
        // reader, and it has failed already: no need to wait for it.
        Some(_) if hung => (None, String::from("slow reader skipped: a case hung")),
        Some(wait) => {
            let (closed, text) = slow_reader(target, wait).await;
            (Some(closed), text)
        }
        None => (None, String::from("slow reader not tried")),
    };
    let context = Context {
        host: &target.host_header,
        path: &target.events_path,
    };
    let valid = context.json(EVENT);
    let (still_serving, final_request) = match exchange(target, &valid, timeout).await {
        Answer::Response { status, .. } if (200..300).contains(&status) || status == 503 => {
            (true, format!("valid POST answered {status}: still serving"))
        }
        Answer::Response { status, body, .. } => {
            (false, format!("valid POST answered {status}: {body}"))
        }
        Answer::Timeout => (
            false,
            format!("valid POST got no answer within {timeout:?}: the server hangs"),
        ),
        Answer::Failed(why) => (false, format!("valid POST failed ({why}): the server died")),
        // `exchange` reads one answer; only `conversation` hears several.
        Answer::Conversation(_) => (false, String::from("valid POST: read as a conversation")),
    };
    GarbageReport {
        cases,
        slow_reader_closed,
        slow_reader,
        still_serving,
        final_request,
    }
}

enum Answer {
    /// Every answer on a connection, read to its close.
    Conversation(Vec<Heard>),
    Response {
        status: u16,
        reason: Option<String>,
        body: String,
    },
    Timeout,
    Failed(String),
}

async fn exchange(target: &Target, request: &[u8], timeout: Duration) -> Answer {
    let attempt = async {
        let mut connection = HttpConnection::connect(target.addr).await?;
        let head = connection.send_raw_then_read(request).await?;
        let reason = serde_json::from_slice::<serde_json::Value>(connection.body())
            .ok()
            .and_then(|v| {
                // Errors carry `reason`; successes only `status` ("accepted").
                let field = v.get("reason").or_else(|| v.get("status"))?;
                field.as_str().map(str::to_string)
            });
        Ok::<_, ExchangeError>((head.status, reason, excerpt(connection.body(), 100)))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok((status, reason, body))) => Answer::Response {
            status,
            reason,
            body,
        },
        Ok(Err(error)) => Answer::Failed(error.to_string()),
        Err(_) => Answer::Timeout,
    }
}

/// Sends `request` and reads until the server closes, then splits what came back into
/// answers as `wants` says they are framed (an answer to HEAD has no body).
async fn conversation(
    target: &Target,
    request: &[u8],
    wants: &[Want],
    timeout: Duration,
) -> Answer {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(target.addr).await?;
        // A server may answer and close before it read everything; what it sent counts.
        let _ = stream.write_all(request).await;
        let mut received = Vec::new();
        let read = stream.read_to_end(&mut received).await;
        match read {
            Err(error) if received.is_empty() => Err(error),
            _ => Ok(received),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(received)) if received.is_empty() => {
            Answer::Failed("closed without answering".into())
        }
        Ok(Ok(received)) => Answer::Conversation(split_answers(&received, wants)),
        Ok(Err(error)) => Answer::Failed(error.to_string()),
        Err(_) => Answer::Timeout,
    }
}

/// One answer of a conversation: its status, its reason if it had a JSON body.
#[derive(Debug, PartialEq)]
struct Heard {
    status: u16,
    reason: Option<String>,
    bodiless: bool,
}

/// Splits `bytes` into answers. The i-th answer is framed as `wants[i]` says (no body
/// after a HEAD); bytes that do not start a status line end the split as a garbled answer
/// (status 0), which then matches nothing.
fn split_answers(mut bytes: &[u8], wants: &[Want]) -> Vec<Heard> {
    let mut heard = Vec::new();
    while !bytes.is_empty() {
        let bodiless = matches!(wants.get(heard.len()), Some(Want::Bodiless(_)));
        let Some((status, content_length, head_len)) = answer_head(bytes) else {
            heard.push(Heard {
                status: 0,
                reason: None,
                bodiless: false,
            });
            break;
        };
        let rest = &bytes[head_len..];
        let length = if bodiless {
            0
        } else {
            content_length.min(rest.len())
        };
        let reason = serde_json::from_slice::<serde_json::Value>(&rest[..length])
            .ok()
            .and_then(|v| {
                v.get("reason")
                    .or_else(|| v.get("status"))?
                    .as_str()
                    .map(str::to_string)
            });
        heard.push(Heard {
            status,
            reason,
            bodiless,
        });
        bytes = &rest[length..];
    }
    heard
}

/// Status, Content-Length and head length of the answer `bytes` starts with, if it is
/// one.
fn answer_head(bytes: &[u8]) -> Option<(u16, usize, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(head_len)) => head_len,
        _ => return None,
    };
    let content_length = response
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("content-length"))
        .and_then(|header| std::str::from_utf8(header.value).ok()?.trim().parse().ok())
        .unwrap_or(0);
    Some((response.code?, content_length, head_len))
}

fn want_matches(want: &Want, heard: &Heard) -> bool {
    match *want {
        Want::Error(status, reason) => {
            heard.status == status && heard.reason.as_deref() == Some(reason)
        }
        Want::Success => (200..300).contains(&heard.status),
        Want::Bodiless(status) => heard.status == status && heard.bodiless,
    }
}

async fn run_case(target: &Target, case: &GarbageCase, timeout: Duration) -> CaseResult {
    let started = Instant::now();
    let answer = match &case.expected {
        Expected::Answers(wants) => conversation(target, &case.request, wants, timeout).await,
        _ => exchange(target, &case.request, timeout).await,
    };
    let millis = started.elapsed().as_millis() as u64;
    let (got, status, reason, verdict) = match answer {
        Answer::Conversation(heard) => {
            let matches = match &case.expected {
                Expected::Answers(wants) => {
                    wants.len() == heard.len()
                        && wants.iter().zip(&heard).all(|(w, h)| want_matches(w, h))
                }
                _ => false,
            };
            let got: Vec<_> = heard
                .iter()
                .map(|h| match (&h.reason, h.bodiless, h.status) {
                    (_, _, 0) => String::from("(not an answer)"),
                    (_, true, status) => format!("{status} (no body)"),
                    (reason, false, status) => {
                        format!("{status} {}", reason.as_deref().unwrap_or("(no reason)"))
                    }
                })
                .collect();
            let verdict = if matches {
                CaseVerdict::Matches
            } else {
                CaseVerdict::Differs
            };
            let first = heard.first();
            (
                got.join(", then "),
                first.map(|h| h.status),
                first.and_then(|h| h.reason.clone()),
                verdict,
            )
        }
        Answer::Response { status, reason, .. } => {
            let matches = match &case.expected {
                Expected::Success => (200..300).contains(&status),
                Expected::Error(answers) => answers
                    .iter()
                    .any(|(want, why)| *want == status && reason.as_deref() == Some(*why)),
                Expected::Answers(_) => false,
            };
            let got = format!("{status} {}", reason.as_deref().unwrap_or("(no reason)"));
            let verdict = if matches {
                CaseVerdict::Matches
            } else {
                CaseVerdict::Differs
            };
            (got, Some(status), reason, verdict)
        }
        Answer::Timeout => (
            format!("no answer within {timeout:?}"),
            None,
            None,
            CaseVerdict::Hung,
        ),
        Answer::Failed(why) => (why, None, None, CaseVerdict::NoResponse),
    };
    CaseResult {
        name: case.name.to_string(),
        expected: case.expected.describe(),
        got,
        status,
        reason,
        verdict,
        millis,
    }
}

/// How much receive buffer the slow reader asks for. Small, so that the server's writes
/// block after few answers; the kernel rounds it up to its minimum.
const SLOW_READER_RECEIVE_BUFFER: u32 = 4096;

/// A client that pipelines requests and never reads an answer. The answers pile up in the
/// socket buffers until the server's write blocks; a server that bounds its writes then
/// closes the connection, and our next write fails. Returns whether that happened within
/// `wait`, and a line saying how long it took.
pub async fn slow_reader(target: &Target, wait: Duration) -> (bool, String) {
    let connect = async {
        let socket = if target.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_recv_buffer_size(SLOW_READER_RECEIVE_BUFFER)?;
        socket.connect(target.addr).await
    };
    let mut stream = match connect.await {
        Ok(stream) => stream,
        Err(error) => return (false, format!("slow reader could not connect: {error}")),
    };
    // Each request is answered by a 404 that may quote its path, so the answers are big.
    let context = Context {
        host: &target.host_header,
        path: &target.events_path,
    };
    let request = context.get(format!("/{}", "s".repeat(4000)).as_bytes());
    let request = String::from_utf8_lossy(&request).replace("Connection: close\r\n", "");
    let started = Instant::now();
    let mut sent = 0usize;
    let pipeline = async {
        while stream.write_all(request.as_bytes()).await.is_ok() {
            sent += 1;
        }
    };
    match tokio::time::timeout(wait, pipeline).await {
        Ok(()) => (
            true,
            format!(
                "slow reader: connection closed by the server after {:.1} s ({sent} requests sent, none read)",
                started.elapsed().as_secs_f64()
            ),
        ),
        Err(_) => (
            false,
            format!("slow reader: connection still open after {wait:?}: a client that never reads holds it"),
        ),
    }
}

pub fn render(report: &GarbageReport, heading: &str, terminal: bool) -> String {
    let mut table = crate::report::new_table(terminal);
    table.set_header(vec!["#", "case", "expected", "got", "ok", "ms"]);
    for (index, case) in report.cases.iter().enumerate() {
        let mark = match case.verdict {
            CaseVerdict::Matches => "yes",
            CaseVerdict::Differs => "differs",
            CaseVerdict::NoResponse => "no answer",
            CaseVerdict::Hung => "HUNG",
        };
        table.add_row(vec![
            (index + 1).to_string(),
            case.name.clone(),
            case.expected.clone(),
            case.got.clone(),
            mark.to_string(),
            case.millis.to_string(),
        ]);
    }
    format!(
        "{heading}\n{table}\n{} cases: {} as specified, {} differ, {} closed without answering, {} hung\n{}\n{}\n",
        report.cases.len(),
        report.count(CaseVerdict::Matches),
        report.count(CaseVerdict::Differs),
        report.count(CaseVerdict::NoResponse),
        report.count(CaseVerdict::Hung),
        report.slow_reader,
        report.final_request
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_big_enough_and_names_are_unique() {
        let target = Target::from_addr(([127, 0, 0, 1], 8083).into());
        let cases = catalogue(&target);
        let malformed = cases
            .iter()
            .filter(|c| matches!(c.expected, Expected::Error(..)))
            .count();
        assert!(malformed >= 25, "only {malformed} malformed cases");
        // The cases that must be read to the close: the hidden request and HEAD.
        let conversations = cases
            .iter()
            .filter(|c| matches!(c.expected, Expected::Answers(..)))
            .count();
        assert_eq!(conversations, 2);
        let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), cases.len());
    }
}
