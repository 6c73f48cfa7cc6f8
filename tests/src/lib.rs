//! The end-to-end harness: the service as `app::start` runs it, on a free loopback port, over a
//! fresh database (PostgreSQL when `TEST_DATABASE_URL` is set, else SQLite) and a temporary data
//! directory.
//!
//! Everything the tests share is here, once: the harness ([`TestStorage`], [`Service`],
//! [`process::Instance`]), the test users' password and sign-up, and waiting for a state.
//!
//! This is test code: a failure to start is a failed test, so it may `expect` and panic.
#![allow(clippy::expect_used)]

pub mod cluster;
pub mod process;
pub mod smtp;
pub mod typed;
pub mod webhook_receiver;

use persistence::{test_database::TestDatabase, test_object_store::TestS3};
use sha2::{Digest, Sha256};
use std::{
    fmt::Display,
    path::Path,
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

pub use app::testing::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD};

/// A test storage: everything a test service stores, a temporary data directory and a
/// [`TestDatabase`] (both of this test alone, deleted when dropped). Services started on one
/// test storage one after the other see each other's data, as a restarted service would; the
/// service processes of [`process::Instance`] share it at once.
pub struct TestStorage {
    dir: tempfile::TempDir,
    /// The database.
    pub db: TestDatabase,
    /// The S3 server whose bucket keeps the file bytes, when they are not on disk.
    pub bucket: Option<TestS3>,
}

/// Where a test keeps file bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilesAt {
    /// In the data directory (the default).
    Disk,
    /// In a bucket of an S3 server (`s3s-fs`) of the test's own.
    Bucket,
}

/// The key prefix of the files in a test's bucket.
const BUCKET_PREFIX: &str = "files";

