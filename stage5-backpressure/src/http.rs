//! HTTP/1.1 framing for one connection: where a server decides how far to trust a client.
//!
//! `httparse` (the parser inside hyper) checks the syntax of the request line and the
//! headers. Every decision about *how many bytes to read, and for how long* is made here,
//! in plain sight, because that is where naive servers go wrong: they allocate whatever
//! Content-Length claims, read an empty body when the header is spelled in lower case,
//! wait forever for a client that stopped talking, and lose track of where one request
//! ends and the next begins on a keep-alive connection.
//!
//! It is also strict where leniency would let two parsers disagree. Behind a proxy, the
//! proxy and this server must see the same requests on one connection; a line ending
//! or a length that one of them reads differently lets a client hide a request inside
//! another ("request smuggling"). So every line of a head must end in CRLF, the target
//! must be plain ASCII, and the body is framed by one unambiguous Content-Length.

use std::borrow::Cow;
use std::fmt::Display;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

/// The request line and headers together may take at most this many bytes (answered 431
/// beyond). 8 KiB is the common default of real servers, and far more than any honest
/// client needs here.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// httparse fills a fixed array of header slots; a request with more headers than this
/// is answered 431 as well.
const MAX_HEADERS: usize = 64;

/// After an answer that closes the connection, we keep reading (and discarding) for at
/// most this long, or this many bytes, before we let go of the socket. See
/// [`Connection::close`].
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

/// How long an answer may take to be written before any request has set the allowance
/// (see [`Connection::write_timeout`]); the same as the servers' default read timeout.
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How much we ask the socket for at a time. Small enough that a connection's buffer
/// stays close to the size of the request it holds.
const READ_CHUNK: usize = 4096;

/// What one connection may cost us. Both limits are enforced before the bytes they
/// protect are read, so a client can only ever make us wait or allocate what we allowed.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest body we agree to read. Checked against Content-Length *before* reading, so
    /// a client that claims 10 GB gets a 413 without us allocating a single byte for it.
    pub max_body: usize,
    /// How long a connection may sit silent between requests, how long one request may
    /// take to arrive once its first byte is in, and how long its answer may take to be
    /// written. Without it, a client that stops halfway, or that sends requests but
    /// never reads the answers, holds a task and a socket forever.
    pub read_timeout: Duration,
}

/// A complete request: its head was parsed and exactly Content-Length body bytes read.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path without its query string.
    pub path: String,
    pub body: Vec<u8>,
    /// Whether the client wants the connection kept open after our answer (HTTP/1.1 by
    /// default, HTTP/1.0 only when it says `Connection: keep-alive`).
    pub keep_alive: bool,
}

/// One answer: a status, a JSON body, and any extra headers the status calls for.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
    /// `Allow` for 405, `Retry-After` for 503. A value is a `Cow` because most are
    /// constants (borrowed: no allocation per answer) but some are computed per answer
    /// (owned), such as a `Retry-After` that depends on the queue. An empty `Vec` does
    /// not allocate, so an answer without extra headers still costs nothing here.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
}

/// The body of every error answer, so a client can branch on `reason` and a person can
/// read `detail`.
#[derive(Serialize)]
struct ErrorBody<'a> {
    status: &'static str,
    reason: &'static str,
    detail: &'a str,
}

impl Response {
    pub fn json(status: u16, body: &impl Serialize) -> Self {
        // Serializing our own plain structs cannot fail; the fallback only keeps this
        // function total instead of hiding a panic in every handler.
        let body = serde_json::to_string(body).unwrap_or_else(|_| String::from("{}"));
        Response {
            status,
            body,
            headers: Vec::new(),
        }
    }

    pub fn error(status: u16, reason: &'static str, detail: impl Display) -> Self {
        let detail = detail.to_string();
        Response::json(
            status,
            &ErrorBody {
                status: "error",
                reason,
                detail: &detail,
            },
        )
    }

