//! The arithmetic of every measurement of `predict`, from made-up observations: what each
//! model says, what value is graded, and that every row reports exactly the terms it
//! promises. No stage runs here; `predict_stage1.rs` runs one measurement for real.
//!
//! Run: `cargo test -p workshop --test predict_measures`

use workshop::predict::measures::{burst, drain, raw, Measurement, MEASURES};

fn term<'a>(measurement: &'a Measurement, name: &str) -> &'a str {
    measurement
        .term(name)
        .unwrap_or_else(|| panic!("no term {name} in {measurement:?}"))
}

fn names(measurement: &Measurement) -> Vec<&'static str> {
    measurement.terms.iter().map(|(name, _)| *name).collect()
}

#[test]
fn two_silent_clients_are_served_in_turn_so_the_last_departure_decides() {
    let measurement = raw::two_silent_terms(4.03);
    assert_eq!(measurement.value, 4.03);
    assert_eq!(term(&measurement, "first_leaves_secs"), "2.00");
    assert_eq!(term(&measurement, "second_leaves_secs"), "4.00");
    assert_eq!(term(&measurement, "model_secs"), "4.00");
    assert_eq!(term(&measurement, "after_second_secs"), "0.03");
    assert_eq!(names(&measurement), raw::TWO_SILENT_TERMS);
}

#[test]
fn a_trickle_is_answered_by_the_deadline_not_by_the_end_of_its_body() {
    let measurement = raw::trickle_terms(3.01, 13, "408");
    assert_eq!(measurement.value, 3.01);
    assert_eq!(term(&measurement, "read_timeout_secs"), "3.00");
    assert_eq!(term(&measurement, "bytes_sent"), "13");
    assert_eq!(term(&measurement, "status"), "408");
    // 43 bytes still to come after the first 7, one per 500 ms.
    assert_eq!(term(&measurement, "full_body_secs"), "21.50");
    assert_eq!(names(&measurement), raw::TRICKLE_TERMS);
}

#[test]
fn the_status_is_read_from_the_answers_first_line_only_when_it_is_a_code() {
    assert_eq!(raw::status_of(b"HTTP/1.1 408 Request Timeout\r\n"), "408");
    assert_eq!(raw::status_of(b"HTTP/1.1 20"), "?");
    assert_eq!(raw::status_of(b"garbage"), "?");
    assert_eq!(raw::status_of(b""), "?");
}

#[test]
fn silent_clients_cost_the_difference_of_the_medians_never_less_than_nothing() {
    let measurement = burst::idle_terms(1_500, 2_250, 100, 0);
    assert!((measurement.value - 0.75).abs() < 1e-9, "{measurement:?}");
    assert_eq!(term(&measurement, "base_p50_ms"), "1.50");
    assert_eq!(term(&measurement, "idle_p50_ms"), "2.25");
    assert_eq!(term(&measurement, "opened"), "100");
    // A median that came out lower with the silent clients is noise, shown in the terms.
    let lower = burst::idle_terms(1_600, 1_500, 100, 0);
    assert_eq!(lower.value, 0.0);
    assert_eq!(term(&lower, "idle_p50_ms"), "1.50");
    assert_eq!(names(&measurement), burst::IDLE_TERMS);
}

#[test]
fn requests_that_take_turns_finish_one_work_apart() {
    let measurement = burst::together_terms(1.52, 1.01, 500.0);
    assert_eq!(measurement.value, 1.52);
    assert_eq!(term(&measurement, "requests"), "3");
    assert_eq!(term(&measurement, "model_secs"), "1.50");
    assert_eq!(term(&measurement, "middle_secs"), "1.01");
    assert_eq!(names(&measurement), burst::TOGETHER_TERMS);
}

#[test]
fn the_clients_that_fit_in_a_timeout_are_timeout_over_work() {
    let measurement = burst::timeout_terms(11, 49, 4.94, 100.0, 5.0);
    assert_eq!(measurement.value, 11.0);
    assert_eq!(term(&measurement, "fit"), "50");
    assert_eq!(term(&measurement, "model"), "10");
    assert_eq!(term(&measurement, "answered"), "49");
    // Slower work: 5 s fit 20 jobs of 250 ms, so 40 of 60 time out.
    assert_eq!(
        term(&burst::timeout_terms(40, 20, 4.9, 250.0, 5.0), "model"),
        "40"
    );
    // Work that takes no time fits everyone: the model never goes below zero.
    assert_eq!(
        term(&burst::timeout_terms(0, 60, 0.1, 1.0, 5.0), "model"),
        "0"
    );
    assert_eq!(names(&measurement), burst::TIMEOUT_TERMS);
}

