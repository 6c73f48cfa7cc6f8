//! Domain errors as problems: the one place where a domain outcome gets its status code.

use crate::problem::{FieldError, Problem, ProblemBody};
use domain::{
    Error,
    throttle::{LimitScope, Throttled},
};
use poem::http::{
    HeaderName, HeaderValue, StatusCode,
    header::{RETRY_AFTER, WWW_AUTHENTICATE},
};

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
        Error::FileNotFound(name) => Problem::new(StatusCode::NOT_FOUND, instance)
            .with_detail(format!("No file is called {name}.")),
        Error::Upload(cause) => crate::edge::broken_body(&cause, instance),
        Error::NotificationNotFound(id) => Problem::new(StatusCode::NOT_FOUND, instance)
            .with_detail(format!("No notification has id {id}.")),
        Error::UserHasFunds => Problem::new(StatusCode::CONFLICT, instance)
            .with_detail("The user owns an account with a non-zero balance; empty it first."),
        Error::AccountNotFound(id) => Problem::new(StatusCode::NOT_FOUND, instance)
            .with_detail(format!("No account has id {id}.")),
        Error::TransactionNotFound(id) => Problem::new(StatusCode::NOT_FOUND, instance)
            .with_detail(format!("The account has no transaction {id}.")),
        Error::ChosenIdTooLarge => invalid_member(
            instance,
            &["path", "id"],
            "id_too_large",
            &format!(
                "a new user's id must be at most {}",
                domain::users::MAX_CHOSEN_ID
            ),
        ),
        Error::UnknownOwner(_) => invalid_member(
            instance,
            &["body", "owner_id"],
            "user_not_found",
            "no user has this id",
        ),
        Error::InsufficientFunds { balance, required } => {
            let mut problem = Problem::new(StatusCode::PAYMENT_REQUIRED, instance)
                .with_detail(format!("The balance {balance} does not cover {required}."));
            problem.kind = INSUFFICIENT_FUNDS.to_owned();
            problem.title = "Insufficient Funds".to_owned();
            problem.balance = Some(balance);
            problem.required = Some(required);
            problem
        }
        Error::BalanceOverflow => invalid_member(
            instance,
            &["body", "amount"],
            "balance_overflow",
            "the balance would exceed the largest amount it can hold",
        ),
        Error::SameAccount => invalid_member(
            instance,
            &["body", "to_account_id"],
            "same_account",
            "must differ from from_account_id",
        ),
        Error::CurrencyMismatch => invalid_member(
            instance,
            &["body", "to_account_id"],
            "currency_mismatch",
            "the accounts have different currencies",
        ),
        Error::IdempotencyKeyReused => invalid_member(
            instance,
            &["header", "Idempotency-Key"],
            "idempotency_key_reused",
            "was already used with a different request",
        ),
        Error::IdempotencyKeyInFlight => Problem::new(StatusCode::CONFLICT, instance).with_detail(
            "A request with this Idempotency-Key is still being processed; retry it later.",
        ),
        Error::LastAdmin => Problem::new(StatusCode::CONFLICT, instance)
            .with_detail("The last admin cannot be deleted: the service would have none."),
        Error::UserNotFound(id) => Problem::new(StatusCode::NOT_FOUND, instance)
            .with_detail(format!("No user has id {id}.")),
        Error::EmailTaken => Problem::new(StatusCode::CONFLICT, instance)
            .with_detail("The e-mail address is taken by another user."),
        Error::UserExists(id) => Problem::new(StatusCode::CONFLICT, instance).with_detail(format!(
            "User {id} was created concurrently; retry the request."
        )),
        Error::TooManyAttempts(throttled) => return too_many_attempts(&throttled, instance),
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

/// The 429 of a refused login: `Retry-After`, and the IETF rate-limit headers
/// (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy` lists every limit in force (its
/// quota `q` of failures within `w` seconds), `RateLimit` the one that refused, with nothing
/// remaining (`r=0`) for `t` seconds.
fn too_many_attempts(throttled: &Throttled, instance: &str) -> ProblemBody {
    let wait = throttled.wait;
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let window = throttled.policy.window.as_secs();
    let policies: Vec<String> = throttled
        .policy
        .limits()
        .map(|(scope, quota)| format!("\"{}\";q={quota};w={window}", scope.name()))
        .collect();
    let limit = format!("\"{}\";r=0;t={seconds}", throttled.scope.name());
    let header = |text: &str| HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""));
    let who = match throttled.scope {
        LimitScope::Email => "for this address",
        LimitScope::Client => "from this client",
    };
    ProblemBody::from(
        Problem::new(StatusCode::TOO_MANY_REQUESTS, instance).with_detail(format!(
            "Too many failed logins {who}; retry in {seconds} seconds."
        )),
    )
    .with_header(RETRY_AFTER, HeaderValue::from(seconds))
    .with_header(RATELIMIT_POLICY, header(&policies.join(", ")))
    .with_header(RATELIMIT, header(&limit))
}

/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): the limits in force.
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers): where the client stands.
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The `type` of the 402 problem.
pub const INSUFFICIENT_FUNDS: &str = "/problems/insufficient-funds";

fn invalid_member(instance: &str, loc: &[&str], kind: &str, msg: &str) -> Problem {
    Problem::invalid(instance, vec![FieldError::new(loc, kind, msg)])
}
