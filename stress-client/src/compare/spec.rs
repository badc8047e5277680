//! What `compare` runs, parsed from its flags: the stage list (`--stages 1,2,8`), variants
//! (`--variant "8 lock only: --capacity 100 --work-ms 100"`), a sweep (`--sweep workers=1,2,4`)
//! and the merging of stage arguments, so a later source overrides an earlier one instead of
//! handing the stage a flag twice (clap would refuse that). Tested by
//! `cargo test -p stress-client compare::spec`.

use super::stages;
use serde::Serialize;

fn parse_stage_number(text: &str) -> Result<u8, String> {
    match text.trim().parse::<u8>() {
        Ok(stage) if stages::facts(stage).is_some() => Ok(stage),
        _ => Err(format!(
            "{:?} is not a stage: use a number from 1 to 8",
            text.trim()
        )),
    }
}

/// `--stages 1,2,8` (spaces allowed, order kept, duplicates dropped).
pub fn parse_stage_list(text: &str) -> Result<Vec<u8>, String> {
    let mut stages = Vec::new();
    for part in text.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        let stage = parse_stage_number(part)?;
        if !stages.contains(&stage) {
            stages.push(stage);
        }
    }
    if stages.is_empty() {
        return Err(format!(
            "{text:?} names no stage: try --stages 7,8 (numbers 1 to 8)"
        ));
    }
    Ok(stages)
}

/// One `--variant`: a stage run with extra arguments, under a label of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variant {
    pub stage: u8,
    /// The row label: the text before the colon when it names more than the stage
    /// (`8 lock only`), else the stage and its arguments.
    pub label: String,
    pub args: Vec<String>,
}

/// `"8: --capacity 100 --work-ms 100 --hold-ms 10"` or `"8 lock only: --capacity 100"`.
pub fn parse_variant(text: &str) -> Result<Variant, String> {
    let Some((head, tail)) = text.split_once(':') else {
        return Err(format!(
            "{text:?}: a variant is \"STAGE[ LABEL]: ARGS\", e.g. \"8: --capacity 100 --work-ms 100 --hold-ms 10\""
        ));
    };
    let head = head.trim();
    let (number, name) = match head.split_once(char::is_whitespace) {
        Some((number, name)) => (number, name.trim()),
        None => (head, ""),
    };
    let stage = parse_stage_number(number)?;
    let args = split_args(tail)?;
    check_args(&args)?;
    let label = if name.is_empty() {
        if args.is_empty() {
            format!(
                "{stage} {}",
                stages::facts(stage).map_or("?", stages::StageFacts::short_name)
            )
        } else {
            format!("{stage} {}", args.join(" "))
        }
    } else {
        format!("{stage} {name}")
    };
    Ok(Variant { stage, label, args })
}

/// Whitespace-separated arguments. Quotes are refused rather than half-understood: no stage
/// flag takes a value with a space in it.
fn split_args(text: &str) -> Result<Vec<String>, String> {
    if text.contains(['"', '\'']) {
        return Err(format!(
            "{text:?}: quotes are not supported in stage arguments; no stage flag needs a space"
        ));
    }
    Ok(text.split_whitespace().map(str::to_string).collect())
}

/// `compare` owns the address: a stage told `--addr 127.0.0.1:8087` would collide with a
/// copy running in another terminal, and the row would measure the wrong server.
fn check_args(args: &[String]) -> Result<(), String> {
    if let Some(first) = args.first() {
        if !first.starts_with("--") {
            return Err(format!(
                "stage arguments start with a flag, not {first:?} (e.g. --workers 4)"
            ));
        }
    }
    if args
        .iter()
        .any(|arg| arg == "--addr" || arg.starts_with("--addr="))
    {
        return Err(
            "--addr is chosen by compare (127.0.0.1:0, a free port); leave it out of the variant"
                .into(),
        );
    }
    Ok(())
}

/// `--sweep workers=1,2,4,8`: one stage flag over several values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sweep {
    /// The flag without dashes, as written (`workers`, `work-ms`).
    pub knob: String,
    pub values: Vec<String>,
}

impl Sweep {
    pub fn flag(&self) -> String {
        format!("--{}", self.knob.replace('_', "-"))
    }
}

