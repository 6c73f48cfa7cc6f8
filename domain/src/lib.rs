//! The service's domain: entities, value types, rules and the ports (repository traits) that
//! storage implements.
//!
//! Nothing here knows HTTP, SQL or an async runtime. Values are parsed once at the edge into
//! types that cannot hold an invalid value (`Email`, `UserName`, ...); rules are plain functions
//! and methods unit-tested in this crate; errors are domain errors that the `api` crate alone maps
//! to status codes.

pub mod auth;
pub mod email;
pub mod error;
pub mod health;
pub mod paging;
pub mod users;
pub mod violation;

pub use email::Email;
pub use error::Error;
pub use paging::{Limit, Page, PageRequest};
pub use violation::Violation;

/// The result of a domain operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    /// The layering rule, pinned: the domain compiles without any web, SQL or runtime crate.
    #[test]
    fn domain_depends_on_no_web_sql_or_runtime_crate() {
        let manifest = include_str!("../Cargo.toml");
        let dependencies = manifest
            .split("[dependencies]")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .unwrap_or_default();
        for forbidden in [
            "poem",
            "sea-orm",
            "sqlx",
            "tokio",
            "hyper",
            "reqwest",
            "persistence",
        ] {
            assert!(
                !dependencies.lines().any(|line| line.starts_with(forbidden)),
                "domain must not depend on {forbidden}"
            );
        }
    }
}
