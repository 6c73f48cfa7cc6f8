//! Shared harness of the api crate's tests: the real application over a real SQLite file.

use crate::{Services, Settings, app};
use domain::users::UserService;
use persistence::{Argon2Hasher, Database, DatabaseSettings, SqlUserRepository};
use poem::{Endpoint, EndpointExt, Response, endpoint::BoxEndpoint, test::TestClient};
use serde_json::{Value, json};
use std::sync::Arc;

/// The body limit the tests run with, small enough to pass it cheaply.
pub const BODY_LIMIT: u64 = 64 * 1024;

/// The application under test and what keeps it alive.
pub struct TestApp {
    pub client: TestClient<BoxEndpoint<'static, Response>>,
    pub db: Database,
    _dir: tempfile::TempDir,
}

/// A fresh application on an empty, migrated database in a temporary directory.
pub async fn test_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::connect(&DatabaseSettings {
        url: format!("sqlite://{}/api.db", dir.path().display()),
        max_connections: 4,
    })
    .await
    .unwrap();
    db.migrate().await.unwrap();
    let services = Services {
        users: UserService::new(
            Arc::new(SqlUserRepository::new(db.clone())),
            Arc::new(Argon2Hasher::new(2)),
        ),
        readiness: Arc::new(db.clone()),
    };
    let endpoint = app(
        services,
        &Settings {
            body_limit: BODY_LIMIT,
        },
    );
    TestApp {
        client: TestClient::new(endpoint.boxed()),
        db,
        _dir: dir,
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

/// Sends a JSON body with `method` to `uri`.
pub async fn send_json<E: Endpoint>(
    client: &TestClient<E>,
    method: poem::http::Method,
    uri: &str,
    body: &Value,
) -> Reply {
    Reply::of(
        client
            .request(method, uri)
            .content_type("application/json")
            .body(body.to_string())
            .send()
            .await,
    )
    .await
}

/// A valid `UserIn` with e-mail `email`.
pub fn user_in(name: &str, email: &str) -> Value {
    json!({"name": name, "email": email, "password": "correct horse battery"})
}
