use crate::test_support::test_app;
use poem::http::Method;
use serde_json::{Value, json};
use std::time::Duration;

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

// --- following a notification (Server-Sent Events) ----------------------------------------------

/// Submits a notification as `token`'s holder; its id.
async fn submitted(app: &crate::test_support::TestApp, token: &str) -> i64 {
    let reply = app
        .send(
            Method::POST,
            "/notifications",
            Some(token),
            Some(&message()),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    reply.body["id"].as_i64().unwrap()
}

#[tokio::test]
async fn following_a_notification_streams_a_retry_hint_then_its_current_state() {
    use crate::test_support::sse_events;
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let id = submitted(&app, &ann.token).await;
    let resp = app
        .client
        .get(format!("/notifications/{id}/events"))
        .header("authorization", format!("Bearer {}", ann.token))
        .header("accept", "text/event-stream")
        .send()
        .await;
    resp.assert_status_is_ok();
    resp.assert_content_type("text/event-stream");
    resp.assert_header("cache-control", "no-cache");
    let mut body = resp.0.into_body().into_bytes_stream();
    let events = sse_events(&mut body, 2, Duration::from_secs(5)).await;
    assert_eq!(events[0].retry, Some(2000), "a reconnection hint first");
    let current = &events[1];
    assert_eq!(
        (current.id.as_deref(), current.event.as_deref()),
        (Some("1"), Some("queued"))
    );
    let data = current.data.as_ref().unwrap();
    assert_eq!(
        (data["id"].as_i64(), &data["status"]),
        (Some(id), &json!("queued"))
    );
    // Resuming after it: nothing stored since, so nothing but the hint.
    let resumed = app
        .client
        .get(format!("/notifications/{id}/events"))
        .header("authorization", format!("Bearer {}", ann.token))
        .header("last-event-id", "1")
        .send()
        .await;
    let mut body = resumed.0.into_body().into_bytes_stream();
    let events = sse_events(&mut body, 2, Duration::from_millis(300)).await;
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test]
async fn a_stream_s_problems_come_before_any_event() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let id = submitted(&app, &ann.token).await;
    let uri = format!("/notifications/{id}/events");
    let reply = app.send(Method::GET, &uri, None, None).await;
    reply.assert_problem(401, &uri);
    let reply = app.send(Method::GET, &uri, Some(&bob.token), None).await;
    reply.assert_problem(403, &uri);
    let missing = format!("/notifications/{}/events", id + 1);
    let reply = app
        .send(Method::GET, &missing, Some(&ann.token), None)
        .await;
    assert_eq!(
        reply.assert_problem(404, &missing)["type"],
        "/problems/notification-not-found"
    );
    for bad in ["x", "-1", "1.5", "", "99999999999999999999"] {
        let headers = [("last-event-id", bad)];
        let reply = app
            .send_with(Method::GET, &uri, Some(&ann.token), None, &headers)
            .await;
        reply.assert_problem(422, &uri);
        assert_eq!(
            reply.error_locs(),
            [(
                "header.Last-Event-ID".to_owned(),
                "last_event_id_invalid".to_owned()
            )],
            "{bad}"
        );
    }
    let headers = [("accept", "text/html")];
    let reply = app
        .send_with(Method::GET, &uri, Some(&ann.token), None, &headers)
        .await;
    reply.assert_problem(406, &uri);
    // A client that asks for JSON gets the same 406, as JSON.
    let headers = [("accept", "application/json")];
    let reply = app
        .send_with(Method::GET, &uri, Some(&ann.token), None, &headers)
        .await;
    assert_eq!(
        (reply.status, reply.body["status"].as_u64()),
        (406, Some(406))
    );
}

#[tokio::test]
async fn past_the_follower_cap_a_new_follower_is_503_overloaded_until_one_leaves() {
    let app = crate::test_support::test_app_adjusted(|s| s.max_followers = 1).await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let id = submitted(&app, &ann.token).await;
    let uri = format!("/notifications/{id}/events");
    let follow = || {
        app.client
            .get(&uri)
            .header("authorization", format!("Bearer {}", ann.token))
            .send()
    };
    let first = follow().await;
    first.assert_status_is_ok();
    let refused = crate::test_support::Reply::of(follow().await).await;
    let problem = refused.assert_problem(503, &uri);
    assert_eq!(problem["type"], "/problems/overloaded");
    assert_eq!(refused.header("retry-after"), Some("1"));
    // The cap comes before anything is read: past it, even a notification that does not exist
    // is 503, not 404 (its stream is refused before the domain looks for it).
    let missing = "/notifications/999999/events";
    let unread = app
        .client
        .get(missing)
        .header("authorization", format!("Bearer {}", ann.token))
        .send()
        .await;
    let unread = crate::test_support::Reply::of(unread).await;
    assert_eq!(
        unread.assert_problem(503, missing)["type"],
        "/problems/overloaded"
    );
    drop(first);
    follow().await.assert_status_is_ok();
}
