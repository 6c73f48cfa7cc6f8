use crate::test_support::{Reply, TestApp, test_app, test_app_adjusted};
use poem::http::Method;
use serde_json::{Value, json};

fn endpoint(url: &str) -> Value {
    json!({"url": url, "events": ["notification.sent", "account.transaction.booked"]})
}

/// `POST /webhooks` of `body` as the holder of `token`.
async fn create(app: &TestApp, token: &str, body: &Value) -> Reply {
    app.send(Method::POST, "/webhooks", Some(token), Some(body))
        .await
}

/// The `errors` of a 422 as `(loc, type)` pairs.
fn errors_of(reply: &Reply) -> Vec<(String, String)> {
    assert_eq!(reply.status, 422, "{}", reply.body);
    reply.error_locs()
}

fn about(loc: &str, code: &str) -> (String, String) {
    (loc.to_owned(), code.to_owned())
}

#[tokio::test]
async fn creating_is_201_with_the_secret_once_and_a_location() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let body = json!({
        "url": "https://hooks.example.com/in",
        "events": ["notification.sent", "notification.sent"],
        "description": "orders",
    });
    let reply = create(&app, &ann.token, &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/webhooks/{id}").as_str())
    );
    assert_eq!(reply.body["owner_id"], ann.user["id"]);
    assert_eq!(reply.body["events"], json!(["notification.sent"]));
    assert_eq!(reply.body["enabled"], true);
    assert_eq!(reply.body["disabled_reason"], Value::Null);
    let secret = reply.body["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 44,
        "{secret}"
    );
    let got = app
        .send(
            Method::GET,
            &format!("/webhooks/{id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("secret").is_none(), "the secret is shown once");
    let mut created = reply.body.clone();
    created.as_object_mut().unwrap().remove("secret");
    assert_eq!(got.body, created);
}

#[tokio::test]
async fn urls_webhooks_may_not_call_are_422_naming_the_url() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    for (url, code) in [
        ("http://hooks.example.com/in", "webhook_url_scheme"),
        ("https://127.0.0.1/in", "webhook_url_address"),
        ("https://[::1]/in", "webhook_url_address"),
        ("https://169.254.169.254/latest", "webhook_url_address"),
        ("https://localhost/in", "webhook_url_address"),
        (
            "https://user:pw@hooks.example.com/",
            "webhook_url_credentials",
        ),
        ("not a url", "webhook_url_invalid"),
    ] {
        let reply = create(&app, &ann.token, &endpoint(url)).await;
        reply.assert_problem(422, "/webhooks");
        assert_eq!(errors_of(&reply), [about("body.url", code)], "{url}");
    }
    let list = app
        .send(Method::GET, "/webhooks", Some(&ann.token), None)
        .await;
    assert_eq!(list.body["items"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn allowed_hosts_may_be_called_over_plain_http_and_at_loopback() {
    let app = test_app_adjusted(|settings| {
        settings.webhook_allowed_hosts = vec!["127.0.0.1".into(), "localhost".into()];
    })
    .await;
    let ann = app.signup("Ann", "ann@example.com").await;
    for url in ["http://127.0.0.1:9000/in", "http://localhost:9000/in"] {
        let reply = create(&app, &ann.token, &endpoint(url)).await;
        assert_eq!(reply.status, 201, "{url}: {}", reply.body);
    }
    let reply = create(&app, &ann.token, &endpoint("http://10.0.0.1/")).await;
    assert_eq!(errors_of(&reply), [about("body.url", "webhook_url_scheme")]);
}

#[tokio::test]
async fn a_bad_body_names_each_member_and_null_is_refused_where_it_means_nothing() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let body = json!({
        "url": "https://hooks.example.com/",
        "events": ["user.created"],
        "description": null,
        "enabled": null,
    });
    let reply = create(&app, &ann.token, &body).await;
    reply.assert_problem(422, "/webhooks");
    assert_eq!(
        errors_of(&reply),
        [
            about("body.description", "null_not_allowed"),
            about("body.enabled", "null_not_allowed"),
            about("body.events", "event_type_unknown"),
        ]
    );
    let reply = create(
        &app,
        &ann.token,
        &json!({"url": "https://hooks.example.com/", "events": [], "enabled": "yes"}),
    )
    .await;
    assert_eq!(
        errors_of(&reply),
        [
            about("body.enabled", "bool_type"),
            about("body.events", "webhook_events_empty"),
        ]
    );
}

#[tokio::test]
async fn endpoints_are_their_owners_and_an_admin_sees_every_one() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let hook = endpoint("https://hooks.example.com/in");
    let made = create(&app, &ann.token, &hook).await;
    let uri = format!("/webhooks/{}", made.body["id"]);
    create(&app, &bob.token, &hook).await;
    for method in [Method::GET, Method::DELETE] {
        let reply = app.send(method, &uri, Some(&bob.token), None).await;
        reply.assert_problem(403, &uri);
    }
    let patch = json!({"enabled": false});
    let reply = app
        .send(Method::PATCH, &uri, Some(&bob.token), Some(&patch))
        .await;
    reply.assert_problem(403, &uri);
    let rotate = format!("{uri}/secrets");
    let reply = app
        .send(Method::POST, &rotate, Some(&bob.token), None)
        .await;
    reply.assert_problem(403, &rotate);
    let bobs = app
        .send(Method::GET, "/webhooks", Some(&bob.token), None)
        .await;
    assert_eq!(bobs.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(bobs.body["items"][0]["owner_id"], bob.user["id"]);
    let admin = app.admin().await;
    let page = app
        .send(Method::GET, "/webhooks?limit=1", Some(&admin), None)
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next = app
        .send(
            Method::GET,
            &format!("/webhooks?limit=1&cursor={cursor}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(next.body["items"][0]["owner_id"], bob.user["id"]);
    assert_eq!(next.body["next_cursor"], Value::Null);
    let missing = app
        .send(Method::GET, "/webhooks/999", Some(&admin), None)
        .await;
    let problem = missing.assert_problem(404, "/webhooks/999");
    assert_eq!(problem["type"], "/problems/webhook-not-found");
}

#[tokio::test]
async fn a_patch_changes_what_it_names_and_a_refused_one_changes_nothing() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let body = json!({"url": "https://hooks.example.com/in", "events": ["notification.sent"], "description": "orders"});
    let made = create(&app, &ann.token, &body).await;
    let uri = format!("/webhooks/{}", made.body["id"]);
    let patch = json!({"events": ["notification.failed"], "description": null, "enabled": false});
    let reply = app
        .send(Method::PATCH, &uri, Some(&ann.token), Some(&patch))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["events"], json!(["notification.failed"]));
    assert_eq!(reply.body["description"], "");
    assert_eq!(reply.body["enabled"], false);
    assert_eq!(reply.body["url"], "https://hooks.example.com/in");
    let forbidden_url = json!({"url": "https://10.0.0.1/", "enabled": true});
    let reply = app
        .send(Method::PATCH, &uri, Some(&ann.token), Some(&forbidden_url))
        .await;
    assert_eq!(
        errors_of(&reply),
        [about("body.url", "webhook_url_address")]
    );
    let after = app.send(Method::GET, &uri, Some(&ann.token), None).await;
    assert_eq!(after.body["enabled"], false, "nothing was changed");
    let null = app
        .send(
            Method::PATCH,
            &uri,
            Some(&ann.token),
            Some(&json!({"url": null})),
        )
        .await;
    assert_eq!(errors_of(&null), [about("body.url", "null_not_allowed")]);
}

#[tokio::test]
async fn a_rotation_shows_a_new_secret_and_when_the_old_one_stops_signing() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let made = create(&app, &ann.token, &endpoint("https://hooks.example.com/in")).await;
    let uri = format!("/webhooks/{}/secrets", made.body["id"]);
    let reply = app.send(Method::POST, &uri, Some(&ann.token), None).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let secret = reply.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_ne!(secret, made.body["secret"].as_str().unwrap());
    let created = chrono::DateTime::parse_from_rfc3339(reply.body["created_at"].as_str().unwrap());
    let expiry = reply.body["previous_secrets_expire_at"].as_str().unwrap();
    let expiry = chrono::DateTime::parse_from_rfc3339(expiry).unwrap();
    assert_eq!(
        expiry - created.unwrap(),
        chrono::Duration::days(1),
        "the default overlap"
    );
}

#[tokio::test]
async fn a_deleted_endpoint_is_gone() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let made = create(&app, &ann.token, &endpoint("https://hooks.example.com/in")).await;
    let uri = format!("/webhooks/{}", made.body["id"]);
    let reply = app.send(Method::DELETE, &uri, Some(&ann.token), None).await;
    assert_eq!(reply.status, 204);
    let again = app.send(Method::DELETE, &uri, Some(&ann.token), None).await;
    again.assert_problem(404, &uri);
    let secrets = format!("{uri}/secrets");
    let rotate = app
        .send(Method::POST, &secrets, Some(&ann.token), None)
        .await;
    rotate.assert_problem(404, &secrets);
}

