use crate::test_support::{BODY_LIMIT, Member, Reply, TestApp, test_app, user_in};
use poem::http::Method;
use serde_json::{Value, json};

fn assert_no_password(body: &Value) {
    let text = body.to_string();
    assert!(!text.contains("password"), "{text}");
    assert!(!text.contains("argon2"), "{text}");
}

async fn create(app: &TestApp, body: &Value) -> Reply {
    app.send(Method::POST, "/users", None, Some(body)).await
}

// --- POST /users -------------------------------------------------------------------------

#[tokio::test]
async fn create_is_open_201_with_location_and_no_password() {
    let app = test_app().await;
    let mut input = user_in("Ann", "Ann@Example.com");
    input["bio"] = json!("likes tea");
    let reply = create(&app, &input).await;
    assert_eq!(reply.status, 201);
    let id = reply.body["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/users/{id}").as_str())
    );
    assert_eq!(reply.body["name"], "Ann");
    assert_eq!(reply.body["email"], "Ann@Example.com");
    assert_eq!(reply.body["bio"], "likes tea");
    assert_eq!(reply.body["created_at"], reply.body["updated_at"]);
    let created_at = reply.body["created_at"].as_str().unwrap();
    assert!(created_at.ends_with('Z'), "{created_at}");
    assert_no_password(&reply.body);
}

#[tokio::test]
async fn create_without_bio_shows_bio_null() {
    let app = test_app().await;
    let body = create(&app, &user_in("Ann", "ann@example.com")).await.body;
    assert!(body.as_object().unwrap().contains_key("bio"));
    assert_eq!(body["bio"], Value::Null);
}

#[tokio::test]
async fn create_with_email_taken_in_any_case_is_409() {
    let app = test_app().await;
    create(&app, &user_in("Ann", "ann@example.com")).await;
    let reply = create(&app, &user_in("Other", "ANN@example.COM")).await;
    reply.assert_problem(409, "/users");
}

