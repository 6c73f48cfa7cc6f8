//! Webhook deliveries end to end, to a real receiver on loopback: an event written with the
//! booking that caused it, signed the Standard Webhooks way and verified by the client crate's
//! `verify`; retries through a receiver that hangs or fails, with one `webhook-id`; `410 Gone`
//! disabling the endpoint; the test event and a resend; and a delivery cut off by SIGKILL sent
//! again, with the same `webhook-id`, by the next process (on PostgreSQL, by another one).

use e2e::{
    Service, TestStorage, json_of,
    process::{Instance, admin_token},
    wait_until,
    webhook_receiver::{Received, Receiver, Reply},
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Settings that let a test's endpoints reach the loopback receiver and retry within
/// milliseconds.
fn local(settings: &mut app::Settings) {
    settings.webhook_allowed_hosts = vec!["127.0.0.1".into()];
    settings.webhook_poll_ms = 50;
    settings.webhook_retry_scale = 0.001;
    settings.webhook_timeout_seconds = 1;
}

/// An account of user `owner` (whose token this is), and an endpoint of theirs at `url` for
/// bookings: the account's path and the endpoint (with its secret).
async fn hooked(
    client: &reqwest::Client,
    base: &str,
    (owner, token): (i64, &str),
    url: &str,
) -> (String, Value) {
    let account = json_of(
        client
            .post(format!("{base}/accounts"))
            .bearer_auth(token)
            .json(&json!({"owner_id": owner, "currency": "EUR"})),
    )
    .await;
    let endpoint = json_of(
        client
            .post(format!("{base}/webhooks"))
            .bearer_auth(token)
            .json(&json!({"url": url, "events": ["account.transaction.booked"]})),
    )
    .await;
    (format!("/accounts/{}", account["id"]), endpoint)
}

async fn deposit(client: &reqwest::Client, base: &str, token: &str, account: &str) -> Value {
    json_of(
        client
            .post(format!("{base}{account}/deposits"))
            .bearer_auth(token)
            .json(&json!({"amount": 500})),
    )
    .await
}

/// Waits until `receiver` has got `n` requests; them.
async fn received(receiver: &Receiver, n: usize, within: Duration) -> Vec<Received> {
    wait_until(
        Instant::now() + within,
        format!("{n} deliveries arrive"),
        async || {
            let got = receiver.received();
            if got.len() >= n {
                Ok(got)
            } else {
                Err(got.len())
            }
        },
    )
    .await
}

fn header<'a>(request: &'a Received, name: &str) -> &'a str {
    request.headers[name].to_str().unwrap()
}

/// The endpoint's deliveries, newest first.
async fn deliveries(client: &reqwest::Client, base: &str, token: &str, hook: &Value) -> Value {
    let url = format!("{base}/webhooks/{}/deliveries", hook["id"]);
    json_of(client.get(url).bearer_auth(token)).await["items"].clone()
}

#[tokio::test]
async fn a_deposit_is_delivered_signed_and_verified_by_the_client_crate() {
    let receiver = Receiver::start([]).await;
    let service = Service::start_with(local).await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let (client, base) = (reqwest::Client::new(), service.url(""));
    let (account, hook) = hooked(&client, &base, (ann.id, &ann.token), &receiver.url).await;
    let booked = deposit(&client, &base, &ann.token, &account).await;
    let got = received(&receiver, 1, Duration::from_secs(10)).await;
    let secret = hook["secret"].as_str().unwrap();
    let delivery = client::webhooks::verify(secret, &got[0].headers, &got[0].body).unwrap();
    assert_eq!(delivery.event.kind, "account.transaction.booked");
    let transaction = format!("{base}{account}/transactions/{}", delivery.event.data["id"]);
    let shown = json_of(client.get(transaction).bearer_auth(&ann.token)).await;
    assert_eq!(
        delivery.event.data, shown,
        "data is the API's TransactionOut"
    );
    assert_eq!(delivery.event.data, booked, "the deposit's own answer");
    assert!(delivery.id.starts_with("msg_"));
    assert_eq!(header(&got[0], "content-type"), "application/json");
    let wrong = "whsec_dGVzdC1rZXktYnl0ZXMtdGhhdC1hcmUtbG9uZw==";
    assert!(client::webhooks::verify(wrong, &got[0].headers, &got[0].body).is_err());
    let listed = deliveries(&client, &base, &ann.token, &hook).await;
    assert_eq!(listed[0]["message_id"], delivery.id.as_str());
    assert_eq!(listed[0]["status"], "delivered");
    assert_eq!(listed[0]["attempts"], 1);
    assert_eq!(listed[0]["last_status_code"], 204);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "delivered once");
}

