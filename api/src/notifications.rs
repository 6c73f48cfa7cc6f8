//! Notifications: `POST /notifications` accepts an e-mail for delivery (202) and
//! `GET /notifications/{id}` reports how its delivery goes.
//!
//! The 202 is sent only once the notification is stored: a crash afterwards loses nothing, the
//! background worker delivers it after the restart.

use crate::state::State;
use crate::{
    auth::BearerAuth,
    body::{JsonBody, Members, RequestModel},
    json_types::{Nullable, Timestamp},
    params::{Id, LastEventId},
    responses,
    responses::reply,
    streams::{EventKind, EventStream, reply_following},
    tags::Tag,
};
use domain::{
    Email,
    notifications::{
        MessageBody, NewNotification, Notification, NotificationEvent, NotificationId,
        NotificationService, NotificationStatus, POLL_INTERVAL, Subject,
    },
};
use poem::Request;
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Header, Path},
    payload::Json,
    types,
};

/// The notifications operations.
#[derive(Default)]
pub struct NotificationsApi;

/// An e-mail to deliver.
#[derive(Object, Debug)]
pub struct NotificationIn {
    /// The recipient.
    #[oai(validator(max_length = 254))]
    email: types::Email,
    /// One line of 1 to 200 characters.
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    ))]
    subject: String,
    /// The text, 1 to 10 000 characters.
    #[oai(validator(min_length = 1, max_length = 10000))]
    body: String,
}

impl RequestModel for NotificationIn {
    type Parsed = NewNotification;

    fn read(members: &mut Members<'_>) -> Option<NewNotification> {
        let email = members.required("email", Email::parse);
        let subject = members.required("subject", Subject::parse);
        let body = members.required("body", MessageBody::parse);
        Some(NewNotification {
            email: email?,
            subject: subject?,
            body: body?,
        })
    }
}

/// Where a notification is in its delivery: `queued` (waiting for the worker, first attempt or
/// a retry), `sending`, `sent`, or `failed` (given up on; `last_error` says why).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "NotificationStatus", rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the worker (first attempt or a retry).
    Queued,
    /// Being delivered.
    Sending,
    /// Delivered.
    Sent,
    /// Given up on; `last_error` says why.
    Failed,
}

impl From<NotificationStatus> for Status {
    fn from(status: NotificationStatus) -> Self {
        match status {
            NotificationStatus::Queued => Self::Queued,
            NotificationStatus::Sending => Self::Sending,
            NotificationStatus::Sent => Self::Sent,
            NotificationStatus::Failed => Self::Failed,
        }
    }
}

/// A notification and its delivery status.
#[derive(Object, Debug)]
pub struct NotificationOut {
    /// The notification's id.
    id: i64,
    /// The recipient.
    email: String,
    /// The subject line.
    subject: String,
    // Described by its schema alone: a described `$ref` comes out as an `allOf`, which
    // openapi-python-client refuses.
    status: Status,
    /// Delivery attempts so far.
    attempts: u32,
    /// Why the last attempt failed, or null.
    #[oai(nullable)]
    last_error: Nullable<String>,
    /// When it was accepted.
    created_at: Timestamp,
    /// When it was delivered, or null.
    #[oai(nullable)]
    sent_at: Nullable<Timestamp>,
}

impl From<&Notification> for NotificationOut {
    fn from(n: &Notification) -> Self {
        Self {
            id: n.id.get(),
            email: n.email.as_str().to_owned(),
            subject: n.subject.as_str().to_owned(),
            status: n.status.into(),
            attempts: n.attempts,
            last_error: Nullable(n.last_error.clone()),
            created_at: Timestamp(n.created_at),
            sent_at: Nullable(n.sent_at.map(Timestamp)),
        }
    }
}

responses! {
    /// Responses of `POST /notifications`.
    pub enum NotificationsCreate {
        /// Accepted and stored: it will be delivered in the background. `Location` is its
        /// status monitor, `Retry-After` the seconds to wait before looking at it.
        #[oai(status = 202)]
        Accepted(
            Json<NotificationOut>,
            #[oai(header = "Location")] String,
            #[oai(header = "Retry-After")] u64,
        ),
    }
    authenticated;
    stores;
    problems {
        422 Unprocessable: "A member is missing or invalid; `errors` names each.",
    }
    json_body("The body is not sent as `application/json`.");
}

responses! {
    /// Responses of `GET /notifications/{id}`.
    pub enum NotificationsGet {
        /// The notification and its delivery status; while it is `queued` or `sending`,
        /// `Retry-After` says how many seconds to wait before looking again (until its next
        /// attempt when a retry is scheduled).
        #[oai(status = 200)]
        Ok(
            Json<NotificationOut>,
            #[oai(header = "Retry-After")] Option<u64>,
        ),
    }
    guarded("The notification is someone else's and the caller is not an admin.");
    problems {
        404 NotFound: "No notification has this id.",
        422 Unprocessable: "The id is not a positive 64-bit integer.",
    }
}

