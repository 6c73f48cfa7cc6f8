//! Storage: SeaORM entities, migrations and the implementations of the domain's ports, for
//! SQLite (the embedded default) and PostgreSQL.
//!
//! Every SQL statement of the service lives in this crate. Driver errors never leave it as they
//! are: constraint violations become the domain errors they mean, and everything else becomes
//! [`domain::Error::Internal`], whose message goes to the log only.

pub mod accounts;
mod database;
mod error;
pub mod files;
pub mod idempotency;
pub mod login_limits;
mod migrations;
pub mod notifications;
pub mod passwords;
#[cfg(any(test, feature = "test-support"))]
pub mod test_database;
#[cfg(any(test, feature = "test-support"))]
pub mod test_object_store;
pub mod tokens;
mod ttl_cache;
pub mod users;
mod wakeups;
pub mod webhooks;

pub use accounts::SqlAccountRepository;
pub use database::{CommitStats, Database, DatabaseSettings, Durability, PoolStats};
pub use error::Error;
pub use files::{FsBlobStore, S3BlobStore, S3Settings, SqlFileRepository};
pub use idempotency::SqlIdempotencyStore;
pub use login_limits::SqlLoginLimits;
pub use notifications::SqlNotificationRepository;
pub use passwords::Argon2Hasher;
pub use tokens::HmacTokens;
pub use users::SqlUserRepository;
pub use webhooks::{SqlWebhookRepository, deliveries::SqlDeliveryRepository};

use async_trait::async_trait;
use domain::{files::BlobStore, health::Readiness};
use std::{path::PathBuf, sync::Arc, time::Duration};

/// Where file bytes are kept.
#[derive(Debug, Clone)]
pub enum FilesStore {
    /// A directory on this machine's disk.
    Disk(PathBuf),
    /// An S3-compatible bucket, which several instances share.
    S3(S3Settings),
}

/// Every repository over `db`: users (whose token checks are cached for `auth_cache`), accounts,
/// idempotency keys, the outbox, files (with their bytes in `files`), login limits and webhook
/// endpoints.
pub fn repositories(
    db: &Database,
    auth_cache: Duration,
    files: &FilesStore,
) -> Result<domain::repositories::Repositories, Error> {
    let blobs: Arc<dyn BlobStore> = match files {
        FilesStore::Disk(dir) => Arc::new(FsBlobStore::new(dir.clone())?),
        FilesStore::S3(settings) => Arc::new(S3BlobStore::new(settings)?),
    };
    let outbox = SqlNotificationRepository::new(db.clone());
    let deliveries = SqlDeliveryRepository::new(db.clone(), outbox.instance());
    Ok(domain::repositories::Repositories {
        users: Arc::new(SqlUserRepository::new(db.clone(), auth_cache)),
        accounts: Arc::new(SqlAccountRepository::new(db.clone())),
        idempotency: Arc::new(SqlIdempotencyStore::new(db.clone())),
        outbox: Arc::new(outbox),
        deliveries: Arc::new(deliveries),
        files: Arc::new(SqlFileRepository::new(db.clone())),
        login_limits: Arc::new(SqlLoginLimits::new(db.clone())),
        webhooks: Arc::new(SqlWebhookRepository::new(db.clone())),
        readiness: Arc::new(StorageReadiness {
            db: db.clone(),
            blobs: blobs.clone(),
        }),
        blobs,
        wakeups: db.wakeups(),
    })
}

/// Ready when the database answers, and then the blob store.
struct StorageReadiness {
    db: Database,
    blobs: Arc<dyn BlobStore>,
}

#[async_trait]
impl Readiness for StorageReadiness {
    async fn check(&self) -> domain::Result<()> {
        self.db.check().await?;
        self.blobs.check().await
    }
}
