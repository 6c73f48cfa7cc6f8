//! The problem types: one stable `type` URI and one fixed `title` per cause of an error, and a
//! short page at that URI saying what it means and what to do ([`crate::problem_pages`]).
//!
//! A client switches on `type`, never on `detail` (which is for people and may change). The
//! framework's own refusals whose status says it all (no such route, wrong method, body too
//! large, unsupported or unacceptable media type, an internal failure) stay `about:blank`,
//! titled by the status's reason phrase, as RFC 9457 §4.2.1 asks.
//!
//! Every type is declared once, in the table below: the enum, the list of all types and what
//! each says are generated from it, so a type cannot lack a page or a place in the list.

use poem::http::StatusCode;
use std::fmt::Write as _;

/// Where the pages of the problem types are served; each type's URI is this plus its slug.
pub const PREFIX: &str = "/problems/";

/// Declares [`ProblemType`] from one row per type: its slug, title and status, the seconds a
/// client should wait before retrying (`Retry-After`, for the types that ask for a retry), and
/// its page's texts.
macro_rules! problem_types {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident {
            slug: $slug:literal, title: $title:literal, status: $status:ident,
            $(retry_after: $retry:literal,)?
            meaning: $meaning:literal,
            remedy: $remedy:literal $(,)?
        }
    )*) => {
        /// Every cause of an error that has a type of its own.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemType {
            $($(#[doc = $doc])* $variant,)*
        }

        /// How many types there are.
        const COUNT: usize = [$($slug),*].len();

        impl ProblemType {
            /// Every type, in the order the index page and the spec list them.
            pub const ALL: [Self; COUNT] = [$(Self::$variant),*];

            /// What is said of the type.
            fn row(self) -> Row {
                match self {
                    $(Self::$variant => Row {
                        slug: $slug,
                        title: $title,
                        status: StatusCode::$status,
                        retry_after: None $(.or(Some($retry)))?,
                        meaning: $meaning,
                        remedy: $remedy,
                    },)*
                }
            }
        }
    };
}

/// What is said of one type.
struct Row {
    slug: &'static str,
    title: &'static str,
    status: StatusCode,
    retry_after: Option<u64>,
    meaning: &'static str,
    remedy: &'static str,
}

