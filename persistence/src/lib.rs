//! Storage: SeaORM entities, migrations and the implementations of the domain's ports, for
//! SQLite (the embedded default) and PostgreSQL.
//!
//! Every SQL statement of the service lives in this crate. Driver errors never leave it as they
//! are: constraint violations become the domain errors they mean, and everything else becomes
//! [`domain::Error::Internal`], whose message goes to the log only.

mod cache;
mod database;
mod error;
mod migrations;
pub mod passwords;
pub mod tokens;
pub mod users;

pub use database::{Database, DatabaseSettings};
pub use error::Error;
pub use passwords::Argon2Hasher;
pub use tokens::HmacTokens;
pub use users::SqlUserRepository;
