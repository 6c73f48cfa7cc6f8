//! The problem types: one stable `type` URI and one fixed `title` per cause of an error, and a
//! short page at that URI saying what it means and what to do.
//!
//! A client switches on `type`, never on `detail` (which is for people and may change). The
//! framework's own refusals whose status says it all (no such route, wrong method, body too
//! large, unsupported or unacceptable media type, an internal failure) stay `about:blank`,
//! titled by the status's reason phrase, as RFC 9457 §4.2.1 asks.

use poem::{IntoResponse, Response, handler, http::StatusCode, web::Path};
use std::fmt::Write as _;

/// Where the pages of the problem types are served; each type's URI is this plus its slug.
pub const PREFIX: &str = "/problems/";

/// Every cause of an error that has a type of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemType {
    /// A request input is missing or invalid (`errors` names each).
    Validation,
    /// The body is not well-formed JSON.
    MalformedBody,
    /// The body came too slowly.
    BodyTimeout,
    /// No bearer token, or one that no longer stands for anyone.
    Unauthorized,
    /// Logging in with a wrong e-mail address or password.
    InvalidCredentials,
    /// The caller may not do this.
    Forbidden,
    /// No user has the id.
    UserNotFound,
    /// No account has the id.
    AccountNotFound,
    /// The account has no such transaction.
    TransactionNotFound,
    /// No notification has the id.
    NotificationNotFound,
    /// No file has the name.
    FileNotFound,
    /// The e-mail address belongs to another user.
    EmailTaken,
    /// A user with the chosen id was created concurrently.
    UserExists,
    /// The last admin cannot go.
    LastAdmin,
    /// A user who owns money cannot go.
    UserHasFunds,
    /// A concurrent change got in the way.
    ConcurrentChange,
    /// The balance does not cover the amount.
    InsufficientFunds,
    /// A new user's chosen id is too large.
    IdTooLarge,
    /// An account was to be opened for a user who does not exist.
    UnknownOwner,
    /// A deposit would overflow the balance.
    BalanceOverflow,
    /// A transfer from an account to itself.
    SameAccount,
    /// A transfer between currencies.
    CurrencyMismatch,
    /// An `Idempotency-Key` reused for another request.
    IdempotencyKeyReused,
    /// The request under this `Idempotency-Key` is still running.
    IdempotencyKeyInFlight,
    /// An `If-Match` or `If-None-Match` precondition did not hold.
    PreconditionFailed,
    /// The write needs an `If-Match` and had none.
    PreconditionRequired,
    /// Too many failed logins.
    TooManyLogins,
    /// More requests in flight than the service takes.
    Overloaded,
    /// The database does not answer.
    DatabaseUnavailable,
    /// The disk has no room left for a write.
    StorageFull,
}

/// What a page says of one type.
struct Page {
    slug: &'static str,
    title: &'static str,
    status: StatusCode,
    meaning: &'static str,
    remedy: &'static str,
}

impl ProblemType {
    /// Every type, in the order the index page and the spec list them.
    pub const ALL: [Self; 30] = [
        Self::Validation,
        Self::MalformedBody,
        Self::BodyTimeout,
        Self::Unauthorized,
        Self::InvalidCredentials,
        Self::Forbidden,
        Self::UserNotFound,
        Self::AccountNotFound,
        Self::TransactionNotFound,
        Self::NotificationNotFound,
        Self::FileNotFound,
        Self::EmailTaken,
        Self::UserExists,
        Self::LastAdmin,
        Self::UserHasFunds,
        Self::ConcurrentChange,
        Self::InsufficientFunds,
        Self::IdTooLarge,
        Self::UnknownOwner,
        Self::BalanceOverflow,
        Self::SameAccount,
        Self::CurrencyMismatch,
        Self::IdempotencyKeyReused,
        Self::IdempotencyKeyInFlight,
        Self::PreconditionFailed,
        Self::PreconditionRequired,
        Self::TooManyLogins,
        Self::Overloaded,
        Self::DatabaseUnavailable,
        Self::StorageFull,
    ];

    /// The type's URI, as problems carry it in `type`: `/problems/<slug>`.
    pub fn uri(self) -> String {
        format!("{PREFIX}{}", self.page().slug)
    }