problem_types! {
    /// A request input is missing or invalid (`errors` names each).
    Validation {
        slug: "validation", title: "Invalid Input", status: UNPROCESSABLE_ENTITY,
        meaning: "A path, query, header or body input is missing or breaks a rule of its schema. `errors` has one entry per failing input: where it is (`loc`), which rule failed (`type`) and a message (`msg`).",
        remedy: "Correct each input `errors` names and send the request again. Nothing was changed.",
    }
    /// The body is not well-formed JSON.
    MalformedBody {
        slug: "malformed-body", title: "Malformed Body", status: BAD_REQUEST,
        meaning: "The body is not well-formed JSON, or its top level is not an object, or it could not be read to its end.",
        remedy: "Send a complete JSON object. Nothing was changed.",
    }
    /// The body came too slowly.
    BodyTimeout {
        slug: "body-timeout", title: "Body Timeout", status: REQUEST_TIMEOUT,
        meaning: "The body arrived more slowly than the service's body timeout allows.",
        remedy: "Send the body again, faster. Nothing was changed.",
    }
    /// No bearer token, or one that no longer stands for anyone.
    Unauthorized {
        slug: "unauthorized", title: "Unauthorized", status: UNAUTHORIZED,
        meaning: "The operation needs a bearer token, and the request had none, or one that is malformed, expired, forged, or whose user was deleted or changed password since.",
        remedy: "Get a token from `POST /auth/tokens` and send it as `Authorization: Bearer <token>`.",
    }
    /// Logging in with a wrong e-mail address or password.
    InvalidCredentials {
        slug: "invalid-credentials", title: "Invalid Credentials", status: UNAUTHORIZED,
        meaning: "The e-mail address or the password given to log in is wrong (deliberately not saying which).",
        remedy: "Check both and log in again. Repeated failures are limited (see `too-many-logins`).",
    }
    /// The caller may not do this.
    Forbidden {
        slug: "forbidden", title: "Forbidden", status: FORBIDDEN,
        meaning: "The caller is known but may not do this: a user may read and change only their own user and accounts; some operations are for admins only. `detail` says which rule applied.",
        remedy: "Act on your own resources, or ask an admin.",
    }
    /// No user has the id.
    UserNotFound {
        slug: "user-not-found", title: "User Not Found", status: NOT_FOUND,
        meaning: "No user has the id in the path.",
        remedy: "Check the id; the user may have been deleted.",
    }
    /// No account has the id.
    AccountNotFound {
        slug: "account-not-found", title: "Account Not Found", status: NOT_FOUND,
        meaning: "No account has the id in the path or body.",
        remedy: "Check the id; the account may have been deleted with its owner.",
    }
    /// The account has no such transaction.
    TransactionNotFound {
        slug: "transaction-not-found", title: "Transaction Not Found", status: NOT_FOUND,
        meaning: "The account has no transaction with this id.",
        remedy: "List the account's transactions to find the right id.",
    }
    /// No notification has the id.
    NotificationNotFound {
        slug: "notification-not-found", title: "Notification Not Found", status: NOT_FOUND,
        meaning: "No notification has the id in the path.",
        remedy: "Use the `Location` that `POST /notifications` returned.",
    }
    /// No webhook endpoint has the id.
    WebhookNotFound {
        slug: "webhook-not-found", title: "Webhook Endpoint Not Found", status: NOT_FOUND,
        meaning: "No webhook endpoint has the id in the path.",
        remedy: "Use the `Location` that `POST /webhooks` returned; the endpoint may have been deleted.",
    }
    /// The endpoint has no such delivery.
    DeliveryNotFound {
        slug: "delivery-not-found", title: "Delivery Not Found", status: NOT_FOUND,
        meaning: "The webhook endpoint has no delivery with the id in the path.",
        remedy: "List the endpoint's deliveries to find the right id.",
    }
    /// The endpoint is disabled.
    WebhookDisabled {
        slug: "webhook-disabled", title: "Webhook Endpoint Disabled", status: CONFLICT,
        meaning: "The webhook endpoint is disabled, by its owner or by the service (`disabled_reason` says why): nothing is sent to it.",
        remedy: "Enable it with `PATCH /webhooks/{id}` and `{\"enabled\": true}`, then try again.",
    }
    /// No file has the name.
    FileNotFound {
        slug: "file-not-found", title: "File Not Found", status: NOT_FOUND,
        meaning: "No file has the name in the path.",
        remedy: "Check the name; the file may have been deleted.",
    }
    /// The e-mail address belongs to another user.
    EmailTaken {
        slug: "email-taken", title: "E-mail Address Taken", status: CONFLICT,
        meaning: "Another user has this e-mail address (addresses are compared case-insensitively).",
        remedy: "Use another address, or log in as the user who has it.",
    }
    /// A user with the chosen id was created concurrently.
    UserExists {
        slug: "user-exists", title: "User Created Concurrently", status: CONFLICT,
        meaning: "A concurrent request created a user with this id first.",
        remedy: "Read the user and retry the request if it still applies.",
    }
    /// The last admin cannot go.
    LastAdmin {
        slug: "last-admin", title: "Last Admin", status: CONFLICT,
        meaning: "The user is the last admin: deleting them would leave the service without one.",
        remedy: "Make another user an admin first (the `ADMIN_EMAIL` setting at start-up).",
    }
    /// A user who owns money cannot go.
    UserHasFunds {
        slug: "user-has-funds", title: "User Owns Money", status: CONFLICT,
        meaning: "The user owns an account whose balance is not zero; deleting the user would make that money vanish.",
        remedy: "Withdraw or transfer the money out of every account of theirs, then delete the user.",
    }
    /// A concurrent change got in the way.
    ConcurrentChange {
        slug: "concurrent-change", title: "Concurrent Change", status: CONFLICT,
        meaning: "A concurrent request changed the same resource while this one was processed.",
        remedy: "Read the resource again and retry the request if it still applies.",
    }
    /// The balance does not cover the amount.
    InsufficientFunds {
        slug: "insufficient-funds", title: "Insufficient Funds", status: PAYMENT_REQUIRED,
        meaning: "The account's balance does not cover the amount. `balance` is the balance at the time and `required` the amount asked for, both in minor units. No money moved; under an `Idempotency-Key` the refusal is recorded and replayed.",
        remedy: "Deposit or transfer money in first, or ask for less, under a new `Idempotency-Key`.",
    }
    /// A new user's chosen id is too large.
    IdTooLarge {
        slug: "id-too-large", title: "Chosen Id Too Large", status: UNPROCESSABLE_ENTITY,
        meaning: "A new user's chosen id is above 2^53 - 1, the largest integer every JSON client holds exactly.",
        remedy: "Choose a smaller id, or let the service choose one (`POST /users`).",
    }
    /// An account was to be opened for a user who does not exist.
    UnknownOwner {
        slug: "unknown-owner", title: "Unknown Owner", status: UNPROCESSABLE_ENTITY,
        meaning: "The account was to be opened for a user who does not exist.",
        remedy: "Name an existing user as the owner.",
    }
    /// A deposit would overflow the balance.
    BalanceOverflow {
        slug: "balance-overflow", title: "Balance Overflow", status: UNPROCESSABLE_ENTITY,
        meaning: "Paying the amount in would take the balance past the largest amount an account can hold.",
        remedy: "Pay in less, or into another account.",
    }
    /// A transfer from an account to itself.
    SameAccount {
        slug: "same-account", title: "Same Account", status: UNPROCESSABLE_ENTITY,
        meaning: "A transfer names the same account as its source and its destination.",
        remedy: "Name two different accounts.",
    }
    /// A transfer between currencies.
    CurrencyMismatch {
        slug: "currency-mismatch", title: "Currency Mismatch", status: UNPROCESSABLE_ENTITY,
        meaning: "A transfer's two accounts hold different currencies; the service does not convert.",
        remedy: "Transfer between accounts of one currency.",
    }
    /// An `Idempotency-Key` reused for another request.
    IdempotencyKeyReused {
        slug: "idempotency-key-reused", title: "Idempotency Key Reused", status: UNPROCESSABLE_ENTITY,
        meaning: "The `Idempotency-Key` was already used for a different request (another account, amount or body).",
        remedy: "Use a new key for a new request; repeat a key only to retry the very same request.",
    }
    /// The request under this `Idempotency-Key` is still running.
    IdempotencyKeyInFlight {
        slug: "idempotency-key-in-flight", title: "Idempotency Key In Flight", status: CONFLICT,
        meaning: "The first request under this `Idempotency-Key` is still being processed.",
        remedy: "Retry the same request in a moment: it will get that request's answer.",
    }
    /// An `If-Match` or `If-None-Match` precondition did not hold.
    PreconditionFailed {
        slug: "precondition-failed", title: "Precondition Failed", status: PRECONDITION_FAILED,
        meaning: "An `If-Match` named no current `ETag` of the resource (it changed since it was read, or does not exist), or an `If-None-Match: *` found that it exists. Nothing was changed.",
        remedy: "Read the resource again (GET) for its current `ETag`, re-apply your change to what you read, and send it with that `ETag`.",
    }
    /// The write needs an `If-Match` and had none.
    PreconditionRequired {
        slug: "precondition-required", title: "Precondition Required", status: PRECONDITION_REQUIRED,
        meaning: "This service requires writes to a user to be conditional, so that no client overwrites a change it has not seen, and the request had no `If-Match`.",
        remedy: "GET the resource, then send the write with `If-Match` and the `ETag` you got.",
    }
    /// Too many failed logins.
    TooManyLogins {
        slug: "too-many-logins", title: "Too Many Failed Logins", status: TOO_MANY_REQUESTS,
        meaning: "Too many logins failed for this e-mail address, or from this client, within the window. `Retry-After`, `RateLimit-Policy` and `RateLimit` say the limits and when the next attempt is taken.",
        remedy: "Wait for `Retry-After` seconds before logging in again.",
    }
    /// More requests in flight than the service takes.
    Overloaded {
        slug: "overloaded", title: "Overloaded", status: SERVICE_UNAVAILABLE, retry_after: 1,
        meaning: "The service is handling as many requests at once as it is set to take.",
        remedy: "Retry after the `Retry-After` seconds, ideally with some random delay added.",
    }
    /// The database does not answer.
    DatabaseUnavailable {
        slug: "database-unavailable", title: "Database Unavailable", status: SERVICE_UNAVAILABLE,
        retry_after: 2,
        meaning: "The service's database does not answer, so the service cannot serve requests that need it.",
        remedy: "Retry after the `Retry-After` seconds; nothing acknowledged before is lost. A write that got this answer was not done: send it again (with the same `Idempotency-Key`, where it takes one).",
    }
    /// The object store that keeps the files' bytes does not answer.
    StorageUnavailable {
        slug: "storage-unavailable", title: "File Storage Unavailable", status: SERVICE_UNAVAILABLE,
        retry_after: 2,
        meaning: "The object store that keeps the files' bytes does not answer, refuses, or answers slower than the service waits for it (about a second), so the service cannot read or write file bytes now. Everything else still works.",
        remedy: "Retry after the `Retry-After` seconds; no stored file is lost. An upload that got this answer was not stored (the file keeps its previous version): send it again.",
    }
    /// The disk has no room left for a write.
    StorageFull {
        slug: "storage-full", title: "Insufficient Storage", status: INSUFFICIENT_STORAGE,
        meaning: "The service's disk has no room left for this write, so nothing of it was stored. Reads still work.",
        remedy: "Retry later, once an operator has freed space; the write was not done.",
    }
}

