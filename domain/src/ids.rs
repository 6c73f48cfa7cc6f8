//! The ids of the entities: positive 64-bit integers, each kind a type of its own so that one
//! is never taken for another. A leaf: every module may name them, the error type included.

positive_id!(
    /// A user's id: a positive 64-bit integer.
    UserId
);
positive_id!(
    /// An account's id.
    AccountId
);
positive_id!(
    /// A ledger row's id.
    TransactionId
);
positive_id!(
    /// A transfer's id.
    TransferId
);
positive_id!(
    /// A notification's id.
    NotificationId
);
positive_id!(
    /// A webhook endpoint's id.
    WebhookId
);
positive_id!(
    /// A webhook delivery's id.
    DeliveryId
);
