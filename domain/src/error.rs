//! The domain's one error type.
//!
//! Variants name what went wrong in the domain's terms; the `api` crate alone turns them into
//! status codes. `Internal` carries the cause for the log, never for a client.

use crate::users::UserId;

/// Why a domain operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No user has this id.
    #[error("user {0} does not exist")]
    UserNotFound(UserId),
    /// Another user already has this e-mail address (compared case-insensitively).
    #[error("the e-mail address is taken by another user")]
    EmailTaken,
    /// A user with this id already exists (a create with a chosen id lost a race).
    #[error("user {0} already exists")]
    UserExists(UserId),
    /// Storage or another dependency failed; the cause is for operators only.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps an unexpected failure of a dependency.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }
}
