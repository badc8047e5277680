//! A tiny raw HTTP/1.1 client for tests about the wire: it sends exactly the bytes a
//! test writes, malformed ones included, and reads answers by their Content-Length so
//! one connection can carry many requests. reqwest would fix up or refuse half of what
//! these tests need to send.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::PATIENCE;

/// A valid event body, for tests whose subject is the framing around it.
pub const VALID: &str = r#"{"user":"alice","action":"buy","amount":100}"#;

/// One answer as read off the wire: the status, the head as text (for header checks)
/// and the JSON body every answer of the stages carries.
#[derive(Debug)]
pub struct Answer {
    /// The status code, parsed, for the assertion most tests start with.
    pub status: u16,
    /// The status line and headers as text, kept whole so a failure message shows them.
    pub head: String,
    /// The body as JSON: every answer of the stages from 3 on is JSON.
    pub body: serde_json::Value,
}

impl Answer {
    /// The machine-readable `reason` of an error answer, empty when there is none, so a
    /// test can compare it without first matching on the body's shape.
    pub fn reason(&self) -> &str {
        self.body["reason"].as_str().unwrap_or("")
    }

    /// The value of header `name`, compared without case as HTTP requires.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// One TCP connection to a server under test, which a test may reuse for many requests
/// to check keep-alive and pipelining.
pub struct Client {
    /// The connection itself, owned so the test decides when it closes.
    stream: TcpStream,
    /// Bytes read past the last answer, kept for the next one: a server may send two
    /// answers in one segment.
    buffer: Vec<u8>,
}

impl Client {
    /// Connects to `addr`; a test that cannot connect has nothing to test, so it panics.
    pub async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buffer: Vec::new(),
        }
    }

    /// Sends these bytes as they are, and fails the test if the server has gone.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// Sends what it can; false once the server has stopped listening. For tests in
    /// which the server may rightly hang up while the client is still writing.
    pub async fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Reads one answer, or `None` if the server closed the connection first.
    pub async fn answer(&mut self) -> Option<Answer> {
        tokio::time::timeout(PATIENCE, self.read_answer())
            .await
            .expect("the server answered or closed within the patience bound")
    }

    /// Sends a request and reads its answer, for the common case of one of each.
    pub async fn roundtrip(&mut self, bytes: &[u8]) -> Answer {
        self.send(bytes).await;
        self.answer()
            .await
            .expect("an answer, not a closed connection")
    }

    /// True when the server closes the connection without sending anything more.
    pub async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(PATIENCE, self.stream.read(&mut byte))
            .await
            .expect("the server closed within the patience bound");
        self.buffer.is_empty() && matches!(read, Ok(0) | Err(_))
    }

    async fn read_answer(&mut self) -> Option<Answer> {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (key, value) = line.split_once(':')?;
                        key.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .expect("every answer has a Content-Length");
                let total = end + 4 + length;
                while self.buffer.len() < total {
                    if self.fill().await == 0 {
                        panic!("connection closed in the middle of an answer");
                    }
                }
                let body = serde_json::from_slice(&self.buffer[end + 4..total])
                    .expect("every answer body is JSON");
                let status = head[9..12].parse().expect("a numeric status");
                self.buffer.drain(..total);
                return Some(Answer { status, head, body });
            }
            if self.fill().await == 0 {
                return None;
            }
        }
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let read = self.stream.read(&mut chunk).await.unwrap_or(0);
        self.buffer.extend_from_slice(&chunk[..read]);
        read
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Asserts an error answer: this status, this `reason`, and a `detail` for people. Every
/// stage from 3 on shares the error shape, so one assertion serves them all.
pub fn assert_error(answer: &Answer, status: u16, reason: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.body["status"], "error", "{answer:?}");
    assert_eq!(answer.reason(), reason, "{answer:?}");
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{answer:?}"
    );
}

/// A well-formed `POST /events` with the given body and extra header lines (each ending
/// in CRLF), the frame the wire tests bend one header at a time.
pub fn post(body: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "POST /events HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The raw bytes of a valid `buy` of `amount` for `user`, for wire tests that need
/// events told apart by user and amount.
pub fn event(user: &str, amount: i64) -> Vec<u8> {
    post(
        &format!(r#"{{"user":"{user}","action":"buy","amount":{amount}}}"#),
        "",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers whatever arrives with these bytes, written in one go, and
    /// then closes: what the client must split into answers is all in one segment.
    async fn canned(bytes: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound address");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            stream.write_all(bytes).await.expect("write");
        });
        addr
    }

    #[tokio::test]
    async fn two_answers_in_one_segment_are_read_as_two_then_the_close() {
        let addr = canned(
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}\
              HTTP/1.1 400 Bad Request\r\ncontent-LENGTH: 49\r\nRetry-After: 1\r\n\r\n\
              {\"status\":\"error\",\"reason\":\"bad\",\"detail\":\"why?\"}",
        )
        .await;
        let mut client = Client::connect(addr).await;
        let first = client.roundtrip(VALID.as_bytes()).await;
        assert_eq!(first.status, 202, "{first:?}");
        let second = client.answer().await.expect("the second answer");
        assert_error(&second, 400, "bad");
        assert_eq!(second.header("retry-after"), Some("1"));
        assert!(client.answer().await.is_none(), "the server closed");
    }

    #[test]
    fn event_frames_its_body_with_the_right_length() {
        let bytes = String::from_utf8(event("bob", 7)).expect("ASCII");
        let (head, body) = bytes.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("POST /events HTTP/1.1\r\n"), "{head}");
        assert!(
            head.ends_with(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["user"], "bob");
        assert_eq!(json["amount"], 7);
    }
}