#[tokio::test]
async fn a_receiver_that_hangs_then_fails_then_answers_gets_one_webhook_id_each_time() {
    let receiver = Receiver::start([Reply::Hang, Reply::Status(503)]).await;
    let service = Service::start_with(local).await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let (client, base) = (reqwest::Client::new(), service.url(""));
    let (account, hook) = hooked(&client, &base, (ann.id, &ann.token), &receiver.url).await;
    deposit(&client, &base, &ann.token, &account).await;
    let got = received(&receiver, 3, Duration::from_secs(20)).await;
    let ids: Vec<&str> = got.iter().map(|r| header(r, "webhook-id")).collect();
    assert_eq!(ids, [ids[0]; 3], "the same webhook-id on every attempt");
    let secret = hook["secret"].as_str().unwrap();
    for request in &got {
        client::webhooks::verify(secret, &request.headers, &request.body).unwrap();
    }
    let url = format!("{base}/webhooks/{}/deliveries", hook["id"]);
    wait_until(
        Instant::now() + Duration::from_secs(5),
        "delivered",
        async || {
            let listed = json_of(client.get(&url).bearer_auth(&ann.token)).await;
            let first = listed["items"][0].clone();
            if first["status"] == "delivered" {
                Ok(first)
            } else {
                Err(first)
            }
        },
    )
    .await;
    let listed = deliveries(&client, &base, &ann.token, &hook).await;
    assert_eq!(listed[0]["attempts"], 3);
}