    /// Adds headers whose values are constants.
    pub fn with_headers(mut self, headers: &'static [(&'static str, &'static str)]) -> Self {
        let constants = headers
            .iter()
            .map(|&(name, value)| (name, Cow::Borrowed(value)));
        self.headers.extend(constants);
        self
    }

    /// Adds one header whose value is computed for this answer, e.g.
    /// `.with_header("Retry-After", seconds.to_string())`.
    pub fn with_header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the status line, headers and (unless `with_body` is false, for HEAD) the
    /// body into `out`, ready for one `write_all`.
    fn encode(&self, keep_alive: bool, with_body: bool, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.status,
            status_text(self.status),
            self.body.len()
        );
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        // Said explicitly in both cases: HTTP/1.0 keep-alive clients (`ab -k`) only keep
        // the connection when the answer says so, and a client must know when we close.
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let _ = write!(out, "Connection: {connection}\r\n\r\n");
        // The headers of an answer to HEAD are those of the GET answer, Content-Length
        // included, but the body is left out (RFC 9110 §9.3.2): the client reads none,
        // and body bytes would be taken for the start of the next answer.
        if with_body {
            out.extend_from_slice(self.body.as_bytes());
        }
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// What the head of a request told us, copied out of the read buffer so the buffer can
/// be read into again while we fetch the body.
struct Head {
    method: String,
    path: String,
    /// Bytes taken by the request line and headers, including the blank line.
    len: usize,
    content_length: Option<u64>,
    keep_alive: bool,
    expects_continue: bool,
}

/// A TCP connection plus the bytes we have read from it but not used yet.
///
/// Generic over the byte stream so tests can feed the reader scripted reads (every
/// split of a request, arbitrary bytes) without a socket; the server uses `TcpStream`.
pub struct Connection<S = TcpStream> {
    stream: S,
    /// Bytes read from the socket and not yet consumed. A keep-alive client may send its
    /// next request before we answer this one, so after a request this can already hold
    /// the start of the next: framing by Content-Length is what keeps them apart.
    buffer: Vec<u8>,
    /// Reused for every answer so a busy connection does not allocate per response.
    out: Vec<u8>,
    /// Whether the request being answered is a HEAD, whose answer has no body. Kept here
    /// rather than passed by the caller so that no route, and no error answer, can get
    /// it wrong.
    answering_head: bool,
    /// How long one answer may take to be written: the read timeout of the last
    /// [`Connection::read_request`], so a client gets as long to take our bytes as to
    /// send its own. Without it, a client that sends requests and never reads holds us
    /// in `write_all` forever, and the read timeout never gets a chance to fire.
    write_timeout: Duration,
}

/// How waiting for more bytes ended.
enum Fill {
    Data,
    Closed,
    TimedOut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S) -> Self {
        Connection {
            stream,
            buffer: Vec::with_capacity(READ_CHUNK),
            out: Vec::with_capacity(256),
            answering_head: false,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }

    // ANCHOR: read_request
    /// Reads the next request.
    ///
    /// `Ok(None)`: the client closed, or stayed silent for the whole read timeout between
    /// requests; there is nobody to answer. `Err(response)`: the request is broken in a
    /// way that loses the framing; send the response, then close, because we no longer
    /// know where a following request would start.
    pub async fn read_request(&mut self, limits: &Limits) -> Result<Option<Request>, Response> {
        // The clock starts now for a silent connection, and again at the first byte of a
        // request: idle keep-alive clients and slow senders get the same allowance.
        let mut deadline = Instant::now() + limits.read_timeout;
        self.write_timeout = limits.read_timeout;
        let head = loop {
            let parsed = parse_head(&self.buffer);
            // Known from the first bytes, so that even an error answer to HEAD has no body.
            self.answering_head = starts_with_head(&self.buffer);
            if let Some(head) = parsed? {
                break head;
            }
            if self.buffer.len() >= MAX_HEAD_BYTES {
                return Err(headers_too_large());
            }
            let request_started = !self.buffer.is_empty();
            match self.fill(deadline).await {
                Fill::Data if !request_started => deadline = Instant::now() + limits.read_timeout,
                Fill::Data => {}
                Fill::Closed if request_started => return Err(incomplete()),
                Fill::TimedOut if request_started => return Err(too_slow(limits)),
                Fill::Closed | Fill::TimedOut => return Ok(None),
            }
        };

        let content_length = match head.content_length {
            Some(length) => length,
            // Without a length we cannot know where a POST body ends (we do not speak
            // chunked), so we ask for one instead of guessing.
            None if head.method == "POST" || head.method == "PUT" || head.method == "PATCH" => {
                return Err(Response::error(
                    411,
                    "length_required",
                    format!("{} needs a Content-Length header", head.method),
                ));
            }
            None => 0,
        };
        // The claim is checked before a single body byte is read or reserved.
        let body_len = match usize::try_from(content_length) {
            Ok(len) if len <= limits.max_body => len,
            _ => {
                return Err(Response::error(
                    413,
                    "body_too_large",
                    format!(
                        "Content-Length {content_length} is over the limit of {} bytes",
                        limits.max_body
                    ),
                ))
            }
        };

        let request_end = head.len + body_len;
        // curl sends `Expect: 100-continue` for bodies over 1 KiB and waits a second for
        // this before sending; answering at once saves every such request that second.
        // Bounded by the request's deadline like the reads around it: a client that never
        // reads could otherwise hold us here.
        if head.expects_continue && self.buffer.len() < request_end {
            let interim = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            let _ = timeout_at(deadline, interim).await;
        }
        // Safe to reserve now: the size was bounded by `max_body`, not by the client.
        self.buffer
            .reserve(request_end.saturating_sub(self.buffer.len()));
        while self.buffer.len() < request_end {
            match self.fill(deadline).await {
                Fill::Data => {}
                Fill::Closed => return Err(incomplete()),
                Fill::TimedOut => return Err(too_slow(limits)),
            }
        }

        let body = self.buffer[head.len..request_end].to_vec();
        // Whatever follows belongs to the next request on this connection.
        self.buffer.drain(..request_end);
        Ok(Some(Request {
            method: head.method,
            path: head.path,
            body,
            keep_alive: head.keep_alive,
        }))
    }
    // ANCHOR_END: read_request

    /// Sends one response as a single write, within the write timeout.
    ///
    /// An error (the client is gone, or did not take the answer in time) means the
    /// connection is unusable: drop it. Bounding each write is also what bounds the
    /// answers waiting unsent: we answer one request at a time, so at most one answer
    /// sits here, and the ones before it sit in the kernel's socket buffer, whose size
    /// the kernel caps. Requests the client pipelines behind them stay in the kernel's
    /// receive buffer, unread, equally capped.
    pub async fn write_response(
        &mut self,
        response: &Response,
        keep_alive: bool,
    ) -> io::Result<()> {
        self.out.clear();
        response.encode(keep_alive, !self.answering_head, &mut self.out);
        match timeout(self.write_timeout, self.stream.write_all(&self.out)).await {
            Ok(written) => written,
            Err(_elapsed) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the answer within the write timeout",
            )),
        }
    }

    /// Closes the connection so that the client actually receives our last answer.
    ///
    /// Closing a socket that still has unread bytes in it (the rest of an oversized
    /// header, a body we refused) makes the kernel send a reset, and a reset can destroy
    /// the response before the client reads it: the client sees "connection reset"
    /// instead of our 413. So we half-close (the client sees the end of our answer), then
    /// read and discard what it is still sending, bounded in time and bytes.
    pub async fn close(mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER_TIME;
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            self.buffer.clear();
            match self.fill(deadline).await {
                Fill::Data => discarded += self.buffer.len(),
                Fill::Closed | Fill::TimedOut => break,
            }
        }
    }

    /// Waits for more bytes until `deadline`.
    async fn fill(&mut self, deadline: Instant) -> Fill {
        self.buffer.reserve(READ_CHUNK);
        match timeout_at(deadline, self.stream.read_buf(&mut self.buffer)).await {
            Err(_elapsed) => Fill::TimedOut,
            Ok(Ok(0)) => Fill::Closed,
            Ok(Ok(_)) => Fill::Data,
            // A reset or similar: the client is gone, exactly as if it had closed.
            Ok(Err(_)) => Fill::Closed,
        }
    }
}

