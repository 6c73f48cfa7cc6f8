use crate::test_support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Reply, TestApp, test_app, test_app_with, user_in,
};
use async_trait::async_trait;
use domain::{
    Email,
    users::{Password, PasswordHash, PasswordHasher},
};
use persistence::Argon2Hasher;
use poem::http::Method;
use serde_json::{Value, json};
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

// --- the guard, for every operation the spec says is protected ---------------------------

/// Whether the spec says `operation` needs a token (open ones say `security: []`).
fn is_secured(operation: &Value) -> bool {
    operation["security"]
        .as_array()
        .is_some_and(|requirements| !requirements.is_empty())
}

/// Every operation with `security` in the spec, with its path's variables set to 1.
fn secured_operations() -> Vec<(Method, String)> {
    let spec: Value = crate::spec_value();
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if is_secured(operation) {
                let uri: Vec<String> = path
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') {
                            "1".into()
                        } else {
                            s.into()
                        }
                    })
                    .collect();
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                operations.push((method, uri.join("/")));
            }
        }
    }
    operations
}

#[tokio::test]
async fn only_signup_login_health_and_docs_are_open() {
    let spec: Value = crate::spec_value();
    let mut open = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                operation["security"].is_array(),
                "{method} {path} does not state its security"
            );
            if !is_secured(operation) {
                open.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    open.sort();
    assert_eq!(
        open,
        [
            "GET /healthz",
            "GET /livez",
            "GET /readyz",
            "POST /auth/tokens",
            "POST /users"
        ]
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["BearerAuth"],
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A bearer token from `POST /auth/tokens`: `Authorization: Bearer <token>`."})
    );
}

#[tokio::test]
async fn every_secured_operation_is_401_without_a_token_or_with_a_forged_one() {
    let app = test_app().await;
    let real = app.admin().await;
    let (signed, _) = real.rsplit_once('.').unwrap();
    let forged = format!("{signed}.Zm9yZ2Vk");
    let operations = secured_operations();
    assert!(operations.len() >= 5, "{operations:?}");
    for (method, uri) in operations {
        let body = json!({});
        let reply = app.send(method.clone(), &uri, None, Some(&body)).await;
        reply.assert_problem(401, &uri);
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer"),
            "{method} {uri}"
        );
        for token in [forged.as_str(), "not-a-token", "a.b.c"] {
            let reply = app
                .send(method.clone(), &uri, Some(token), Some(&body))
                .await;
            reply.assert_problem(401, &uri);
            let challenge = reply.header("www-authenticate").unwrap();
            assert!(
                challenge.starts_with("Bearer error=\"invalid_token\""),
                "{method} {uri}: {challenge}"
            );
        }
        // The guard runs before the body is read: a broken body without a token is still 401.
        let reply = Reply::of(
            app.client
                .request(method.clone(), &uri)
                .content_type("application/json")
                .body("{broken")
                .send()
                .await,
        )
        .await;
        assert_eq!(reply.status, 401, "{method} {uri}");
    }
}

#[tokio::test]
async fn another_authorization_scheme_is_401_with_the_bearer_challenge() {
    let app = test_app().await;
    let reply = Reply::of(
        app.client
            .get("/users")
            .header("authorization", "Basic YWRtaW46cGFzcw==")
            .send()
            .await,
    )
    .await;
    reply.assert_problem(401, "/users");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
}

// --- who may touch what --------------------------------------------------------------------

#[tokio::test]
async fn users_cannot_touch_other_users_403() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let token = Some(ann.token.as_str());
    let replacement = user_in("Mallory", "mallory@example.com");
    let patch = json!({"name": "Mallory"});
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(&replacement)),
        (Method::PATCH, Some(&patch)),
        (Method::DELETE, None),
    ] {
        let reply = app.send(method.clone(), &bob.uri, token, body).await;
        reply.assert_problem(403, &bob.uri);
    }
    // A missing id answers 403 too, not 404: a user learns nothing of other ids.
    let reply = app.send(Method::GET, "/users/999", token, None).await;
    reply.assert_problem(403, "/users/999");
    let admin = app.admin().await;
    let after = app.send(Method::GET, &bob.uri, Some(&admin), None).await;
    assert_eq!(after.body, bob.user, "Bob is unchanged");
}

