//! The lean HTTP/1.1 client the load loop runs on.
//!
//! Why hand-written instead of reqwest: the client must never be the bottleneck (it has to
//! reach at least 90% of oha's request rate on the same 2 cores as the server), and a plain
//! reqwest loop measured at about half of oha's rate on this machine. The servers always
//! answer with Content-Length, so one `write` of a pre-formatted request and a
//! Content-Length-framed read into a reused buffer are all the protocol we need; `garbage` and
//! `--idle` need raw sockets anyway, and the server check reads `/stats` through it too,
//! which keeps a full HTTP client stack (a quarter of the workspace's cold build) out.

use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Larger response heads are treated as a protocol error rather than buffered without bound.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The stages answer with a few dozen bytes (echo stages echo our own small bodies).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
const MAX_HEADERS: usize = 64;

/// Why an exchange produced no response. Each variant records how far the request got,
/// because that decides whether its effect is ambiguous: once any request byte may have
/// reached the server, the server may have applied it.
#[derive(Debug)]
pub enum ExchangeError {
    /// No connection: nothing was sent.
    Connect(io::Error),
    /// An I/O error, and whether the request had been written in full before it (`false`: the
    /// write itself failed).
    Io {
        error: io::Error,
        written: bool,
    },
    /// The server closed the connection after the request was written, before a complete
    /// response arrived.
    Closed {
        partial: usize,
    },
    /// No response within `waited`; `written` tells whether the connection was up and the
    /// request handed to it, or the time ran out while connecting.
    TimedOut {
        waited: Duration,
        written: bool,
    },
    Protocol(String),
}

impl ExchangeError {
    pub fn request_may_have_arrived(&self) -> bool {
        match self {
            Self::Connect(_) => false,
            // A failed write may still have delivered part of the request, so even then the
            // outcome stays ambiguous rather than certainly absent.
            Self::Io { .. } | Self::Closed { .. } | Self::Protocol(_) => true,
            Self::TimedOut { written, .. } => *written,
        }
    }
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Io {
                error,
                written: false,
            } => write!(f, "write: {error}"),
            Self::Io {
                error,
                written: true,
            } => write!(f, "read: {error}"),
            Self::Closed { partial: 0 } => write!(f, "connection closed before any response"),
            Self::Closed { partial } => {
                write!(
                    f,
                    "connection closed after {partial} bytes of an incomplete response"
                )
            }
            Self::TimedOut { waited, written } => {
                let during = if *written {
                    "waiting for the response"
                } else {
                    "connecting"
                };
                write!(f, "no response within {waited:?} ({during})")
            }
            Self::Protocol(msg) => write!(f, "bad response: {msg}"),
        }
    }
}

/// Status line and framing facts of one response; the body stays in the connection's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// The server announced `Connection: close` or framed the body by closing.
    pub close: bool,
}

/// Appends a complete `POST` request. Formatting into a reused buffer keeps the hot path free
/// of per-request allocations.
pub fn write_post(buf: &mut Vec<u8>, host: &str, path: &str, body: &[u8], close: bool) {
    use std::io::Write as _;
    let connection = if close { "close" } else { "keep-alive" };
    // Writing into a Vec cannot fail.
    let _ = write!(
        buf,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    );
    buf.extend_from_slice(body);
}

/// One TCP connection carrying requests one after another (no pipelining).
#[derive(Debug)]
pub struct HttpConnection {
    stream: TcpStream,
    buf: Vec<u8>,
    filled: usize,
    body_start: usize,
    body_end: usize,
}

