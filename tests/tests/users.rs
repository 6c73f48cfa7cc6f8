//! The users resource over a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use e2e::{Service, user_in};

const PASSWORD: &str = "correct horse battery";
use futures_util::stream;
use serde_json::{Value, json};

#[tokio::test]
async fn user_lifecycle_over_http() {
    let service = Service::start().await;
    let client = &service.client;

    let resp = client
        .post(service.url("/users"))
        .json(&user_in("Ann", "ann@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let ann: Value = resp.json().await.unwrap();
    assert_eq!(location, format!("/users/{}", ann["id"]));
    let token = service.login("ann@example.com", PASSWORD).await;

    assert_eq!(service.get_json(&location, &token).await, ann);

    let resp = client
        .patch(service.url(&location))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"bio": "hello"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["bio"], "hello");

    let resp = client
        .put(service.url(&location))
        .bearer_auth(&token)
        .json(&user_in("Annie", "ann@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["bio"], Value::Null);

    let resp = client
        .delete(service.url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.content_length(), Some(0));
    let admin = service.admin().await;
    let resp = client
        .get(service.url(&location))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn next_link_is_absolute_and_followable() {
    let service = Service::start().await;
    for n in 0..3 {
        let resp = service
            .client
            .post(service.url("/users"))
            .json(&user_in("U", &format!("u{n}@example.com")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let admin = service.admin().await;
    let resp = service
        .client
        .get(service.url("/users?limit=2"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let link = resp.headers()["link"].to_str().unwrap().to_owned();
    let target = link
        .strip_prefix('<')
        .and_then(|rest| rest.split_once(">; rel=\"next\""))
        .map(|(url, _)| url.to_owned())
        .expect("Link: <url>; rel=\"next\"");
    assert!(target.starts_with(&service.base), "{target}");
    let page = service.get_json(&target, &admin).await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "the admin and three users"
    );
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413_problem() {
    let service = Service::start().await;
    let chunk = bytes::Bytes::from(vec![b' '; 16 * 1024]);
    let chunks = stream::iter((0..8).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let resp = service
        .client
        .post(service.url("/users"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["instance"], "/users");
}

#[tokio::test]
async fn head_gives_the_get_headers_without_a_body() {
    let service = Service::start().await;
    let resp = service
        .client
        .head(service.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.unwrap().is_empty());
}
