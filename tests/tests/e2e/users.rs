//! The users resource over a real socket.

use client::types;
use e2e::{
    PASSWORD, Service,
    typed::{id, new_user, refused},
    user_in,
};
use futures_util::stream;
use serde_json::Value;

#[tokio::test]
async fn user_lifecycle_through_the_generated_client() {
    let service = Service::start().await;
    let created = service
        .anonymous()
        .users_create(&new_user("Ann", "ann@example.com"))
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let ann = created.into_inner();
    assert_eq!(location, format!("/users/{}", ann.id));
    let id = id(ann.id);
    let token = service.login("ann@example.com", PASSWORD).await;
    let api = service.api(&token);

    let read = api.users_get(id, None).await.unwrap().into_inner();
    assert_eq!(
        (read.id, &read.email, read.created_at),
        (ann.id, &ann.email, ann.created_at)
    );

    let patch = types::UserPatchIn {
        bio: Some("hello".try_into().unwrap()),
        ..Default::default()
    };
    let patched = api
        .users_patch(id, None, &patch)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (patched.bio.as_deref(), patched.name.as_str()),
        (Some("hello"), "Ann")
    );

    let replaced = api
        .users_replace(id, None, None, &new_user("Annie", "ann@example.com"))
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    assert_eq!(replaced.into_inner().bio, None);

    let deleted = api.users_delete(id, None).await.unwrap();
    assert_eq!(deleted.status(), 204);
    let admin = service.api(&service.admin().await);
    let gone = refused(admin.users_get(id, None).await, 404);
    assert_eq!(gone.instance, location);
}

#[tokio::test]
async fn every_kind_of_refusal_comes_back_as_a_typed_problem() {
    let service = Service::start().await;
    let open = service.anonymous();
    open.users_create(&new_user("Ann", "ann@example.com"))
        .await
        .unwrap();

    let taken = refused(
        open.users_create(&new_user("Bob", "ANN@example.com")).await,
        409,
    );
    assert_eq!(taken.type_, "/problems/email-taken");
    assert_eq!(taken.title, "E-mail Address Taken");

    // The spec cannot say what an e-mail address is; the service can, member by member.
    let invalid = new_user("Bob", "not an address");
    let problem = refused(open.users_create(&invalid).await, 422);
    let locs: Vec<(Vec<String>, String)> = problem
        .errors
        .iter()
        .map(|e| (e.loc.clone(), e.type_.clone()))
        .collect();
    assert_eq!(
        locs,
        [(
            vec!["body".to_owned(), "email".to_owned()],
            "email_invalid".to_owned()
        )]
    );

    let unauthorized = open.users_get(id(1), None).await;
    let err = unauthorized.as_ref().expect_err("no token");
    if let client::Error::ErrorResponse(response) = err {
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    refused(unauthorized, 401);

    let ann = service.api(&service.login("ann@example.com", PASSWORD).await);
    let forbidden = refused(ann.users_list(None, None, None).await, 403);
    assert_eq!(forbidden.instance, "/users");
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
