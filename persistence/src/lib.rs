//! Storage: SeaORM entities, migrations and the implementations of the domain's ports, for
//! SQLite (the embedded default) and PostgreSQL.
//!
//! Every SQL statement of the service lives in this crate. Driver errors never leave it as they
//! are: constraint violations become the domain errors they mean, and everything else becomes
//! [`domain::Error::Internal`], whose message goes to the log only.

pub mod accounts;
mod cache;
mod database;
mod error;
pub mod files;
pub mod idempotency;
mod migrations;
pub mod notifications;
pub mod passwords;
#[cfg(any(test, feature = "test-support"))]
pub mod test_database;
pub mod tokens;
pub mod users;

pub use accounts::SqlAccountRepository;
pub use database::{Database, DatabaseSettings, PoolStats};
pub use error::Error;
pub use files::{FsBlobStore, SqlFileRepository};
pub use idempotency::SqlIdempotencyStore;
pub use notifications::SqlNotificationRepository;
pub use passwords::Argon2Hasher;
pub use tokens::HmacTokens;
pub use users::SqlUserRepository;
