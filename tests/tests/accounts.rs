//! Money over a real socket: deposits, a refused withdrawal, a transfer, and a retried request
//! that must not move money twice.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use e2e::{Service, user_in};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

async fn post(
    service: &Service,
    token: &str,
    path: &str,
    body: Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = service
        .client
        .post(service.url(path))
        .bearer_auth(token)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn money_moves_once_per_key_and_never_below_zero() {
    let service = Service::start().await;
    for (name, email) in [("Ann", "ann@example.com"), ("Bob", "bob@example.com")] {
        let resp = service
            .client
            .post(service.url("/users"))
            .json(&user_in(name, email))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let ann = service.login("ann@example.com", PASSWORD).await;
    let bob = service.login("bob@example.com", PASSWORD).await;
    let admin = service.admin().await;
    let users = service.get_json("/users", &admin).await;
    let id_of = |email: &str| {
        users["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap()["id"]
            .clone()
    };
    let anns = post(
        &service,
        &ann,
        "/accounts",
        json!({"owner_id": id_of("ann@example.com")}),
        None,
    )
    .await
    .json::<Value>()
    .await
    .unwrap();
    let bobs = post(
        &service,
        &bob,
        "/accounts",
        json!({"owner_id": id_of("bob@example.com")}),
        None,
    )
    .await
    .json::<Value>()
    .await
    .unwrap();
    let deposit = format!("/accounts/{}/deposits", anns["id"]);

    let first = post(
        &service,
        &ann,
        &deposit,
        json!({"amount": 500}),
        Some("salary-11"),
    )
    .await;
    assert_eq!(first.status(), 201);
    let first_body: Value = first.json().await.unwrap();
    let retry = post(
        &service,
        &ann,
        &deposit,
        json!({"amount": 500}),
        Some("salary-11"),
    )
    .await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.json::<Value>().await.unwrap(), first_body);

    let withdrawal = format!("/accounts/{}/withdrawals", anns["id"]);
    let refused = post(&service, &ann, &withdrawal, json!({"amount": 501}), None).await;
    assert_eq!(refused.status(), 402);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        (
            problem["title"].as_str(),
            problem["balance"].as_i64(),
            problem["required"].as_i64()
        ),
        (Some("Insufficient Funds"), Some(500), Some(501))
    );

    let moved = post(
        &service,
        &ann,
        "/transfers",
        json!({"from_account_id": anns["id"], "to_account_id": bobs["id"], "amount": 200}),
        Some("rent"),
    )
    .await;
    assert_eq!(moved.status(), 201);
    let account = |id: &Value, token: &str| {
        let path = format!("/accounts/{id}");
        let token = token.to_owned();
        let service = &service;
        async move {
            service.get_json(&path, &token).await["balance"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(account(&anns["id"], &ann).await, 300);
    assert_eq!(account(&bobs["id"], &bob).await, 200);
}
