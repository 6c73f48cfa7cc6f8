//! Errors as problems: the one place where a domain outcome, a refusal of the HTTP layer
//! itself (no such route, a parameter or body that does not parse, load, ...), gets its status
//! code and its problem type.
//!
//! Each domain error names one [`ProblemType`] (its `type`, `title` and status); the `detail`
//! says what happened this time. A refusal about one input also names that input in `errors`,
//! at the location [`Input`] gives it. The HTTP layer's own refusals arrive as typed
//! [`Refusal`]s, never as text to parse.

use crate::{
    params::BrokenRule,
    problem::{FieldError, Problem, ProblemBody},
    problem_types::ProblemType,
};
use domain::{
    Error,
    throttle::{LimitScope, Throttled},
};
use poem::{
    error::ReadBodyError,
    http::{
        HeaderName, HeaderValue, Method, StatusCode,
        header::{CONTENT_RANGE, RETRY_AFTER, WWW_AUTHENTICATE},
    },
};
use std::{io, time::Duration};

/// The request inputs a domain refusal can be about, with where a client sent each: the
/// `loc` of the refusal's `errors` entry.
#[derive(Debug, Clone, Copy)]
enum Input {
    /// A new user's chosen id, in the path.
    ChosenId,
    /// The owner of a new account, in the body.
    Owner,
    /// The amount of a movement, in the body.
    Amount,
    /// A transfer's destination, in the body.
    Destination,
    /// The `Idempotency-Key` header.
    IdempotencyKey,
    /// A webhook endpoint's URL, in the body.
    WebhookUrl,
}

impl Input {
    fn loc(self) -> &'static [&'static str] {
        match self {
            Self::ChosenId => &["path", "id"],
            Self::Owner => &["body", "owner_id"],
            Self::Amount => &["body", "amount"],
            Self::Destination => &["body", "to_account_id"],
            Self::IdempotencyKey => &["header", "Idempotency-Key"],
            Self::WebhookUrl => &["body", "url"],
        }
    }
}

