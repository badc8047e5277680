//! Every `cargo run -p NAME`, `cargo run --release -p NAME`, `cargo test -p NAME`,
//! `cargo bench -p NAME` (and `cargo build`) in the root README, each crate's README and the
//! book under docs/ names a real workspace package, so no reader copies a command that
//! cannot work. Run with `cargo test -p stress-client --test docs_packages`.

mod docs_files;

use docs_files::{markdown_files, workspace_root};
use std::path::Path;

/// The package names of the workspace: the `members = [ ... ]` folders of the root
/// Cargo.toml, each read for its `[package] name` (folders keep their topic,
/// `stage5-backpressure`, while the package is `stage5`).
fn workspace_members(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("root Cargo.toml");
    let start = manifest
        .find("members")
        .expect("the root Cargo.toml lists its members");
    let list = &manifest[start..];
    let open = list.find('[').expect("members = [");
    let close = list.find(']').expect("members list closes");
    list[open + 1..close]
        .split(',')
        .map(|item| item.trim().trim_matches('"').to_string())
        .filter(|item| !item.is_empty())
        .map(|folder| package_name(&root.join(folder).join("Cargo.toml")))
        .collect()
}

/// The first `name = "..."` of a member's manifest: the `[package]` table comes first.
fn package_name(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", manifest.display()));
    text.lines()
        .find_map(|line| line.trim().strip_prefix("name = "))
        .map(|value| value.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("{} has no package name", manifest.display()))
}

/// Words that end a shell command inside a line of prose or a code block.
fn ends_command(word: &str) -> bool {
    matches!(word, "--" | "&&" | "||" | "|" | ";" | "&" | "#") || word.starts_with('#')
}

/// `(line number, package)` for every `-p NAME` / `--package NAME` of a cargo run, test,
/// bench or build command in `text`.
fn packages_named(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut position = 0;
        while position + 1 < words.len() {
            let is_cargo = words[position].trim_start_matches(['`', '$', '(']) == "cargo";
            let subcommand = words[position + 1].trim_end_matches(['`', ',', ')']);
            if !(is_cargo && matches!(subcommand, "run" | "test" | "bench" | "build")) {
                position += 1;
                continue;
            }
            let mut cursor = position + 2;
            while cursor < words.len() && !ends_command(words[cursor]) {
                let word = words[cursor];
                let (value, last_word) = match word {
                    "-p" | "--package" => {
                        cursor += 1;
                        (words.get(cursor).copied(), words.get(cursor).copied())
                    }
                    _ => (
                        word.strip_prefix("--package=")
                            .or_else(|| word.strip_prefix("-p").filter(|rest| !rest.is_empty())),
                        Some(word),
                    ),
                };
                if let Some(value) = value {
                    let name = value
                        .trim_matches(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'));
                    found.push((index + 1, name.to_string()));
                }
                cursor += 1;
                // A closing backtick ends inline code, and with it the command.
                if last_word.is_some_and(|w| w.contains('`')) {
                    break;
                }
            }
            position = cursor;
        }
    }
    found
}

#[test]
fn every_documented_package_exists() {
    let root = workspace_root();
    let members = workspace_members(&root);
    assert!(
        members.iter().any(|m| m == "stress-client"),
        "members parsed: {members:?}"
    );
    let mut checked = 0;
    let mut unknown = Vec::new();
    for file in markdown_files(&root) {
        let text = std::fs::read_to_string(&file).expect("markdown is UTF-8");
        for (line, package) in packages_named(&text) {
            checked += 1;
            if !members.contains(&package) {
                unknown.push(format!(
                    "{}:{line}: `{package}` is not a workspace package (members: {})",
                    file.strip_prefix(&root).unwrap_or(&file).display(),
                    members.join(", ")
                ));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "commands in the docs name packages that do not exist:\n{}",
        unknown.join("\n")
    );
    // The root README alone has several; finding none means the scanner broke.
    assert!(checked >= 3, "only {checked} package names found");
}

/// The stage catalogue is the one list of stages: the workspace members and the
/// stress client's dev-dependencies on the stages (its in-process tests) must name exactly
/// its stages, so a stage added or renamed in one place and not the others fails here.
#[test]
fn workspace_members_and_dev_dependencies_agree_with_the_catalogue() {
    use stress_client::catalogue::STAGES;
    let root = workspace_root();
    let members = workspace_members(&root);
    let stage_members: Vec<&str> = members
        .iter()
        .map(String::as_str)
        .filter(|name| name.starts_with("stage"))
        .collect();
    let packages: Vec<&str> = STAGES.iter().map(|stage| stage.package).collect();
    assert_eq!(stage_members, packages, "root Cargo.toml members");
    for stage in &STAGES {
        assert_eq!(
            package_name(&root.join(stage.folder).join("Cargo.toml")),
            stage.package,
            "{} is the folder of {}",
            stage.folder,
            stage.package
        );
    }
    let manifest = std::fs::read_to_string(root.join("stress-client").join("Cargo.toml"))
        .expect("stress-client/Cargo.toml");
    let dev = manifest
        .split("[dev-dependencies]")
        .nth(1)
        .expect("stress-client has dev-dependencies");
    let dev = dev.split("\n[").next().unwrap_or(dev);
    let dev_stages: Vec<String> = dev
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, _)| name.trim().to_string())
        .filter(|name| name.starts_with("stage"))
        .collect();
    assert_eq!(dev_stages, packages, "stress-client's [dev-dependencies]");
    for stage in &STAGES {
        let line = format!(r#"{} = {{ path = "../{}" }}"#, stage.package, stage.folder);
        assert!(
            manifest.contains(&line),
            "stress-client/Cargo.toml lacks {line}"
        );
    }
}

/// The root README's stage table is a copy of the catalogue, row for row: number,
/// package, folder and lesson, so `stress-client stages` and the README never disagree.
#[test]
fn the_readme_stage_table_is_the_catalogue() {
    use stress_client::catalogue::STAGES;
    let readme =
        std::fs::read_to_string(workspace_root().join("README.md")).expect("the root README");
    let rows: Vec<&str> = readme
        .lines()
        .filter(|line| line.starts_with("| ") && line.contains("| `stage"))
        .collect();
    let expected: Vec<String> = STAGES
        .iter()
        .map(|stage| {
            format!(
                "| {} | `{}` | [`{}/`]({}/README.md) | {} |",
                stage.number, stage.package, stage.folder, stage.folder, stage.lesson
            )
        })
        .collect();
    assert_eq!(
        rows, expected,
        "README.md's stage table differs from stress-client/src/catalogue.rs: copy the \
         lessons from `cargo run --release -p stress-client -- stages`"
    );
}

#[test]
fn root_quick_start_runs_compare_and_every_test() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    assert!(readme.contains("cargo run --release -p stress-client -- compare"));
    // CI greps for this exact command.
    assert!(readme.contains("cargo test --workspace"));
}

#[test]
fn scanner_finds_each_command_form() {
    let text = "\
cargo run -p stage3
`cargo run --release -p stress-client -- compare --stages 7,8`
$ cargo test -p stage8 --test overload
cargo bench --package=stage8 && cargo build -pstage1
cargo test --workspace
run `cargo run -p stage7`, then read the output of stress-client -p 5";
    let names: Vec<String> = packages_named(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        names,
        [
            "stage3",
            "stress-client",
            "stage8",
            "stage8",
            "stage1",
            "stage7"
        ]
    );
}