#[tokio::test]
async fn listing_users_is_for_admins_403() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = app
        .send(Method::GET, "/users", Some(&ann.token), None)
        .await;
    reply.assert_problem(403, "/users");
}

#[tokio::test]
async fn creating_a_user_with_a_chosen_id_is_for_admins_403() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let body = user_in("New", "new@example.com");
    let reply = app
        .send(Method::PUT, "/users/500", Some(&ann.token), Some(&body))
        .await;
    reply.assert_problem(403, "/users/500");
    let admin = app.admin().await;
    let reply = app
        .send(Method::GET, "/users/500", Some(&admin), None)
        .await;
    assert_eq!(reply.status, 404, "nothing was created");
}

#[tokio::test]
async fn users_may_delete_themselves() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = app
        .send(Method::DELETE, &ann.uri, Some(&ann.token), None)
        .await;
    assert_eq!(reply.status, 204);
}

#[tokio::test]
async fn admins_may_touch_anyone() {
    let app = test_app().await;
    let admin = app.admin().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = app.send(Method::GET, &ann.uri, Some(&admin), None).await;
    assert_eq!(reply.status, 200);
    let patch = json!({"bio": "by the admin"});
    let reply = app
        .send(Method::PATCH, &ann.uri, Some(&admin), Some(&patch))
        .await;
    assert_eq!(reply.body["bio"], "by the admin");
    let body = user_in("Ann", "ann@example.com");
    let reply = app
        .send(Method::PUT, &ann.uri, Some(&admin), Some(&body))
        .await;
    assert_eq!(reply.status, 200);
    let reply = app.send(Method::DELETE, &ann.uri, Some(&admin), None).await;
    assert_eq!(reply.status, 204);
}

async fn admin_id(app: &TestApp, token: &str) -> String {
    let list = app.send(Method::GET, "/users", Some(token), None).await;
    let admin = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == ADMIN_EMAIL)
        .unwrap()
        .clone();
    format!("/users/{}", admin["id"])
}

#[tokio::test]
async fn the_last_admin_cannot_be_deleted_409() {
    let app = test_app().await;
    let admin = app.admin().await;
    let uri = admin_id(&app, &admin).await;
    let reply = app.send(Method::DELETE, &uri, Some(&admin), None).await;
    let body = reply.assert_problem(409, &uri);
    // 409 has several causes; the type says it is this one.
    assert_eq!(body["type"], "/problems/last-admin");
    assert_eq!(body["title"], "Last Admin");
    // With a second admin, the first may go.
    app.users
        .ensure_admin(
            Email::parse("second@example.com").unwrap(),
            Password::parse("second admin pw").unwrap(),
        )
        .await
        .unwrap();
    let reply = app.send(Method::DELETE, &uri, Some(&admin), None).await;
    assert_eq!(reply.status, 204);
}

// --- tokens ---------------------------------------------------------------------------------

