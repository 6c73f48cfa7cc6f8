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
//!   failing has failed for good.
//! - [`EventType`]: the events an endpoint can subscribe to.

pub mod address;
mod event;
mod schedule;
mod secret;
pub mod signature;
mod url;

pub use event::EventType;
pub use schedule::{Next, RetrySchedule};
pub use secret::SigningSecret;
pub use url::{EndpointPolicy, WebhookUrl};