/// The problem a client sees for `err`, raised by the request at `instance`.
///
/// Internal errors are logged here, with their cause, and answered with a bare 500: no message
/// of a dependency ever reaches a client.
pub fn problem_for(err: Error, instance: &str) -> ProblemBody {
    use ProblemType as T;
    let of = |kind: ProblemType, detail: String| Problem::of(kind, instance).with_detail(detail);
    let problem = match err {
        Error::InvalidCredentials => {
            let problem = of(
                T::InvalidCredentials,
                "The e-mail address or the password is wrong.".to_owned(),
            );
            return challenge(problem, None);
        }
        Error::InvalidToken(reason) => {
            let detail = format!("The bearer token is invalid: {reason}.");
            return challenge(of(T::Unauthorized, detail), Some(reason));
        }
        Error::Forbidden(reason) => of(T::Forbidden, reason.to_owned()),
        Error::Conflict(reason) => of(T::ConcurrentChange, reason.to_owned()),
        Error::FileNotFound(name) => of(T::FileNotFound, format!("No file is called {name}.")),
        Error::Upload(cause) => broken_body(&cause, instance),
        Error::NotificationNotFound(id) => of(
            T::NotificationNotFound,
            format!("No notification has id {id}."),
        ),
        Error::WebhookNotFound(id) => {
            of(T::WebhookNotFound, format!("No webhook endpoint has id {id}."))
        }
        Error::DeliveryNotFound(id) => of(
            T::DeliveryNotFound,
            format!("The endpoint has no delivery {id}."),
        ),
        Error::WebhookDisabled(id) => of(
            T::WebhookDisabled,
            format!("Webhook endpoint {id} is disabled; enable it (PATCH `enabled: true`) first."),
        ),
        Error::WebhookUrlRefused(why) => about_input(
            T::Validation,
            why.code,
            Input::WebhookUrl,
            &why.message,
            instance,
        ),
        Error::UserHasFunds => of(
            T::UserHasFunds,
            "The user owns an account with a non-zero balance; empty it first.".to_owned(),
        ),
        Error::AccountNotFound(id) => of(T::AccountNotFound, format!("No account has id {id}.")),
        Error::TransactionNotFound(id) => of(
            T::TransactionNotFound,
            format!("The account has no transaction {id}."),
        ),
        Error::ChosenIdTooLarge => about_input(
            T::IdTooLarge,
            "id_too_large",
            Input::ChosenId,
            &format!(
                "a new user's id must be at most {}",
                domain::users::MAX_CHOSEN_ID
            ),
            instance,
        ),
        Error::UnknownOwner(_) => about_input(
            T::UnknownOwner,
            "user_not_found",
            Input::Owner,
            "no user has this id",
            instance,
        ),
        Error::InsufficientFunds { balance, required } => {
            let mut problem = of(
                T::InsufficientFunds,
                format!("The balance {balance} does not cover {required}."),
            );
            problem.balance = Some(balance);
            problem.required = Some(required);
            problem
        }
        Error::BalanceOverflow => about_input(
            T::BalanceOverflow,
            "balance_overflow",
            Input::Amount,
            "the balance would exceed the largest amount it can hold",
            instance,
        ),
        Error::SameAccount => about_input(
            T::SameAccount,
            "same_account",
            Input::Destination,
            "must differ from from_account_id",
            instance,
        ),
        Error::CurrencyMismatch => about_input(
            T::CurrencyMismatch,
            "currency_mismatch",
            Input::Destination,
            "the accounts have different currencies",
            instance,
        ),
        Error::IdempotencyKeyReused => about_input(
            T::IdempotencyKeyReused,
            "idempotency_key_reused",
            Input::IdempotencyKey,
            "was already used with a different request",
            instance,
        ),
        Error::IdempotencyKeyInFlight => of(
            T::IdempotencyKeyInFlight,
            "A request with this Idempotency-Key is still being processed; retry it later."
                .to_owned(),
        ),
        Error::PreconditionFailed => of(
            T::PreconditionFailed,
            "The resource is not in the state the request's precondition names; nothing was changed."
                .to_owned(),
        ),
        Error::PreconditionRequired => of(
            T::PreconditionRequired,
            "Send this write with `If-Match` and the resource's current `ETag`.".to_owned(),
        ),
        Error::LastAdmin => of(
            T::LastAdmin,
            "The last admin cannot be deleted: the service would have none.".to_owned(),
        ),
        Error::UserNotFound(id) => of(T::UserNotFound, format!("No user has id {id}.")),
        Error::EmailTaken => of(
            T::EmailTaken,
            "The e-mail address is taken by another user.".to_owned(),
        ),
        Error::UserExists(id) => of(
            T::UserExists,
            format!("User {id} was created concurrently; retry the request."),
        ),
        Error::TooManyAttempts(throttled) => return too_many_attempts(&throttled, instance),
        Error::Unavailable(cause) => {
            tracing::warn!(error = %cause, "storage unavailable");
            of(
                T::DatabaseUnavailable,
                "The database does not answer; nothing was done. Retry shortly.".to_owned(),
            )
        }
        Error::BlobStoreUnavailable(cause) => {
            tracing::warn!(error = %cause, "file store unavailable");
            of(
                T::StorageUnavailable,
                "The file store does not answer; nothing was done. Retry shortly.".to_owned(),
            )
        }
        Error::UploadAbandoned => of(
            T::StorageUnavailable,
            "The upload took longer than the service keeps an unfinished upload; nothing was \
             stored. Send it again."
                .to_owned(),
        ),
        Error::StorageFull(cause) => {
            tracing::error!(error = %cause, "storage full");
            of(
                T::StorageFull,
                "The disk has no room left for this write; nothing was stored.".to_owned(),
            )
        }
        Error::Internal(cause) => {
            tracing::error!(error = %cause, "request failed");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, instance)
        }
    };
    problem.into()
}

/// A refusal of type `kind` about one `input`, which broke the rule `code`.
fn about_input(kind: ProblemType, code: &str, input: Input, msg: &str, instance: &str) -> Problem {
    Problem::invalid_as(
        kind,
        instance,
        vec![FieldError::new(input.loc(), code, msg)],
    )
}

