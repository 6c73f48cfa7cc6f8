//! The domain's one error type.
//!
//! Variants name what went wrong in the domain's terms; the `api` crate alone turns them into
//! status codes. `Internal` carries the cause for the log, never for a client.

use crate::{
    files::name::FileName,
    ids::{AccountId, DeliveryId, NotificationId, TransactionId, UserId, WebhookId},
    throttle::policy::Throttled,
};

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
    /// A user was to be created with an id above [`crate::users::MAX_CHOSEN_ID`].
    #[error("the chosen user id is above the largest a new user may have")]
    ChosenIdTooLarge,
    /// No notification has this id.
    #[error("notification {0} does not exist")]
    NotificationNotFound(NotificationId),
    /// No webhook endpoint has this id.
    #[error("webhook endpoint {0} does not exist")]
    WebhookNotFound(WebhookId),
    /// The webhook endpoint has no delivery with this id.
    #[error("delivery {0} does not exist for this endpoint")]
    DeliveryNotFound(DeliveryId),
    /// The webhook endpoint is disabled: nothing is sent to it until its owner enables it.
    #[error("webhook endpoint {0} is disabled")]
    WebhookDisabled(WebhookId),
    /// A webhook endpoint's URL may not be called: its scheme, or an address it names or
    /// resolves to; the violation says which.
    #[error("the webhook URL is refused: {}", .0.message)]
    WebhookUrlRefused(crate::Violation),
    /// No file has this name.
    #[error("file {0} does not exist")]
    FileNotFound(FileName),
    /// The bytes of an upload could not be read to their end (the client went away, or sent
    /// more than the limit); nothing was stored.
    #[error("the upload could not be read: {0}")]
    Upload(#[source] std::io::Error),
    /// The user owns an account whose balance is not zero.
    #[error("the user owns an account with a non-zero balance")]
    UserHasFunds,
    /// No account has this id.
    #[error("account {0} does not exist")]
    AccountNotFound(AccountId),
    /// The account has no ledger row with this id.
    #[error("transaction {0} does not exist on this account")]
    TransactionNotFound(TransactionId),
    /// An account was to be opened for a user who does not exist.
    #[error("user {0} does not exist")]
    UnknownOwner(UserId),
    /// The balance does not cover the amount.
    #[error("the balance {balance} does not cover {required}")]
    InsufficientFunds {
        /// The balance at the time.
        balance: i64,
        /// The amount asked for.
        required: i64,
    },
    /// Paying the amount in would overflow the balance.
    #[error("the balance would exceed the largest representable amount")]
    BalanceOverflow,
    /// A transfer from an account to itself.
    #[error("a transfer needs two different accounts")]
    SameAccount,
    /// A transfer between accounts of different currencies.
    #[error("the accounts have different currencies")]
    CurrencyMismatch,
    /// The idempotency key was used for a different request.
    #[error("the idempotency key was used for a different request")]
    IdempotencyKeyReused,
    /// The request with this idempotency key is still executing.
    #[error("a request with this idempotency key is still executing")]
    IdempotencyKeyInFlight,
    /// Too many failed logins for this address or from this client; try again after the wait.
    #[error("too many failed logins; retry in {:?}", .0.wait)]
    TooManyAttempts(Throttled),
    /// A concurrent change got in the way; the request may be retried.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The caller may not do this; the message says what only someone else may do.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The e-mail address or the password is wrong (deliberately not saying which).
    #[error("wrong e-mail address or password")]
    InvalidCredentials,
    /// The bearer token does not stand for a caller any more (or never did).
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// A conditional write's condition did not hold (see [`crate::precondition`]); nothing
    /// was written.
    #[error("the precondition of the write does not hold")]
    PreconditionFailed,
    /// The service requires writes to this resource to be conditional, and this one was not.
    #[error("the write must be conditional")]
    PreconditionRequired,
    /// The user is the last admin: deleting them would leave the service without one.
    #[error("the last admin cannot be deleted")]
    LastAdmin,
    /// Storage does not answer now (stopped, unreachable, or busy past its timeout): the
    /// request may be retried shortly. The cause is for operators only.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The file store does not answer now (stopped, unreachable, refusing, or slower than its
    /// timeout): the request may be retried shortly. The cause is for operators only.
    #[error("file store unavailable: {0}")]
    BlobStoreUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An upload outlasted the sweeps' grace period and a sweep gave it up before it was
    /// committed; nothing was stored.
    #[error("the upload outlasted the grace period of sweeps and was given up")]
    UploadAbandoned,
    /// Storage has no room left for the write (a full disk); nothing was stored.
    #[error("storage full: {0}")]
    StorageFull(#[source] Box<dyn std::error::Error + Send + Sync>),
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