    /// The last segment of [`Self::uri`].
    pub fn slug(self) -> &'static str {
        self.page().slug
    }

    /// The fixed `title` of every problem of this type.
    pub fn title(self) -> &'static str {
        self.page().title
    }

    /// The status every problem of this type has.
    pub fn status(self) -> StatusCode {
        self.page().status
    }

    /// The type whose slug is `slug`.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.slug() == slug)
    }

    fn page(self) -> Page {
        use StatusCode as S;
        let (slug, title, status, meaning, remedy) = match self {
            Self::Validation => (
                "validation",
                "Invalid Input",
                S::UNPROCESSABLE_ENTITY,
                "A path, query, header or body input is missing or breaks a rule of its schema. `errors` has one entry per failing input: where it is (`loc`), which rule failed (`type`) and a message (`msg`).",
                "Correct each input `errors` names and send the request again. Nothing was changed.",
            ),
            Self::MalformedBody => (
                "malformed-body",
                "Malformed Body",
                S::BAD_REQUEST,
                "The body is not well-formed JSON, or its top level is not an object, or it could not be read to its end.",
                "Send a complete JSON object. Nothing was changed.",
            ),
            Self::BodyTimeout => (
                "body-timeout",
                "Body Timeout",
                S::REQUEST_TIMEOUT,
                "The body arrived more slowly than the service's body timeout allows.",
                "Send the body again, faster. Nothing was changed.",
            ),
            Self::Unauthorized => (
                "unauthorized",
                "Unauthorized",
                S::UNAUTHORIZED,
                "The operation needs a bearer token, and the request had none, or one that is malformed, expired, forged, or whose user was deleted or changed password since.",
                "Get a token from `POST /auth/tokens` and send it as `Authorization: Bearer <token>`.",
            ),
            Self::InvalidCredentials => (
                "invalid-credentials",
                "Invalid Credentials",
                S::UNAUTHORIZED,
                "The e-mail address or the password given to log in is wrong (deliberately not saying which).",
                "Check both and log in again. Repeated failures are limited (see `too-many-logins`).",
            ),
            Self::Forbidden => (
                "forbidden",
                "Forbidden",
                S::FORBIDDEN,
                "The caller is known but may not do this: a user may read and change only their own user and accounts; some operations are for admins only. `detail` says which rule applied.",
                "Act on your own resources, or ask an admin.",
            ),
            Self::UserNotFound => (
                "user-not-found",
                "User Not Found",
                S::NOT_FOUND,
                "No user has the id in the path.",
                "Check the id; the user may have been deleted.",
            ),
            Self::AccountNotFound => (
                "account-not-found",
                "Account Not Found",
                S::NOT_FOUND,
                "No account has the id in the path or body.",
                "Check the id; the account may have been deleted with its owner.",
            ),
            Self::TransactionNotFound => (
                "transaction-not-found",
                "Transaction Not Found",
                S::NOT_FOUND,
                "The account has no transaction with this id.",
                "List the account's transactions to find the right id.",
            ),
            Self::NotificationNotFound => (
                "notification-not-found",
                "Notification Not Found",
                S::NOT_FOUND,
                "No notification has the id in the path.",
                "Use the `Location` that `POST /notifications` returned.",
            ),
            Self::FileNotFound => (
                "file-not-found",
                "File Not Found",
                S::NOT_FOUND,
                "No file has the name in the path.",
                "Check the name; the file may have been deleted.",
            ),
            Self::EmailTaken => (
                "email-taken",
                "E-mail Address Taken",
                S::CONFLICT,
                "Another user has this e-mail address (addresses are compared case-insensitively).",
                "Use another address, or log in as the user who has it.",
            ),
            Self::UserExists => (
                "user-exists",
                "User Created Concurrently",
                S::CONFLICT,
                "A concurrent request created a user with this id first.",
                "Read the user and retry the request if it still applies.",
            ),
            Self::LastAdmin => (
                "last-admin",
                "Last Admin",
                S::CONFLICT,
                "The user is the last admin: deleting them would leave the service without one.",
                "Make another user an admin first (the `ADMIN_EMAIL` setting at start-up).",
            ),
            Self::UserHasFunds => (
                "user-has-funds",
                "User Owns Money",
                S::CONFLICT,
                "The user owns an account whose balance is not zero; deleting the user would make that money vanish.",
                "Withdraw or transfer the money out of every account of theirs, then delete the user.",
            ),
            Self::ConcurrentChange => (
                "concurrent-change",
                "Concurrent Change",
                S::CONFLICT,
                "A concurrent request changed the same resource while this one was processed.",
                "Read the resource again and retry the request if it still applies.",
            ),
            Self::InsufficientFunds => (
                "insufficient-funds",
                "Insufficient Funds",
                S::PAYMENT_REQUIRED,
                "The account's balance does not cover the amount. `balance` is the balance at the time and `required` the amount asked for, both in minor units. No money moved; under an `Idempotency-Key` the refusal is recorded and replayed.",
                "Deposit or transfer money in first, or ask for less, under a new `Idempotency-Key`.",
            ),
            Self::IdTooLarge => (
                "id-too-large",
                "Chosen Id Too Large",
                S::UNPROCESSABLE_ENTITY,
                "A new user's chosen id is above 2^53 - 1, the largest integer every JSON client holds exactly.",
                "Choose a smaller id, or let the service choose one (`POST /users`).",
            ),
            Self::UnknownOwner => (
                "unknown-owner",
                "Unknown Owner",
                S::UNPROCESSABLE_ENTITY,
                "The account was to be opened for a user who does not exist.",
                "Name an existing user as the owner.",
            ),
            Self::BalanceOverflow => (
                "balance-overflow",
                "Balance Overflow",
                S::UNPROCESSABLE_ENTITY,
                "Paying the amount in would take the balance past the largest amount an account can hold.",
                "Pay in less, or into another account.",
            ),
            Self::SameAccount => (
                "same-account",
                "Same Account",
                S::UNPROCESSABLE_ENTITY,
                "A transfer names the same account as its source and its destination.",
                "Name two different accounts.",
            ),
            Self::CurrencyMismatch => (
                "currency-mismatch",
                "Currency Mismatch",
                S::UNPROCESSABLE_ENTITY,
                "A transfer's two accounts hold different currencies; the service does not convert.",
                "Transfer between accounts of one currency.",
            ),
            Self::IdempotencyKeyReused => (
                "idempotency-key-reused",
                "Idempotency Key Reused",
                S::UNPROCESSABLE_ENTITY,
                "The `Idempotency-Key` was already used for a different request (another account, amount or body).",
                "Use a new key for a new request; repeat a key only to retry the very same request.",
            ),
            Self::IdempotencyKeyInFlight => (
                "idempotency-key-in-flight",
                "Idempotency Key In Flight",
                S::CONFLICT,
                "The first request under this `Idempotency-Key` is still being processed.",
                "Retry the same request in a moment: it will get that request's answer.",
            ),
            Self::PreconditionFailed => (
                "precondition-failed",
                "Precondition Failed",
                S::PRECONDITION_FAILED,
                "An `If-Match` named no current `ETag` of the resource (it changed since it was read, or does not exist), or an `If-None-Match: *` found that it exists. Nothing was changed.",
                "Read the resource again (GET) for its current `ETag`, re-apply your change to what you read, and send it with that `ETag`.",
            ),
            Self::PreconditionRequired => (
                "precondition-required",
                "Precondition Required",
                S::PRECONDITION_REQUIRED,
                "This service requires writes to a user to be conditional, so that no client overwrites a change it has not seen, and the request had no `If-Match`.",
                "GET the resource, then send the write with `If-Match` and the `ETag` you got.",
            ),
            Self::TooManyLogins => (
                "too-many-logins",
                "Too Many Failed Logins",
                S::TOO_MANY_REQUESTS,
                "Too many logins failed for this e-mail address, or from this client, within the window. `Retry-After`, `RateLimit-Policy` and `RateLimit` say the limits and when the next attempt is taken.",
                "Wait for `Retry-After` seconds before logging in again.",
            ),
            Self::Overloaded => (
                "overloaded",
                "Overloaded",
                S::SERVICE_UNAVAILABLE,
                "The service is handling as many requests at once as it is set to take.",
                "Retry after the `Retry-After` seconds, ideally with some random delay added.",
            ),
            Self::DatabaseUnavailable => (
                "database-unavailable",
                "Database Unavailable",
                S::SERVICE_UNAVAILABLE,
                "The service's database does not answer, so the service cannot serve requests that need it.",
                "Retry after the `Retry-After` seconds; nothing acknowledged before is lost. A write that got this answer was not done: send it again (with the same `Idempotency-Key`, where it takes one).",
            ),
            Self::StorageFull => (
                "storage-full",
                "Insufficient Storage",
                S::INSUFFICIENT_STORAGE,
                "The service's disk has no room left for this write, so nothing of it was stored. Reads still work.",
                "Retry later, once an operator has freed space; the write was not done.",
            ),
        };
        Page {
            slug,
            title,
            status,
            meaning,
            remedy,
        }
    }
}

