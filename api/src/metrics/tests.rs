#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use super::*;

#[test]
fn requests_render_as_counters_and_cumulative_histograms_per_route_template() {
    let metrics = HttpMetrics::new();
    let user: Arc<str> = Arc::from("/users/{id}");
    for micros in [300, 700, 40_000] {
        metrics.observe(
            &Method::GET,
            Some(&user),
            StatusCode::OK,
            Duration::from_micros(micros),
        );
    }
    metrics.observe(
        &Method::GET,
        None,
        StatusCode::NOT_FOUND,
        Duration::from_millis(20),
    );
    let mut text = String::new();
    metrics.render(&mut text);
    let has = |line: &str| text.lines().any(|l| l == line);
    let series = r#"method="GET",route="/users/{id}",status="200""#;
    assert!(has(&format!("http_requests_total{{{series}}} 3")), "{text}");
    assert!(has(&format!(
        "http_request_duration_seconds_bucket{{{series},le=\"0.0005\"}} 1"
    )));
    assert!(has(&format!(
        "http_request_duration_seconds_bucket{{{series},le=\"0.001\"}} 2"
    )));
    assert!(has(&format!(
        "http_request_duration_seconds_bucket{{{series},le=\"0.025\"}} 2"
    )));
    assert!(has(&format!(
        "http_request_duration_seconds_bucket{{{series},le=\"0.05\"}} 3"
    )));
    assert!(has(&format!(
        "http_request_duration_seconds_bucket{{{series},le=\"+Inf\"}} 3"
    )));
    assert!(has(&format!(
        "http_request_duration_seconds_sum{{{series}}} 0.041"
    )));
    assert!(has(&format!(
        "http_request_duration_seconds_count{{{series}}} 3"
    )));
    assert!(has(
        r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#
    ));
    assert!(has("http_requests_in_flight 0"));
    assert!(has("# TYPE http_request_duration_seconds histogram"));
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}
