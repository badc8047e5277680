//! The one duration grammar of every duration flag (`--timeout`, `--interval`,
//! `--drain-timeout`, …), the same the stages accept: optional whitespace, a non-negative
//! decimal number, and an optional unit `ms`, `s` or `m`; a bare number is seconds. So
//! `500ms`, `1.5s`, `2m` and `5` all work, on the client and on a stage alike.
//! A leaf module: `cargo test -p stress-client duration`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What every duration flag's `--help` ends with, so the grammar is said the same way.
pub const GRAMMAR_HELP: &str = "(e.g. 500ms, 1.5s, 2m; a bare number is seconds)";

/// Parses `text` by the grammar above. Zero is accepted here; flags where zero makes no
/// sense (timeouts, intervals) use [`parse_positive`].
pub fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    // Digits, optionally a point and more digits, as the stages read them: `.5`, `1.` and
    // `10 ms` are refused on both sides alike.
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return Err(not_a_duration(text));
    }
    let seconds_per_unit = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        _ => return Err(not_a_duration(text)),
    };
    // `f64::from_str` alone would take "inf", "1e3" or "-1"; the digits-and-dot split above
    // already refused those, so this only meets plain decimals.
    let value: f64 = number.parse().map_err(|_| not_a_duration(text))?;
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| format!("{text:?} is too long a duration {GRAMMAR_HELP}"))
}

/// [`parse`], refusing zero: a zero timeout or interval would make every wait fail or spin.
pub fn parse_positive(text: &str) -> Result<Duration, String> {
    let duration = parse(text)?;
    if duration.is_zero() {
        return Err(format!(
            "{text:?}: this duration must be more than zero {GRAMMAR_HELP}"
        ));
    }
    Ok(duration)
}

fn not_a_duration(text: &str) -> String {
    format!("{text:?} is not a duration: write a number with an optional unit ms, s or m {GRAMMAR_HELP}")
}

/// A duration flag's value, printed back in the same grammar (`5s`, `250ms`), so clap's
/// `[default: 5s]` comes from the same constant the library uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagDuration(pub Duration);

impl fmt::Display for FlagDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis.is_multiple_of(1000) {
            write!(f, "{}s", millis / 1000)
        } else {
            write!(f, "{millis}ms")
        }
    }
}

impl FromStr for FlagDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        parse_positive(text).map(FlagDuration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_accepts_units_fractions_and_bare_seconds() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse(" 5 "), Ok(Duration::from_secs(5)));
        assert_eq!(parse("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn anything_else_is_refused_with_examples() {
        // The stages' own refusals (stage3-json/src/cli.rs) are all here too.
        for text in [
            "", "soon", "-1s", "5h", "1e3", "inf", "1..5s", "250us", "s", "1.s", ".5s", "1 s",
            "10 ms", "10sec", "1h", "2M",
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains("e.g. 500ms, 1.5s, 2m"), "{text}: {error}");
        }
        let error = parse_positive("0ms").expect_err("zero");
        assert!(error.contains("more than zero"), "{error}");
    }

    #[test]
    fn flag_values_print_back_in_the_grammar() {
        for text in ["5s", "250ms", "120s"] {
            let value: FlagDuration = text.parse().expect(text);
            assert_eq!(value.to_string(), text);
        }
        assert_eq!(FlagDuration(Duration::from_secs(120)).to_string(), "120s");
    }
}