/// The list of every type with its status and title, in Markdown: the `type` member's
/// documentation in the spec.
pub fn catalogue_markdown() -> String {
    let mut text = String::from(
        "A URI reference naming the problem type: `about:blank` when the status says it all \
         (no such route, wrong method, body too large, unsupported or unacceptable media type, \
         an internal failure), otherwise one of the types below, each with a fixed `title` and \
         a page at its URI saying what it means and what to do:\n",
    );
    for kind in ProblemType::ALL {
        let _ = write!(
            text,
            "\n- `{}` ({}): {}",
            kind.uri(),
            kind.status().as_u16(),
            kind.title()
        );
    }
    text
}

/// `GET /problems/{slug}`: the page of one type, in HTML.
#[handler]
pub fn type_page(Path(slug): Path<String>) -> Response {
    let Some(kind) = ProblemType::from_slug(&slug) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let page = kind.page();
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1>\n<p><code>type</code>: <code>{uri}</code>, status {status}</p>\n\
         <h2>What it means</h2>\n<p>{meaning}</p>\n<h2>What to do</h2>\n<p>{remedy}</p>\n\
         <p><a href=\"{PREFIX}\">Every problem type</a></p></body></html>\n",
        title = page.title,
        uri = kind.uri(),
        status = page.status.as_u16(),
        meaning = code_spans(page.meaning),
        remedy = code_spans(page.remedy),
    );
    html(body)
}

