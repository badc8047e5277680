//! Stage 1: a blocking, single-threaded HTTP echo server.
//!
//! Run it with `cargo run -p stage1`, open a silent connection in a second
//! terminal with `nc 127.0.0.1 8081`, and try `curl -d hello http://127.0.0.1:8081/`
//! in a third: curl hangs until you quit `nc`.
//!
//! The lesson is the shape of [`run`]: one thread accepts a connection and then serves
//! it to completion before it even looks at the next one. A client that connects and
//! says nothing parks the only thread inside `read`, and because there are no timeouts
//! it stays parked for as long as that client likes. Nobody else is served.

pub mod platform;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// Even an echo server should not let one header line grow without limit.
const MAX_HEADER_LINE_BYTES: u64 = 8 * 1024;

/// The body we echo is capped too: Content-Length is only a claim, so a larger one is
/// refused instead of allocating whatever the client announces.
const MAX_ECHO_BYTES: u64 = 64 * 1024;

/// How long to wait before accepting again after `accept` failed (for example when the
/// process is out of file descriptors), so the loop does not spin on the error.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The time limit this stage's exercises put on reading a request. The starting code does
/// not use it yet: that is the lesson. Public, so the exercise checks wait exactly as long
/// as your server does, and 2 s rather than a production-like 30 s, so a check (and you,
/// watching `nc`) can tell a missing limit from a working one quickly. A request from a
/// client on the same machine arrives in microseconds, so 2 s is still generous.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);

// ANCHOR: run
/// Serves connections one after another, forever.
pub fn run(listener: TcpListener) {
    loop {
        match listener.accept() {
            // The whole lesson is on the next line: until this connection is finished,
            // the loop does not come back to `accept`, so every other client waits.
            Ok((stream, _peer)) => {
                if let Err(err) = handle_connection(&stream) {
                    eprintln!("connection ended with an error: {err}");
                }
            }
            // Accept errors are usually temporary (a client that reset before we got to
            // it, or no free file descriptor); they must never end the server.
            Err(err) => {
                eprintln!("accept failed: {err}; retrying");
                thread::sleep(ACCEPT_RETRY_PAUSE);
            }
        }
    }
}
// ANCHOR_END: run

/// Reads one request, answers with its body, and closes the connection.
fn handle_connection(stream: &TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let response = match read_body(&mut reader) {
        Ok(body) => response(200, "OK", &body),
        Err(err) if err.kind() == io::ErrorKind::InvalidData => {
            response(400, "Bad Request", format!("{err}\n").as_bytes())
        }
        Err(err) => return Err(err),
    };
    let mut writer = stream;
    writer.write_all(&response)
}

/// Reads the request line and headers, then the body that Content-Length announces.
fn read_body(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        // With no timeout this `read_line` is where an idle client freezes everyone.
        let read = reader
            .by_ref()
            .take(MAX_HEADER_LINE_BYTES)
            .read_line(&mut line)?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        // Header names are case-insensitive (RFC 9110): `Content-Length` and
        // `content-length` are the same header, whichever a client sends.
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse::<u64>().map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("Content-Length {:?} is not a number", value.trim()),
                    )
                })?;
            }
        }
    }
    if content_length > MAX_ECHO_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("Content-Length {content_length} is over the {MAX_ECHO_BYTES}-byte echo limit"),
        ));
    }
    let mut body = Vec::new();
    reader.take(content_length).read_to_end(&mut body)?;
    // Fewer bytes than announced means the client hung up mid-body: nothing to echo.
    if (body.len() as u64) < content_length {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(body)
}

/// One complete HTTP/1.1 response that closes the connection after itself.
fn response(status: u16, reason: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 {status} {reason}\r\n\
         Content-Type: application/octet-stream\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