/// A 401 with the `WWW-Authenticate: Bearer` challenge (RFC 6750), naming `invalid_token` when
/// a token was sent (`token_error`).
fn challenge(problem: Problem, token_error: Option<&str>) -> ProblemBody {
    let challenge = match token_error {
        Some(reason) => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            reason.replace(['"', '\\'], "'")
        ),
        None => "Bearer".to_owned(),
    };
    let challenge = HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer"));
    ProblemBody::from(problem).with_header(WWW_AUTHENTICATE, challenge)
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
        Problem::of(ProblemType::TooManyLogins, instance).with_detail(format!(
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

/// A request body passed the configured limit while it was read.
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than {limit} bytes")]
pub struct BodyTooLarge {
    /// The limit, in bytes.
    pub limit: u64,
}

/// A request body did not arrive within the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {timeout:?}")]
pub struct BodyTimeout {
    /// The timeout.
    pub timeout: Duration,
}

/// A refusal by the HTTP layer itself, before (or instead of) the domain: everything about a
/// request that is not a domain outcome and still gets a problem.
#[derive(Debug)]
pub enum Refusal<'a> {
    /// No route matches the path.
    NoRoute,
    /// The path does not serve the method; `allow` lists the methods it does.
    MethodNotAllowed {
        /// The method asked for.
        method: &'a Method,
        /// The `Allow` header's value, when the routes know it.
        allow: Option<String>,
    },
    /// No bearer token.
    TokenRequired,
    /// A path, query or header parameter that was sent but does not parse.
    Parameter {
        /// `path`, `query` or `header`.
        location: &'a str,
        /// The parameter's name.
        name: &'a str,
        /// The rule it broke; `None`: it was missing.
        broken: Option<BrokenRule<'a>>,
    },
    /// The body could not be read: too large, too slow or cut off.
    UnreadableBody(&'a ReadBodyError),
    /// The declared body is larger than `limit` bytes.
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body is not well-formed JSON; the parser's words.
    MalformedJson(String),
    /// The body's members (or the body itself) broke these rules.
    InvalidBody(Vec<FieldError>),
    /// The body's media type is not one the operation reads; `detail` says which it does.
    UnsupportedMediaType(String),
    /// `Accept` takes none of the media types the operation answers with.
    NotAcceptable(&'a [String]),
    /// More requests are in flight than the service takes.
    Overloaded,
    /// As many streams are followed as the service takes.
    TooManyFollowers,
    /// The database does not answer a readiness probe.
    NotReady,
    /// The file store does not answer a readiness probe.
    FileStoreNotReady,
    /// A range that the file of `size` bytes cannot satisfy.
    RangeNotSatisfiable {
        /// The file's size, in bytes.
        size: u64,
    },
    /// A handler panicked.
    Panicked,
    /// An error response of the framework's with no more to say than its status.
    Status(StatusCode),
}

/// The problem a client sees for `refusal` of the request at `instance`.
pub fn refused(refusal: Refusal<'_>, instance: &str) -> ProblemBody {
    let blank =
        |status: StatusCode, detail: String| Problem::new(status, instance).with_detail(detail);
    let problem = match refusal {
        Refusal::NoRoute => blank(
            StatusCode::NOT_FOUND,
            "No resource matches this path.".into(),
        ),
        Refusal::MethodNotAllowed { method, allow } => {
            let detail = format!("{method} is not allowed here; see the Allow header.");
            let body = ProblemBody::from(blank(StatusCode::METHOD_NOT_ALLOWED, detail));
            return match allow.and_then(|allow| HeaderValue::from_str(&allow).ok()) {
                Some(allow) => body.with_header(poem::http::header::ALLOW, allow),
                None => body,
            };
        }
        Refusal::TokenRequired => {
            let problem = Problem::of(ProblemType::Unauthorized, instance).with_detail(
                "A bearer token is required: `Authorization: Bearer <token>` (see POST /auth/tokens).",
            );
            return challenge(problem, None);
        }
        Refusal::Parameter {
            location,
            name,
            broken,
        } => {
            let (code, msg) = match broken {
                Some(rule) => (rule.code, rule.message),
                None => ("missing", "is required"),
            };
            Problem::invalid(
                instance,
                vec![FieldError::new(&[location, name], code, msg)],
            )
        }
        Refusal::UnreadableBody(ReadBodyError::PayloadTooLarge) => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, instance)
        }
        Refusal::UnreadableBody(ReadBodyError::Io(err)) => broken_body(err, instance),
        Refusal::UnreadableBody(_) => broken_body(&io::Error::other("unreadable"), instance),
        Refusal::BodyTooLarge { limit } => too_large(limit, instance),
        Refusal::MalformedJson(words) => Problem::of(ProblemType::MalformedBody, instance)
            .with_detail(format!("The body is not well-formed JSON: {words}.")),
        Refusal::InvalidBody(errors) => Problem::invalid(instance, errors),
        Refusal::UnsupportedMediaType(detail) => blank(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail),
        Refusal::NotAcceptable(produces) => blank(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "`Accept` takes none of the media types this operation answers with: {}.",
                produces.join(", ")
            ),
        ),
        Refusal::Overloaded => Problem::of(ProblemType::Overloaded, instance)
            .with_detail("The service is handling as many requests as it may; retry shortly."),
        Refusal::TooManyFollowers => Problem::of(ProblemType::Overloaded, instance).with_detail(
            "The service serves as many followed streams as it may; retry shortly, here or on \
             another instance.",
        ),
        Refusal::NotReady => Problem::of(ProblemType::DatabaseUnavailable, instance)
            .with_detail("The database does not answer."),
        Refusal::FileStoreNotReady => Problem::of(ProblemType::StorageUnavailable, instance)
            .with_detail("The file store does not answer."),
        Refusal::RangeNotSatisfiable { size } => {
            let body = ProblemBody::from(blank(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("The file has {size} bytes."),
            ));
            let range = HeaderValue::from_str(&format!("bytes */{size}"))
                .unwrap_or(HeaderValue::from_static("bytes */0"));
            return body.with_header(CONTENT_RANGE, range);
        }
        Refusal::Panicked => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, instance),
        Refusal::Status(status) => Problem::new(status, instance),
    };
    problem.into()
}