/// `GET /problems/`: every type, linked to its page.
#[handler]
pub fn index_page() -> Response {
    let mut items = String::new();
    for kind in ProblemType::ALL {
        let _ = writeln!(
            items,
            "<li><a href=\"{uri}\"><code>{uri}</code></a> ({status}): {title}</li>",
            uri = kind.uri(),
            status = kind.status().as_u16(),
            title = kind.title(),
        );
    }
    html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Problem types</title></head>\n\
         <body><h1>Problem types</h1>\n<p>Every error is an RFC 9457 problem; its <code>type</code> is \
         <code>about:blank</code> when the status says it all, else one of these.</p>\n<ul>\n{items}</ul></body></html>\n"
    ))
}

fn html(body: String) -> Response {
    body.with_content_type("text/html; charset=utf-8")
        .into_response()
}

/// The page texts' Markdown code spans as HTML (`x` becomes <code>x</code>); the texts are
/// fixed and hold no markup of their own.
fn code_spans(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(
                out,
                "<code>{}</code>",
                part.replace('<', "&lt;").replace('>', "&gt;")
            );
        } else {
            out.push_str(&part.replace('<', "&lt;").replace('>', "&gt;"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_type_has_its_own_slug_and_title() {
        let slugs: HashSet<_> = ProblemType::ALL.iter().map(|k| k.slug()).collect();
        let titles: HashSet<_> = ProblemType::ALL.iter().map(|k| k.title()).collect();
        assert_eq!(slugs.len(), ProblemType::ALL.len());
        assert_eq!(titles.len(), ProblemType::ALL.len());
        for kind in ProblemType::ALL {
            assert_eq!(ProblemType::from_slug(kind.slug()), Some(kind));
            assert!(kind.uri().starts_with(PREFIX));
            assert!(kind.status().is_client_error() || kind.status().is_server_error());
        }
    }

    #[test]
    fn the_catalogue_names_every_type() {
        let text = catalogue_markdown();
        for kind in ProblemType::ALL {
            assert!(text.contains(&format!("`{}`", kind.uri())), "{kind:?}");
        }
    }

    #[test]
    fn code_spans_become_code_elements_and_angle_brackets_are_escaped() {
        assert_eq!(
            code_spans("send `Bearer <token>` now"),
            "send <code>Bearer &lt;token&gt;</code> now"
        );
    }
}
