//! Outgoing webhooks, the Standard Webhooks way (standardwebhooks.com): the rules a delivery
//! follows, decided here and executed by the delivery worker.
//!
//! - [`WebhookUrl`]: where an endpoint is called; `https`, or plain `http` only to the hosts
//!   an [`EndpointPolicy`] allows, with no credentials in it.
//! - [`address`]: which addresses an endpoint may not reach (loopback, private, link-local,
//!   cloud metadata, ...), checked at creation and again at every connection.
//! - [`SigningSecret`] and [`signature`]: `whsec_` secrets of 24 to 64 bytes, and the
//!   `webhook-signature` header, one `v1,` entry per live secret.
//! - [`RetrySchedule`]: when a failed delivery is tried again, and when an endpoint that keeps
//!   failing has failed for good; [`judge`]: what an attempt's [`Answer`] makes of it.
//! - [`Endpoint`]: an owner's endpoint, the [`EventSet`] it subscribes to, and when it
//!   receives an event of an [`EventType`].
//! - [`WebhookService`]: endpoints as a resource, and the rotation of their secrets.

pub mod address;
mod attempt;
mod delivery;
mod endpoint;
mod event;
mod schedule;
mod secret;
mod service;
pub mod signature;
mod url;

pub use crate::ids::DeliveryId;
pub use crate::ids::WebhookId;
pub use attempt::{Answer, Verdict, judge};
pub use delivery::{
    Attempted, Claimed, Delivery, DeliveryRepository, DeliveryStatus, Event, Subject, attempted,
    new_message_id, recipients, undeliverable,
};
pub use endpoint::{Description, Endpoint, EventSet};
pub use event::EventType;
pub use schedule::{Next, RetrySchedule};
pub use secret::{KeptSecret, SigningSecret, rotated, signing};
pub use service::{
    EndpointPatch, HostResolver, NewEndpoint, Rotation, SecretSource, WebhookRepository,
    WebhookService, WebhookSettings,
};
pub use url::{EndpointPolicy, WebhookUrl};
