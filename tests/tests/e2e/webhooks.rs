//! Webhook endpoints end to end, through the client generated from the spec: made with a
//! secret shown once, listed, refused where a URL may not be called, rotated and deleted.

use client::types::{self, WebhookEventType as Event};
use e2e::{Service, typed::id};

fn endpoint(url: &str) -> types::WebhookIn {
    types::WebhookIn {
        url: url.try_into().unwrap(),
        events: vec![Event::AccountTransactionBooked],
        description: Some("ledger".try_into().unwrap()),
        enabled: None,
    }
}

#[tokio::test]
async fn an_endpoint_is_made_listed_rotated_and_deleted_through_the_typed_client() {
    let service = Service::start_with(|settings| {
        settings.webhook_allowed_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let api = service.api(&ann.token);
    let made = api
        .webhooks_create(&endpoint("http://127.0.0.1:9/hook"))
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    assert_eq!(made.headers()["location"], format!("/webhooks/{}", made.id));
    let made = made.into_inner();
    assert!(made.secret.starts_with("whsec_"));
    assert!(made.enabled);
    let page = api
        .webhooks_list(None, None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].url, "http://127.0.0.1:9/hook");
    let rotated = api
        .webhooks_rotate_secret(id(made.id))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.secret, made.secret);
    assert!(rotated.previous_secrets_expire_at.is_some());
    let deleted = api.webhooks_delete(id(made.id)).await.unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = api.webhooks_get(id(made.id), None).await.unwrap_err();
    let client::Error::ErrorResponse(problem) = gone else {
        panic!("not a problem: {gone:?}");
    };
    assert_eq!(problem.status(), 404);
    assert_eq!(problem.type_, "/problems/webhook-not-found");
}

#[tokio::test]
async fn a_url_at_a_private_address_is_a_typed_422_naming_the_url() {
    let service = Service::start().await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let refused = service
        .api(&ann.token)
        .webhooks_create(&endpoint("https://10.1.2.3/hook"))
        .await
        .unwrap_err();
    let client::Error::ErrorResponse(problem) = refused else {
        panic!("not a problem: {refused:?}");
    };
    assert_eq!(problem.status(), 422);
    let errors = problem.errors.clone();
    assert_eq!(errors[0].loc, ["body", "url"]);
    assert_eq!(errors[0].type_, "webhook_url_address");
}