#[tokio::test]
async fn login_is_201_with_a_bearer_token_that_must_not_be_cached() {
    let app = test_app().await;
    let body = json!({"email": "ADMIN@example.com", "password": ADMIN_PASSWORD});
    let reply = app
        .send(Method::POST, "/auth/tokens", None, Some(&body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 3600);
    let token = reply.body["access_token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT");
    let me = app.send(Method::GET, "/users", Some(token), None).await;
    assert_eq!(me.status, 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_the_same_401() {
    let app = test_app().await;
    let wrong_password = json!({"email": ADMIN_EMAIL, "password": "not the password"});
    let unknown_email = json!({"email": "nobody@example.com", "password": ADMIN_PASSWORD});
    let not_an_email = json!({"email": "nobody", "password": ADMIN_PASSWORD});
    let mut bodies = Vec::new();
    for attempt in [wrong_password, unknown_email, not_an_email] {
        let reply = app
            .send(Method::POST, "/auth/tokens", None, Some(&attempt))
            .await;
        reply.assert_problem(401, "/auth/tokens");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        bodies.push(reply.body);
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1], bodies[2]);
}

#[tokio::test]
async fn login_without_email_or_password_is_422() {
    let app = test_app().await;
    let reply = app
        .send(Method::POST, "/auth/tokens", None, Some(&json!({})))
        .await;
    reply.assert_problem(422, "/auth/tokens");
    assert_eq!(
        reply.error_locs(),
        [
            ("body.email".into(), "missing".into()),
            ("body.password".into(), "missing".into())
        ]
    );
}

/// The real Argon2 hasher, counting its verifications.
struct CountingHasher {
    inner: Argon2Hasher,
    verifications: AtomicUsize,
}

#[async_trait]
impl PasswordHasher for CountingHasher {
    async fn hash(&self, password: &Password) -> domain::Result<PasswordHash> {
        self.inner.hash(password).await
    }

    async fn verify(&self, password: &str, hash: &PasswordHash) -> domain::Result<bool> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(password, hash).await
    }
}

#[tokio::test]
async fn unknown_email_costs_the_same_argon2_verification_as_a_wrong_password() {
    let hasher = Arc::new(CountingHasher {
        inner: Argon2Hasher::new(2),
        verifications: AtomicUsize::new(0),
    });
    let app = test_app_with(Duration::from_secs(60), hasher.clone()).await;
    let count = || hasher.verifications.load(Ordering::SeqCst);
    let unknown = json!({"email": "nobody@example.com", "password": "whatever1"});
    let reply = app
        .send(Method::POST, "/auth/tokens", None, Some(&unknown))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        count(),
        1,
        "the unknown address was checked against the dummy hash"
    );
    let wrong = json!({"email": ADMIN_EMAIL, "password": "whatever1"});
    let reply = app
        .send(Method::POST, "/auth/tokens", None, Some(&wrong))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(count(), 2);
    // Requests with a token never verify a password.
    let token = app.admin().await;
    let before = count();
    for _ in 0..5 {
        app.send(Method::GET, "/users", Some(&token), None).await;
    }
    assert_eq!(count(), before);
}

#[tokio::test]
async fn expired_token_is_401_invalid_token() {
    let app = test_app_with(Duration::from_secs(60), Arc::new(Argon2Hasher::new(2))).await;
    let token = app.admin().await;
    let reply = app.send(Method::GET, "/users", Some(&token), None).await;
    assert_eq!(reply.status, 200);
    app.clock.advance(Duration::from_secs(61));
    let reply = app.send(Method::GET, "/users", Some(&token), None).await;
    reply.assert_problem(401, "/users");
    assert!(
        reply
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn deleting_a_user_ends_their_tokens() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = app
        .send(Method::DELETE, &ann.uri, Some(&ann.token), None)
        .await;
    assert_eq!(reply.status, 204);
    let reply = app
        .send(Method::GET, &ann.uri, Some(&ann.token), None)
        .await;
    reply.assert_problem(401, &ann.uri);
    // Re-created with the same id by an admin, the old token still does not work.
    let admin = app.admin().await;
    let body = user_in("Ann", "ann@example.com");
    let reply = app
        .send(Method::PUT, &ann.uri, Some(&admin), Some(&body))
        .await;
    assert_eq!(reply.status, 201);
    let reply = app
        .send(Method::GET, &ann.uri, Some(&ann.token), None)
        .await;
    reply.assert_problem(401, &ann.uri);
}

#[tokio::test]
async fn changing_the_password_ends_earlier_tokens_only() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let patch = json!({"bio": "unrelated change"});
    app.send(Method::PATCH, &ann.uri, Some(&ann.token), Some(&patch))
        .await;
    let reply = app
        .send(Method::GET, &ann.uri, Some(&ann.token), None)
        .await;
    assert_eq!(
        reply.status, 200,
        "a change without a password keeps the token"
    );

    let patch = json!({"password": "a brand new password"});
    let reply = app
        .send(Method::PATCH, &ann.uri, Some(&ann.token), Some(&patch))
        .await;
    assert_eq!(reply.status, 200);
    let reply = app
        .send(Method::GET, &ann.uri, Some(&ann.token), None)
        .await;
    reply.assert_problem(401, &ann.uri);
    let fresh = app.login("ann@example.com", "a brand new password").await;
    let reply = app.send(Method::GET, &ann.uri, Some(&fresh), None).await;
    assert_eq!(reply.status, 200);

    let mut body = user_in("Annie", "ann@example.com");
    body["password"] = json!("a brand new password");
    let reply = app
        .send(Method::PUT, &ann.uri, Some(&fresh), Some(&body))
        .await;
    assert_eq!(reply.status, 200);
    let reply = app.send(Method::GET, &ann.uri, Some(&fresh), None).await;
    assert_eq!(
        reply.status, 200,
        "a PUT repeating the password keeps the token"
    );
    assert_eq!(reply.body["name"], "Annie");

    body["password"] = json!("yet another password");
    let reply = app
        .send(Method::PUT, &ann.uri, Some(&fresh), Some(&body))
        .await;
    assert_eq!(reply.status, 200);
    let reply = app.send(Method::GET, &ann.uri, Some(&fresh), None).await;
    reply.assert_problem(401, &ann.uri);
    app.login("ann@example.com", "yet another password").await;
}

