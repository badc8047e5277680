//! `garbage URL`: a catalogue of malformed requests, each sent on its own connection, with
//! the answer spec section 4 prescribes beside the answer the server gave. Ends with one valid
//! request proving the server still serves. Principle 5 of the spec is the bar: bad input gets
//! a clear answer, never a crash or a hang.

use crate::http::{excerpt, ExchangeError, HttpConnection};
use crate::target::Target;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// What the spec says a case must get.
#[derive(Debug, Clone)]
pub enum Expected {
    /// One of these status/reason pairs (the first is the spec's; others are defensible).
    Error(&'static [(u16, &'static str)]),
    /// Any 2xx (the malformed-looking but legal cases).
    Success,
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
    /// The final valid request got an answer.
    pub still_serving: bool,
    pub final_request: String,
}

impl GarbageReport {
    pub fn count(&self, verdict: CaseVerdict) -> usize {
        self.cases.iter().filter(|c| c.verdict == verdict).count()
    }

    /// Died (final request unanswered) or hung on some case.
    pub fn failed(&self) -> bool {
        !self.still_serving || self.count(CaseVerdict::Hung) > 0
    }
}

fn request(head: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = head.replace('\n', "\r\n").into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn post_json(host: &str, path: &str, body: &[u8]) -> Vec<u8> {
    request(
        &format!(
            "POST {path} HTTP/1.1\nHost: {host}\nContent-Type: application/json\nContent-Length: {}\nConnection: close\n\n",
            body.len()
        ),
        body,
    )
}

const BAD_REQUEST: &[(u16, &str)] = &[(400, "bad_request")];
const BAD_LENGTH: &[(u16, &str)] = &[(400, "invalid_content_length")];
const INVALID_JSON: &[(u16, &str)] = &[(400, "invalid_json")];
const INVALID_EVENT: &[(u16, &str)] = &[(400, "invalid_event")];

/// The catalogue. Valid-but-unusual requests are included so that a server rejecting
/// everything cannot pass.
pub fn catalogue(target: &Target) -> Vec<GarbageCase> {
    let host = target.host_header.as_str();
    let path = target.events_path.as_str();
    let event = br#"{"user":"garbage","action":"probe","amount":1}"#;
    let len = event.len();
    let case = |name, request, expected| GarbageCase {
        name,
        request,
        expected,
    };
    let with_head = |extra: &str| {
        request(
            &format!("POST {path} HTTP/1.1\nHost: {host}\n{extra}Connection: close\n\n"),
            event,
        )
    };
    let big_header = format!("X-Filler: {}\n", "a".repeat(9 * 1024));
    let many_headers: String = (0..120)
        .map(|i| format!("X-Filler-{i}: {}\n", "b".repeat(80)))
        .collect();
    let long_target = format!("/{}", "c".repeat(10 * 1024));
    let long_user = format!(
        r#"{{"user":"{}","action":"buy","amount":1}}"#,
        "u".repeat(65)
    );
    let nested = format!(r#"{{"user":{}"#, "[".repeat(20_000));
    vec![
        case("not HTTP at all", b"hello there\r\n\r\n".to_vec(), Expected::Error(BAD_REQUEST)),
        case(
            "TLS handshake bytes",
            vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, b'\r', b'\n', b'\r', b'\n'],
            Expected::Error(BAD_REQUEST),
        ),
        case(
            "request line without version",
            request(&format!("POST {path}\nHost: {host}\n\n"), b""),
            Expected::Error(BAD_REQUEST),
        ),
        case(
            "HTTP/2.0 in the request line",
            request(&format!("POST {path} HTTP/2.0\nHost: {host}\nContent-Length: {len}\n\n"), event),
            Expected::Error(&[(505, "http_version_not_supported")]),
        ),
        case(
            "HTTP/9.9 in the request line",
            request(&format!("POST {path} HTTP/9.9\nHost: {host}\nContent-Length: {len}\n\n"), event),
            Expected::Error(&[(505, "http_version_not_supported")]),
        ),
        case(
            "NUL byte in the path",
            request(&format!("POST {path}\0x HTTP/1.1\nHost: {host}\nContent-Length: {len}\n\n"), event),
            Expected::Error(BAD_REQUEST),
        ),
        case("space before the header colon", with_head(&format!("Content-Length : {len}\n")), Expected::Error(BAD_REQUEST)),
        case("header line without a colon", with_head(&format!("X-Broken\nContent-Length: {len}\n")), Expected::Error(BAD_REQUEST)),
        case(
            "obsolete folded header",
            with_head(&format!("X-Folded: a\n  b\nContent-Length: {len}\n")),
            Expected::Error(BAD_REQUEST),
        ),
        case("POST without Content-Length", with_head(""), Expected::Error(&[(411, "length_required")])),
        case("Content-Length: abc", with_head("Content-Length: abc\n"), Expected::Error(BAD_LENGTH)),
        case("Content-Length: -1", with_head("Content-Length: -1\n"), Expected::Error(BAD_LENGTH)),
        case("Content-Length: +46 (sign)", with_head(&format!("Content-Length: +{len}\n")), Expected::Error(BAD_LENGTH)),
        case(
            "two different Content-Lengths",
            with_head(&format!("Content-Length: {len}\nContent-Length: {}\n", len + 1)),
            Expected::Error(BAD_LENGTH),
        ),
        case(
            "Content-Length beyond u64",
            with_head("Content-Length: 99999999999999999999999\n"),
            Expected::Error(&[(400, "invalid_content_length"), (413, "body_too_large")]),
        ),
        case(
            "claimed 10 GB body",
            request(&format!("POST {path} HTTP/1.1\nHost: {host}\nContent-Length: 10000000000\n\n"), b""),
            Expected::Error(&[(413, "body_too_large")]),
        ),
        case(
            "70 000-byte body",
            post_json(host, path, &vec![b' '; 70_000]),
            Expected::Error(&[(413, "body_too_large")]),
        ),
        case(
            "Transfer-Encoding: chunked",
            request(
                &format!("POST {path} HTTP/1.1\nHost: {host}\nTransfer-Encoding: chunked\n\n"),
                format!("{len:x}\r\n{}\r\n0\r\n\r\n", String::from_utf8_lossy(event)).as_bytes(),
            ),
            Expected::Error(&[(501, "unsupported_transfer_encoding")]),
        ),
        case(
            "Transfer-Encoding beside Content-Length",
            with_head(&format!("Transfer-Encoding: identity\nContent-Length: {len}\n")),
            Expected::Error(&[(501, "unsupported_transfer_encoding")]),
        ),
        case("one 9 KiB header", with_head(&format!("{big_header}Content-Length: {len}\n")), Expected::Error(&[(431, "headers_too_large")])),
        case(
            "120 headers, 10 KiB in all",
            with_head(&format!("{many_headers}Content-Length: {len}\n")),
            Expected::Error(&[(431, "headers_too_large"), (400, "bad_request")]),
        ),
        case(
            "10 KiB request target",
            request(&format!("POST {long_target} HTTP/1.1\nHost: {host}\nContent-Length: {len}\n\n"), event),
            Expected::Error(&[(431, "headers_too_large")]),
        ),
        case("truncated JSON", post_json(host, path, br#"{"user":"a","action":"#), Expected::Error(INVALID_JSON)),
        case("empty body", post_json(host, path, b""), Expected::Error(INVALID_JSON)),
        case(
            "invalid UTF-8 in JSON",
            post_json(host, path, b"{\"user\":\"\xff\xfe\",\"action\":\"buy\",\"amount\":1}"),
            Expected::Error(&[(400, "invalid_json"), (400, "invalid_event")]),
        ),
        case("JSON array, not an object", post_json(host, path, b"[1,2,3]"), Expected::Error(INVALID_EVENT)),
        case(
            "20 000 nested brackets",
            post_json(host, path, nested.as_bytes()),
            Expected::Error(&[(400, "invalid_event"), (400, "invalid_json")]),
        ),
        case("missing amount", post_json(host, path, br#"{"user":"a","action":"buy"}"#), Expected::Error(INVALID_EVENT)),
        case("empty user", post_json(host, path, br#"{"user":"","action":"buy","amount":1}"#), Expected::Error(INVALID_EVENT)),
        case("65-byte user", post_json(host, path, long_user.as_bytes()), Expected::Error(INVALID_EVENT)),
        case(
            "amount 1 000 000 001",
            post_json(host, path, br#"{"user":"a","action":"buy","amount":1000000001}"#),
            Expected::Error(INVALID_EVENT),
        ),
        case("amount 1.5", post_json(host, path, br#"{"user":"a","action":"buy","amount":1.5}"#), Expected::Error(INVALID_EVENT)),
        case("amount \"100\"", post_json(host, path, br#"{"user":"a","action":"buy","amount":"100"}"#), Expected::Error(INVALID_EVENT)),
        case(
            "amount beyond i64",
            post_json(host, path, br#"{"user":"a","action":"buy","amount":99999999999999999999}"#),
            Expected::Error(INVALID_EVENT),
        ),
        case(
            "GET /events",
            request(&format!("GET {path} HTTP/1.1\nHost: {host}\nConnection: close\n\n"), b""),
            Expected::Error(&[(405, "method_not_allowed")]),
        ),
        case("POST /nowhere", post_json(host, "/nowhere", event), Expected::Error(&[(404, "not_found")])),
        case("lower-case content-length (legal)", request(&format!("POST {path} HTTP/1.1\nHost: {host}\ncontent-length: {len}\nConnection: close\n\n"), event), Expected::Success),
        case(
            "CONTENT-LENGTH with padding (legal)",
            request(&format!("POST {path} HTTP/1.1\nHost: {host}\nCONTENT-LENGTH:   {len}  \nConnection: close\n\n"), event),
            Expected::Success,
        ),
    ]
}

/// Runs every case on its own connection, in order (a blocking stage serves one at a time).
pub async fn run_garbage(target: &Target, timeout: Duration) -> GarbageReport {
    run_cases(target, &catalogue(target), timeout).await
}

/// Runs the given cases, then the final valid request.
pub async fn run_cases(
    target: &Target,
    catalogue: &[GarbageCase],
    timeout: Duration,
) -> GarbageReport {
    let mut cases = Vec::new();
    for case in catalogue {
        cases.push(run_case(target, case, timeout).await);
    }
    let event = br#"{"user":"garbage","action":"probe","amount":1}"#;
    let valid = post_json(&target.host_header, &target.events_path, event);
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
    };
    GarbageReport {
        cases,
        still_serving,
        final_request,
    }
}

enum Answer {
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

async fn run_case(target: &Target, case: &GarbageCase, timeout: Duration) -> CaseResult {
    let started = Instant::now();
    let answer = exchange(target, &case.request, timeout).await;
    let millis = started.elapsed().as_millis() as u64;
    let (got, status, reason, verdict) = match answer {
        Answer::Response { status, reason, .. } => {
            let matches = match &case.expected {
                Expected::Success => (200..300).contains(&status),
                Expected::Error(answers) => answers
                    .iter()
                    .any(|(want, why)| *want == status && reason.as_deref() == Some(*why)),
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
        "{heading}\n{table}\n{} cases: {} as specified, {} differ, {} closed without answering, {} hung\n{}\n",
        report.cases.len(),
        report.count(CaseVerdict::Matches),
        report.count(CaseVerdict::Differs),
        report.count(CaseVerdict::NoResponse),
        report.count(CaseVerdict::Hung),
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
        let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), cases.len());
    }
}