/// Parses the request line and headers if they are all in `buffer`.
fn parse_head(buffer: &[u8]) -> Result<Option<Head>, Response> {
    // Before httparse, so that a bare line ending is always this one answer, whatever
    // else httparse would have tripped over first.
    check_line_endings(buffer)?;
    // A CR that ends what has arrived so far is judged once its next byte is here; httparse
    // would judge it now, and read a CR inside `HTTP/1.1` as a bad version (505).
    if buffer.last() == Some(&b'\r') && strict_head(buffer).len() == buffer.len() {
        return Ok(None);
    }
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut slots);
    // httparse also ends a line at a bare LF (RFC 9112 §2.2 allows that leniency); we
    // have just made sure there is none.
    let len = match request.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::Version) => {
            return Err(Response::error(
                505,
                "http_version_not_supported",
                "only HTTP/1.0 and HTTP/1.1 are spoken here",
            ))
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Response::error(
                431,
                "headers_too_large",
                format!("a request may carry at most {MAX_HEADERS} headers"),
            ))
        }
        Err(err) => {
            return Err(Response::error(
                400,
                "bad_request",
                format!("the request line or a header is malformed: {err}"),
            ))
        }
    };
    // One read can complete a head that is already over the limit.
    if len > MAX_HEAD_BYTES {
        return Err(headers_too_large());
    }

    let method = request.method.unwrap_or_default().to_owned();
    let path = request_path(request.path.unwrap_or_default())?;
    // HTTP/1.1 keeps connections open unless told otherwise; HTTP/1.0 closes unless told.
    let mut keep_alive = request.version == Some(1);
    let mut content_length = None;
    let mut expects_continue = false;

    for header in request.headers.iter() {
        // Header names are case-insensitive (RFC 9110 §5.1): `content-length`,
        // `Content-Length` and `CONTENT-LENGTH` are the same header.
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let length = parse_content_length(header.value)?;
            // Two lengths that disagree are the classic request-smuggling trick: a proxy
            // and a server that pick different ones see different requests.
            if content_length.is_some_and(|previous| previous != length) {
                return Err(Response::error(
                    400,
                    "invalid_content_length",
                    "the request has several Content-Length headers that disagree",
                ));
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked bodies are a second framing we do not implement; refusing is honest,
            // guessing would desynchronise the connection (and with Content-Length also
            // present it is another smuggling vector).
            return Err(Response::error(
                501,
                "unsupported_transfer_encoding",
                "Transfer-Encoding is not supported; send the body with a Content-Length",
            ));
        } else if name.eq_ignore_ascii_case("connection") {
            for option in header.value.split(|&byte| byte == b',') {
                let option = option.trim_ascii();
                if option.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expects_continue = header
                .value
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue");
        }
    }

    Ok(Some(Head {
        method,
        path,
        len,
        content_length,
        keep_alive,
        expects_continue,
    }))
}

