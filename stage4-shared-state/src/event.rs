//! The one message this server accepts, and every rule it must satisfy.
//!
//! Deserializing into a typed struct *is* the validation: a field that is missing, of the
//! wrong type, or unknown is rejected by serde before our code sees it. What types cannot
//! say (lengths, ranges) is checked right after, in one place.

use serde::Deserialize;
use serde_json::error::Category;

/// Longest `user` or `action` we accept, in bytes. Names are map keys later on; bounding
/// them bounds the memory every stored user costs.
pub const MAX_NAME_BYTES: usize = 64;

/// Largest |amount|. With amounts this small, a balance needs about nine billion maximal
/// events before it could overflow an i64, so no balance arithmetic can overflow in
/// practice, and sums of many balances fit comfortably.
pub const MAX_ABS_AMOUNT: i64 = 1_000_000_000;

/// `{"user": "alice", "action": "buy", "amount": 100}`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub user: String,
    pub action: String,
    pub amount: i64,
}

/// Why a body is not an event: `reason` for programs, `detail` for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: &'static str,
    pub detail: String,
}

// ANCHOR: from_json
impl Event {
    pub fn from_json(body: &[u8]) -> Result<Event, Rejection> {
        let event: Event = serde_json::from_slice(body).map_err(|err| Rejection {
            // Bad syntax and a well-formed document of the wrong shape are different
            // mistakes with different fixes, so they get different reasons. serde_json's
            // message names the line and column either way.
            reason: match err.classify() {
                Category::Data => "invalid_event",
                Category::Syntax | Category::Eof | Category::Io => "invalid_json",
            },
            detail: err.to_string(),
        })?;
        check_name("user", &event.user)?;
        check_name("action", &event.action)?;
        if !(-MAX_ABS_AMOUNT..=MAX_ABS_AMOUNT).contains(&event.amount) {
            return Err(invalid(format!(
                "`amount` must be between -{MAX_ABS_AMOUNT} and {MAX_ABS_AMOUNT}, got {}",
                event.amount
            )));
        }
        Ok(event)
    }
}
// ANCHOR_END: from_json

fn check_name(field: &str, value: &str) -> Result<(), Rejection> {
    if value.is_empty() || value.len() > MAX_NAME_BYTES {
        return Err(invalid(format!(
            "`{field}` must be 1 to {MAX_NAME_BYTES} bytes long, got {}",
            value.len()
        )));
    }
    Ok(())
}

fn invalid(detail: String) -> Rejection {
    Rejection {
        reason: "invalid_event",
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(body: &str) -> &'static str {
        Event::from_json(body.as_bytes())
            .expect_err("the body should be rejected")
            .reason
    }

    #[test]
    fn a_valid_event_parses() {
        let event = Event::from_json(br#"{"user":"alice","action":"buy","amount":-100}"#)
            .expect("valid event");
        assert_eq!(event.user, "alice");
        assert_eq!(event.action, "buy");
        assert_eq!(event.amount, -100);
    }

    #[test]
    fn syntax_errors_are_invalid_json_and_name_the_position() {
        let rejection = Event::from_json(b"{\"user\":").expect_err("truncated");
        assert_eq!(rejection.reason, "invalid_json");
        assert!(
            rejection.detail.contains("line 1 column"),
            "{}",
            rejection.detail
        );
        assert_eq!(reason(""), "invalid_json");
        assert_eq!(reason("not json"), "invalid_json");
    }

    #[test]
    fn well_formed_json_of_the_wrong_shape_is_invalid_event() {
        assert_eq!(reason(r#"{"foo":"bar"}"#), "invalid_event");
        assert_eq!(reason(r#"{"user":"a","action":"b"}"#), "invalid_event");
        assert_eq!(
            reason(r#"{"user":"a","action":"b","amount":1.5}"#),
            "invalid_event"
        );
        assert_eq!(
            reason(r#"{"user":"a","action":"b","amount":"1"}"#),
            "invalid_event"
        );
        assert_eq!(
            reason(r#"{"user":1,"action":"b","amount":1}"#),
            "invalid_event"
        );
        assert_eq!(
            reason(r#"{"user":"a","action":"b","amount":1,"extra":true}"#),
            "invalid_event"
        );
        assert_eq!(reason("[1,2,3]"), "invalid_event");
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing() {
        // The struct expects a map, so serde stops at the first `[` instead of
        // descending; a nested value inside a field stops at the field's type.
        assert_eq!(reason(&"[".repeat(100_000)), "invalid_event");
        let nested = format!(r#"{{"user":{}}}"#, "[".repeat(100_000));
        assert_eq!(reason(&nested), "invalid_event");
    }

    #[test]
    fn amounts_are_bounded_on_both_sides() {
        let event = |amount: &str| format!(r#"{{"user":"a","action":"b","amount":{amount}}}"#);
        assert!(Event::from_json(event("1000000000").as_bytes()).is_ok());
        assert!(Event::from_json(event("-1000000000").as_bytes()).is_ok());
        assert_eq!(reason(&event("1000000001")), "invalid_event");
        assert_eq!(reason(&event("-1000000001")), "invalid_event");
        assert_eq!(reason(&event("99999999999999999999999")), "invalid_event");
    }

    #[test]
    fn names_are_bounded() {
        let event = |user: &str| format!(r#"{{"user":"{user}","action":"b","amount":1}}"#);
        assert!(Event::from_json(event(&"u".repeat(64)).as_bytes()).is_ok());
        assert_eq!(reason(&event(&"u".repeat(65))), "invalid_event");
        assert_eq!(reason(&event("")), "invalid_event");
    }
}
