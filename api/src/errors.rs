//! Domain errors as problems: the one place where a domain outcome gets its status code.

use crate::problem::{FieldError, Problem, ProblemBody};
use domain::Error;
use poem::http::{HeaderValue, StatusCode, header::WWW_AUTHENTICATE};

/// The problem a client sees for `err`, raised by the request at `instance`.
///
/// Internal errors are logged here, with their cause, and answered with a bare 500: no message
/// of a dependency ever reaches a client.
pub fn problem_for(err: Error, instance: &str) -> ProblemBody {
    let problem = match err {
        Error::InvalidCredentials => {
            return unauthorized(
                instance,
                "The e-mail address or the password is wrong.",
                None,
            );
        }
        Error::InvalidToken(reason) => {
            return unauthorized(
                instance,
                &format!("The bearer token is invalid: {reason}."),
                Some(reason),
            );
        }
        Error::Forbidden(reason) => {
            Problem::new(StatusCode::FORBIDDEN, instance).with_detail(reason)
        }
        Error::Conflict(reason) => Problem::new(StatusCode::CONFLICT, instance).with_detail(reason),
        Error::LastAdmin => Problem::new(StatusCode::CONFLICT, instance)
            .with_detail("The last admin cannot be deleted: the service would have none."),
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
    };
    problem.into()
}

/// A 401 with the `WWW-Authenticate: Bearer` challenge (RFC 6750), naming `invalid_token` when
/// a token was sent (`token_error`).
pub fn unauthorized(instance: &str, detail: &str, token_error: Option<&str>) -> ProblemBody {
    let challenge = match token_error {
        Some(reason) => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            reason.replace(['"', '\\'], "'")
        ),
        None => "Bearer".to_owned(),
    };
    let challenge = HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer"));
    ProblemBody::from(Problem::new(StatusCode::UNAUTHORIZED, instance).with_detail(detail))
        .with_header(WWW_AUTHENTICATE, challenge)
}

/// A 422 for one input refused by a domain rule.
pub fn invalid_input(instance: &str, loc: &[&str], violation: domain::Violation) -> Problem {
    Problem::invalid(
        instance,
        vec![FieldError::new(loc, violation.code, violation.message)],
    )
}