/// Refuses a head in which a line ends in anything but CRLF; see [`bare_line_ending`].
fn check_line_endings(buffer: &[u8]) -> Result<(), Response> {
    match bare_line_ending(strict_head(buffer)) {
        None => Ok(()),
        Some(at) => Err(Response::error(
            400,
            "bad_request",
            format!("every line of the head must end in CRLF; byte {at} is a CR or LF alone"),
        )),
    }
}

// ANCHOR: bare_line_ending
/// Finds a CR or an LF in `head` that is not part of a CRLF pair.
///
/// A proxy that ends lines only at CRLF and a server that also ends them at a bare LF
/// read `Dummy: x\nContent-Length: 23` differently: one header to the proxy, two to the
/// server. The body length they then disagree on is all it takes to smuggle a request
/// past the proxy. Refusing the head outright leaves nothing to disagree on.
fn bare_line_ending(head: &[u8]) -> Option<usize> {
    head.iter().enumerate().position(|(at, &byte)| match byte {
        b'\n' => at == 0 || head[at - 1] != b'\r',
        // A CR that ends the buffer may still get its LF in the next read.
        b'\r' => head.get(at + 1).is_some_and(|&next| next != b'\n'),
        _ => false,
    })
}
// ANCHOR_END: bare_line_ending