#[test]
fn a_queue_drains_at_one_work_per_accepted_event() {
    let measurement = burst::drain_time_terms(5.31, 1, 21, 979, 20, 250.0, 0.04);
    assert_eq!(measurement.value, 5.31);
    assert_eq!(term(&measurement, "model_secs"), "5.25");
    assert_eq!(term(&measurement, "drain_after_burst_secs"), "5.27");
    assert_eq!(term(&measurement, "accepted"), "21");
    assert_eq!(names(&measurement), burst::DRAIN_TIME_TERMS);
}

#[test]
fn a_pool_drains_its_queue_workers_times_faster() {
    let measurement = burst::drain_time_terms(13.2, 4, 104, 896, 100, 500.0, 0.1);
    assert_eq!(term(&measurement, "workers"), "4");
    assert_eq!(term(&measurement, "model_secs"), "13.00");
}

#[test]
fn a_burst_gets_the_queue_the_worker_and_what_drains_while_it_arrives() {
    let measurement = burst::accepted_terms(5000, 101, 4899, 100, 2.0, 0.2);
    assert_eq!(measurement.value, 101.0);
    assert_eq!(term(&measurement, "drained"), "0.4");
    assert_eq!(term(&measurement, "expected"), "101.4");
    assert_eq!(term(&measurement, "drain_secs"), "50.5");
    // A stage without a model (0 events/s) says so instead of dividing by zero.
    assert_eq!(
        term(
            &burst::accepted_terms(200, 5, 195, 4, 0.0, 0.03),
            "drain_secs"
        ),
        "0.0"
    );
    assert_eq!(names(&measurement), burst::ACCEPTED_TERMS);
}

fn drain(workers: u64, work_ms: f64, hold_ms: f64, shards: u64) -> drain::Drain {
    drain::Drain {
        workers,
        work_ms,
        hold_ms,
        shards,
        model: 0.0,
        hot_key_model: None,
        processed: 300,
        window_secs: 3.0,
        users: 100,
    }
}

#[test]
fn the_drain_rate_is_events_over_the_window_beside_both_bounds() {
    // Stage 7's defaults: the workers could do 145.5, the lock only 100.
    let stage7 = drain::rate_terms(&drain(16, 100.0, 10.0, 0));
    assert_eq!(stage7.value, 100.0);
    assert_eq!(term(&stage7, "workers_bound"), "145.5");
    assert_eq!(term(&stage7, "lock_bound"), "100.0");
    // Half the hold: the lock's bound doubles, the workers' barely moves.
    let half = drain::rate_terms(&drain(16, 100.0, 5.0, 0));
    assert_eq!(term(&half, "lock_bound"), "200.0");
    assert_eq!(term(&half, "workers_bound"), "152.4");
    // Stage 6 has no lock at all.
    let stage6 = drain::rate_terms(&drain(8, 100.0, 0.0, 0));
    assert_eq!(term(&stage6, "workers_bound"), "80.0");
    assert!(term(&stage6, "lock_bound").starts_with("none"));
    assert_eq!(term(&stage6, "hot_key_model"), "none");
    // Shards multiply the lock's bound; one shard is stage 7's lock.
    assert_eq!(
        term(&drain::rate_terms(&drain(16, 10.0, 1.0, 8)), "lock_bound"),
        "8000.0"
    );
    assert_eq!(
        term(&drain::rate_terms(&drain(16, 100.0, 10.0, 1)), "lock_bound"),
        "100.0"
    );
    assert_eq!(names(&stage7), drain::RATE_TERMS);
}

#[test]
fn an_empty_window_is_a_rate_of_zero_not_a_division_by_zero() {
    let mut empty = drain(16, 100.0, 10.0, 0);
    empty.window_secs = 0.0;
    assert_eq!(drain::rate_terms(&empty).value, 0.0);
}

#[test]
fn every_row_has_a_unique_name_a_real_stage_and_the_terms_of_its_kind() {
    let kinds: [&[&str]; 7] = [
        &raw::TWO_SILENT_TERMS,
        &raw::TRICKLE_TERMS,
        &burst::IDLE_TERMS,
        &burst::TOGETHER_TERMS,
        &burst::TIMEOUT_TERMS,
        &burst::DRAIN_TIME_TERMS,
        &burst::ACCEPTED_TERMS,
    ];
    let mut seen = std::collections::HashSet::new();
    for row in MEASURES {
        assert!(seen.insert(row.name), "{} twice", row.name);
        assert!(
            stress_client::catalogue::stage(row.stage).is_some(),
            "{}",
            row.name
        );
        assert!(
            row.name.starts_with(&format!("stage{}_", row.stage)),
            "{} is not named after its stage",
            row.name
        );
        assert!(
            kinds.contains(&row.terms) || row.terms == drain::RATE_TERMS,
            "{} promises terms no measuring function reports",
            row.name
        );
    }
}
