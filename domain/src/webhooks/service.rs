//! The endpoints as a resource: their owner makes, reads, changes and deletes them, and
//! rotates their signing secrets; an admin reaches every one.
//!
//! Rules kept here: an endpoint's URL is admitted by the [`EndpointPolicy`] and its host, when
//! it resolves now, resolves to no forbidden address (one that does not resolve yet is taken:
//! the sender checks again at every connection); a new endpoint gets one secret, shown once; a
//! rotation lets every older live secret sign for [`WebhookSettings::secret_overlap`] more.

use super::{
    delivery::{Delivery, DeliveryRepository, Event, Subject},
    endpoint::{Description, Endpoint, EventSet},
    event::EventType,
    secret::{KeptSecret, SigningSecret},
    url::{EndpointPolicy, WebhookUrl},
};
use crate::{
    Error, Page, PageRequest, Result,
    ids::{DeliveryId, UserId, WebhookId},
    now,
    principal::{Principal, Reach},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::{net::IpAddr, sync::Arc, time::Duration};

/// An endpoint as its owner asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    /// Where events are sent.
    pub url: WebhookUrl,
    /// Which.
    pub events: EventSet,
    /// What it is for.
    pub description: Description,
    /// Whether deliveries are made from the start.
    pub enabled: bool,
}

/// A change to an endpoint: each `Some` member replaces the endpoint's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPatch {
    /// A new URL.
    pub url: Option<WebhookUrl>,
    /// New event types.
    pub events: Option<EventSet>,
    /// A new description.
    pub description: Option<Description>,
    /// Enabled or disabled by its owner.
    pub enabled: Option<bool>,
}

/// A rotation's outcome: the new secret, shown once, and when the older ones stop signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The new secret.
    pub secret: SigningSecret,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When the last of the older secrets stops signing; `None` when none still signs.
    pub previous_expire_at: Option<DateTime<Utc>>,
}

/// Where endpoints and their secrets are stored.
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Stores a new endpoint of `owner` with its first secret.
    async fn create(
        &self,
        owner: UserId,
        new: &NewEndpoint,
        secret: &KeptSecret,
    ) -> Result<Endpoint>;

    /// The endpoint with `id`, if any.
    async fn get(&self, id: WebhookId) -> Result<Option<Endpoint>>;

    /// Up to `limit` endpoints within `reach` whose id is above `after`, by ascending id.
    async fn list(
        &self,
        reach: Reach,
        after: Option<WebhookId>,
        limit: usize,
    ) -> Result<Vec<Endpoint>>;

    /// Writes `endpoint` over the stored one with its id; `false` when there is none.
    async fn update(&self, endpoint: &Endpoint) -> Result<bool>;

    /// Deletes the endpoint with `id` and its secrets; `false` when there is none.
    async fn delete(&self, id: WebhookId) -> Result<bool>;

    /// The endpoint's kept secrets.
    async fn secrets(&self, id: WebhookId) -> Result<Vec<KeptSecret>>;

    /// Replaces the endpoint's secrets by [`super::rotated`] of them, in one step against
    /// concurrent rotations; the secrets kept after, or `None` when there is no such endpoint.
    async fn rotate(
        &self,
        id: WebhookId,
        new: SigningSecret,
        now: DateTime<Utc>,
        overlap: Duration,
    ) -> Result<Option<Vec<KeptSecret>>>;
}

/// Resolves host names, as the sender will when it connects.
#[async_trait]
pub trait HostResolver: Send + Sync {
    /// The addresses `host` resolves to now, or why it does not resolve.
    async fn resolve(&self, host: &str, port: u16) -> std::result::Result<Vec<IpAddr>, String>;
}

/// Makes new signing secrets.
pub trait SecretSource: Send + Sync {
    /// A new random secret.
    fn generate(&self) -> SigningSecret;
}

/// The settings endpoints are kept under.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Which URLs may be called.
    pub policy: EndpointPolicy,
    /// How long a replaced secret still signs.
    pub secret_overlap: Duration,
}

/// The endpoints' operations.
#[derive(Clone)]
pub struct WebhookService {
    repo: Arc<dyn WebhookRepository>,
    deliveries: Arc<dyn DeliveryRepository>,
    resolver: Arc<dyn HostResolver>,
    secrets: Arc<dyn SecretSource>,
    settings: WebhookSettings,
}

impl WebhookService {
    /// A service over `repo` and its `deliveries`.
    pub fn new(
        repo: Arc<dyn WebhookRepository>,
        deliveries: Arc<dyn DeliveryRepository>,
        resolver: Arc<dyn HostResolver>,
        secrets: Arc<dyn SecretSource>,
        settings: WebhookSettings,
    ) -> Self {
        Self {
            repo,
            deliveries,
            resolver,
            secrets,
            settings,
        }
    }

    /// Which URLs may be called.
    pub fn policy(&self) -> &EndpointPolicy {
        &self.settings.policy
    }

    /// Makes an endpoint of the caller's, and its first secret, which only this answer shows.
    pub async fn create(
        &self,
        actor: &Principal,
        new: NewEndpoint,
    ) -> Result<(Endpoint, SigningSecret)> {
        self.admit(&new.url).await?;
        let secret = self.secrets.generate();
        let kept = KeptSecret {
            secret: secret.clone(),
            created_at: now(),
            expires_at: None,
        };
        let endpoint = self.repo.create(actor.user_id, &new, &kept).await?;
        Ok((endpoint, secret))
    }

