//! How the command line reads the knobs of `Config`: the value parsers its `#[arg]`
//! attributes name. Shared word for word by stages 3 to 8.

use std::num::NonZeroUsize;
use std::time::Duration;

/// Reads a timeout: a non-negative decimal number (`10`, `1.5`), then an optional unit,
/// `ms`, `s` or `m`; a bare number is seconds. Surrounding whitespace is ignored. The
/// stress client accepts exactly the same grammar, so a duration copied from one
/// command line works on the other.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let not_a_duration = || {
        format!(
            "{text:?} is not a duration: write a number and an optional unit, \
             e.g. 500ms, 1.5s or 2m (a bare number is seconds)"
        )
    };
    // Digits, optionally a point and more digits: `f64::from_str` alone would also take
    // `1e3`, `inf` or `.5`, none of which is in the grammar.
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return Err(not_a_duration());
    }
    let seconds_per_unit = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        _ => return Err(not_a_duration()),
    };
    let value: f64 = number.parse().map_err(|_| not_a_duration())?;
    let duration = Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| format!("{text:?} is too long for a timeout; try 10s or 2m"))?;
    // Zero would time out every request before its first byte could arrive.
    if duration.is_zero() {
        return Err(String::from(
            "a timeout of zero would end every request before its first byte; try 10s",
        ));
    }
    Ok(duration)
}

/// A count that must be positive: a queue with no room or a pool with no workers would
/// refuse or strand every event. The type says so, so no later code needs `.max(1)`.
pub fn at_least_one(text: &str) -> Result<NonZeroUsize, String> {
    match text.trim().parse::<usize>() {
        Ok(count) => NonZeroUsize::new(count).ok_or_else(|| String::from("must be at least 1")),
        Err(_) => Err(format!("{text:?} is not a whole number; try 4")),
    }
}

/// How `/stats` shows a duration knob: whole milliseconds, under a name ending in `_ms`.
pub fn as_millis<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(duration.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_the_grammar_reads() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("1.5s", Duration::from_millis(1500)),
            ("10s", Duration::from_secs(10)),
            ("2m", Duration::from_secs(120)),
            ("0.5m", Duration::from_secs(30)),
            ("2.5ms", Duration::from_micros(2500)),
            ("7", Duration::from_secs(7)),
            ("0.25", Duration::from_millis(250)),
            ("  3s\t", Duration::from_secs(3)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text:?}");
        }
    }

    #[test]
    fn zero_is_refused_with_the_reason() {
        for text in ["0", "0s", "0ms", "0.0m", "0.0000000001s"] {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains("zero"), "{text:?}: {err}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_examples() {
        let bad = [
            "", "s", "-1s", "1.s", ".5s", "1..5s", "1e3", "inf", "1 s", "10sec", "1h", "2M",
            "1.5.2s", "ten",
        ];
        for text in bad {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains("e.g. 500ms, 1.5s or 2m"), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_count_is_a_positive_whole_number() {
        assert_eq!(at_least_one(" 4 "), Ok(NonZeroUsize::MIN.saturating_add(3)));
        assert_eq!(at_least_one("0"), Err(String::from("must be at least 1")));
        for text in ["", "-1", "1.5", "four"] {
            assert!(at_least_one(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_duration_too_long_to_represent_is_refused() {
        let err = parse_duration("99999999999999999999999m").expect_err("overflow");
        assert!(err.contains("too long"), "{err}");
    }
}
