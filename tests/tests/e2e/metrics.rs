//! `GET /metrics` on its own listener: requests by route template and status with latency
//! histograms, database pool use and the notification queue; never on the API port.

use e2e::{Service, SignedUp};
use serde_json::json;

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_show_pool_and_queue() {
    let service = Service::start_with(|s| s.notification_workers = 0).await;
    let SignedUp { uri, token, .. } = service.signup("Mia", "mia@example.com").await;
    for _ in 0..3 {
        service.get_json(&uri, &token).await;
    }
    let missing = service
        .client
        .get(service.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let accepted = service
        .client
        .post(service.url("/notifications"))
        .bearer_auth(&token)
        .json(&json!({"email": "friend@example.com", "subject": "Hi", "body": "Hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);

    let resp = service
        .client
        .get(service.metrics.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    let has = |line: &str| text.lines().any(|l| l == line);
    let user = r#"method="GET",route="/users/{id}",status="200""#;
    assert!(has(&format!("http_requests_total{{{user}}} 3")), "{text}");
    assert!(has(&format!(
        "http_request_duration_seconds_count{{{user}}} 3"
    )));
    assert!(has(
        r#"http_requests_total{method="POST",route="/users",status="201"} 1"#
    ));
    assert!(has(
        r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#
    ));
    assert!(has(r#"notifications{status="queued"} 1"#), "{text}");
    assert!(text.contains("db_pool_connections{state=\"idle\"}"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("db_pool_max_connections "))
    );
    // SQLite's group commit counts the sign-up and the notification (and the admin made at
    // start-up); PostgreSQL commits on its own and counts nothing here.
    let committed: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("db_group_committed_writes_total "))
        .and_then(|n| n.parse().ok())
        .expect("db_group_committed_writes_total");
    let on_sqlite = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_default()
        .is_empty();
    assert!(!on_sqlite || committed >= 2, "{text}");

    // The public port has no metrics.
    let public = service
        .client
        .get(service.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
}