#[tokio::test]
async fn create_with_every_member_invalid_is_one_422_naming_each() {
    let app = test_app().await;
    let input = json!({
        "name": "",
        "email": "not-an-address",
        "password": "short",
        "bio": "b".repeat(2001),
    });
    let reply = create(&app, &input).await;
    reply.assert_problem(422, "/users");
    assert_eq!(
        reply.error_locs(),
        [
            ("body.bio".into(), "string_too_long".into()),
            ("body.email".into(), "email_invalid".into()),
            ("body.name".into(), "string_too_short".into()),
            ("body.password".into(), "string_too_short".into()),
        ]
    );
    for error in reply.body["errors"].as_array().unwrap() {
        assert!(!error["msg"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn create_with_missing_and_mistyped_members_names_each() {
    let app = test_app().await;
    let reply = create(&app, &json!({"name": 5})).await;
    reply.assert_problem(422, "/users");
    assert_eq!(
        reply.error_locs(),
        [
            ("body.email".into(), "missing".into()),
            ("body.name".into(), "string_type".into()),
            ("body.password".into(), "missing".into()),
        ]
    );
}

#[tokio::test]
async fn lengths_are_checked_in_characters_at_the_limits() {
    let app = test_app().await;
    let mut input = user_in(&"é".repeat(100), "edge@example.com");
    input["bio"] = json!("ü".repeat(2000));
    input["password"] = json!("p".repeat(128));
    let reply = create(&app, &input).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    input["name"] = json!("é".repeat(101));
    input["email"] = json!("edge2@example.com");
    let reply = create(&app, &input).await;
    assert_eq!(
        reply.error_locs(),
        [("body.name".into(), "string_too_long".into())]
    );
}

#[tokio::test]
async fn malformed_json_is_400_problem() {
    let app = test_app().await;
    let reply = Reply::of(
        app.client
            .post("/users")
            .content_type("application/json")
            .body("{\"name\": ")
            .send()
            .await,
    )
    .await;
    let body = reply.assert_problem(400, "/users");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("not well-formed JSON")
    );
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415_problem() {
    let app = test_app().await;
    let body = user_in("Ann", "ann@example.com").to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/merge-patch+json"),
        None,
    ] {
        let mut request = app.client.post("/users").body(body.clone());
        if let Some(content_type) = content_type {
            request = request.content_type(content_type);
        }
        let reply = Reply::of(request.send().await).await;
        reply.assert_problem(415, "/users");
    }
}

#[tokio::test]
async fn json_with_charset_parameter_is_accepted() {
    let app = test_app().await;
    let reply = Reply::of(
        app.client
            .post("/users")
            .content_type("application/json; charset=utf-8")
            .body(user_in("Ann", "ann@example.com").to_string())
            .send()
            .await,
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[tokio::test]
async fn empty_body_is_422_and_non_object_body_is_422() {
    let app = test_app().await;
    let reply = Reply::of(
        app.client
            .post("/users")
            .content_type("application/json")
            .send()
            .await,
    )
    .await;
    reply.assert_problem(422, "/users");
    assert_eq!(reply.error_locs(), [("body".into(), "missing".into())]);
    let reply = create(&app, &json!([1, 2])).await;
    assert_eq!(reply.error_locs(), [("body".into(), "object_type".into())]);
}

#[tokio::test]
async fn declared_body_over_the_limit_is_413_problem_and_creates_nothing() {
    let app = test_app().await;
    let mut input = user_in("Ann", "ann@example.com");
    input["bio"] = json!("x".repeat(BODY_LIMIT as usize));
    let body = input.to_string();
    let reply = Reply::of(
        app.client
            .post("/users")
            .content_type("application/json")
            .header("content-length", body.len())
            .body(body)
            .send()
            .await,
    )
    .await;
    reply.assert_problem(413, "/users");
    let admin = app.admin().await;
    let list = app.send(Method::GET, "/users", Some(&admin), None).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "the admin only"
    );
}

// --- GET /users/{id} ---------------------------------------------------------------------

#[tokio::test]
async fn get_own_user_is_200_and_a_missing_id_is_404_for_an_admin() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = app
        .send(Method::GET, &ann.uri, Some(&ann.token), None)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, ann.user);
    assert_no_password(&reply.body);
    let admin = app.admin().await;
    let reply = app
        .send(Method::GET, "/users/999", Some(&admin), None)
        .await;
    let body = reply.assert_problem(404, "/users/999");
    assert_eq!(body["type"], "/problems/user-not-found");
    assert_eq!(body["title"], "User Not Found");
}

#[tokio::test]
async fn id_that_is_not_a_positive_integer_is_422_at_path_id() {
    let app = test_app().await;
    let admin = app.admin().await;
    for bad in ["abc", "0", "-3", "1.5", "99999999999999999999"] {
        let uri = format!("/users/{bad}");
        for method in [Method::GET, Method::DELETE] {
            let reply = app.send(method, &uri, Some(&admin), None).await;
            reply.assert_problem(422, &uri);
            let locs = reply.error_locs();
            assert_eq!(locs.len(), 1);
            assert_eq!(locs[0].0, "path.id", "{bad}");
        }
    }
}

// --- GET /users --------------------------------------------------------------------------

#[tokio::test]
async fn list_walks_every_page_once_in_id_order() {
    let app = test_app().await;
    let admin = app.admin().await;
    let first = app.send(Method::GET, "/users", Some(&admin), None).await;
    let mut ids = vec![first.body["items"][0]["id"].as_i64().unwrap()];
    for n in 0..6 {
        let reply = create(&app, &user_in("U", &format!("u{n}@example.com"))).await;
        ids.push(reply.body["id"].as_i64().unwrap());
    }
    let mut seen = Vec::new();
    let mut uri = "/users?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let reply = app.send(Method::GET, &uri, Some(&admin), None).await;
        assert_eq!(reply.status, 200);
        pages += 1;
        for item in reply.body["items"].as_array().unwrap() {
            assert_no_password(item);
            seen.push(item["id"].as_i64().unwrap());
        }
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => {
                let link = reply.header("link").expect("a next page has a Link");
                assert!(link.ends_with("rel=\"next\""), "{link}");
                assert!(link.contains(&format!("cursor={cursor}")), "{link}");
                uri = format!("/users?limit=3&cursor={cursor}");
            }
            None => {
                assert!(reply.header("link").is_none());
                assert_eq!(reply.body["next_cursor"], Value::Null);
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn list_defaults_to_twenty_items() {
    let app = test_app().await;
    let admin = app.admin().await;
    for n in 0..20 {
        create(&app, &user_in("U", &format!("u{n}@example.com"))).await;
    }
    let reply = app.send(Method::GET, "/users", Some(&admin), None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 20);
    assert!(reply.body["next_cursor"].is_string());
}

#[tokio::test]
async fn bad_limit_or_cursor_is_422_at_the_query_parameter() {
    let app = test_app().await;
    let admin = app.admin().await;
    for (query, loc) in [
        ("limit=0", "query.limit"),
        ("limit=101", "query.limit"),
        ("limit=ten", "query.limit"),
        ("cursor=not-a-cursor", "query.cursor"),
        ("cursor=MA", "query.cursor"),
    ] {
        let uri = format!("/users?{query}");
        let reply = app.send(Method::GET, &uri, Some(&admin), None).await;
        reply.assert_problem(422, "/users");
        let locs = reply.error_locs();
        assert_eq!(locs.len(), 1, "{query}");
        assert_eq!(locs[0].0, loc, "{query}");
    }
}

// --- PUT /users/{id} ---------------------------------------------------------------------

#[tokio::test]
async fn admin_put_on_a_missing_id_creates_it_with_201_and_location() {
    let app = test_app().await;
    let admin = app.admin().await;
    let body = user_in("Put", "put@example.com");
    let reply = app
        .send(Method::PUT, "/users/77", Some(&admin), Some(&body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.header("location"), Some("/users/77"));
    assert_eq!(reply.body["id"], 77);
    assert_no_password(&reply.body);
    let next = create(&app, &user_in("Next", "next@example.com")).await;
    assert!(next.body["id"].as_i64().unwrap() > 77);
}

#[tokio::test]
async fn creating_a_user_with_an_id_past_2_pow_53_is_422_and_sign_up_keeps_working() {
    let app = test_app().await;
    let admin = app.admin().await;
    let largest = domain::users::MAX_CHOSEN_ID;
    let not_an_id = user_in("Max", "max@example.com");
    let reply = app
        .send(Method::PUT, "/users/abc", Some(&admin), Some(&not_an_id))
        .await;
    reply.assert_problem(422, "/users/abc");
    assert_eq!(reply.body["errors"][0]["loc"], json!(["path", "id"]));
    for id in [largest + 1, i64::MAX] {
        let uri = format!("/users/{id}");
        let body = user_in("Max", "max@example.com");
        let reply = app.send(Method::PUT, &uri, Some(&admin), Some(&body)).await;
        reply.assert_problem(422, &uri);
        assert_eq!(reply.body["errors"][0]["loc"], json!(["path", "id"]));
        let get = app.send(Method::GET, &uri, Some(&admin), None).await;
        assert_eq!(get.status, 404);
    }
    let uri = format!("/users/{largest}");
    let body = user_in("Max", "max@example.com");
    let reply = app.send(Method::PUT, &uri, Some(&admin), Some(&body)).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let next = create(&app, &user_in("Next", "next@example.com")).await;
    assert_eq!(next.status, 201, "{}", next.body);
    assert!(next.body["id"].as_i64().unwrap() > largest);
}

#[tokio::test]
async fn put_replaces_own_user_keeps_created_at_and_clears_bio() {
    let app = test_app().await;
    let mut input = user_in("Ann", "ann@example.com");
    input["bio"] = json!("old bio");
    let created = create(&app, &input).await.body;
    let uri = format!("/users/{}", created["id"]);
    let token = app
        .login("ann@example.com", crate::test_support::PASSWORD)
        .await;
    let body = user_in("Annie", "annie@example.com");
    let reply = app.send(Method::PUT, &uri, Some(&token), Some(&body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.header("location").is_none());
    assert_eq!(reply.body["name"], "Annie");
    assert_eq!(reply.body["email"], "annie@example.com");
    assert_eq!(reply.body["bio"], Value::Null);
    assert_eq!(reply.body["created_at"], created["created_at"]);
    assert_no_password(&reply.body);
}

#[tokio::test]
async fn put_with_the_email_of_another_user_is_409_and_changes_nothing() {
    let app = test_app().await;
    app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let body = user_in("Bob", "Ann@Example.com");
    let reply = app
        .send(Method::PUT, &bob.uri, Some(&bob.token), Some(&body))
        .await;
    reply.assert_problem(409, &bob.uri);
    let after = app
        .send(Method::GET, &bob.uri, Some(&bob.token), None)
        .await;
    assert_eq!(after.body, bob.user);
}

#[tokio::test]
async fn put_keeping_its_own_email_in_another_case_is_fine() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let body = user_in("Ann", "ANN@example.com");
    let reply = app
        .send(Method::PUT, &ann.uri, Some(&ann.token), Some(&body))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn put_with_invalid_body_is_422_and_creates_nothing() {
    let app = test_app().await;
    let admin = app.admin().await;
    let body = json!({"name": "x"});
    let reply = app
        .send(Method::PUT, "/users/5", Some(&admin), Some(&body))
        .await;
    reply.assert_problem(422, "/users/5");
    let get = app.send(Method::GET, "/users/5", Some(&admin), None).await;
    assert_eq!(get.status, 404);
}

// --- PATCH /users/{id} -------------------------------------------------------------------

async fn patch(app: &TestApp, who: &Member, media: &str, body: Value) -> Reply {
    patch_at(app, &who.uri, &who.token, media, body).await
}

async fn patch_at(app: &TestApp, uri: &str, token: &str, media: &str, body: Value) -> Reply {
    Reply::of(
        app.client
            .patch(uri)
            .header("authorization", format!("Bearer {token}"))
            .content_type(media)
            .body(body.to_string())
            .send()
            .await,
    )
    .await
}

#[tokio::test]
async fn patch_changes_only_present_members_and_null_bio_clears_it() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = patch(
        &app,
        &ann,
        "application/merge-patch+json",
        json!({"bio": "tea"}),
    )
    .await;
    assert_eq!(reply.body["bio"], "tea");

    let reply = patch(
        &app,
        &ann,
        "application/merge-patch+json",
        json!({"name": "Annie"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["name"], "Annie");
    assert_eq!(reply.body["email"], ann.user["email"]);
    assert_eq!(reply.body["bio"], "tea");
    assert_eq!(reply.body["created_at"], ann.user["created_at"]);
    assert_no_password(&reply.body);

    let reply = patch(&app, &ann, "application/json", json!({"bio": null})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["bio"], Value::Null);
    assert_eq!(reply.body["name"], "Annie");
}

#[tokio::test]
async fn empty_patch_changes_nothing() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = patch(&app, &ann, "application/merge-patch+json", json!({})).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, ann.user);
}

#[tokio::test]
async fn patch_with_null_name_email_or_password_is_422_and_changes_nothing() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = patch(
        &app,
        &ann,
        "application/merge-patch+json",
        json!({"name": null, "email": null, "password": null, "bio": "new"}),
    )
    .await;
    reply.assert_problem(422, &ann.uri);
    assert_eq!(
        reply.error_locs(),
        [
            ("body.email".into(), "null_not_allowed".into()),
            ("body.name".into(), "null_not_allowed".into()),
            ("body.password".into(), "null_not_allowed".into()),
        ]
    );
    let after = app
        .send(Method::GET, &ann.uri, Some(&ann.token), None)
        .await;
    assert_eq!(after.body, ann.user);
}

#[tokio::test]
async fn admin_patch_of_a_missing_user_is_404() {
    let app = test_app().await;
    let admin = app.admin().await;
    let body = json!({"name": "X"});
    let reply = patch_at(
        &app,
        "/users/404",
        &admin,
        "application/merge-patch+json",
        body,
    )
    .await;
    reply.assert_problem(404, "/users/404");
}

#[tokio::test]
async fn patch_to_an_email_taken_by_another_user_is_409() {
    let app = test_app().await;
    app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let body = json!({"email": "ANN@example.com"});
    let reply = patch(&app, &bob, "application/merge-patch+json", body).await;
    reply.assert_problem(409, &bob.uri);
}

#[tokio::test]
async fn patch_in_another_media_type_is_415() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = patch(&app, &ann, "text/plain", json!({"name": "X"})).await;
    reply.assert_problem(415, &ann.uri);
}

// --- DELETE /users/{id} ------------------------------------------------------------------

#[tokio::test]
async fn admin_delete_is_204_with_empty_body_then_404() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let admin = app.admin().await;
    let resp = app
        .client
        .delete(&ann.uri)
        .header("authorization", format!("Bearer {admin}"))
        .send()
        .await
        .0;
    assert_eq!(resp.status(), 204);
    assert!(resp.into_body().into_bytes().await.unwrap().is_empty());
    let reply = app.send(Method::DELETE, &ann.uri, Some(&admin), None).await;
    reply.assert_problem(404, &ann.uri);
    let reply = app.send(Method::GET, &ann.uri, Some(&admin), None).await;
    reply.assert_problem(404, &ann.uri);
}

// --- conditional requests ------------------------------------------------------------------

/// The `ETag` of a reply, which must have one.
fn etag(reply: &Reply) -> String {
    reply.header("etag").expect("an ETag").to_owned()
}

#[tokio::test]
async fn get_user_has_a_strong_etag_and_if_none_match_gives_a_bodyless_304() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let first = app
        .send(Method::GET, &ann.uri, Some(&ann.token), None)
        .await;
    let tag = etag(&first);
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
    let again = app
        .send(Method::GET, &ann.uri, Some(&ann.token), None)
        .await;
    assert_eq!(etag(&again), tag, "an unchanged user keeps its tag");
    let cached = app
        .send_with(
            Method::GET,
            &ann.uri,
            Some(&ann.token),
            None,
            &[("if-none-match", &tag)],
        )
        .await;
    assert_eq!(cached.status, 304);
    assert_eq!(cached.body, Value::Null, "a 304 has no body");
    assert_eq!(cached.header("etag"), Some(tag.as_str()));
    let stale = app
        .send_with(
            Method::GET,
            &ann.uri,
            Some(&ann.token),
            None,
            &[("if-none-match", "\"old\"")],
        )
        .await;
    assert_eq!(stale.status, 200);
}

#[tokio::test]
async fn a_write_returns_the_etag_a_later_get_carries_and_changes_it() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let before = etag(
        &app.send(Method::GET, &ann.uri, Some(&ann.token), None)
            .await,
    );
    let patched = app
        .send_with(
            Method::PATCH,
            &ann.uri,
            Some(&ann.token),
            Some(&json!({"bio": "new"})),
            &[("if-match", &before)],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let after = etag(&patched);
    assert_ne!(after, before);
    let read = app
        .send(Method::GET, &ann.uri, Some(&ann.token), None)
        .await;
    assert_eq!(etag(&read), after);
}

#[tokio::test]
async fn patch_with_a_stale_if_match_is_412_and_changes_nothing() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = app
        .send_with(
            Method::PATCH,
            &ann.uri,
            Some(&ann.token),
            Some(&json!({"name": "Changed"})),
            &[("if-match", "\"nope\"")],
        )
        .await;
    let body = reply.assert_problem(412, &ann.uri);
    assert_eq!(body["type"], "/problems/precondition-failed");
    let read = app
        .send(Method::GET, &ann.uri, Some(&ann.token), None)
        .await;
    assert_eq!(read.body["name"], "Ann");
}