pub fn parse_sweep(text: &str) -> Result<Sweep, String> {
    let Some((knob, values)) = text.split_once('=') else {
        return Err(format!(
            "{text:?}: a sweep is KNOB=V1,V2,..., e.g. workers=1,2,4,8,16,32,64"
        ));
    };
    let knob = knob.trim().trim_start_matches("--").to_string();
    let knob_ok = !knob.is_empty()
        && knob
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !knob_ok {
        return Err(format!(
            "{knob:?} is not a stage flag name: use lower-case letters, digits and dashes, e.g. workers or work-ms"
        ));
    }
    if knob == "addr" {
        return Err("--addr is chosen by compare and cannot be swept".into());
    }
    let values: Vec<String> = values
        .split(',')
        .map(|value| value.trim().to_string())
        .collect();
    if values.iter().any(String::is_empty) {
        return Err(format!(
            "{text:?} has an empty value: list values separated by commas, e.g. workers=1,2,4"
        ));
    }
    if values
        .iter()
        .any(|value| value.contains(char::is_whitespace))
    {
        return Err(format!("{text:?}: a swept value cannot contain spaces"));
    }
    Ok(Sweep { knob, values })
}

/// Stage arguments from several sources merged: a flag given again by a later source
/// replaces the earlier one (its value included), so quick-mode defaults give way to a
/// variant's arguments, and those to the swept value.
pub fn merge_args(sources: &[&[String]]) -> Vec<String> {
    let mut merged: Vec<(String, Option<String>)> = Vec::new();
    for source in sources {
        let mut index = 0;
        while index < source.len() {
            let token = &source[index];
            let (flag, value) = match token.split_once('=') {
                Some((flag, value)) if token.starts_with("--") => {
                    (flag.to_string(), Some(value.to_string()))
                }
                _ => match source.get(index + 1) {
                    Some(next) if !next.starts_with("--") => {
                        index += 1;
                        (token.clone(), Some(next.clone()))
                    }
                    _ => (token.clone(), None),
                },
            };
            index += 1;
            merged.retain(|(existing, _)| *existing != flag);
            merged.push((flag, value));
        }
    }
    merged
        .into_iter()
        .flat_map(|(flag, value)| std::iter::once(flag).chain(value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stage_lists_parse_in_order_without_duplicates() {
        assert_eq!(parse_stage_list("1,2,8"), Ok(vec![1, 2, 8]));
        assert_eq!(parse_stage_list(" 8, 7 ,8"), Ok(vec![8, 7]));
        assert!(parse_stage_list("9").is_err());
        assert!(parse_stage_list("seven").is_err());
        assert!(parse_stage_list(",").is_err());
    }

    #[test]
    fn variant_with_arguments_only() {
        let variant =
            parse_variant("8: --capacity 100 --work-ms 100 --hold-ms 10").expect("valid variant");
        assert_eq!(variant.stage, 8);
        assert_eq!(
            variant.args,
            strings(&["--capacity", "100", "--work-ms", "100", "--hold-ms", "10"])
        );
        assert_eq!(variant.label, "8 --capacity 100 --work-ms 100 --hold-ms 10");
    }

    #[test]
    fn variant_with_a_label_and_without_arguments() {
        let variant = parse_variant("8 stage-7 knobs : --capacity 100").expect("valid variant");
        assert_eq!(variant.label, "8 stage-7 knobs");
        assert_eq!(variant.args, strings(&["--capacity", "100"]));
        let plain = parse_variant("6:").expect("a variant may add nothing");
        assert_eq!((plain.label.as_str(), plain.args.len()), ("6 workers", 0));
    }

    #[test]
    fn bad_variants_say_what_to_write() {
        for bad in [
            "8 --capacity 100",
            "9: --workers 2",
            "x: --workers 2",
            "8: --addr 127.0.0.1:1",
            "8: --addr=127.0.0.1:1",
            "8: capacity 100",
            "8: --map 'sharded'",
        ] {
            let error = parse_variant(bad).expect_err(bad);
            assert!(!error.is_empty(), "{bad}");
        }
    }

    #[test]
    fn sweeps_parse() {
        let sweep = parse_sweep("workers=1,2,4,8,16,32,64").expect("valid sweep");
        assert_eq!(sweep.knob, "workers");
        assert_eq!(sweep.values.len(), 7);
        assert_eq!(sweep.flag(), "--workers");
        let sweep = parse_sweep("--hold_ms = 1, 10").expect("dashes and spaces tolerated");
        assert_eq!(sweep.flag(), "--hold-ms");
        assert_eq!(sweep.values, strings(&["1", "10"]));
        for bad in [
            "workers",
            "=1,2",
            "workers=1,,2",
            "Workers=1",
            "addr=1",
            "w=1 2",
        ] {
            assert!(parse_sweep(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn later_sources_override_flags() {
        let quick = strings(&["--capacity", "20", "--work-ms", "100"]);
        let variant = strings(&["--capacity=50", "--log-locks", "--map", "sharded"]);
        let swept = strings(&["--work-ms", "10"]);
        assert_eq!(
            merge_args(&[&quick, &variant, &swept]),
            strings(&[
                "--capacity",
                "50",
                "--log-locks",
                "--map",
                "sharded",
                "--work-ms",
                "10"
            ])
        );
        assert!(merge_args(&[]).is_empty());
    }
}
