//! Webhook endpoints: `/webhooks`, `/webhooks/{id}` and `/webhooks/{id}/secrets`.
//!
//! An endpoint is where its owner's events are sent, signed the Standard Webhooks way with its
//! secrets. The secret is shown once, in the answer that makes it.

use crate::state::State;
use crate::{
    auth::BearerAuth,
    body::{JsonBody, Members, RequestModel},
    json_types::{Nullable, Timestamp},
    paging::{next_page, requested},
    params::{Id, IdCursor, LimitParam},
    responses,
    responses::reply,
    tags::Tag,
};
use domain::{
    users::Patch,
    webhooks::{
        Description, Endpoint, EndpointPatch, EventSet, EventType, NewEndpoint, Rotation,
        SigningSecret, WebhookId, WebhookService, WebhookUrl,
    },
};
use poem::Request;
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

/// The webhook operations.
#[derive(Default)]
pub struct WebhooksApi;

/// An event type an endpoint can subscribe to; the payload's `type`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "WebhookEventType")]
pub enum EventTypeOut {
    /// A notification was delivered.
    #[oai(rename = "notification.sent")]
    NotificationSent,
    /// A notification failed for good.
    #[oai(rename = "notification.failed")]
    NotificationFailed,
    /// A transaction was booked on an account (a deposit, a withdrawal, a transfer's leg).
    #[oai(rename = "account.transaction.booked")]
    TransactionBooked,
}

impl EventTypeOut {
    fn of(kind: EventType) -> Option<Self> {
        match kind {
            EventType::NotificationSent => Some(Self::NotificationSent),
            EventType::NotificationFailed => Some(Self::NotificationFailed),
            EventType::TransactionBooked => Some(Self::TransactionBooked),
            EventType::Test => None,
        }
    }
}

/// A webhook endpoint. Its secrets are never shown again after they are made.
#[derive(Object, Debug)]
pub struct WebhookOut {
    /// The endpoint's id.
    id: i64,
    /// The user whose events it receives.
    owner_id: i64,
    /// Where they are sent, by `POST`.
    url: String,
    /// The event types it subscribes to.
    events: Vec<EventTypeOut>,
    /// What it is for.
    description: String,
    /// Whether deliveries are made to it.
    enabled: bool,
    /// Why the service disabled it (it answered `410 Gone`, or failed every attempt of a
    /// delivery's schedule), or null; cleared when it is enabled again.
    #[oai(nullable)]
    disabled_reason: Nullable<String>,
    /// When it was made.
    created_at: Timestamp,
    /// When it last changed.
    updated_at: Timestamp,
}

impl From<&Endpoint> for WebhookOut {
    fn from(e: &Endpoint) -> Self {
        Self {
            id: e.id.get(),
            owner_id: e.owner.get(),
            url: e.url.as_str().to_owned(),
            events: e.events.iter().filter_map(EventTypeOut::of).collect(),
            description: e.description.as_str().to_owned(),
            enabled: e.enabled,
            disabled_reason: Nullable(e.disabled_reason.clone()),
            created_at: Timestamp(e.created_at),
            updated_at: Timestamp(e.updated_at),
        }
    }
}

/// A new endpoint, with its signing secret: the only time the secret is shown.
#[derive(Object, Debug)]
pub struct WebhookCreated {
    #[oai(flatten)]
    endpoint: WebhookOut,
    /// The signing secret, `whsec_` and the base64 of 32 random bytes: verify each delivery's
    /// `webhook-signature` with it (Standard Webhooks). Keep it: it is not shown again.
    secret: String,
}

/// A page of endpoints, by ascending id.
#[derive(Object, Debug)]
pub struct WebhookPage {
    /// The endpoints of this page.
    items: Vec<WebhookOut>,
    /// The `cursor` of the next page, or null on the last page.
    #[oai(nullable)]
    next_cursor: Nullable<String>,
}

