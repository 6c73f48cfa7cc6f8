//! An endpoint's deliveries: `GET /webhooks/{id}/deliveries`, one of them, its resend, and
//! `POST /webhooks/{id}/test`; and the payload every delivery carries, `{type, timestamp,
//! data}`, with `data` as the API shows the event's subject.

use crate::state::State;
use crate::{
    accounts::TransactionOut,
    auth::BearerAuth,
    json_types::{Nullable, Timestamp},
    notifications::NotificationOut,
    paging::{next_page, requested},
    params::{Id, IdCursor, LimitParam},
    responses,
    responses::reply,
    tags::Tag,
};
use domain::{
    accounts::Transaction,
    notifications::Notification,
    webhooks::{
        Delivery, DeliveryId, DeliveryStatus, Endpoint, EventType, WebhookId, WebhookService,
    },
};
use poem::Request;
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::ToJSON,
};

/// The endpoint's delivery operations.
#[derive(Default)]
pub struct DeliveriesApi;

/// The type of a delivery's event: a subscribable one, or `webhook.test`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "WebhookDeliveryEventType")]
pub enum DeliveryEventType {
    /// A notification was delivered.
    #[oai(rename = "notification.sent")]
    NotificationSent,
    /// A notification failed for good.
    #[oai(rename = "notification.failed")]
    NotificationFailed,
    /// A transaction was booked on an account.
    #[oai(rename = "account.transaction.booked")]
    TransactionBooked,
    /// The event `POST /webhooks/{id}/test` sends.
    #[oai(rename = "webhook.test")]
    Test,
}

impl From<EventType> for DeliveryEventType {
    fn from(kind: EventType) -> Self {
        match kind {
            EventType::NotificationSent => Self::NotificationSent,
            EventType::NotificationFailed => Self::NotificationFailed,
            EventType::TransactionBooked => Self::TransactionBooked,
            EventType::Test => Self::Test,
        }
    }
}

/// Where a delivery is: `pending` (waiting for its next attempt), `sending`, `delivered`, or
/// `failed` (its last attempt failed, or the endpoint answered `410 Gone`).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "WebhookDeliveryStatus", rename_all = "snake_case")]
pub enum DeliveryStatusOut {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt is under way.
    Sending,
    /// An attempt got a 2xx.
    Delivered,
    /// Given up on.
    Failed,
}

impl From<DeliveryStatus> for DeliveryStatusOut {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Sending => Self::Sending,
            DeliveryStatus::Delivered => Self::Delivered,
            DeliveryStatus::Failed => Self::Failed,
        }
    }
}

/// One event's delivery to the endpoint, and how its attempts went.
#[derive(Object, Debug)]
#[oai(rename = "WebhookDelivery")]
pub struct DeliveryOut {
    /// The delivery's id.
    id: i64,
    /// The endpoint's id.
    webhook_id: i64,
    /// The `webhook-id` header every attempt of it sends, the same on each.
    message_id: String,
    event_type: DeliveryEventType,
    /// When the event happened: the payload's `timestamp`.
    event_timestamp: Timestamp,
    status: DeliveryStatusOut,
    /// Attempts made so far.
    attempts: u32,
    /// When the next attempt is due, while it is `pending`; else null.
    #[oai(nullable)]
    next_attempt_at: Nullable<Timestamp>,
    /// The status code of the last attempt's answer, or null (none yet, or no answer).
    #[oai(nullable)]
    last_status_code: Nullable<u16>,
    /// What went wrong with the last attempt, or null.
    #[oai(nullable)]
    last_error: Nullable<String>,
    /// How long the last attempt took, in milliseconds, or null.
    #[oai(nullable)]
    last_latency_ms: Nullable<u64>,
    /// When it was written, in the transaction of the change that caused the event.
    created_at: Timestamp,
    /// When an attempt delivered it, or null.
    #[oai(nullable)]
    delivered_at: Nullable<Timestamp>,
}