#[tokio::test]
async fn put_and_delete_with_a_stale_if_match_are_412_and_change_nothing() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let stale = [("if-match", "\"stale\"")];
    let input = user_in("Other", "ann@example.com");
    let put = app
        .send_with(
            Method::PUT,
            &ann.uri,
            Some(&ann.token),
            Some(&input),
            &stale,
        )
        .await;
    put.assert_problem(412, &ann.uri);
    let delete = app
        .send_with(Method::DELETE, &ann.uri, Some(&ann.token), None, &stale)
        .await;
    delete.assert_problem(412, &ann.uri);
    let read = app
        .send(Method::GET, &ann.uri, Some(&ann.token), None)
        .await;
    assert_eq!(read.body, ann.user);
    let tag = etag(&read);
    let delete = app
        .send_with(
            Method::DELETE,
            &ann.uri,
            Some(&ann.token),
            None,
            &[("if-match", &tag)],
        )
        .await;
    assert_eq!(delete.status, 204);
}

#[tokio::test]
async fn if_match_star_on_a_missing_user_is_412_and_creates_nothing() {
    let app = test_app().await;
    let admin = app.admin().await;
    let star = [("if-match", "*")];
    let patch = app
        .send_with(
            Method::PATCH,
            "/users/77",
            Some(&admin),
            Some(&json!({"bio": "x"})),
            &star,
        )
        .await;
    patch.assert_problem(412, "/users/77");
    let input = user_in("Zed", "zed@example.com");
    let put = app
        .send_with(Method::PUT, "/users/77", Some(&admin), Some(&input), &star)
        .await;
    put.assert_problem(412, "/users/77");
    let delete = app
        .send_with(Method::DELETE, "/users/77", Some(&admin), None, &star)
        .await;
    delete.assert_problem(412, "/users/77");
    let read = app.send(Method::GET, "/users/77", Some(&admin), None).await;
    assert_eq!(read.status, 404);
}