/// Ann's account in EUR, holding `balance`; its path.
async fn account(app: &TestApp, member: &crate::test_support::Member, balance: i64) -> String {
    let body = json!({"owner_id": member.user["id"], "currency": "EUR"});
    let made = app
        .send(Method::POST, "/accounts", Some(&member.token), Some(&body))
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let uri = format!("/accounts/{}", made.body["id"]);
    if balance > 0 {
        let deposit = json!({"amount": balance});
        let path = format!("{uri}/deposits");
        app.send(Method::POST, &path, Some(&member.token), Some(&deposit))
            .await;
    }
    uri
}

async fn deliveries_of(app: &TestApp, token: &str, hook: &Value) -> Vec<Value> {
    let uri = format!("/webhooks/{}/deliveries", hook["id"]);
    let reply = app.send(Method::GET, &uri, Some(token), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_booking_writes_a_delivery_for_each_endpoint_of_the_owner_subscribed_to_it() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let booked =
        json!({"url": "https://hooks.example.com/a", "events": ["account.transaction.booked"]});
    let other = json!({"url": "https://hooks.example.com/b", "events": ["notification.sent"]});
    let anns = create(&app, &ann.token, &booked).await.body;
    let anns_other = create(&app, &ann.token, &other).await.body;
    let bobs = create(&app, &bob.token, &booked).await.body;
    let from = account(&app, &ann, 900).await;
    let to = account(&app, &bob, 0).await;
    let deposits = deliveries_of(&app, &ann.token, &anns).await;
    assert_eq!(deposits.len(), 1, "the deposit");
    assert_eq!(deposits[0]["event_type"], "account.transaction.booked");
    assert_eq!(deposits[0]["status"], "pending");
    assert_eq!(deposits[0]["attempts"], 0);
    let transfer = json!({
        "from_account_id": from.rsplit('/').next().unwrap().parse::<i64>().unwrap(),
        "to_account_id": to.rsplit('/').next().unwrap().parse::<i64>().unwrap(),
        "amount": 300,
    });
    let moved = app
        .send(
            Method::POST,
            "/transfers",
            Some(&ann.token),
            Some(&transfer),
        )
        .await;
    assert_eq!(moved.status, 201, "{}", moved.body);
    assert_eq!(
        deliveries_of(&app, &ann.token, &anns).await.len(),
        2,
        "the debit leg"
    );
    assert_eq!(
        deliveries_of(&app, &bob.token, &bobs).await.len(),
        1,
        "the credit leg"
    );
    assert!(
        deliveries_of(&app, &ann.token, &anns_other)
            .await
            .is_empty()
    );
    let refused = json!({"amount": 10_000});
    let path = format!("{from}/withdrawals");
    let reply = app
        .send(Method::POST, &path, Some(&ann.token), Some(&refused))
        .await;
    assert_eq!(reply.status, 402);
    assert_eq!(
        deliveries_of(&app, &ann.token, &anns).await.len(),
        2,
        "nothing for a refusal"
    );
}

#[tokio::test]
async fn a_test_event_is_202_with_its_delivery_and_a_resend_keeps_its_webhook_id() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let hook = create(&app, &ann.token, &endpoint("https://hooks.example.com/in"))
        .await
        .body;
    let uri = format!("/webhooks/{}/test", hook["id"]);
    let reply = app.send(Method::POST, &uri, Some(&ann.token), None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let location = reply.header("location").unwrap().to_owned();
    assert_eq!(
        location,
        format!("/webhooks/{}/deliveries/{}", hook["id"], reply.body["id"])
    );
    assert_eq!(reply.body["event_type"], "webhook.test");
    let shown = app
        .send(Method::GET, &location, Some(&ann.token), None)
        .await;
    assert_eq!(shown.body, reply.body);
    let resend = format!("{location}/resend");
    let resent = app
        .send(Method::POST, &resend, Some(&ann.token), None)
        .await;
    assert_eq!(resent.status, 202, "{}", resent.body);
    assert_eq!(resent.body["message_id"], reply.body["message_id"]);
    let bob = app.signup("Bob", "bob@example.com").await;
    for (method, path) in [
        (Method::GET, &location),
        (Method::POST, &resend),
        (Method::POST, &uri),
    ] {
        let reply = app.send(method, path, Some(&bob.token), None).await;
        reply.assert_problem(403, path);
    }
    let missing = format!("/webhooks/{}/deliveries/999", hook["id"]);
    let reply = app
        .send(Method::GET, &missing, Some(&ann.token), None)
        .await;
    let problem = reply.assert_problem(404, &missing);
    assert_eq!(problem["type"], "/problems/delivery-not-found");
}

#[tokio::test]
async fn a_disabled_endpoint_refuses_a_test_and_a_resend_with_409() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let hook = create(&app, &ann.token, &endpoint("https://hooks.example.com/in"))
        .await
        .body;
    let test = format!("/webhooks/{}/test", hook["id"]);
    let sent = app.send(Method::POST, &test, Some(&ann.token), None).await;
    let off = json!({"enabled": false});
    let uri = format!("/webhooks/{}", hook["id"]);
    app.send(Method::PATCH, &uri, Some(&ann.token), Some(&off))
        .await;
    let reply = app.send(Method::POST, &test, Some(&ann.token), None).await;
    let problem = reply.assert_problem(409, &test);
    assert_eq!(problem["type"], "/problems/webhook-disabled");
    let resend = format!("{uri}/deliveries/{}/resend", sent.body["id"]);
    let reply = app
        .send(Method::POST, &resend, Some(&ann.token), None)
        .await;
    reply.assert_problem(409, &resend);
}