    /// A page of the endpoints within the caller's reach, by ascending id.
    pub async fn list(
        &self,
        actor: &Principal,
        page: PageRequest<WebhookId>,
    ) -> Result<Page<Endpoint, WebhookId>> {
        let fetched = self
            .repo
            .list(actor.reach(), page.after, page.limit.get() + 1)
            .await?;
        Ok(Page::from_overfetch(fetched, page.limit, |e| e.id))
    }

    /// The endpoint `id`, when it is within the caller's reach.
    pub async fn get(&self, actor: &Principal, id: WebhookId) -> Result<Endpoint> {
        let endpoint = self.repo.get(id).await?.ok_or(Error::WebhookNotFound(id))?;
        actor.require_self_or_admin(endpoint.owner)?;
        Ok(endpoint)
    }

    /// Applies `patch` to the endpoint `id`; enabling it again clears why it was disabled.
    pub async fn patch(
        &self,
        actor: &Principal,
        id: WebhookId,
        patch: EndpointPatch,
    ) -> Result<Endpoint> {
        let mut endpoint = self.get(actor, id).await?;
        if let Some(url) = patch.url {
            self.admit(&url).await?;
            endpoint.url = url;
        }
        if let Some(events) = patch.events {
            endpoint.events = events;
        }
        if let Some(description) = patch.description {
            endpoint.description = description;
        }
        if let Some(enabled) = patch.enabled {
            endpoint = endpoint.switched(enabled);
        }
        endpoint.updated_at = now();
        if self.repo.update(&endpoint).await? {
            Ok(endpoint)
        } else {
            Err(Error::WebhookNotFound(id))
        }
    }

    /// Deletes the endpoint `id`; no delivery to it is made after.
    pub async fn delete(&self, actor: &Principal, id: WebhookId) -> Result<()> {
        self.get(actor, id).await?;
        if self.repo.delete(id).await? {
            Ok(())
        } else {
            Err(Error::WebhookNotFound(id))
        }
    }

    /// Gives the endpoint `id` a new secret; the older ones sign beside it until they expire.
    pub async fn rotate(&self, actor: &Principal, id: WebhookId) -> Result<Rotation> {
        self.get(actor, id).await?;
        let secret = self.secrets.generate();
        let at = now();
        let kept = self
            .repo
            .rotate(id, secret.clone(), at, self.settings.secret_overlap)
            .await?
            .ok_or(Error::WebhookNotFound(id))?;
        let previous_expire_at = kept
            .iter()
            .filter(|k| k.secret != secret)
            .filter_map(|k| k.expires_at)
            .max();
        Ok(Rotation {
            secret,
            created_at: at,
            previous_expire_at,
        })
    }

    /// A page of the endpoint's deliveries, newest first (`page.after` is the id the page
    /// continues below).
    pub async fn deliveries(
        &self,
        actor: &Principal,
        id: WebhookId,
        page: PageRequest<DeliveryId>,
    ) -> Result<Page<Delivery, DeliveryId>> {
        self.get(actor, id).await?;
        let fetched = self
            .deliveries
            .list(id, page.after, page.limit.get() + 1)
            .await?;
        Ok(Page::from_overfetch(fetched, page.limit, |d| d.id))
    }

    /// The endpoint's delivery `delivery`.
    pub async fn delivery(
        &self,
        actor: &Principal,
        id: WebhookId,
        delivery: DeliveryId,
    ) -> Result<Delivery> {
        self.get(actor, id).await?;
        self.deliveries
            .get(id, delivery)
            .await?
            .ok_or(Error::DeliveryNotFound(delivery))
    }

    /// Sends the endpoint's delivery `delivery` again, now, with the same `webhook-id` and a
    /// schedule of its own; refused while the endpoint is disabled or an attempt is under way.
    pub async fn resend(
        &self,
        actor: &Principal,
        id: WebhookId,
        delivery: DeliveryId,
    ) -> Result<Delivery> {
        let endpoint = self.get(actor, id).await?;
        if !endpoint.enabled {
            return Err(Error::WebhookDisabled(id));
        }
        match self.deliveries.resend(id, delivery, now()).await? {
            Some(resent) => Ok(resent),
            None => match self.deliveries.get(id, delivery).await? {
                Some(_) => Err(Error::Conflict(
                    "An attempt of this delivery is under way; resend it once it has ended.",
                )),
                None => Err(Error::DeliveryNotFound(delivery)),
            },
        }
    }

    /// Sends the endpoint a `webhook.test` event, now; refused while it is disabled.
    pub async fn test(&self, actor: &Principal, id: WebhookId) -> Result<Delivery> {
        let endpoint = self.get(actor, id).await?;
        if !endpoint.enabled {
            return Err(Error::WebhookDisabled(id));
        }
        let event = Event {
            kind: EventType::Test,
            subject: Subject::Endpoint(id),
            occurred_at: now(),
        };
        self.deliveries.enqueue(id, event).await
    }

    /// Refuses `url` when the policy does, or when its host resolves now to an address the
    /// policy refuses.
    async fn admit(&self, url: &WebhookUrl) -> Result<()> {
        let policy = &self.settings.policy;
        policy.admit(url).map_err(Error::WebhookUrlRefused)?;
        let host = url.host().trim_matches(['[', ']']);
        // A name that does not resolve yet may later: every connection checks it again.
        if let Ok(addresses) = self.resolver.resolve(host, url.port()).await
            && let Some(refusal) = policy.refusal(url.host(), addresses)
        {
            return Err(Error::WebhookUrlRefused(refusal));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
