//! Outcome classes: every request ends in exactly one of eight classes, counted with one
//! sample message each. A 503 or 429 is a rejection, never a success.

use crate::http::ExchangeError;
use serde::Serialize;
use std::io::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx
    Accepted,
    /// 503 or 429: the server said "not now", honestly and fast.
    Rejected,
    /// Any other 4xx.
    Invalid,
    /// 5xx other than 503.
    ServerError,
    /// No complete answer within `--timeout`.
    Timeout,
    /// Nothing listening (or the backlog overflowed).
    Refused,
    /// The connection was reset or closed before a complete response.
    Reset,
    /// Anything else: unparsable responses, unexpected statuses, local socket errors.
    OtherIo,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Accepted,
        Outcome::Rejected,
        Outcome::Invalid,
        Outcome::ServerError,
        Outcome::Timeout,
        Outcome::Refused,
        Outcome::Reset,
        Outcome::OtherIo,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Invalid => "invalid",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::Refused => "refused",
            Outcome::Reset => "reset",
            Outcome::OtherIo => "other_io",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_status(status: u16) -> Self {
        match status {
            200..=299 => Outcome::Accepted,
            503 | 429 => Outcome::Rejected,
            400..=499 => Outcome::Invalid,
            500..=599 => Outcome::ServerError,
            // 1xx/3xx never answer a POST /events here; count them as a client-side surprise.
            _ => Outcome::OtherIo,
        }
    }

    pub fn from_error(error: &ExchangeError) -> Self {
        match error {
            ExchangeError::Connect(e) if e.kind() == ErrorKind::ConnectionRefused => {
                Outcome::Refused
            }
            ExchangeError::Connect(e) if e.kind() == ErrorKind::TimedOut => Outcome::Timeout,
            ExchangeError::Connect(e) | ExchangeError::Io { error: e, .. } => match e.kind() {
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof => Outcome::Reset,
                ErrorKind::ConnectionRefused => Outcome::Refused,
                ErrorKind::TimedOut => Outcome::Timeout,
                _ => Outcome::OtherIo,
            },
            ExchangeError::Closed { .. } => Outcome::Reset,
            ExchangeError::TimedOut { .. } => Outcome::Timeout,
            ExchangeError::Protocol(_) => Outcome::OtherIo,
        }
    }
}

/// Counts per class, one sample message per class, and the percentage of the whole.
#[derive(Debug, Clone, Default)]
pub struct OutcomeTally {
    counts: [u64; 8],
    samples: [Option<String>; 8],
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutcomeRow {
    pub outcome: Outcome,
    pub count: u64,
    pub percent: f64,
    pub sample: Option<String>,
}

impl OutcomeTally {
    /// `sample` is only built when the class has none yet, so the hot path does not format
    /// a message per request.
    pub fn record(&mut self, outcome: Outcome, sample: impl FnOnce() -> String) {
        let i = outcome.index();
        self.counts[i] += 1;
        if self.samples[i].is_none() {
            self.samples[i] = Some(sample());
        }
    }

    pub fn merge(&mut self, other: &OutcomeTally) {
        for i in 0..8 {
            self.counts[i] += other.counts[i];
            if self.samples[i].is_none() {
                self.samples[i].clone_from(&other.samples[i]);
            }
        }
    }

    pub fn count(&self, outcome: Outcome) -> u64 {
        self.counts[outcome.index()]
    }