impl TestStorage {
    /// A fresh directory and database.
    pub async fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
            db: TestDatabase::new().await,
            bucket: None,
        }
    }

    /// A fresh directory and PostgreSQL database, for a test only PostgreSQL can serve; it is
    /// `#[ignore]`d in the SQLite run, and fails without `TEST_DATABASE_URL`.
    pub async fn postgres() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
            db: TestDatabase::postgres_required().await,
            bucket: None,
        }
    }

    /// A fresh directory and SQLite database, whatever `TEST_DATABASE_URL` says.
    pub fn sqlite() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
            db: TestDatabase::sqlite(),
            bucket: None,
        }
    }

    /// A fresh storage keeping file bytes at `files`: in a bucket, of an S3 server started for
    /// it (a test that needs one is `#[ignore]`d "needs s3s-fs", which `./test.sh` runs when
    /// the server is installed).
    pub async fn with_files(files: FilesAt) -> Self {
        Self::new().await.keeping_files(files)
    }

    /// This storage, with file bytes at `files` (see [`TestStorage::with_files`]).
    pub fn keeping_files(mut self, files: FilesAt) -> Self {
        if files == FilesAt::Bucket {
            self.bucket = Some(TestS3::start());
        }
        self
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment that points a service process at the bucket, if there is one.
    pub fn files_env(&self) -> Vec<(&'static str, String)> {
        let Some(bucket) = &self.bucket else {
            return Vec::new();
        };
        let s3 = bucket.settings(BUCKET_PREFIX);
        vec![
            ("FILES_URL", s3.url),
            ("AWS_ENDPOINT_URL", bucket.endpoint()),
            ("AWS_REGION", s3.region.unwrap_or_default()),
            ("AWS_ACCESS_KEY_ID", s3.access_key_id.unwrap_or_default()),
            (
                "AWS_SECRET_ACCESS_KEY",
                s3.secret_access_key.unwrap_or_default(),
            ),
        ]
    }

    /// What unfinished uploads left in the store: files of the data directory's `files/` that
    /// are no blob, or the bucket's multipart uploads neither completed nor aborted.
    pub fn partial_uploads(&self) -> Vec<String> {
        match &self.bucket {
            Some(bucket) => (0..bucket.unfinished_uploads())
                .map(|n| format!("unfinished multipart upload #{n}"))
                .collect(),
            None => self
                .disk_files()
                .into_iter()
                .filter(|name| !name.starts_with(".blob-"))
                .collect(),
        }
    }

    /// How many blobs the store holds, whole.
    pub fn blobs(&self) -> usize {
        match &self.bucket {
            Some(bucket) => bucket.keys().len(),
            None => self
                .disk_files()
                .iter()
                .filter(|name| name.starts_with(".blob-"))
                .count(),
        }
    }

    fn disk_files(&self) -> Vec<String> {
        std::fs::read_dir(self.dir().join("files"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A running service and an HTTP client for it.
pub struct Service {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `http://127.0.0.1:PORT/metrics`, on the metrics listener.
    pub metrics: Option<String>,
    /// A client for this service (its own connection pool).
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    stopped: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _storage: Option<TestStorage>,
}

/// Settings for a test service whose data lives in `storage`.
pub fn settings(storage: &TestStorage) -> app::Settings {
    let mut settings = app::testing::settings(storage.dir(), storage.db.url.clone());
    if let Some(bucket) = &storage.bucket {
        let s3 = bucket.settings(BUCKET_PREFIX);
        settings.files_url = Some(s3.url);
        settings.aws_endpoint_url = s3.endpoint;
        settings.aws_region = s3.region;
        settings.aws_access_key_id = s3.access_key_id;
        settings.aws_secret_access_key = s3.secret_access_key;
    }
    settings
}

impl Service {
    /// Starts a service with the default test settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a service with the test settings changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut app::Settings)) -> Self {
        let storage = TestStorage::new().await;
        let mut service = Self::start_on(&storage, adjust).await;
        service._storage = Some(storage);
        service
    }

    /// Starts a service on `storage` (which outlives it, to start another on the same data).
    pub async fn start_on(storage: &TestStorage, adjust: impl FnOnce(&mut app::Settings)) -> Self {
        let mut settings = settings(storage);
        adjust(&mut settings);
        let (tx, rx) = oneshot::channel::<()>();
        let running = app::start(&settings, async {
            let _ = rx.await;
        })
        .await
        .expect("the service starts");
        Self {
            base: format!("http://{}", running.addr),
            metrics: running
                .metrics_addr
                .map(|addr| format!("http://{addr}/metrics")),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client"),
            shutdown: Some(tx),
            stopped: Some(running.stopped),
            _storage: None,
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `127.0.0.1:PORT`, to open a socket of one's own.
    pub fn host_port(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// GETs `url` (a path of this service, or an absolute URL) as the holder of `token`, and
    /// parses the JSON body.
    pub async fn get_json(&self, url: &str, token: &str) -> serde_json::Value {
        let url = if url.starts_with('/') {
            self.url(url)
        } else {
            url.to_owned()
        };
        json_of(self.client.get(&url).bearer_auth(token)).await
    }

    /// The typed client (generated from the spec) of this service, sending no token.
    pub fn anonymous(&self) -> client::Client {
        client::Client::new_with_client(&self.base, client::http_client(None).expect("a client"))
    }

    /// The typed client of this service, as the holder of `token`.
    pub fn api(&self, token: &str) -> client::Client {
        client::with_token(&self.base, token).expect("a client")
    }

    /// A bearer token for `email` and `password`.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let credentials = client::types::TokenIn {
            email: email.try_into().expect("an e-mail the spec takes"),
            password: password.try_into().expect("a password the spec takes"),
        };
        let token = self
            .anonymous()
            .tokens_create(&credentials)
            .await
            .expect("a token");
        token.into_inner().access_token
    }

    /// A bearer token of the admin.
    pub async fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Signs `name` up with `email` and [`PASSWORD`] (`POST /users`, which must answer 201)
    /// and logs them in.
    pub async fn signup(&self, name: &str, email: &str) -> SignedUp {
        let created = self
            .anonymous()
            .users_create(&typed::new_user(name, email))
            .await
            .expect("a new user");
        assert_eq!(created.status(), 201);
        let uri = created.headers()["location"]
            .to_str()
            .expect("a Location")
            .to_owned();
        SignedUp {
            id: created.into_inner().id,
            uri,
            token: self.login(email, PASSWORD).await,
        }
    }

    /// Asks the service to stop and waits until it has drained and stopped.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.stopped.take() {
            Some(stopped) => stopped.await?,
            None => Ok(()),
        }
    }
}

/// A user [`Service::signup`] made.
pub struct SignedUp {
    /// Their id.
    pub id: i64,
    /// Their URI, `/users/{id}` (the `Location` of the 201).
    pub uri: String,
    /// A bearer token of theirs.
    pub token: String,
}

/// A valid `UserIn` with password [`PASSWORD`].
pub fn user_in(name: &str, email: &str) -> serde_json::Value {
    serde_json::json!({"name": name, "email": email, "password": PASSWORD})
}

/// Waits for a state instead of sleeping and hoping: calls `check` every 20 ms until it
/// gives `Ok`, and returns what it holds. `Err` is the state seen so far; once `deadline` has
/// passed, panics with `what` was awaited and that state.
pub async fn wait_until<T, S: Display>(
    deadline: Instant,
    what: impl Display,
    mut check: impl AsyncFnMut() -> Result<T, S>,
) -> T {
    loop {
        match check().await {
            Ok(done) => return done,
            Err(state) => assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}; last seen: {state}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `request`, which must succeed, and parses its JSON body.
pub async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("a successful request")
        .json()
        .await
        .expect("a JSON body")
}

/// The SHA-256 of `bytes`, in lowercase hex (as the files API gives it).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every item of the paged list at `base` + `path` (which has no query), following
/// `next_cursor`, as the holder of `token`.
pub async fn all_items(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
) -> Vec<serde_json::Value> {
    let mut items = Vec::new();
    let mut url = format!("{base}{path}?limit=100");
    loop {
        let page: serde_json::Value = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("a page")
            .json()
            .await
            .expect("a JSON page");
        items.extend(
            page["items"]
                .as_array()
                .expect("a list of items")
                .iter()
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{base}{path}?limit=100&cursor={cursor}"),
            None => return items,
        }
    }
}