/// A new signing secret, after a rotation.
#[derive(Object, Debug)]
pub struct WebhookSecretOut {
    /// The new secret, `whsec_` and base64: shown only here.
    secret: String,
    /// When it was made; it signs every delivery from now on.
    created_at: Timestamp,
    /// Until when the older secrets still sign beside it (each delivery then carries one
    /// signature per live secret), or null when none does.
    #[oai(nullable)]
    previous_secrets_expire_at: Nullable<Timestamp>,
}

impl From<Rotation> for WebhookSecretOut {
    fn from(rotation: Rotation) -> Self {
        Self {
            secret: rotation.secret.reveal(),
            created_at: Timestamp(rotation.created_at),
            previous_secrets_expire_at: Nullable(rotation.previous_expire_at.map(Timestamp)),
        }
    }
}

/// A new endpoint.
#[derive(Object, Debug)]
pub struct WebhookIn {
    /// Where to send events: an absolute `https` URL (plain `http` only to the hosts the
    /// service allows for local development) of at most 2048 bytes, without credentials or
    /// fragment, whose host is not and does not resolve to a loopback, private, link-local or
    /// metadata address.
    #[oai(validator(min_length = 1, max_length = 2048))]
    url: String,
    /// The event types to receive: at least one (a repeated one counts once).
    #[oai(validator(min_items = 1, max_items = 16))]
    events: Vec<EventTypeOut>,
    /// What it is for, at most 500 characters; empty when absent.
    #[oai(validator(max_length = 500))]
    description: Option<String>,
    /// Whether deliveries are made; `true` when absent.
    enabled: Option<bool>,
}

impl RequestModel for WebhookIn {
    type Parsed = NewEndpoint;

    fn read(members: &mut Members<'_>) -> Option<NewEndpoint> {
        let url = members.required("url", WebhookUrl::parse);
        let events = members.required("events", events);
        let description = members.replace("description", Description::parse);
        let enabled = members.replace("enabled", Ok);
        Some(NewEndpoint {
            url: url?,
            events: events?,
            description: match description? {
                Some(description) => description,
                None => Description::parse("").ok()?,
            },
            enabled: enabled?.unwrap_or(true),
        })
    }
}

/// A JSON Merge Patch (RFC 7396) of an endpoint: absent members stay as they are,
/// `"description": null` empties the description; the others cannot be null.
#[derive(Object, Debug)]
pub struct WebhookPatchIn {
    /// A new URL, under the rules of a new endpoint's.
    #[oai(validator(min_length = 1, max_length = 2048))]
    url: Option<String>,
    /// New event types, at least one.
    #[oai(validator(min_items = 1, max_items = 16))]
    events: Option<Vec<EventTypeOut>>,
    /// A new description, or null to empty it.
    #[oai(validator(max_length = 500), nullable)]
    description: Option<String>,
    /// `false` disables deliveries; `true` enables them again (and clears
    /// `disabled_reason`).
    enabled: Option<bool>,
}

impl RequestModel for WebhookPatchIn {
    const MEDIA_TYPES: &'static [&'static str] =
        &["application/merge-patch+json", "application/json"];
    const BODY_DESCRIPTION: Option<&'static str> = Some(
        "A JSON Merge Patch (RFC 7396), sent as `application/merge-patch+json` or as \
         `application/json`: both are taken, with the same meaning.",
    );

    type Parsed = EndpointPatch;

    fn read(members: &mut Members<'_>) -> Option<EndpointPatch> {
        let url = members.replace("url", WebhookUrl::parse);
        let events = members.replace("events", events);
        let description = members.patch("description", Description::parse);
        let enabled = members.replace("enabled", Ok);
        let description = match description? {
            Patch::Keep => None,
            Patch::Clear => Some(Description::parse("").ok()?),
            Patch::Set(description) => Some(description),
        };
        Some(EndpointPatch {
            url: url?,
            events: events?,
            description,
            enabled: enabled?,
        })
    }
}

fn events(names: Vec<&str>) -> Result<EventSet, domain::Violation> {
    EventSet::parse(names)
}