#[tokio::test]
async fn an_endpoint_answering_410_is_disabled_and_its_owner_sees_why() {
    let receiver = Receiver::start([Reply::Status(410)]).await;
    let service = Service::start_with(local).await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let (client, base) = (reqwest::Client::new(), service.url(""));
    let (account, hook) = hooked(&client, &base, (ann.id, &ann.token), &receiver.url).await;
    deposit(&client, &base, &ann.token, &account).await;
    received(&receiver, 1, Duration::from_secs(10)).await;
    let url = format!("{base}/webhooks/{}", hook["id"]);
    let disabled = wait_until(
        Instant::now() + Duration::from_secs(5),
        "disabled",
        async || {
            let now = json_of(client.get(&url).bearer_auth(&ann.token)).await;
            if now["enabled"] == false {
                Ok(now)
            } else {
                Err(now)
            }
        },
    )
    .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    let listed = deliveries(&client, &base, &ann.token, &hook).await;
    assert_eq!(listed[0]["status"], "failed");
    let test = client
        .post(format!("{url}/test"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(test.status(), 409);
    let problem: Value = test.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/webhook-disabled");
}

#[tokio::test]
async fn an_endpoint_failing_a_whole_schedule_is_disabled_with_the_reason() {
    let receiver = Receiver::start([Reply::Status(500); 8]).await;
    // The whole schedule (about 28 hours) in about a second.
    let service = Service::start_with(|settings| {
        local(settings);
        settings.webhook_retry_scale = 0.00001;
    })
    .await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let (client, base) = (reqwest::Client::new(), service.url(""));
    let (account, hook) = hooked(&client, &base, (ann.id, &ann.token), &receiver.url).await;
    deposit(&client, &base, &ann.token, &account).await;
    let got = received(&receiver, 8, Duration::from_secs(20)).await;
    let url = format!("{base}/webhooks/{}", hook["id"]);
    let disabled = wait_until(
        Instant::now() + Duration::from_secs(5),
        "disabled",
        async || {
            let now = json_of(client.get(&url).bearer_auth(&ann.token)).await;
            if now["enabled"] == false {
                Ok(now)
            } else {
                Err(now)
            }
        },
    )
    .await;
    let reason = disabled["disabled_reason"].as_str().unwrap();
    assert!(
        reason.contains("8 attempts") && reason.contains("500"),
        "{reason}"
    );
    let listed = deliveries(&client, &base, &ann.token, &hook).await;
    assert_eq!(
        (listed[0]["status"].as_str(), listed[0]["attempts"].as_u64()),
        (Some("failed"), Some(8))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        got.len(),
        "nothing after the last attempt"
    );
}

#[tokio::test]
async fn a_test_event_and_its_resend_carry_one_webhook_id() {
    let receiver = Receiver::start([]).await;
    let service = Service::start_with(local).await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let (client, base) = (reqwest::Client::new(), service.url(""));
    let (_, hook) = hooked(&client, &base, (ann.id, &ann.token), &receiver.url).await;
    let test = client
        .post(format!("{base}/webhooks/{}/test", hook["id"]))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(test.status(), 202);
    let location = test.headers()["location"].to_str().unwrap().to_owned();
    let accepted: Value = test.json().await.unwrap();
    assert_eq!(accepted["event_type"], "webhook.test");
    let first = received(&receiver, 1, Duration::from_secs(10)).await;
    let secret = hook["secret"].as_str().unwrap();
    let delivery = client::webhooks::verify(secret, &first[0].headers, &first[0].body).unwrap();
    assert_eq!(delivery.event.kind, "webhook.test");
    assert_eq!(delivery.event.data["webhook_id"], hook["id"]);
    let shown = json_of(
        client
            .get(format!("{base}{location}"))
            .bearer_auth(&ann.token),
    )
    .await;
    assert_eq!(shown["message_id"], delivery.id.as_str());
    wait_until(
        Instant::now() + Duration::from_secs(5),
        "delivered",
        async || {
            let now = json_of(
                client
                    .get(format!("{base}{location}"))
                    .bearer_auth(&ann.token),
            )
            .await;
            if now["status"] == "delivered" {
                Ok(())
            } else {
                Err(now)
            }
        },
    )
    .await;
    let resend = client
        .post(format!("{base}{location}/resend"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resend.status(), 202);
    let again = received(&receiver, 2, Duration::from_secs(10)).await;
    assert_eq!(header(&again[1], "webhook-id"), delivery.id);
}

#[tokio::test]
async fn a_delivery_cut_off_by_sigkill_is_sent_again_with_its_webhook_id() {
    let receiver = Receiver::start([Reply::Hang]).await;
    let storage = TestStorage::new().await;
    let env = [
        ("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1".to_owned()),
        ("WEBHOOK_POLL_MS", "100".to_owned()),
        ("WEBHOOK_TIMEOUT_SECONDS", "600".to_owned()),
    ];
    let client = reqwest::Client::new();
    let first = Instance::spawn(&storage, &env);
    first.wait_ready(&client).await;
    let token = admin_token(&client, &first.base).await;
    let users = json_of(
        client
            .get(format!("{}/users", first.base))
            .bearer_auth(&token),
    )
    .await;
    let admin = users["items"][0]["id"].as_i64().unwrap();
    let (account, _) = hooked(&client, &first.base, (admin, &token), &receiver.url).await;
    deposit(&client, &first.base, &token, &account).await;
    received(&receiver, 1, Duration::from_secs(10)).await;
    first.kill();
    let crashed_at = Instant::now();
    let second = Instance::spawn(&storage, &env);
    second.wait_ready(&client).await;
    let got = received(&receiver, 2, Duration::from_secs(20)).await;
    eprintln!("redelivered {:?} after the SIGKILL", crashed_at.elapsed());
    assert_eq!(header(&got[1], "webhook-id"), header(&got[0], "webhook-id"));
    drop(second);
}