impl HttpConnection {
    pub async fn connect(addr: std::net::SocketAddr) -> Result<Self, ExchangeError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(ExchangeError::Connect)?;
        // Each request goes out in one write and we wait for its answer, so Nagle would only
        // add delay.
        stream.set_nodelay(true).map_err(ExchangeError::Connect)?;
        Ok(Self::from_stream(stream))
    }

    pub fn from_stream(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: vec![0; 4096],
            filled: 0,
            body_start: 0,
            body_end: 0,
        }
    }

    /// Body of the last response read.
    pub fn body(&self) -> &[u8] {
        &self.buf[self.body_start..self.body_end]
    }

    /// Sends `request` and reads exactly one response.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<ResponseHead, ExchangeError> {
        self.discard_last_response();
        if let Err(error) = self.stream.write_all(request).await {
            return Err(ExchangeError::Io {
                error,
                written: false,
            });
        }
        self.read_response().await
    }

    /// Sends raw bytes and tolerates a failed write: a server may answer and close before
    /// reading everything (a 413 for a huge body), and that answer is what `garbage` wants.
    pub async fn send_raw_then_read(
        &mut self,
        request: &[u8],
    ) -> Result<ResponseHead, ExchangeError> {
        self.discard_last_response();
        let write_result = self.stream.write_all(request).await;
        match self.read_response().await {
            Ok(head) => Ok(head),
            // With nothing read, the write error is the more telling message.
            Err(read_error) => match write_result {
                Err(error) if self.filled == 0 => Err(ExchangeError::Io {
                    error,
                    written: false,
                }),
                _ => Err(read_error),
            },
        }
    }

    fn discard_last_response(&mut self) {
        // Keep any bytes that arrived beyond the previous response at the front.
        if self.body_end > 0 {
            self.buf.copy_within(self.body_end..self.filled, 0);
            self.filled -= self.body_end;
            self.body_start = 0;
            self.body_end = 0;
        }
    }

    async fn fill(&mut self) -> Result<usize, ExchangeError> {
        if self.filled == self.buf.len() {
            let grown = (self.buf.len() * 2).min(MAX_HEAD_BYTES + MAX_BODY_BYTES);
            if grown == self.buf.len() {
                return Err(ExchangeError::Protocol("response too large".into()));
            }
            self.buf.resize(grown, 0);
        }
        let n = self
            .stream
            .read(&mut self.buf[self.filled..])
            .await
            .map_err(|error| ExchangeError::Io {
                error,
                written: true,
            })?;
        self.filled += n;
        Ok(n)
    }

    async fn read_response(&mut self) -> Result<ResponseHead, ExchangeError> {
        let (head_len, status, content_length, close) = loop {
            if let Some(parsed) = parse_head(&self.buf[..self.filled])? {
                break parsed;
            }
            if self.filled >= MAX_HEAD_BYTES {
                return Err(ExchangeError::Protocol("response head over 64 KiB".into()));
            }
            if self.fill().await? == 0 {
                return Err(ExchangeError::Closed {
                    partial: self.filled,
                });
            }
        };
        self.body_start = head_len;
        let bodiless = status < 200 || status == 204 || status == 304;
        match content_length {
            _ if bodiless => self.body_end = head_len,
            Some(length) => {
                if length > MAX_BODY_BYTES {
                    return Err(ExchangeError::Protocol(format!(
                        "Content-Length {length} over the {MAX_BODY_BYTES}-byte limit"
                    )));
                }
                let end = head_len + length;
                if self.buf.len() < end {
                    self.buf.resize(end, 0);
                }
                while self.filled < end {
                    if self.fill().await? == 0 {
                        return Err(ExchangeError::Closed {
                            partial: self.filled,
                        });
                    }
                }
                self.body_end = end;
            }
            None => {
                // Framed by close: legal HTTP/1.1, though the workshop servers never do it.
                while self.fill().await? != 0 {}
                self.body_end = self.filled;
                return Ok(ResponseHead {
                    status,
                    close: true,
                });
            }
        }
        Ok(ResponseHead { status, close })
    }
}

type ParsedHead = (usize, u16, Option<usize>, bool);

fn parse_head(bytes: &[u8]) -> Result<Option<ParsedHead>, ExchangeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ExchangeError::Protocol(format!("unparsable head: {e}"))),
    };
    let status = response.code.unwrap_or(0);
    let mut content_length = None;
    let mut close = response.version == Some(0);
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| ExchangeError::Protocol("invalid Content-Length".into()))?;
            content_length = Some(value);
        } else if header.name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(header.value);
            if value.to_ascii_lowercase().contains("close") {
                close = true;
            } else if value.to_ascii_lowercase().contains("keep-alive") {
                close = false;
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ExchangeError::Protocol(
                "Transfer-Encoding in a response is not supported by this client".into(),
            ));
        }
    }
    Ok(Some((head_len, status, content_length, close)))
}

/// A short, printable excerpt of a body for outcome samples and the garbage table.
pub fn excerpt(body: &[u8], limit: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(limit)]);
    let mut one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > limit {
        one_line.push('…');
    }
    one_line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_parsing_reads_framing() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\nConnection: close\r\n\r\nbusy!";
        let (head_len, status, length, close) =
            parse_head(raw).expect("valid head").expect("complete head");
        assert_eq!((status, length, close), (503, Some(5), true));
        assert_eq!(&raw[head_len..], b"busy!");
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
            .expect("partial is fine")
            .is_none());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn post_request_is_well_formed() {
        let mut buf = Vec::new();
        write_post(&mut buf, "h:1", "/events", b"{}", false);
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut request = httparse::Request::new(&mut headers);
        let status = request.parse(&buf).expect("our own request parses");
        assert_eq!(request.method, Some("POST"));
        assert_eq!(status, httparse::Status::Complete(buf.len() - 2));
    }
}
