//! The API's tags, which group its operations in the spec and the docs.

use poem_openapi::Tags;

/// The API's tags, one per resource.
#[derive(Tags)]
pub enum Tag {
    /// Users: sign-up, profiles and their changes.
    Users,
    /// Access tokens.
    Auth,
    /// Accounts, their ledgers, deposits and withdrawals.
    Accounts,
    /// Transfers between accounts.
    Transfers,
    /// E-mail notifications, delivered in the background.
    Notifications,
    /// Files: uploads for admins, downloads with ranges for everyone.
    Files,
    /// Streaming exports.
    Exports,
    /// Webhook endpoints: the events sent to them, signed the Standard Webhooks way.
    Webhooks,
    /// Liveness and readiness.
    Operations,
}