/// A notification's change, as its stream sends it: `id:` the change's number, `event:` the
/// status it left the notification in, `data:` the notification.
pub struct NotificationChange(NotificationEvent);

impl From<NotificationEvent> for NotificationChange {
    fn from(event: NotificationEvent) -> Self {
        Self(event)
    }
}

impl EventKind for NotificationChange {
    type Data = NotificationOut;
    const TITLE: &'static str = "NotificationEvent";
    const NAMES: &'static [&'static str] = &["queued", "sending", "sent", "failed"];
    const DESCRIPTION: &'static str = "One event per change of the notification, numbered from 1 \
        in `id`, named by the status it left: `queued` (accepted, or a failed attempt that will \
        be retried: `last_error` says why), `sending`, `sent`, `failed`. Its `data` is the \
        notification after the change. The stream ends after `sent` or `failed`.";

    fn fields(&self) -> (String, &'static str, NotificationOut) {
        let NotificationEvent { seq, notification } = &self.0;
        let status = notification.status.as_str();
        (seq.to_string(), status, NotificationOut::from(notification))
    }
}

responses! {
    /// Responses of `GET /notifications/{id}/events`.
    pub enum NotificationsEvents {
        /// The notification's changes as Server-Sent Events, from its current state (or from
        /// the change after `Last-Event-ID`), until it is `sent` or `failed`; a comment every
        /// keep-alive interval meanwhile.
        #[oai(status = 200)]
        Ok(EventStream<NotificationChange>),
    }
    guarded("The notification is someone else's and the caller is not an admin.");
    problems {
        404 NotFound: "No notification has this id.",
        422 Unprocessable: "The id is not a positive 64-bit integer, or `Last-Event-ID` is not an event id.",
    }
}

#[OpenApi(tag = "Tag::Notifications")]
impl NotificationsApi {
    /// Send a notification
    ///
    /// Stores an e-mail for delivery and answers at once (202); a background worker delivers
    /// it, retrying failures with backoff. Poll `Location` for the outcome.
    #[oai(
        path = "/notifications",
        method = "post",
        operation_id = "notifications_create"
    )]
    async fn create(
        &self,
        auth: BearerAuth,
        req: &Request,
        notifications: State<'_, NotificationService>,
        body: JsonBody<NotificationIn>,
    ) -> NotificationsCreate {
        reply(req, notifications.submit(&auth.0, body.0).await, |n| {
            let location = format!("/notifications/{}", n.id);
            let wait = look_again_after(&n).unwrap_or(POLL_INTERVAL.as_secs());
            NotificationsCreate::Accepted(Json(NotificationOut::from(&n)), location, wait)
        })
    }

    /// Get a notification's status
    #[oai(
        path = "/notifications/:id",
        method = "get",
        operation_id = "notifications_get"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        req: &Request,
        notifications: State<'_, NotificationService>,
        /// The notification's id.
        id: Path<Id<NotificationId>>,
    ) -> NotificationsGet {
        reply(req, notifications.get(&auth.0, id.0.0).await, |n| {
            NotificationsGet::Ok(Json(NotificationOut::from(&n)), look_again_after(&n))
        })
    }

    /// Follow a notification's delivery
    ///
    /// Server-Sent Events: the notification's current state first, then each change as it is
    /// stored, until it is `sent` or `failed`, when the stream ends. A client that reconnects
    /// sends the last `id:` it got as `Last-Event-ID` and gets every change after it, none
    /// lost or repeated, from any instance.
    #[oai(
        path = "/notifications/:id/events",
        method = "get",
        operation_id = "notifications_events"
    )]
    async fn events(
        &self,
        auth: BearerAuth,
        req: &Request,
        notifications: State<'_, NotificationService>,
        /// The notification's id.
        id: Path<Id<NotificationId>>,
        /// The `id` of the last event received: the stream resumes after it.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<LastEventId>>,
    ) -> NotificationsEvents {
        let after = last_event_id.0.map(|id| id.0);
        let follow = notifications.follow(&auth.0, id.0.0, after);
        reply_following(req, follow, NotificationsEvents::Ok).await
    }
}

/// `Retry-After` for a watcher of `n`, in seconds; none once it is final.
fn look_again_after(n: &Notification) -> Option<u64> {
    n.look_again_after(chrono::Utc::now())
        .map(|wait| wait.as_secs())
}

#[cfg(test)]
mod tests;