impl ProblemType {
    /// The type's URI, as problems carry it in `type`: `/problems/<slug>`.
    pub fn uri(self) -> String {
        format!("{PREFIX}{}", self.row().slug)
    }

    /// The last segment of [`Self::uri`].
    pub fn slug(self) -> &'static str {
        self.row().slug
    }

    /// The fixed `title` of every problem of this type.
    pub fn title(self) -> &'static str {
        self.row().title
    }

    /// The status every problem of this type has.
    pub fn status(self) -> StatusCode {
        self.row().status
    }

    /// The seconds a client should wait before retrying, sent as `Retry-After` with every
    /// problem of this type; `None` for a type that asks for no retry. The one statement of
    /// the policy: long enough for what went wrong to pass (a burst of load, a database
    /// restarting), short enough that a brief outage costs little.
    pub fn retry_after(self) -> Option<u64> {
        self.row().retry_after
    }

    /// What a problem of this type means, in Markdown.
    pub fn meaning(self) -> &'static str {
        self.row().meaning
    }

    /// What a client can do about it, in Markdown.
    pub fn remedy(self) -> &'static str {
        self.row().remedy
    }

    /// The type whose slug is `slug`.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.slug() == slug)
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
    fn only_the_types_that_ask_for_a_retry_have_a_retry_after() {
        let retried: Vec<_> = ProblemType::ALL
            .into_iter()
            .filter_map(|kind| Some((kind, kind.retry_after()?)))
            .collect();
        assert_eq!(
            retried,
            [
                (ProblemType::Overloaded, 1),
                (ProblemType::DatabaseUnavailable, 2),
                (ProblemType::StorageUnavailable, 2)
            ]
        );
    }
}