// --- the first admin ---------------------------------------------------------------------------

#[tokio::test]
async fn admin_bootstrap_is_idempotent_and_promotes_an_existing_user_keeping_their_password() {
    let app = test_app().await;
    let users = &app.users;
    let again = users
        .ensure_admin(
            Email::parse(ADMIN_EMAIL).unwrap(),
            Password::parse("a different one").unwrap(),
        )
        .await
        .unwrap();
    assert!(again.is_admin);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = app
        .send(Method::GET, "/users", Some(&ann.token), None)
        .await;
    assert_eq!(reply.status, 403);
    let promoted = users
        .ensure_admin(
            Email::parse("ANN@example.com").unwrap(),
            Password::parse("ignored password").unwrap(),
        )
        .await
        .unwrap();
    assert!(promoted.is_admin);
    let reply = app
        .send(Method::GET, "/users", Some(&ann.token), None)
        .await;
    assert_eq!(
        reply.status, 200,
        "promotion applies to tokens already issued"
    );
    app.login("ann@example.com", PASSWORD).await;
}

#[tokio::test]
async fn failed_logins_past_the_limit_are_429_with_retry_after_and_check_nothing() {
    let hasher = Arc::new(CountingHasher {
        inner: Argon2Hasher::new(2),
        verifications: AtomicUsize::new(0),
    });
    let app = test_app_with(Duration::from_secs(60), hasher.clone()).await;
    let wrong = json!({"email": ADMIN_EMAIL, "password": "not the password"});
    for _ in 0..crate::test_support::THROTTLE.per_email {
        let reply = app
            .send(Method::POST, "/auth/tokens", None, Some(&wrong))
            .await;
        assert_eq!(reply.status, 401);
    }
    let checked = hasher.verifications.load(Ordering::SeqCst);
    // Past the limit even the right password waits: the guesser must not learn it is right.
    let right = json!({"email": ADMIN_EMAIL.to_uppercase(), "password": ADMIN_PASSWORD});
    for body in [&wrong, &right] {
        let reply = app
            .send(Method::POST, "/auth/tokens", None, Some(body))
            .await;
        let problem = reply.assert_problem(429, "/auth/tokens");
        assert!(problem["detail"].as_str().unwrap().contains("retry in"));
        // Five failures a minute: the next fits 12 seconds later.
        assert_eq!(reply.header("retry-after"), Some("12"));
        assert_eq!(reply.header("ratelimit"), Some("\"email\";r=0;t=12"));
        assert_eq!(
            reply.header("ratelimit-policy"),
            Some("\"email\";q=5;w=60, \"client\";q=5;w=60")
        );
    }
    assert_eq!(hasher.verifications.load(Ordering::SeqCst), checked);
    let other = json!({"email": "someone@example.com", "password": "whatever1"});
    let reply = app
        .send(Method::POST, "/auth/tokens", None, Some(&other))
        .await;
    assert_eq!(reply.status, 401, "other addresses are not affected");
}