responses! {
    /// Responses of `POST /webhooks`.
    pub enum WebhooksCreate {
        /// The endpoint was made, with its signing secret (shown only here); `Location` is
        /// its URL.
        #[oai(status = 201)]
        Created(Json<WebhookCreated>, #[oai(header = "Location")] String),
    }
    authenticated;
    stores;
    problems {
        422 Unprocessable: "A member is missing or invalid, or the URL may not be called (its scheme, or an address it names or resolves to); `errors` names each.",
    }
    json_body("The body is not sent as `application/json`.");
}

responses! {
    /// Responses of `GET /webhooks`.
    pub enum WebhooksList {
        /// A page of the caller's endpoints (an admin's: everyone's) by ascending id; `Link`
        /// names the next page when there is one.
        #[oai(status = 200)]
        Ok(Json<WebhookPage>, #[oai(header = "Link")] Option<String>),
    }
    authenticated;
    problems {
        422 Unprocessable: "`limit` is not in 1..=100 or `cursor` is not one this service issued.",
    }
}

responses! {
    /// Responses of `GET /webhooks/{id}`.
    pub enum WebhooksGet {
        /// The endpoint.
        #[oai(status = 200)]
        Ok(Json<WebhookOut>),
    }
    guarded("The endpoint is someone else's and the caller is not an admin.");
    problems {
        404 NotFound: "No endpoint has this id.",
        422 Unprocessable: "The id is not a positive 64-bit integer.",
    }
}

responses! {
    /// Responses of `PATCH /webhooks/{id}`.
    pub enum WebhooksPatch {
        /// The endpoint after the patch.
        #[oai(status = 200)]
        Ok(Json<WebhookOut>),
    }
    guarded("The endpoint is someone else's and the caller is not an admin.");
    stores;
    problems {
        404 NotFound: "No endpoint has this id.",
        422 Unprocessable: "The id or a member of the patch is invalid, or the new URL may not be called; `errors` names each. Nothing was changed.",
    }
    json_body("The body is not sent as `application/merge-patch+json` or `application/json`.");
}

responses! {
    /// Responses of `DELETE /webhooks/{id}`.
    pub enum WebhooksDelete {
        /// The endpoint and its secrets were deleted; nothing is sent to it after.
        #[oai(status = 204)]
        Deleted,
    }
    guarded("The endpoint is someone else's and the caller is not an admin.");
    bodiless;
    stores;
    problems {
        404 NotFound: "No endpoint has this id.",
        422 Unprocessable: "The id is not a positive 64-bit integer.",
    }
}

responses! {
    /// Responses of `POST /webhooks/{id}/secrets`.
    pub enum WebhooksRotateSecret {
        /// A new secret signs from now on (shown only here); the older ones sign beside it
        /// until `previous_secrets_expire_at`.
        #[oai(status = 201)]
        Created(Json<WebhookSecretOut>),
    }
    guarded("The endpoint is someone else's and the caller is not an admin.");
    stores;
    problems {
        404 NotFound: "No endpoint has this id.",
        422 Unprocessable: "The id is not a positive 64-bit integer.",
    }
}

fn location(endpoint: &Endpoint) -> String {
    format!("/webhooks/{}", endpoint.id)
}

fn created(endpoint: &Endpoint, secret: &SigningSecret) -> WebhookCreated {
    WebhookCreated {
        endpoint: WebhookOut::from(endpoint),
        secret: secret.reveal(),
    }
}

#[OpenApi(tag = "Tag::Webhooks")]
impl WebhooksApi {
    /// Create a webhook endpoint
    ///
    /// The caller's events of the subscribed types are `POST`ed to `url`, signed the Standard
    /// Webhooks way with the secret this answer shows once. A URL whose host resolves to an
    /// address the service may not reach is refused now, and checked again at every delivery.
    #[oai(path = "/webhooks", method = "post", operation_id = "webhooks_create")]
    async fn create(
        &self,
        auth: BearerAuth,
        req: &Request,
        webhooks: State<'_, WebhookService>,
        body: JsonBody<WebhookIn>,
    ) -> WebhooksCreate {
        reply(
            req,
            webhooks.create(&auth.0, body.0).await,
            |(e, secret)| WebhooksCreate::Created(Json(created(&e, &secret)), location(&e)),
        )
    }

    /// List webhook endpoints
    ///
    /// The caller's endpoints (an admin's: everyone's) by ascending id, a page at a time.
    #[oai(path = "/webhooks", method = "get", operation_id = "webhooks_list")]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        webhooks: State<'_, WebhookService>,
        /// Most endpoints in the page, 1 to 100.
        #[oai(default = "LimitParam::default_value")]
        limit: Query<LimitParam>,
        /// `next_cursor` of the previous page; absent for the first page.
        cursor: Query<Option<IdCursor<WebhookId>>>,
    ) -> WebhooksList {
        let limit = limit.0.0;
        let page = requested(limit, cursor.0);
        reply(req, webhooks.list(&auth.0, page).await, |page| {
            let next_after = page.next_after.map(WebhookId::get);
            let (next_cursor, link) = next_page(req, limit, next_after);
            let items = page.items.iter().map(WebhookOut::from).collect();
            let next_cursor = Nullable(next_cursor);
            WebhooksList::Ok(Json(WebhookPage { items, next_cursor }), link)
        })
    }

    /// Get a webhook endpoint
    #[oai(path = "/webhooks/:id", method = "get", operation_id = "webhooks_get")]
    async fn get(
        &self,
        auth: BearerAuth,
        req: &Request,
        webhooks: State<'_, WebhookService>,
        /// The endpoint's id.
        id: Path<Id<WebhookId>>,
    ) -> WebhooksGet {
        reply(req, webhooks.get(&auth.0, id.0.0).await, |e| {
            WebhooksGet::Ok(Json(WebhookOut::from(&e)))
        })
    }

    /// Patch a webhook endpoint
    ///
    /// A JSON Merge Patch (RFC 7396). Enabling a disabled endpoint clears `disabled_reason`.
    #[oai(
        path = "/webhooks/:id",
        method = "patch",
        operation_id = "webhooks_patch"
    )]
    async fn patch(
        &self,
        auth: BearerAuth,
        req: &Request,
        webhooks: State<'_, WebhookService>,
        /// The endpoint's id.
        id: Path<Id<WebhookId>>,
        body: JsonBody<WebhookPatchIn>,
    ) -> WebhooksPatch {
        reply(req, webhooks.patch(&auth.0, id.0.0, body.0).await, |e| {
            WebhooksPatch::Ok(Json(WebhookOut::from(&e)))
        })
    }

    /// Delete a webhook endpoint
    #[oai(
        path = "/webhooks/:id",
        method = "delete",
        operation_id = "webhooks_delete"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        req: &Request,
        webhooks: State<'_, WebhookService>,
        /// The endpoint's id.
        id: Path<Id<WebhookId>>,
    ) -> WebhooksDelete {
        reply(req, webhooks.delete(&auth.0, id.0.0).await, |()| {
            WebhooksDelete::Deleted
        })
    }

    /// Rotate a webhook endpoint's signing secret
    ///
    /// Makes a new secret, which signs from now on; each older one still signs beside it for
    /// the overlap the service is set to (a day by default), so that receivers can switch
    /// without missing a delivery.
    #[oai(
        path = "/webhooks/:id/secrets",
        method = "post",
        operation_id = "webhooks_rotate_secret"
    )]
    async fn rotate_secret(
        &self,
        auth: BearerAuth,
        req: &Request,
        webhooks: State<'_, WebhookService>,
        /// The endpoint's id.
        id: Path<Id<WebhookId>>,
    ) -> WebhooksRotateSecret {
        reply(req, webhooks.rotate(&auth.0, id.0.0).await, |rotation| {
            WebhooksRotateSecret::Created(Json(WebhookSecretOut::from(rotation)))
        })
    }
}

pub mod deliveries;
pub mod events;
#[cfg(test)]
mod tests;
