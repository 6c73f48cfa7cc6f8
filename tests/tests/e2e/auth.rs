//! Authentication end to end: the admin bootstrap across restarts, and tokens over HTTP.

use e2e::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Service, TestStorage};
use serde_json::json;

async fn list_status(service: &Service, token: &str) -> u16 {
    service
        .client
        .get(service.url("/users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn without_admin_settings_there_is_no_admin_and_with_them_an_existing_user_is_promoted() {
    let storage = TestStorage::new().await;
    let no_admin = |s: &mut app::Settings| {
        s.admin_email = None;
        s.admin_password = None;
    };
    let mut first = Service::start_on(&storage, no_admin).await;
    let resp = first
        .client
        .post(first.url("/auth/tokens"))
        .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "no admin, no default password");
    let token = first.signup("Ann", "ann@example.com").await.token;
    assert_eq!(list_status(&first, &token).await, 403);
    first.stop().await.unwrap();

    let promote = |s: &mut app::Settings| {
        s.admin_email = Some("ANN@example.com".to_owned());
        s.admin_password = Some("ignored for an existing user".to_owned());
    };
    let mut second = Service::start_on(&storage, promote).await;
    assert_eq!(
        list_status(&second, &token).await,
        200,
        "the token issued before the restart works (the key is kept) and Ann is an admin now"
    );
    second.login("ann@example.com", PASSWORD).await;
    second.stop().await.unwrap();
}

#[tokio::test]
async fn a_token_from_one_start_works_after_a_restart_with_the_same_data() {
    let storage = TestStorage::new().await;
    let mut first = Service::start_on(&storage, |_| {}).await;
    let token = first.admin().await;
    first.stop().await.unwrap();
    let mut second = Service::start_on(&storage, |_| {}).await;
    assert_eq!(list_status(&second, &token).await, 200);
    second.stop().await.unwrap();
}

#[tokio::test]
async fn one_client_failing_with_many_addresses_is_429_per_client() {
    let service = Service::start_with(|s| {
        s.login_failures_per_client = 3;
        s.login_window_seconds = 60;
    })
    .await;
    let attempt = |n: u32| {
        service
            .client
            .post(service.url("/auth/tokens"))
            .json(&json!({"email": format!("guess{n}@example.com"), "password": "password1"}))
            .send()
    };
    for n in 0..3 {
        assert_eq!(attempt(n).await.unwrap().status(), 401);
    }
    let refused = attempt(3).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "20");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    // From this client even a right password waits until the window has room again.
    let admin = service
        .client
        .post(service.url("/auth/tokens"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 429);
}

/// A failed login from `forwarded_for`, as a proxy at the loopback address sends it.
async fn fail_login_via_proxy(service: &Service, forwarded_for: &str) -> u16 {
    service
        .client
        .post(service.url("/auth/tokens"))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"email": "nobody@example.com", "password": "password1"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_per_client_limit_counts_the_forwarded_client() {
    let service = Service::start_with(|s| {
        s.login_failures_per_client = 2;
        s.login_failures_per_email = 0;
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    for _ in 0..2 {
        assert_eq!(fail_login_via_proxy(&service, "203.0.113.1").await, 401);
    }
    assert_eq!(fail_login_via_proxy(&service, "203.0.113.1").await, 429);
    // Another client behind the same proxy has its own allowance.
    assert_eq!(fail_login_via_proxy(&service, "203.0.113.2").await, 401);
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_do_not_escape_the_per_client_limit() {
    let service = Service::start_with(|s| {
        s.login_failures_per_client = 2;
        s.login_failures_per_email = 0;
    })
    .await;
    let statuses = [
        fail_login_via_proxy(&service, "203.0.113.1").await,
        fail_login_via_proxy(&service, "203.0.113.2").await,
        fail_login_via_proxy(&service, "203.0.113.3").await,
    ];
    assert_eq!(statuses, [401, 401, 429]);
}

#[tokio::test]
async fn failed_logins_still_count_after_a_restart() {
    let storage = TestStorage::new().await;
    let three_per_address = |s: &mut app::Settings| {
        s.login_failures_per_email = 3;
        s.login_window_seconds = 60;
    };
    let wrong = json!({"email": ADMIN_EMAIL, "password": "not the password"});
    let mut first = Service::start_on(&storage, three_per_address).await;
    for _ in 0..3 {
        let failed = first.client.post(first.url("/auth/tokens")).json(&wrong);
        assert_eq!(failed.send().await.unwrap().status(), 401);
    }
    first.stop().await.unwrap();
    // The counts are in the database, not in the process that made them.
    let mut second = Service::start_on(&storage, three_per_address).await;
    let refused = second.client.post(second.url("/auth/tokens")).json(&wrong);
    assert_eq!(refused.send().await.unwrap().status(), 429);
    second.stop().await.unwrap();
}
