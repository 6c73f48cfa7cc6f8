use super::*;
use crate::{
    Limit,
    testing::ready,
    webhooks::{Attempted, Claimed, DeliveryStatus, rotated},
};
use std::{collections::BTreeMap, sync::Mutex};

/// Endpoints and secrets kept in memory.
#[derive(Default)]
struct Memory {
    endpoints: Mutex<BTreeMap<i64, (Endpoint, Vec<KeptSecret>)>>,
}

#[async_trait]
impl WebhookRepository for Memory {
    async fn create(
        &self,
        owner: UserId,
        new: &NewEndpoint,
        secret: &KeptSecret,
    ) -> Result<Endpoint> {
        let mut all = self.endpoints.lock().unwrap();
        let id = WebhookId::parse(all.len() as i64 + 1).unwrap();
        let endpoint = Endpoint {
            id,
            owner,
            url: new.url.clone(),
            events: new.events.clone(),
            description: new.description.clone(),
            enabled: new.enabled,
            disabled_reason: None,
            created_at: secret.created_at,
            updated_at: secret.created_at,
        };
        all.insert(id.get(), (endpoint.clone(), vec![secret.clone()]));
        Ok(endpoint)
    }

    async fn get(&self, id: WebhookId) -> Result<Option<Endpoint>> {
        let all = self.endpoints.lock().unwrap();
        Ok(all.get(&id.get()).map(|(e, _)| e.clone()))
    }

    async fn list(
        &self,
        reach: Reach,
        after: Option<WebhookId>,
        limit: usize,
    ) -> Result<Vec<Endpoint>> {
        let all = self.endpoints.lock().unwrap();
        Ok(all
            .values()
            .map(|(e, _)| e.clone())
            .filter(|e| reach.allows(e.owner) && after.is_none_or(|a| e.id > a))
            .take(limit)
            .collect())
    }

    async fn update(&self, endpoint: &Endpoint) -> Result<bool> {
        let mut all = self.endpoints.lock().unwrap();
        Ok(all
            .get_mut(&endpoint.id.get())
            .map(|(e, _)| *e = endpoint.clone())
            .is_some())
    }

    async fn delete(&self, id: WebhookId) -> Result<bool> {
        Ok(self.endpoints.lock().unwrap().remove(&id.get()).is_some())
    }

    async fn secrets(&self, id: WebhookId) -> Result<Vec<KeptSecret>> {
        let all = self.endpoints.lock().unwrap();
        Ok(all
            .get(&id.get())
            .map(|(_, s)| s.clone())
            .unwrap_or_default())
    }

    async fn rotate(
        &self,
        id: WebhookId,
        new: SigningSecret,
        now: DateTime<Utc>,
        overlap: Duration,
    ) -> Result<Option<Vec<KeptSecret>>> {
        let mut all = self.endpoints.lock().unwrap();
        Ok(all.get_mut(&id.get()).map(|(_, kept)| {
            *kept = rotated(std::mem::take(kept), new, now, overlap);
            kept.clone()
        }))
    }
}

/// Deliveries kept in memory; claims and attempts are the worker's, not tested here.
#[derive(Default)]
struct Outbox(Mutex<Vec<Delivery>>);

#[async_trait]
impl DeliveryRepository for Outbox {
    async fn enqueue(&self, endpoint: WebhookId, event: Event) -> Result<Delivery> {
        let mut all = self.0.lock().unwrap();
        let delivery = Delivery {
            id: DeliveryId::parse(all.len() as i64 + 1).unwrap(),
            endpoint,
            message_id: crate::webhooks::new_message_id(all.len() as u128),
            event,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(event.occurred_at),
            last_status_code: None,
            last_error: None,
            last_latency_ms: None,
            created_at: event.occurred_at,
            delivered_at: None,
        };
        all.push(delivery.clone());
        Ok(delivery)
    }

