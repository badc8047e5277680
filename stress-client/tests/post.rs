//! `stress-client post` and `stress-client stages` end to end: the binary as a child, a
//! real stage 3 in-process on 127.0.0.1:0. Run with `cargo test -p stress-client --test post`.

mod support;

use stress_client::catalogue::STAGES;
use support::{client, client_async, stage3_url};

fn post_args(url: &str, amount: &str) -> Vec<String> {
    [
        "post", url, "--user", "alice", "--action", "buy", "--amount", amount,
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_sends_one_event_and_prints_status_and_body() {
    let url = stage3_url().await;
    let output = client_async(post_args(&url, "-25")).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("HTTP/1.1 200 OK"));
    assert_eq!(lines.next(), Some(r#"{"status":"accepted"}"#));

    // An event the stage refuses: its answer is printed, and the exit says it was refused.
    let mut empty_user = post_args(&url, "5");
    empty_user[3] = String::new();
    let output = client_async(empty_user).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with("HTTP/1.1 400 Bad Request"), "{stdout}");
    assert!(stdout.contains("invalid_event"), "{stdout}");
}

#[test]
fn post_without_a_field_or_with_a_non_number_is_a_usage_error() {
    let missing = client(&[
        "post",
        "http://127.0.0.1:1",
        "--user",
        "alice",
        "--amount",
        "1",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--action"));
    let args = post_args("http://127.0.0.1:1", "ten");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let not_a_number = client(&refs);
    assert_eq!(not_a_number.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not_a_number.stderr).contains("--amount"));
}

#[test]
fn post_to_a_closed_port_says_what_to_check() {
    // Bound and dropped: nothing listens there any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let args = post_args(&format!("http://127.0.0.1:{port}"), "1");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = client(&refs);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is the stage running"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn stages_json_is_the_catalogue() {
    let output = client(&["stages", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let listed: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stages --json prints JSON");
    let listed = listed.as_array().expect("a JSON array");
    assert_eq!(listed.len(), STAGES.len());
    for (item, stage) in listed.iter().zip(&STAGES) {
        assert_eq!(item["number"], stage.number);
        assert_eq!(item["package"], stage.package);
        assert_eq!(item["folder"], stage.folder);
        assert_eq!(item["port"], stage.default_port());
        assert_eq!(item["has_stats"], stage.has_stats());
        assert_eq!(item["lesson"], stage.lesson);
    }
    let table = client(&["stages"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("stage7-contention") && text.contains("8087"),
        "{text}"
    );
    assert!(
        text.lines().all(|line| line.chars().count() <= 120),
        "{text}"
    );
}
