//! How the command line reads the knobs of `Config`: the value parsers its `#[arg]`
//! attributes name. Shared word for word by stages 3 to 8.

use std::time::Duration;

/// Accepts `250ms`, `10s`, `2m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; try 10s or 500ms"))?;
    // Zero would time out every request before its first byte could arrive.
    if number == 0 {
        return Err(String::from(
            "the timeout must be longer than zero; try 10s",
        ));
    }
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "" | "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        _ => Err(format!("unknown unit {unit:?} in {text:?}; use ms, s or m")),
    }
}

/// A count that must be positive: a queue with no room or a pool with no workers would
/// refuse or strand every event.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err(String::from("must be at least 1")),
        Ok(count) => Ok(count),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// How `/stats` shows a duration knob: whole milliseconds, under a name ending in `_ms`.
pub fn as_millis<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(duration.as_millis())
}
