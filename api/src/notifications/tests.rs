use crate::test_support::test_app;
use poem::http::Method;
use serde_json::{Value, json};

fn message() -> Value {
    json!({"email": "friend@example.com", "subject": "Hello", "body": "Line one\nLine two"})
}

#[tokio::test]
async fn submitting_is_202_queued_with_a_status_monitor_and_wakes_the_worker() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = app
        .send(
            Method::POST,
            "/notifications",
            Some(&ann.token),
            Some(&message()),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let id = reply.body["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/notifications/{id}").as_str())
    );
    assert_eq!(reply.body["status"], "queued");
    assert_eq!(reply.header("retry-after"), Some("1"), "when to look");
    assert_eq!(reply.body["email"], "friend@example.com");
    assert_eq!(reply.body["subject"], "Hello");
    assert_eq!(reply.body["attempts"], 0);
    assert_eq!(reply.body["last_error"], Value::Null);
    assert_eq!(reply.body["sent_at"], Value::Null);
    assert!(
        reply.body.get("body").is_none(),
        "the text is not echoed back"
    );
    assert_eq!(app.wakeups.count(), 1);
    let monitor = app
        .send(
            Method::GET,
            &format!("/notifications/{id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(monitor.status, 200);
    assert_eq!(monitor.body, reply.body, "stored before the 202");
    assert_eq!(monitor.header("retry-after"), Some("1"), "still queued");
}

#[tokio::test]
async fn a_notification_is_visible_to_its_sender_and_admins_only() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let reply = app
        .send(
            Method::POST,
            "/notifications",
            Some(&ann.token),
            Some(&message()),
        )
        .await;
    let uri = format!("/notifications/{}", reply.body["id"]);
    let reply = app.send(Method::GET, &uri, Some(&bob.token), None).await;
    reply.assert_problem(403, &uri);
    let admin = app.admin().await;
    assert_eq!(
        app.send(Method::GET, &uri, Some(&admin), None).await.status,
        200
    );
    let reply = app
        .send(Method::GET, "/notifications/9999", Some(&admin), None)
        .await;
    reply.assert_problem(404, "/notifications/9999");
    let reply = app
        .send(Method::GET, "/notifications/x", Some(&admin), None)
        .await;
    reply.assert_problem(422, "/notifications/x");
}

#[tokio::test]
async fn invalid_members_are_422_each_and_nothing_is_queued() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let bad = json!({"email": "nobody", "subject": "Hi\r\nBcc: all@example.com", "body": ""});
    let reply = app
        .send(Method::POST, "/notifications", Some(&ann.token), Some(&bad))
        .await;
    reply.assert_problem(422, "/notifications");
    assert_eq!(
        reply.error_locs(),
        [
            ("body.body".into(), "string_too_short".into()),
            ("body.email".into(), "email_invalid".into()),
            ("body.subject".into(), "string_control".into()),
        ]
    );
    let long =
        json!({"email": "a@example.com", "subject": "s".repeat(201), "body": "b".repeat(10_001)});
    let reply = app
        .send(
            Method::POST,
            "/notifications",
            Some(&ann.token),
            Some(&long),
        )
        .await;
    assert_eq!(
        reply.error_locs(),
        [
            ("body.body".into(), "string_too_long".into()),
            ("body.subject".into(), "string_too_long".into()),
        ]
    );
    assert_eq!(app.wakeups.count(), 0);
}