#[tokio::test]
async fn put_with_if_none_match_star_only_creates() {
    let app = test_app().await;
    let admin = app.admin().await;
    let create_only = [("if-none-match", "*")];
    let input = user_in("Zed", "zed@example.com");
    let created = app
        .send_with(
            Method::PUT,
            "/users/77",
            Some(&admin),
            Some(&input),
            &create_only,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let again = app
        .send_with(
            Method::PUT,
            "/users/77",
            Some(&admin),
            Some(&user_in("Other", "o@example.com")),
            &create_only,
        )
        .await;
    again.assert_problem(412, "/users/77");
    let read = app.send(Method::GET, "/users/77", Some(&admin), None).await;
    assert_eq!(read.body["name"], "Zed");
}

#[tokio::test]
async fn two_writers_holding_one_etag_never_both_win() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let tag = etag(
        &app.send(Method::GET, &ann.uri, Some(&ann.token), None)
            .await,
    );
    for round in 0..5 {
        let tag = if round == 0 {
            tag.clone()
        } else {
            etag(
                &app.send(Method::GET, &ann.uri, Some(&ann.token), None)
                    .await,
            )
        };
        // Names new in every round: a patch that changes nothing keeps the tag, and rightly so.
        let write = |name: &'static str| {
            let body = json!({ "name": format!("{name} {round}") });
            let tag = tag.clone();
            let (app, ann) = (&app, &ann);
            async move {
                app.send_with(
                    Method::PATCH,
                    &ann.uri,
                    Some(&ann.token),
                    Some(&body),
                    &[("if-match", &tag)],
                )
                .await
                .status
            }
        };
        let (a, b) = tokio::join!(write("First"), write("Second"));
        let mut statuses = [a, b];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}");
    }
}