impl From<&Delivery> for DeliveryOut {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id.get(),
            webhook_id: d.endpoint.get(),
            message_id: d.message_id.clone(),
            event_type: d.event.kind.into(),
            event_timestamp: Timestamp(d.event.occurred_at),
            status: d.status.into(),
            attempts: d.attempts,
            next_attempt_at: Nullable(d.next_attempt_at.map(Timestamp)),
            last_status_code: Nullable(d.last_status_code),
            last_error: Nullable(d.last_error.clone()),
            last_latency_ms: Nullable(d.last_latency_ms),
            created_at: Timestamp(d.created_at),
            delivered_at: Nullable(d.delivered_at.map(Timestamp)),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Object, Debug)]
#[oai(rename = "WebhookDeliveryPage")]
pub struct DeliveryPage {
    /// The deliveries of this page.
    items: Vec<DeliveryOut>,
    /// The `cursor` of the next (older) page, or null on the last page.
    #[oai(nullable)]
    next_cursor: Nullable<String>,
}

/// The `data` of a `webhook.test` event.
#[derive(Object, Debug)]
pub struct WebhookTestData {
    /// The endpoint's id.
    webhook_id: i64,
    /// The endpoint's URL.
    url: String,
}

/// What an event is about, as the delivery worker found it.
#[derive(Debug, Clone)]
pub enum EventData {
    /// The transaction booked.
    Transaction(Transaction),
    /// The notification sent or failed.
    Notification(Notification),
    /// The endpoint a test event is sent to.
    Test(Endpoint),
}

/// The body of a delivery of an event of `kind` at `timestamp` about `data`: the JSON object
/// `{type, timestamp, data}`, `data` as the API's `GET` of it shows it.
pub fn payload(
    kind: EventType,
    timestamp: chrono::DateTime<chrono::Utc>,
    data: &EventData,
) -> Vec<u8> {
    let data = match data {
        EventData::Transaction(t) => TransactionOut::from(t).to_json(),
        EventData::Notification(n) => NotificationOut::from(n).to_json(),
        EventData::Test(e) => WebhookTestData {
            webhook_id: e.id.get(),
            url: e.url.as_str().to_owned(),
        }
        .to_json(),
    };
    let body = serde_json::json!({
        "type": kind.as_str(),
        "timestamp": Timestamp(timestamp).to_json(),
        "data": data,
    });
    body.to_string().into_bytes()
}

