//! The service's domain: entities, value types, rules and the ports (repository traits) that
//! storage implements.
//!
//! Nothing here knows HTTP, SQL or an async runtime. Values are parsed once at the edge into
//! types that cannot hold an invalid value (`Email`, `UserName`, ...); rules are plain functions
//! and methods unit-tested in this crate; errors are domain errors that the `api` crate alone maps
//! to status codes.

/// Declares a positive 64-bit id type for one kind of entity.
macro_rules! positive_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i64);

        impl $name {
            /// Parses an id, which must be positive.
            pub fn parse(value: i64) -> Result<Self, $crate::Violation> {
                if value >= 1 {
                    Ok(Self(value))
                } else {
                    Err($crate::Violation::new("id_not_positive", "must be a positive integer"))
                }
            }

            /// The id as an integer.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

/// Declares a text value of `min..=max` characters (`MAX_LEN`), parsed once and never invalid
/// after.
macro_rules! bounded_text {
    ($(#[$meta:meta])* $name:ident, $what:literal, $min:literal ..= $max:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("The longest ", $what, " accepted, in characters.")]
            pub const MAX_LEN: usize = $max;

            #[doc = concat!("Parses a ", $what, ".")]
            pub fn parse(value: &str) -> Result<Self, $crate::Violation> {
                $crate::Violation::check_text(value, $min, Self::MAX_LEN)?;
                Ok(Self(value.to_owned()))
            }

            #[doc = concat!("The ", $what, " as text.")]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

pub mod accounts;
pub mod auth;
pub mod email;
pub mod error;
pub mod files;
pub mod health;
pub mod idempotency;
pub mod ids;
pub mod money;
pub mod notifications;
pub mod paging;
pub mod precondition;
pub mod principal;
pub mod repositories;
pub mod streams;
#[cfg(test)]
mod testing;
pub mod throttle;
pub mod users;
pub mod violation;
pub mod webhooks;

pub use email::Email;
pub use error::Error;
pub use paging::{Limit, Page, PageRequest};
pub use violation::Violation;

/// The result of a domain operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The current time at the precision every backend stores (microseconds), so that a value read
/// back equals the value written.
fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6)
}
