//! Shared harness of the api crate's tests: the real application over a real SQLite file,
//! with an admin, and helpers to act as one user or another.

use crate::{Services, Settings, app};
use domain::{
    Email,
    notifications::OutboxSignal,
    throttle::ThrottlePolicy,
    users::{Password, PasswordHasher},
};
use persistence::{Argon2Hasher, Database, DatabaseSettings, HmacTokens};
use poem::{EndpointExt, Response, endpoint::BoxEndpoint, http::Method, test::TestClient};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::{sync::Arc, time::Duration};

/// The body limit the tests run with, small enough to pass it cheaply.
pub const BODY_LIMIT: u64 = 64 * 1024;
/// The upload limit the tests run with.
pub const FILE_LIMIT: u64 = 256 * 1024;
/// The admin every test application starts with.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// The admin's password.
pub const ADMIN_PASSWORD: &str = "admin password 1";
/// The password of every user [`TestApp::signup`] creates.
pub const PASSWORD: &str = "correct horse battery";

/// The application under test and what keeps it alive.
pub struct TestApp {
    pub client: TestClient<BoxEndpoint<'static, Response>>,
    pub db: Database,
    pub services: Services,
    /// Counts the wake-ups the delivery worker would get (the api tests run no worker).
    pub wakeups: Arc<Wakeups>,
    /// The clock tokens are issued and checked by: real time, plus what a test added.
    pub clock: Arc<TestClock>,
    _dir: tempfile::TempDir,
}

/// Real time in seconds since the Unix epoch, moved forward by a test at will: token expiry
/// is tested without waiting for it.
#[derive(Default)]
pub struct TestClock {
    ahead: std::sync::atomic::AtomicU64,
}

impl TestClock {
    /// The time now, as tokens count it.
    pub fn now(&self) -> u64 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        real + self.ahead.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Moves the clock `by` forward.
    pub fn advance(&self, by: Duration) {
        self.ahead
            .fetch_add(by.as_secs(), std::sync::atomic::Ordering::SeqCst);
    }
}

/// Counts wake-ups of the delivery worker.
#[derive(Default)]
pub struct Wakeups(AtomicUsize);

impl Wakeups {
    /// How many wake-ups so far.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl OutboxSignal for Wakeups {
    fn wake(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A user created through the API, with a token of theirs.
pub struct Member {
    pub user: Value,
    pub uri: String,
    pub token: String,
}

/// The login limits of test applications: five failures a minute per address (the test client
/// has no peer address, so only this limit can be reached; the per-client one is tested end to
/// end).
pub const THROTTLE: ThrottlePolicy = ThrottlePolicy {
    per_email: 5,
    per_client: 5,
    window: Duration::from_secs(60),
};

/// A fresh application on an empty, migrated database with one admin.
pub async fn test_app() -> TestApp {
    test_app_with(Duration::from_secs(3600), Arc::new(Argon2Hasher::new(2))).await
}

/// A fresh application whose tokens live for `token_ttl`, hashing with `hasher`.
pub async fn test_app_with(token_ttl: Duration, hasher: Arc<dyn PasswordHasher>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::connect(&DatabaseSettings {
        url: format!("sqlite://{}/api.db", dir.path().display()),
        max_connections: 4,
        durability: Default::default(),
    })
    .await
    .unwrap();
    db.migrate().await.unwrap();
    let storage =
        persistence::storage(&db, Duration::from_secs(60), dir.path().join("files")).unwrap();
    let clock = Arc::new(TestClock::default());
    let time = clock.clone();
    let tokens = Arc::new(
        HmacTokens::new(vec![42; 32], token_ttl)
            .unwrap()
            .with_clock(Arc::new(move || time.now())),
    );
    let wakeups = Arc::new(Wakeups::default());
    let services = Services::over(&storage, hasher, tokens, THROTTLE, wakeups.clone(), false)
        .await
        .unwrap();
    services
        .users
        .ensure_admin(
            Email::parse(ADMIN_EMAIL).unwrap(),
            Password::parse(ADMIN_PASSWORD).unwrap(),
        )
        .await
        .unwrap();
    TestApp {
        client: client(&services),
        db,
        services,
        wakeups,
        clock,
        _dir: dir,
    }
}

/// A client of the whole application over `services`, with the tests' settings.
fn client(services: &Services) -> TestClient<BoxEndpoint<'static, Response>> {
    let settings = Settings {
        limits: crate::edge::EdgeLimits {
            json_body: BODY_LIMIT,
            file_body: FILE_LIMIT,
            body_timeout: std::time::Duration::from_secs(30),
            max_in_flight: 1000,
        },
        cors_allowed_origins: Vec::new(),
        trusted_proxies: Default::default(),
    };
    let endpoint = app(
        services.clone(),
        &settings,
        crate::metrics::HttpMetrics::new(),
    );
    TestClient::new(endpoint.boxed())
}

/// The application of [`test_app`], set to require conditional writes to users.
pub async fn test_app_requiring_if_match() -> TestApp {
    let mut app = test_app().await;
    app.services.users = app
        .services
        .users
        .clone()
        .requiring_conditional_writes(true);
    app.client = client(&app.services);
    app
}

impl TestApp {
    /// Sends `method uri`, as the holder of `token` when given, with a JSON `body` when given.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        self.send_with(method, uri, token, body, &[]).await
    }

    /// [`Self::send`] with extra request `headers`.
    pub async fn send_with(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method, uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .content_type("application/json")
                .body(body.to_string());
        }
        Reply::of(request.send().await).await
    }

    /// A token for `email` and `password`.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let body = json!({"email": email, "password": password});
        let reply = self
            .send(Method::POST, "/auth/tokens", None, Some(&body))
            .await;
        assert_eq!(reply.status, 201, "login of {email}: {}", reply.body);
        reply.body["access_token"].as_str().unwrap().to_owned()
    }

    /// A token of the admin.
    pub async fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Signs a user up (`POST /users`) and logs them in.
    pub async fn signup(&self, name: &str, email: &str) -> Member {
        let reply = self
            .send(Method::POST, "/users", None, Some(&user_in(name, email)))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let id = reply.body["id"].as_i64().unwrap();
        Member {
            user: reply.body,
            uri: format!("/users/{id}"),
            token: self.login(email, PASSWORD).await,
        }
    }
}

/// Status, headers and JSON body of a response.
pub struct Reply {
    pub status: u16,
    pub headers: poem::http::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Reads a response whole; an empty body reads as `Value::Null`.
    pub async fn of(resp: poem::test::TestResponse) -> Self {
        let resp = resp.0;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().into_bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts this is a problem with `status` for the request at `instance`, and returns it.
    pub fn assert_problem(&self, status: u16, instance: &str) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert_eq!(self.body["instance"], instance);
        assert!(self.body["type"].is_string() && self.body["title"].is_string());
        &self.body
    }

    /// The `[loc, type]` pairs of a 422's `errors`, sorted.
    pub fn error_locs(&self) -> Vec<(String, String)> {
        let mut locs: Vec<(String, String)> = self.body["errors"]
            .as_array()
            .expect("a 422 has errors")
            .iter()
            .map(|e| {
                let loc: Vec<&str> = e["loc"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap())
                    .collect();
                (loc.join("."), e["type"].as_str().unwrap().to_owned())
            })
            .collect();
        locs.sort();
        locs
    }
}

/// A valid `UserIn` with e-mail `email` and password [`PASSWORD`].
pub fn user_in(name: &str, email: &str) -> Value {
    json!({"name": name, "email": email, "password": PASSWORD})
}