responses! {
    /// Responses of `GET /webhooks/{id}/deliveries`.
    pub enum DeliveriesList {
        /// A page of the endpoint's deliveries, newest first; `Link` names the next page when
        /// there is one.
        #[oai(status = 200)]
        Ok(Json<DeliveryPage>, #[oai(header = "Link")] Option<String>),
    }
    guarded("The endpoint is someone else's and the caller is not an admin.");
    problems {
        404 NotFound: "No endpoint has this id.",
        422 Unprocessable: "The id is not a positive 64-bit integer, `limit` is not in 1..=100 or `cursor` is not one this service issued.",
    }
}

responses! {
    /// Responses of `GET /webhooks/{id}/deliveries/{delivery_id}`.
    pub enum DeliveriesGet {
        /// The delivery.
        #[oai(status = 200)]
        Ok(Json<DeliveryOut>),
    }
    guarded("The endpoint is someone else's and the caller is not an admin.");
    problems {
        404 NotFound: "No endpoint has this id, or it has no delivery with this one (`type` tells which).",
        422 Unprocessable: "An id is not a positive 64-bit integer.",
    }
}

responses! {
    /// Responses of `POST /webhooks/{id}/deliveries/{delivery_id}/resend`.
    pub enum DeliveriesResend {
        /// The delivery is due again now, with the same `webhook-id` and a schedule of its own.
        #[oai(status = 202)]
        Accepted(Json<DeliveryOut>),
    }
    guarded("The endpoint is someone else's and the caller is not an admin.");
    stores;
    problems {
        404 NotFound: "No endpoint has this id, or it has no delivery with this one (`type` tells which).",
        409 Conflict: "The endpoint is disabled (type `webhook-disabled`: enable it first), or an attempt of the delivery is under way.",
        422 Unprocessable: "An id is not a positive 64-bit integer.",
    }
}

responses! {
    /// Responses of `POST /webhooks/{id}/test`.
    pub enum WebhooksTest {
        /// A `webhook.test` event is on its way to the endpoint; `Location` is its delivery.
        #[oai(status = 202)]
        Accepted(Json<DeliveryOut>, #[oai(header = "Location")] String),
    }
    guarded("The endpoint is someone else's and the caller is not an admin.");
    stores;
    problems {
        404 NotFound: "No endpoint has this id.",
        409 Conflict: "The endpoint is disabled (type `webhook-disabled`): enable it first.",
        422 Unprocessable: "The id is not a positive 64-bit integer.",
    }
}

#[OpenApi(tag = "Tag::Webhooks")]
impl DeliveriesApi {
    /// List an endpoint's deliveries
    ///
    /// Newest first, a page at a time: each event sent to the endpoint, its attempts, the last
    /// answer's status code and latency, and when the next attempt is due.
    #[oai(
        path = "/webhooks/:id/deliveries",
        method = "get",
        operation_id = "webhook_deliveries_list"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        webhooks: State<'_, WebhookService>,
        /// The endpoint's id.
        id: Path<Id<WebhookId>>,
        /// Most deliveries in the page, 1 to 100.
        #[oai(default = "LimitParam::default_value")]
        limit: Query<LimitParam>,
        /// `next_cursor` of the previous page; absent for the first (newest) page.
        cursor: Query<Option<IdCursor<DeliveryId>>>,
    ) -> DeliveriesList {
        let limit = limit.0.0;
        let page = requested(limit, cursor.0);
        reply(
            req,
            webhooks.deliveries(&auth.0, id.0.0, page).await,
            |page| {
                let next_after = page.next_after.map(DeliveryId::get);
                let (next_cursor, link) = next_page(req, limit, next_after);
                let items = page.items.iter().map(DeliveryOut::from).collect();
                let next_cursor = Nullable(next_cursor);
                DeliveriesList::Ok(Json(DeliveryPage { items, next_cursor }), link)
            },
        )
    }

    /// Get one of an endpoint's deliveries
    #[oai(
        path = "/webhooks/:id/deliveries/:delivery_id",
        method = "get",
        operation_id = "webhook_deliveries_get"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        req: &Request,
        webhooks: State<'_, WebhookService>,
        /// The endpoint's id.
        id: Path<Id<WebhookId>>,
        /// The delivery's id.
        delivery_id: Path<Id<DeliveryId>>,
    ) -> DeliveriesGet {
        let found = webhooks.delivery(&auth.0, id.0.0, delivery_id.0.0).await;
        reply(req, found, |d| {
            DeliveriesGet::Ok(Json(DeliveryOut::from(&d)))
        })
    }

    /// Resend a delivery
    ///
    /// Makes the delivery due now, with the same `webhook-id` (a receiver that saw it already
    /// can tell) and a retry schedule of its own.
    #[oai(
        path = "/webhooks/:id/deliveries/:delivery_id/resend",
        method = "post",
        operation_id = "webhook_deliveries_resend"
    )]
    async fn resend(
        &self,
        auth: BearerAuth,
        req: &Request,
        webhooks: State<'_, WebhookService>,
        /// The endpoint's id.
        id: Path<Id<WebhookId>>,
        /// The delivery's id.
        delivery_id: Path<Id<DeliveryId>>,
    ) -> DeliveriesResend {
        let resent = webhooks.resend(&auth.0, id.0.0, delivery_id.0.0).await;
        reply(req, resent, |d| {
            DeliveriesResend::Accepted(Json(DeliveryOut::from(&d)))
        })
    }

    /// Send a test event
    ///
    /// Sends the endpoint a `webhook.test` event, signed and retried as every other event; a
    /// failed test disables nothing.
    #[oai(
        path = "/webhooks/:id/test",
        method = "post",
        operation_id = "webhooks_test"
    )]
    async fn test(
        &self,
        auth: BearerAuth,
        req: &Request,
        webhooks: State<'_, WebhookService>,
        /// The endpoint's id.
        id: Path<Id<WebhookId>>,
    ) -> WebhooksTest {
        reply(req, webhooks.test(&auth.0, id.0.0).await, |d| {
            let location = format!("/webhooks/{}/deliveries/{}", d.endpoint, d.id);
            WebhooksTest::Accepted(Json(DeliveryOut::from(&d)), location)
        })
    }
}
