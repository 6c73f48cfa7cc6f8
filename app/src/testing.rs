//! What every test harness shares (feature `test-support`): the test users' credentials and the
//! settings tests start from, so that the end-to-end harness and the `api` crate's tests cannot
//! drift apart.

use crate::Settings;
use std::path::Path;

/// The admin every test service starts with.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// The admin's password.
pub const ADMIN_PASSWORD: &str = "admin password 1";
/// The password of every other user the tests sign up.
pub const PASSWORD: &str = "correct horse battery";
/// The largest JSON body test services take: small enough for a test to pass it cheaply.
pub const BODY_LIMIT: u64 = 64 * 1024;

/// The settings of a test service whose data lives in `data_dir` and whose database is at
/// `database_url`: the service's defaults, changed only where tests need it (a free port, small
/// limits that tests can reach, fast retries and polls, and the test admin).
pub fn settings(data_dir: &Path, database_url: String) -> Settings {
    Settings {
        bind: "127.0.0.1:0".to_owned(),
        data_dir: data_dir.to_path_buf(),
        database_url: Some(database_url),
        database_pool_size: 4,
        max_body_bytes: BODY_LIMIT,
        max_file_bytes: 8 << 20,
        hash_concurrency: Some(2),
        admin_email: Some(ADMIN_EMAIL.to_owned()),
        admin_password: Some(ADMIN_PASSWORD.to_owned()),
        login_failures_per_email: 20,
        mail_from: "Service <noreply@example.com>".to_owned(),
        notification_workers: 2,
        notification_retry_base_ms: 50,
        notification_retry_max_seconds: 1,
        notification_poll_ms: 100,
        body_timeout_seconds: 30,
        max_connections: 1000,
        max_in_flight: 1000,
        metrics_bind: Some("127.0.0.1:0".to_owned()),
        shutdown_grace_seconds: 10,
        ..Settings::defaults()
    }
}