/// The 413 for a body over `limit` bytes.
fn too_large(limit: u64, path: &str) -> Problem {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, path).with_detail(format!(
        "The body is larger than the limit of {limit} bytes."
    ))
}

/// The problem for a body whose reading failed with `err`: 413 past the size limit, 408 past
/// the body timeout, else 400.
fn broken_body(err: &io::Error, path: &str) -> Problem {
    if let Some(BodyTooLarge { limit }) = find_cause(err) {
        return too_large(*limit, path);
    }
    if let Some(BodyTimeout { timeout }) = find_cause(err) {
        return Problem::of(ProblemType::BodyTimeout, path).with_detail(format!(
            "The body did not arrive within {} seconds.",
            timeout.as_secs_f64()
        ));
    }
    Problem::of(ProblemType::MalformedBody, path)
        .with_detail("The body could not be read to its end; nothing was stored.")
}

/// The `T` inside `err`, however many `io::Error` layers wrap it.
fn find_cause<T: std::error::Error + 'static>(err: &io::Error) -> Option<&T> {
    let mut inner = err.get_ref()?;
    loop {
        if let Some(found) = inner.downcast_ref::<T>() {
            return Some(found);
        }
        inner = inner.downcast_ref::<io::Error>()?.get_ref()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{accounts::AccountId, users::UserId};

    fn kind_of(err: Error) -> String {
        problem_for(err, "/x").problem.kind
    }

    #[test]
    fn the_409_causes_have_distinct_types() {
        let kinds = [
            kind_of(Error::EmailTaken),
            kind_of(Error::LastAdmin),
            kind_of(Error::UserHasFunds),
            kind_of(Error::IdempotencyKeyInFlight),
            kind_of(Error::Conflict("raced")),
        ];
        let distinct: std::collections::HashSet<_> = kinds.iter().collect();
        assert_eq!(distinct.len(), kinds.len(), "{kinds:?}");
        assert_eq!(kinds[1], "/problems/last-admin");
    }

    #[test]
    fn not_found_is_typed_per_resource() {
        let user = UserId::parse(1).unwrap();
        let account = AccountId::parse(1).unwrap();
        assert_eq!(
            kind_of(Error::UserNotFound(user)),
            "/problems/user-not-found"
        );
        assert_eq!(
            kind_of(Error::AccountNotFound(account)),
            "/problems/account-not-found"
        );
    }

    #[test]
    fn a_refusal_about_one_input_names_it_and_keeps_its_type_and_title() {
        let problem = problem_for(Error::SameAccount, "/transfers").problem;
        assert_eq!(problem.kind, "/problems/same-account");
        assert_eq!(problem.title, "Same Account");
        assert_eq!(problem.status, 422);
        let errors = problem.errors.unwrap();
        assert_eq!(errors[0].loc, ["body", "to_account_id"]);
        assert_eq!(errors[0].kind, "same_account");
    }

    #[test]
    fn body_markers_are_found_under_nested_io_errors() {
        let marker = io::Error::other(BodyTooLarge { limit: 5 });
        assert_eq!(broken_body(&marker, "/x").status, 413);
        let wrapped = io::Error::other(marker);
        assert_eq!(
            find_cause::<BodyTooLarge>(&wrapped).map(|t| t.limit),
            Some(5)
        );
        let slow = io::Error::other(io::Error::other(BodyTimeout {
            timeout: Duration::from_secs(1),
        }));
        assert_eq!(broken_body(&slow, "/x").status, 408);
        assert!(find_cause::<BodyTooLarge>(&io::Error::other("reset")).is_none());
        assert_eq!(broken_body(&io::Error::other("reset"), "/x").status, 400);
    }

    #[test]
    fn an_unavailable_database_is_a_503_with_retry_after_and_a_full_disk_a_507() {
        let body = problem_for(Error::Unavailable("refused".into()), "/users/1");
        assert_eq!(body.problem.status, 503);
        assert_eq!(body.problem.kind, "/problems/database-unavailable");
        assert_eq!(body.header(&RETRY_AFTER), Some("2"));
        assert_eq!(
            body.problem
                .detail
                .as_deref()
                .map(|d| d.contains("refused")),
            Some(false)
        );
        let full = problem_for(Error::StorageFull("ENOSPC".into()), "/files/a").problem;
        assert_eq!(full.status, 507);
        assert_eq!(full.kind, "/problems/storage-full");
    }

    #[test]
    fn an_internal_error_is_a_bare_500() {
        let problem = problem_for(Error::internal("disk on fire"), "/x").problem;
        assert_eq!(problem.kind, "about:blank");
        assert_eq!(problem.status, 500);
        assert_eq!(problem.detail, None);
    }
}
