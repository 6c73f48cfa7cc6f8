//! The events the service sends to webhook endpoints, as the 3.1 document's `webhooks` member
//! describes them: one per event type, a `POST` of `{type, timestamp, data}` with the Standard
//! Webhooks headers. (The 3.0 document has no such member; `crate::spec::v3_0` drops it.)

use crate::{
    accounts::TransactionOut, json_types::Timestamp, notifications::NotificationOut,
    webhooks::deliveries::WebhookTestData,
};
use poem_openapi::{
    ApiResponse, Enum, Object, Webhook,
    param::Header,
    payload::Json,
    registry::{MetaWebhook, Registry},
};

macro_rules! event_payload {
    ($(#[$doc:meta])* $name:ident, $kind:ident = $wire:literal, $data:ty) => {
        /// The payload's `type`.
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $kind {
            #[doc = concat!("`", $wire, "`.")]
            #[oai(rename = $wire)]
            Only,
        }

        $(#[$doc])*
        #[derive(Object, Debug)]
        pub struct $name {
            #[oai(rename = "type")]
            kind: $kind,
            /// When the event happened.
            timestamp: Timestamp,
            data: $data,
        }
    };
}

event_payload!(
    /// The payload of `account.transaction.booked`: `data` is the ledger row as
    /// `GET /accounts/{id}/transactions/{tid}` shows it.
    TransactionBookedEvent,
    TransactionBookedType = "account.transaction.booked",
    TransactionOut
);
event_payload!(
    /// The payload of `notification.sent`: `data` is the notification as
    /// `GET /notifications/{id}` shows it, `sent`.
    NotificationSentEvent,
    NotificationSentType = "notification.sent",
    NotificationOut
);
event_payload!(
    /// The payload of `notification.failed`: `data` is the notification as
    /// `GET /notifications/{id}` shows it, `failed`, with `last_error`.
    NotificationFailedEvent,
    NotificationFailedType = "notification.failed",
    NotificationOut
);
event_payload!(
    /// The payload of `webhook.test`, sent by `POST /webhooks/{id}/test`.
    WebhookTestEvent,
    WebhookTestType = "webhook.test",
    WebhookTestData
);

/// How a receiver answers a delivery.
#[derive(ApiResponse)]
pub enum Receipt {
    /// Any 2xx: delivered. Anything else, or no answer within the timeout, is retried on the
    /// schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), `Retry-After` honoured.
    #[oai(status = 200)]
    Received,
    /// The endpoint is gone: the delivery ends and the endpoint is disabled.
    #[oai(status = 410)]
    Gone,
}

// poem-openapi keys a webhook trait's operations by method, so each event is a trait of its own
// with its one `POST`, and [`Events`] puts them together.
macro_rules! event_webhook {
    ($(#[$doc:meta])* $trait:ident, $name:literal, $operation:literal, $method:ident, $payload:ty) => {
        #[doc = concat!("The `", $name, "` event.")]
        #[Webhook(tag = "crate::tags::Tag::Webhooks")]
        pub trait $trait: Sync {
            $(#[$doc])*
            #[oai(name = $name, method = "post", operation_id = $operation)]
            fn $method(
                &self,
                /// The message's id, the same on every attempt of one event: drop a redelivery.
                #[oai(name = "webhook-id")]
                webhook_id: Header<String>,
                /// When this attempt was sent, Unix seconds: refuse one far from now (a replay).
                #[oai(name = "webhook-timestamp")]
                webhook_timestamp: Header<i64>,
                /// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per live secret, space-separated.
                #[oai(name = "webhook-signature")]
                webhook_signature: Header<String>,
                body: Json<$payload>,
            ) -> Receipt;
        }
    };
}

event_webhook!(
    /// A transaction was booked
    ///
    /// A deposit, a withdrawal, or one leg of a transfer (each leg to its account's owner),
    /// written in the transaction that booked it.
    TransactionBooked,
    "account.transaction.booked",
    "event_account_transaction_booked",
    transaction_booked,
    TransactionBookedEvent
);
event_webhook!(
    /// A notification was sent
    NotificationSent,
    "notification.sent",
    "event_notification_sent",
    notification_sent,
    NotificationSentEvent
);
event_webhook!(
    /// A notification failed for good
    NotificationFailed,
    "notification.failed",
    "event_notification_failed",
    notification_failed,
    NotificationFailedEvent
);
event_webhook!(
    /// A test event
    ///
    /// Sent by `POST /webhooks/{id}/test`, whatever the endpoint subscribes to.
    WebhookTest,
    "webhook.test",
    "event_webhook_test",
    webhook_test,
    WebhookTestEvent
);

/// Every event the service `POST`s to the endpoints subscribed to it. Each delivery carries
/// `webhook-id` (the same on each attempt of one event), `webhook-timestamp` and
/// `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under each live
/// secret, space-separated), as the Standard Webhooks specification says.
pub struct Events;

impl Webhook for Events {
    fn meta() -> Vec<MetaWebhook> {
        [
            <&dyn TransactionBooked>::meta(),
            <&dyn NotificationSent>::meta(),
            <&dyn NotificationFailed>::meta(),
            <&dyn WebhookTest>::meta(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn register(registry: &mut Registry) {
        <&dyn TransactionBooked>::register(registry);
        <&dyn NotificationSent>::register(registry);
        <&dyn NotificationFailed>::register(registry);
        <&dyn WebhookTest>::register(registry);
    }
}