    async fn list(
        &self,
        endpoint: WebhookId,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        let all = self.0.lock().unwrap();
        Ok(all
            .iter()
            .rev()
            .filter(|d| d.endpoint == endpoint && before.is_none_or(|b| d.id < b))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn get(&self, endpoint: WebhookId, id: DeliveryId) -> Result<Option<Delivery>> {
        let all = self.0.lock().unwrap();
        Ok(all
            .iter()
            .find(|d| d.endpoint == endpoint && d.id == id)
            .cloned())
    }

    async fn resend(
        &self,
        endpoint: WebhookId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>> {
        let mut all = self.0.lock().unwrap();
        let found = all
            .iter_mut()
            .find(|d| d.endpoint == endpoint && d.id == id && d.status != DeliveryStatus::Sending);
        Ok(found.map(|d| {
            d.status = DeliveryStatus::Pending;
            d.attempts = 0;
            d.next_attempt_at = Some(now);
            d.clone()
        }))
    }

    async fn claim(&self, _limit: usize, _now: DateTime<Utc>) -> Result<Vec<Claimed>> {
        Ok(Vec::new())
    }

    async fn record(&self, attempted: &Attempted) -> Result<()> {
        let mut all = self.0.lock().unwrap();
        for d in all.iter_mut().filter(|d| d.id == attempted.delivery.id) {
            *d = attempted.delivery.clone();
        }
        Ok(())
    }

    async fn heartbeat(&self, _now: DateTime<Utc>) -> Result<()> {
        Ok(())
    }
}

/// Resolves every name to the addresses it was given.
struct Names(Vec<(&'static str, IpAddr)>);

#[async_trait]
impl HostResolver for Names {
    async fn resolve(&self, host: &str, _port: u16) -> std::result::Result<Vec<IpAddr>, String> {
        let found: Vec<IpAddr> = self
            .0
            .iter()
            .filter(|(name, _)| *name == host)
            .map(|(_, ip)| *ip)
            .collect();
        if found.is_empty() {
            Err(format!("{host} is unknown"))
        } else {
            Ok(found)
        }
    }
}

/// Secrets of one repeated byte, counting up.
#[derive(Default)]
struct Counting(Mutex<u8>);

impl SecretSource for Counting {
    fn generate(&self) -> SigningSecret {
        let mut n = self.0.lock().unwrap();
        *n += 1;
        SigningSecret::from_bytes(vec![*n; 32]).unwrap()
    }
}

fn service() -> WebhookService {
    let names = Names(vec![
        ("hooks.example.com", "93.184.216.34".parse().unwrap()),
        ("sneaky.example.com", "93.184.216.35".parse().unwrap()),
        ("sneaky.example.com", "10.0.0.8".parse().unwrap()),
    ]);
    WebhookService::new(
        Arc::new(Memory::default()),
        Arc::new(Outbox::default()),
        Arc::new(names),
        Arc::new(Counting::default()),
        WebhookSettings {
            policy: EndpointPolicy::allowing(["127.0.0.1"]),
            secret_overlap: Duration::from_secs(3600),
        },
    )
}

fn user(id: i64, is_admin: bool) -> Principal {
    Principal {
        user_id: UserId::parse(id).unwrap(),
        is_admin,
    }
}

fn new(url: &str) -> NewEndpoint {
    NewEndpoint {
        url: WebhookUrl::parse(url).unwrap(),
        events: EventSet::parse(["notification.sent"]).unwrap(),
        description: Description::parse("").unwrap(),
        enabled: true,
    }
}

fn refusal(err: Error) -> &'static str {
    match err {
        Error::WebhookUrlRefused(why) => why.code,
        other => panic!("not a URL refusal: {other:?}"),
    }
}

#[test]
fn a_new_endpoint_gets_one_secret_shown_once_and_belongs_to_its_maker() {
    let service = service();
    let ann = user(1, false);
    let (endpoint, secret) =
        ready(service.create(&ann, new("https://hooks.example.com/in"))).unwrap();
    assert_eq!(endpoint.owner, ann.user_id);
    let kept = ready(service.repo.secrets(endpoint.id)).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].secret, secret);
    assert_eq!(kept[0].expires_at, None);
}

#[test]
fn a_host_resolving_to_a_forbidden_address_is_refused_and_an_unknown_one_taken() {
    let service = service();
    let ann = user(1, false);
    let sneaky = ready(service.create(&ann, new("https://sneaky.example.com/in")));
    assert_eq!(refusal(sneaky.unwrap_err()), "webhook_url_address");
    let literal = ready(service.create(&ann, new("https://169.254.169.254/")));
    assert_eq!(refusal(literal.unwrap_err()), "webhook_url_address");
    let plain = ready(service.create(&ann, new("http://hooks.example.com/")));
    assert_eq!(refusal(plain.unwrap_err()), "webhook_url_scheme");
    assert!(ready(service.create(&ann, new("http://127.0.0.1:9/in"))).is_ok());
    assert!(ready(service.create(&ann, new("https://not-yet.example.com/"))).is_ok());
    let page = PageRequest {
        after: None,
        limit: Limit::DEFAULT,
    };
    assert_eq!(ready(service.list(&ann, page)).unwrap().items.len(), 2);
}

#[test]
fn a_patch_to_a_forbidden_url_changes_nothing() {
    let service = service();
    let ann = user(1, false);
    let (endpoint, _) = ready(service.create(&ann, new("https://hooks.example.com/in"))).unwrap();
    let patch = EndpointPatch {
        url: Some(WebhookUrl::parse("https://sneaky.example.com/").unwrap()),
        enabled: Some(false),
        ..EndpointPatch::default()
    };
    let refused = ready(service.patch(&ann, endpoint.id, patch));
    assert_eq!(refusal(refused.unwrap_err()), "webhook_url_address");
    assert_eq!(ready(service.get(&ann, endpoint.id)).unwrap(), endpoint);
}

#[test]
fn owners_reach_their_own_endpoints_and_admins_every_one() {
    let service = service();
    let (ann, bob, admin) = (user(1, false), user(2, false), user(3, true));
    let (hook, _) = ready(service.create(&ann, new("https://hooks.example.com/a"))).unwrap();
    ready(service.create(&bob, new("https://hooks.example.com/b"))).unwrap();
    assert!(matches!(
        ready(service.get(&bob, hook.id)),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        ready(service.delete(&bob, hook.id)),
        Err(Error::Forbidden(_))
    ));
    let limit = Limit::parse(1).unwrap();
    let first = ready(service.list(&admin, PageRequest { after: None, limit })).unwrap();
    assert_eq!(first.items.len(), 1);
    let after = first.next_after;
    let second = ready(service.list(&admin, PageRequest { after, limit })).unwrap();
    assert_eq!((second.items.len(), second.next_after), (1, None));
    let bobs = ready(service.list(&bob, PageRequest { after: None, limit })).unwrap();
    assert_eq!(bobs.items[0].owner, bob.user_id);
    ready(service.delete(&admin, hook.id)).unwrap();
    assert!(matches!(
        ready(service.get(&ann, hook.id)),
        Err(Error::WebhookNotFound(_))
    ));
}

#[test]
fn a_rotation_keeps_the_old_secret_signing_for_the_overlap() {
    let service = service();
    let ann = user(1, false);
    let (hook, first) = ready(service.create(&ann, new("https://hooks.example.com/in"))).unwrap();
    let rotation = ready(service.rotate(&ann, hook.id)).unwrap();
    assert_ne!(rotation.secret, first);
    let expiry = rotation.previous_expire_at.unwrap();
    assert_eq!(expiry - rotation.created_at, chrono::Duration::hours(1));
    let kept = ready(service.repo.secrets(hook.id)).unwrap();
    let signing = crate::webhooks::signing(&kept, rotation.created_at);
    assert_eq!(signing, [rotation.secret.clone(), first]);
    let later = expiry + chrono::Duration::seconds(1);
    assert_eq!(crate::webhooks::signing(&kept, later), [rotation.secret]);
}

#[test]
fn a_test_event_and_a_resend_go_to_an_enabled_endpoint_only() {
    let service = service();
    let ann = user(1, false);
    let (hook, _) = ready(service.create(&ann, new("https://hooks.example.com/in"))).unwrap();
    let test = ready(service.test(&ann, hook.id)).unwrap();
    assert_eq!(test.event.kind, EventType::Test);
    assert_eq!(test.event.subject, Subject::Endpoint(hook.id));
    let failed = crate::webhooks::undeliverable(test.clone(), "no answer");
    ready(service.deliveries.record(&failed)).unwrap();
    let resent = ready(service.resend(&ann, hook.id, test.id)).unwrap();
    assert_eq!(resent.status, DeliveryStatus::Pending);
    assert_eq!(resent.message_id, test.message_id, "the same webhook-id");
    let page = PageRequest {
        after: None,
        limit: Limit::DEFAULT,
    };
    let listed = ready(service.deliveries(&ann, hook.id, page)).unwrap();
    assert_eq!(listed.items, [resent]);
    let off = EndpointPatch {
        enabled: Some(false),
        ..EndpointPatch::default()
    };
    ready(service.patch(&ann, hook.id, off)).unwrap();
    assert!(matches!(
        ready(service.test(&ann, hook.id)),
        Err(Error::WebhookDisabled(_))
    ));
    assert!(matches!(
        ready(service.resend(&ann, hook.id, test.id)),
        Err(Error::WebhookDisabled(_))
    ));
    let bob = user(2, false);
    assert!(matches!(
        ready(service.deliveries(&bob, hook.id, page)),
        Err(Error::Forbidden(_))
    ));
    let missing = DeliveryId::parse(99).unwrap();
    assert!(matches!(
        ready(service.delivery(&ann, hook.id, missing)),
        Err(Error::DeliveryNotFound(_))
    ));
}
