//! Domain errors as problems: the one place where a domain outcome gets its status code.

use crate::problem::{FieldError, Problem};
use domain::Error;
use poem::http::StatusCode;

/// The problem a client sees for `err`, raised by the request at `instance`.
///
/// Internal errors are logged here, with their cause, and answered with a bare 500: no message
/// of a dependency ever reaches a client.
pub fn problem_for(err: Error, instance: &str) -> Problem {
    match err {
        Error::UserNotFound(id) => Problem::new(StatusCode::NOT_FOUND, instance)
            .with_detail(format!("No user has id {id}.")),
        Error::EmailTaken => Problem::new(StatusCode::CONFLICT, instance)
            .with_detail("The e-mail address is taken by another user."),
        Error::UserExists(id) => Problem::new(StatusCode::CONFLICT, instance).with_detail(format!(
            "User {id} was created concurrently; retry the request."
        )),
        Error::Internal(cause) => {
            tracing::error!(error = %cause, "request failed");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, instance)
        }
    }
}

/// A 422 for one input refused by a domain rule.
pub fn invalid_input(instance: &str, loc: &[&str], violation: domain::Violation) -> Problem {
    Problem::invalid(
        instance,
        vec![FieldError::new(loc, violation.code, violation.message)],
    )
}
