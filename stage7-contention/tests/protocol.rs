//! The framing and validation copied from stage 3 still hold here, and `/stats` answers
//! the way the stress client expects. (Stage 3's tests cover every error row.)

use reqwest::header::{HeaderValue, ALLOW, CONTENT_LENGTH};
use reqwest::StatusCode;
use stage7::{run, Config};
use test_kit::{event, http, reply, start, stats, url, Client};

fn instant() -> Config {
    Config {
        work_ms: 0,
        ..Config::default()
    }
}

#[tokio::test]
async fn bad_input_is_answered_and_counted() {
    let addr = start(run, instant()).await;
    let http = http();
    let events = url(addr, "/events");
    let (status, body) = reply(http.post(&events).body("nope")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["reason"], "invalid_json");
    let (status, body) = reply(http.post(&events).body("{}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["reason"], "invalid_event");
    // A length the client claims and never sends: only raw bytes can tell that lie.
    let huge = b"POST /events HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\n";
    assert_eq!(
        Client::connect(addr).await.roundtrip(huge).await.status,
        413
    );
    assert_eq!(stats(addr).await["invalid"], 3);
}

/// About the connection itself, so on the raw client: reqwest would quietly reconnect.
#[tokio::test]
async fn many_events_share_one_keep_alive_connection() {
    let addr = start(run, instant()).await;
    let mut client = Client::connect(addr).await;
    for _ in 0..50 {
        let answer = client.roundtrip(&event("dave", 1)).await;
        assert_eq!(answer.status, 202, "{answer:?}");
        assert_eq!(answer.body, serde_json::json!({"status": "accepted"}));
    }
}

#[tokio::test]
async fn stats_has_the_fields_the_stress_client_reads() {
    let addr = start(run, instant()).await;
    let stats = stats(addr).await;
    assert_eq!(stats["stage"], 7);
    assert_eq!(stats["workers"], 16);
    assert_eq!(stats["knobs"]["hold_ms"], 10);
    assert!(stats["lock_wait_us"]["p99"].is_number());
    assert_eq!(stats["knobs"]["work_ms"], 0);
    assert_eq!(stats["model_jobs_per_sec"], 100.0, "the lock bound");
    assert_eq!(stats["model_lock_jobs_per_sec"], 100.0, "1000 / 10 ms");
    assert_eq!(stats["capacity"], 100);
    for field in [
        "model_jobs_per_sec",
        "model_lock_jobs_per_sec",
        "accepted",
        "rejected",
        "invalid",
        "processed",
        "queue_depth",
        "busy_workers",
        "users",
        "balance_total",
        "uptime_secs",
    ] {
        assert!(stats[field].is_number(), "{field} in {stats}");
    }
    assert!(stats["model_formula"].is_string());

    let response = http()
        .post(url(addr, "/stats"))
        // Said explicitly: a POST must carry a length, and reqwest omits it for no body.
        .header(CONTENT_LENGTH, 0)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.headers().get(ALLOW),
        Some(&HeaderValue::from_static("GET, HEAD"))
    );
}
