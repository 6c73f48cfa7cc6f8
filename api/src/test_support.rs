//! Shared harness of the api crate's tests: the application as `app::wire` puts it together for
//! the binary, over a real SQLite file with an admin, and helpers to act as one user or another.
//! Only the test settings and the [`Overrides`] (a movable token clock, a hasher, counted
//! wake-ups) differ from production.

use app::{Overrides, testing};
use domain::{
    notifications::OutboxSignal,
    throttle::ThrottlePolicy,
    users::{PasswordHasher, UserService},
};
use persistence::{Argon2Hasher, Database};
use poem::{EndpointExt, Response, endpoint::BoxEndpoint, http::Method, test::TestClient};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::{sync::Arc, time::Duration};

pub use testing::{ADMIN_EMAIL, ADMIN_PASSWORD, BODY_LIMIT, PASSWORD};

/// The upload limit the api tests run with: small enough to pass cheaply in memory.
pub const FILE_LIMIT: u64 = 256 * 1024;

/// The application under test and what keeps it alive.
pub struct TestApp {
    pub client: TestClient<BoxEndpoint<'static, Response>>,
    pub db: Database,
    /// The users service the application calls.
    pub users: UserService,
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
    test_app_adjusted(|_| {}).await
}

/// A fresh application whose tokens live for `token_ttl`, hashing with `hasher`.
pub async fn test_app_with(token_ttl: Duration, hasher: Arc<dyn PasswordHasher>) -> TestApp {
    wired(Some(hasher), |settings| {
        settings.token_ttl_seconds = token_ttl.as_secs();
    })
    .await
}

/// The application of [`test_app`], set to require conditional writes to users.
pub async fn test_app_requiring_if_match() -> TestApp {
    test_app_adjusted(|settings| settings.require_if_match = true).await
}

/// The application of [`test_app`] with its settings changed by `adjust`.
pub async fn test_app_adjusted(adjust: impl FnOnce(&mut app::Settings)) -> TestApp {
    wired(Some(Arc::new(Argon2Hasher::new(2))), adjust).await
}

/// The application as the binary wires it, with the tests' settings (changed by `adjust`),
/// clock and wake-ups, hashing with `hasher`.
async fn wired(
    hasher: Option<Arc<dyn PasswordHasher>>,
    adjust: impl FnOnce(&mut app::Settings),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/api.db", dir.path().display());
    let mut settings = app::Settings {
        max_file_bytes: FILE_LIMIT,
        auth_cache_seconds: 60,
        login_failures_per_email: THROTTLE.per_email,
        login_failures_per_client: THROTTLE.per_client,
        login_window_seconds: THROTTLE.window.as_secs(),
        metrics_bind: None,
        ..testing::settings(dir.path(), database)
    };
    adjust(&mut settings);
    let clock = Arc::new(TestClock::default());
    let time = clock.clone();
    let wakeups = Arc::new(Wakeups::default());
    let overrides = Overrides {
        clock: Some(Arc::new(move || time.now())),
        hasher,
        wakeup: Some(wakeups.clone()),
    };
    let wired = app::wire(&settings, overrides).await.unwrap();
    TestApp {
        client: TestClient::new(wired.endpoint().boxed()),
        db: wired.db,
        users: wired.services.users,
        wakeups,
        clock,
        _dir: dir,
    }
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

/// One Server-Sent Event as a client reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<Value>,
    pub retry: Option<u64>,
}

/// Reads a `text/event-stream` body until `n` events (comments aside) have come, or the stream
/// ended, or `within` passed; returns the events read.
pub async fn sse_events(
    body: &mut (impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Unpin),
    n: usize,
    within: Duration,
) -> Vec<SseEvent> {
    use futures_util::StreamExt;
    let mut text = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while events.len() < n {
        let chunk = match tokio::time::timeout_at(deadline, body.next()).await {
            Ok(Some(chunk)) => chunk.unwrap(),
            Ok(None) | Err(_) => break,
        };
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let mut event = SseEvent {
                id: None,
                event: None,
                data: None,
                retry: None,
            };
            for line in block.lines().filter(|line| !line.starts_with(':')) {
                match line.split_once(": ") {
                    Some(("id", id)) => event.id = Some(id.to_owned()),
                    Some(("event", name)) => event.event = Some(name.to_owned()),
                    Some(("data", data)) => event.data = Some(serde_json::from_str(data).unwrap()),
                    Some(("retry", ms)) => event.retry = Some(ms.parse().unwrap()),
                    _ => {}
                }
            }
            if event
                != (SseEvent {
                    id: None,
                    event: None,
                    data: None,
                    retry: None,
                })
            {
                events.push(event);
            }
        }
    }
    events
}
