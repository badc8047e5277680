//! `stress-client post URL --user NAME --action ACTION --amount N`: one event by hand,
//! through the same HTTP path as the load, so no command in the book depends on a shell's
//! JSON quoting (curl's `-d '{...}'` breaks in PowerShell and cmd).
//! Tested by `cargo test -p stress-client --test post`.

use crate::http::{write_post, ExchangeError, HttpConnection};
use crate::load::Event;
use crate::target::Target;
use std::time::Duration;

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// `HTTP/1.1 202 Accepted`: the status line as the stages send it. The client keeps only
    /// the code, so the phrase comes from the codes the stages use.
    pub fn status_line(&self) -> String {
        let phrase = match self.status {
            200 => "OK",
            202 => "Accepted",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            411 => "Length Required",
            413 => "Content Too Large",
            431 => "Request Header Fields Too Large",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            505 => "HTTP Version Not Supported",
            _ => "",
        };
        format!("HTTP/1.1 {} {phrase}", self.status)
            .trim_end()
            .to_string()
    }

    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends `event` as one `POST` on a connection of its own, within `timeout`. `Err` is a
/// sentence that says what to check.
pub async fn post_event(
    target: &Target,
    event: &Event,
    timeout: Duration,
) -> Result<Answer, String> {
    let body = serde_json::to_vec(event).map_err(|e| format!("cannot encode the event: {e}"))?;
    let mut request = Vec::new();
    write_post(
        &mut request,
        &target.host_header,
        &target.events_path,
        &body,
        true,
    );
    let exchange = async {
        let mut connection = HttpConnection::connect(target.addr).await?;
        let head = connection.exchange(&request).await?;
        Ok::<_, ExchangeError>(Answer {
            status: head.status,
            body: String::from_utf8_lossy(connection.body()).into_owned(),
        })
    };
    let where_to_look = format!(
        "is the stage running, and is {} its address? (stage N listens on 127.0.0.1:808N)",
        target.host_header
    );
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(error)) => Err(format!(
            "POST {} failed: {error}; {where_to_look}",
            target.events_path
        )),
        Err(_) => Err(format!(
            "POST {} got no answer within {timeout:?}; {where_to_look}",
            target.events_path
        )),
    }
}