/// The part of `buffer` a CRLF-strict parser would read as the head: up to the first
/// empty line after the request line, or all of it while that has not arrived. The body
/// after it may hold any bytes.
fn strict_head(buffer: &[u8]) -> &[u8] {
    // Empty lines before the request line are skipped (RFC 9112 §2.2), not an end.
    let start = buffer
        .iter()
        .position(|&byte| byte != b'\r' && byte != b'\n')
        .unwrap_or(buffer.len());
    let end = buffer[start..]
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map_or(buffer.len(), |end| start + end + 4);
    &buffer[..end]
}

/// Whether `buffer` holds the start of a HEAD request (httparse skips empty lines before
/// the request line, and so do we).
fn starts_with_head(buffer: &[u8]) -> bool {
    let start = buffer
        .iter()
        .position(|&byte| byte != b'\r' && byte != b'\n')
        .unwrap_or(buffer.len());
    buffer[start..].starts_with(b"HEAD ")
}

/// The path of a request target, without its query string.
///
/// RFC 9112 §3.2: the origin form is `/path?query`; a server must also accept the
/// absolute form `http://host/path?query` (what a client talking through a proxy sends),
/// of which only the path matters here. Either way a target holds visible ASCII only:
/// anything else must be percent-encoded by the client. Checked before the path is used,
/// so no raw client byte ever reaches an answer's detail.
fn request_path(target: &str) -> Result<String, Response> {
    let visible = target.bytes().all(|byte| byte.is_ascii_graphic());
    let origin = match target.split_once("://") {
        _ if !visible => None,
        _ if target.starts_with('/') => Some(target),
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            Some(rest.find('/').map_or("/", |slash| &rest[slash..]))
        }
        _ => None,
    };
    match origin {
        Some(origin) => Ok(origin.split('?').next().unwrap_or_default().to_owned()),
        None => Err(Response::error(
            400,
            "bad_request",
            "the request target must be a path starting with / (or an http:// URL) in \
             visible ASCII; percent-encode anything else",
        )),
    }
}

// ANCHOR: parse_content_length
/// Parses a Content-Length value strictly: ASCII digits only, optional spaces around.
///
/// `str::parse::<u64>` would also accept `+5`; and the outline's `unwrap_or(0)` turned
/// every bad value into an empty body, which then failed as "invalid JSON", pointing
/// the person debugging it at the wrong layer. A number too large for u64 is still a
/// number: it becomes u64::MAX, which the body limit then answers with 413.
fn parse_content_length(value: &[u8]) -> Result<u64, Response> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Response::error(
            400,
            "invalid_content_length",
            // Escaped: the value is the client's bytes, and a detail is read by people.
            format!(
                "Content-Length must be a non-negative whole number, got \"{}\"",
                value.escape_ascii()
            ),
        ));
    }
    Ok(digits.iter().fold(0u64, |length, &digit| {
        length
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}
// ANCHOR_END: parse_content_length

fn headers_too_large() -> Response {
    Response::error(
        431,
        "headers_too_large",
        format!("the request line and headers must fit in {MAX_HEAD_BYTES} bytes"),
    )
}

fn incomplete() -> Response {
    Response::error(
        400,
        "bad_request",
        "the connection was closed before the request was complete",
    )
}

fn too_slow(limits: &Limits) -> Response {
    Response::error(
        408,
        "request_timeout",
        format!(
            "the request did not arrive completely within {} ms",
            limits.read_timeout.as_millis()
        ),
    )
}
