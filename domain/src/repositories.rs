//! What the domain's services need from a storage backend, handed over in one piece.

use crate::{
    accounts::{AccountRepository, Outcome},
    files::BlobStore,
    files::FileRepository,
    health::Readiness,
    idempotency::IdempotencyStore,
    notifications::NotificationRepository,
    streams::Wakeups,
    throttle::LoginLimitStore,
    users::UserRepository,
    webhooks::{DeliveryRepository, WebhookRepository},
};
use std::sync::Arc;

/// Every repository one backend provides, so that wiring the services is written once.
#[derive(Clone)]
pub struct Repositories {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Accounts and their ledgers.
    pub accounts: Arc<dyn AccountRepository>,
    /// Recorded `Idempotency-Key` outcomes.
    pub idempotency: Arc<dyn IdempotencyStore<Outcome>>,
    /// The notifications outbox.
    pub outbox: Arc<dyn NotificationRepository>,
    /// File metadata.
    pub files: Arc<dyn FileRepository>,
    /// File bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// The failed-login counts, shared by every instance.
    pub login_limits: Arc<dyn LoginLimitStore>,
    /// Webhook endpoints and their secrets.
    pub webhooks: Arc<dyn WebhookRepository>,
    /// The webhook deliveries outbox.
    pub deliveries: Arc<dyn DeliveryRepository>,
    /// Wakes the followers of a topic when a change to it is committed, on any instance.
    pub wakeups: Arc<dyn Wakeups>,
    /// Whether the backend answers.
    pub readiness: Arc<dyn Readiness>,
}