    /// The first message seen for `outcome`, if any request ended that way.
    pub fn sample(&self, outcome: Outcome) -> Option<&str> {
        self.samples[outcome.index()].as_deref()
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn percent(&self, outcome: Outcome) -> f64 {
        let total = self.total();
        if total == 0 {
            0.0
        } else {
            self.count(outcome) as f64 * 100.0 / total as f64
        }
    }

    pub fn rows(&self) -> Vec<OutcomeRow> {
        Outcome::ALL
            .into_iter()
            .map(|outcome| OutcomeRow {
                outcome,
                count: self.count(outcome),
                percent: self.percent(outcome),
                sample: self.samples[outcome.index()].clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn statuses_map_to_classes() {
        assert_eq!(Outcome::from_status(200), Outcome::Accepted);
        assert_eq!(Outcome::from_status(202), Outcome::Accepted);
        assert_eq!(Outcome::from_status(503), Outcome::Rejected);
        assert_eq!(Outcome::from_status(429), Outcome::Rejected);
        assert_eq!(Outcome::from_status(400), Outcome::Invalid);
        assert_eq!(Outcome::from_status(413), Outcome::Invalid);
        assert_eq!(Outcome::from_status(408), Outcome::Invalid);
        assert_eq!(Outcome::from_status(500), Outcome::ServerError);
        assert_eq!(Outcome::from_status(505), Outcome::ServerError);
        assert_eq!(Outcome::from_status(301), Outcome::OtherIo);
    }

    #[test]
    fn errors_map_to_classes() {
        let refused = ExchangeError::Connect(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(Outcome::from_error(&refused), Outcome::Refused);
        assert!(!refused.request_may_have_arrived());
        let reset = ExchangeError::Io {
            error: io::Error::from(io::ErrorKind::ConnectionReset),
            written: true,
        };
        assert_eq!(Outcome::from_error(&reset), Outcome::Reset);
        assert!(reset.request_may_have_arrived());
        assert_eq!(reset.to_string(), "read: connection reset");
        let closed = ExchangeError::Closed { partial: 0 };
        assert_eq!(Outcome::from_error(&closed), Outcome::Reset);
        let pipe = ExchangeError::Io {
            error: io::Error::from(io::ErrorKind::BrokenPipe),
            written: false,
        };
        assert_eq!(Outcome::from_error(&pipe), Outcome::Reset);
        // A failed write says so, and part of the request may still have arrived.
        assert_eq!(pipe.to_string(), "write: broken pipe");
        assert!(pipe.request_may_have_arrived());
        let waited = std::time::Duration::from_secs(5);
        let connecting = ExchangeError::TimedOut {
            waited,
            written: false,
        };
        assert_eq!(Outcome::from_error(&connecting), Outcome::Timeout);
        assert!(!connecting.request_may_have_arrived());
        assert_eq!(connecting.to_string(), "no response within 5s (connecting)");
        let answering = ExchangeError::TimedOut {
            waited,
            written: true,
        };
        assert!(answering.request_may_have_arrived());
        assert_eq!(
            answering.to_string(),
            "no response within 5s (waiting for the response)"
        );
        let garbled = ExchangeError::Protocol("x".into());
        assert_eq!(Outcome::from_error(&garbled), Outcome::OtherIo);
        let local = ExchangeError::Connect(io::Error::from(io::ErrorKind::AddrNotAvailable));
        assert_eq!(Outcome::from_error(&local), Outcome::OtherIo);
    }

    #[test]
    fn tally_counts_percentages_and_first_sample() {
        let mut tally = OutcomeTally::default();
        tally.record(Outcome::Accepted, || "first".into());
        tally.record(Outcome::Accepted, || "second".into());
        tally.record(Outcome::Rejected, || "busy".into());
        let mut other = OutcomeTally::default();
        other.record(Outcome::Rejected, || "later".into());
        tally.merge(&other);
        assert_eq!(tally.total(), 4);
        assert_eq!(tally.count(Outcome::Rejected), 2);
        assert!((tally.percent(Outcome::Accepted) - 50.0).abs() < 1e-9);
        let rows = tally.rows();
        assert_eq!(rows[0].sample.as_deref(), Some("first"));
        assert_eq!(rows[1].sample.as_deref(), Some("busy"));
        assert_eq!(rows.len(), 8);
    }

    #[test]
    fn names_round_trip() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::from_name(outcome.name()), Some(outcome));
        }
    }
}