#[tokio::test]
async fn a_service_requiring_if_match_refuses_unconditional_user_writes_with_428() {
    let app = crate::test_support::test_app_requiring_if_match().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let patch = json!({"bio": "x"});
    let reply = app
        .send(Method::PATCH, &ann.uri, Some(&ann.token), Some(&patch))
        .await;
    let body = reply.assert_problem(428, &ann.uri);
    assert_eq!(body["type"], "/problems/precondition-required");
    let delete = app
        .send(Method::DELETE, &ann.uri, Some(&ann.token), None)
        .await;
    delete.assert_problem(428, &ann.uri);
    let tag = etag(
        &app.send(Method::GET, &ann.uri, Some(&ann.token), None)
            .await,
    );
    let reply = app
        .send_with(
            Method::PATCH,
            &ann.uri,
            Some(&ann.token),
            Some(&patch),
            &[("if-match", &tag)],
        )
        .await;
    assert_eq!(reply.status, 200);
}

// --- the serde writing of UserOut --------------------------------------------------------

#[test]
fn user_out_is_written_by_serde_exactly_as_poem_openapi_writes_it() {
    use super::UserOut;
    use chrono::{TimeZone, Timelike};
    use domain::users::{Bio, User, UserId, UserName};
    use poem_openapi::types::ToJSON;
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .unwrap()
        .with_nanosecond(123_456_789)
        .unwrap();
    for bio in [None, Some("likes \"tea\"\n\u{1}, é")] {
        let user = User {
            id: UserId::parse(7).unwrap(),
            name: UserName::parse("Ann \\ Lee").unwrap(),
            email: domain::Email::parse("ann@example.com").unwrap(),
            bio: bio.map(|text| Bio::parse(text).unwrap()),
            password_hash: domain::users::PasswordHash::from_phc("$argon2id$x".to_owned()),
            is_admin: false,
            created_at: at,
            updated_at: at + chrono::Duration::seconds(1),
        };
        let out = UserOut::from(&user);
        let by_poem = serde_json::to_vec(&out.to_json()).unwrap();
        assert_eq!(
            String::from_utf8(serde_json::to_vec(&out).unwrap()).unwrap(),
            String::from_utf8(by_poem).unwrap()
        );
    }
}
