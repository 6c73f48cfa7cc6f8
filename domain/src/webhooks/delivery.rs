//! Deliveries: one event to one endpoint, from the outbox row written with the change that
//! caused it to the attempt that delivered it or the last that failed.
//!
//! A delivery's `webhook-id` ([`Delivery::message_id`]) is fixed when it is written and sent
//! unchanged by every attempt, a resend, and the takeover of a delivery whose instance died, so
//! that a receiver can tell a redelivery from a new event.

use super::{
    attempt::{Answer, Verdict, judge},
    endpoint::Endpoint,
    event::EventType,
    schedule::RetrySchedule,
    secret::KeptSecret,
};
use crate::{
    Result,
    ids::{AccountId, DeliveryId, NotificationId, TransactionId, WebhookId},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What an event is about: the entity its payload's `data` shows, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A ledger row of an account.
    Transaction(AccountId, TransactionId),
    /// A notification.
    Notification(NotificationId),
    /// The endpoint itself (the test event).
    Endpoint(WebhookId),
}

/// An event: what happened, to what, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Its type.
    pub kind: EventType,
    /// What it is about.
    pub subject: Subject,
    /// When it happened: the payload's `timestamp`.
    pub occurred_at: DateTime<Utc>,
}

/// The endpoints among `endpoints` (one owner's) that receive `kind` now.
pub fn recipients(endpoints: &[Endpoint], kind: EventType) -> Vec<WebhookId> {
    endpoints
        .iter()
        .filter(|endpoint| endpoint.receives(kind))
        .map(|endpoint| endpoint.id)
        .collect()
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (the first, or a retry).
    Pending,
    /// An attempt is under way.
    Sending,
    /// An attempt got a 2xx.
    Delivered,
    /// Given up on: the last attempt failed, or the endpoint answered `410 Gone`.
    Failed,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Sending, Self::Delivered, Self::Failed];

    /// Its name on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

/// A stored delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id.
    pub id: DeliveryId,
    /// The endpoint it goes to.
    pub endpoint: WebhookId,
    /// Its `webhook-id`, the same on every attempt.
    pub message_id: String,
    /// The event it carries.
    pub event: Event,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, while it is pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The status code of the last attempt's answer, if it got one.
    pub last_status_code: Option<u16>,
    /// What went wrong with the last attempt, if it did not deliver.
    pub last_error: Option<String>,
    /// How long the last attempt took, in milliseconds.
    pub last_latency_ms: Option<u64>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When an attempt delivered it.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A claimed delivery, with what its attempt needs: the endpoint as it is now and its secrets.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The delivery, `sending`, its attempt counted.
    pub delivery: Delivery,
    /// Its endpoint.
    pub endpoint: Endpoint,
    /// The endpoint's kept secrets.
    pub secrets: Vec<KeptSecret>,
}

/// What an attempt leaves behind: the delivery after it, and why its endpoint is disabled,
/// when it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    /// The delivery after the attempt.
    pub delivery: Delivery,
    /// Why the endpoint is now disabled (`410 Gone`, or every attempt of the schedule failed).
    pub disable: Option<String>,
}

/// What attempt `delivery.attempts` ending with `answer` after `latency` at `now` makes of the
/// delivery, under `schedule` (`jitter` in `[0, 1)` spreads a retry's wait).
pub fn attempted(
    delivery: Delivery,
    answer: &Answer,
    latency: Duration,
    now: DateTime<Utc>,
    schedule: &RetrySchedule,
    jitter: f64,
) -> Attempted {
    let (status_code, error) = match answer {
        Answer::Status { code, .. } => (
            Some(*code),
            (!answer.delivered()).then(|| answer.describe()),
        ),
        Answer::NoAnswer(_) => (None, Some(answer.describe())),
    };
    let mut delivery = Delivery {
        last_status_code: status_code,
        last_error: error,
        last_latency_ms: Some(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX)),
        next_attempt_at: None,
        ..delivery
    };
    let mut disable = None;
    match judge(answer, delivery.attempts, schedule, jitter) {
        Verdict::Delivered => {
            delivery.status = DeliveryStatus::Delivered;
            delivery.delivered_at = Some(now);
        }
        Verdict::RetryIn(wait) => {
            delivery.status = DeliveryStatus::Pending;
            let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
            delivery.next_attempt_at = Some(now.checked_add_signed(wait).unwrap_or(now));
        }
        Verdict::Gone => {
            delivery.status = DeliveryStatus::Failed;
            disable = Some("the endpoint answered 410 Gone".to_owned());
        }
        Verdict::Failed { reason } => {
            delivery.status = DeliveryStatus::Failed;
            disable = Some(reason);
        }
    }
    // The test event checks an endpoint; its failure says so and changes nothing else.
    if delivery.event.kind == EventType::Test {
        disable = None;
    }
    Attempted { delivery, disable }
}

/// A claimed delivery that is not attempted (`why`: its endpoint is disabled, or what its
/// event is about no longer exists): it has failed, and its endpoint stays as it is.
pub fn undeliverable(delivery: Delivery, why: &str) -> Attempted {
    Attempted {
        delivery: Delivery {
            status: DeliveryStatus::Failed,
            next_attempt_at: None,
            last_status_code: None,
            last_error: Some(why.to_owned()),
            last_latency_ms: None,
            ..delivery
        },
        disable: None,
    }
}

/// Where deliveries are kept. Storage writes a delivery for each of [`recipients`] in the
/// transaction of the change that caused its event.
#[async_trait]
pub trait DeliveryRepository: Send + Sync {
    /// Writes a delivery of `event` to `endpoint`, due now.
    async fn enqueue(&self, endpoint: WebhookId, event: Event) -> Result<Delivery>;

    /// Up to `limit` of the endpoint's deliveries with ids below `before`, newest first.
    async fn list(
        &self,
        endpoint: WebhookId,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<Vec<Delivery>>;

    /// The endpoint's delivery `id`, if it is one of its.
    async fn get(&self, endpoint: WebhookId, id: DeliveryId) -> Result<Option<Delivery>>;

    /// Makes the endpoint's delivery `id` due now, with a schedule of its own, unless an
    /// attempt of it is under way; the delivery after, or `None` when there is no such one.
    async fn resend(
        &self,
        endpoint: WebhookId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>>;

    /// Claims up to `limit` due deliveries (pending and due by `now`, or sending under a claim
    /// whose instance stopped beating) for this instance, atomically against every other;
    /// each becomes `sending` with one more attempt counted.
    async fn claim(&self, limit: usize, now: DateTime<Utc>) -> Result<Vec<Claimed>>;

    /// Writes what an attempt left, if this instance still holds the delivery's claim; with
    /// `disable`, the endpoint is disabled for that reason in the same transaction.
    async fn record(&self, attempted: &Attempted) -> Result<()>;

    /// Tells every instance that this one is alive (its claims stay its own).
    async fn heartbeat(&self, now: DateTime<Utc>) -> Result<()>;
}

/// A new `webhook-id`: `msg_` and a random 128-bit value, as Standard Webhooks' examples
/// write them.
pub fn new_message_id(random: u128) -> String {
    format!("msg_{random:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        users::UserId,
        webhooks::{Description, EventSet, WebhookUrl},
    };

    fn endpoint(id: i64, events: &[&str], enabled: bool) -> Endpoint {
        let at = DateTime::from_timestamp(0, 0).unwrap();
        Endpoint {
            id: WebhookId::parse(id).unwrap(),
            owner: UserId::parse(1).unwrap(),
            url: WebhookUrl::parse("https://hooks.example.com/").unwrap(),
            events: EventSet::parse(events.iter().copied()).unwrap(),
            description: Description::parse("").unwrap(),
            enabled,
            disabled_reason: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn an_event_goes_to_each_enabled_endpoint_subscribed_to_it() {
        let endpoints = [
            endpoint(1, &["account.transaction.booked"], true),
            endpoint(2, &["notification.sent"], true),
            endpoint(3, &["account.transaction.booked"], false),
            endpoint(
                4,
                &["notification.sent", "account.transaction.booked"],
                true,
            ),
        ];
        let ids = |kind| -> Vec<i64> {
            recipients(&endpoints, kind)
                .into_iter()
                .map(WebhookId::get)
                .collect()
        };
        assert_eq!(ids(EventType::TransactionBooked), [1, 4]);
        assert_eq!(ids(EventType::NotificationSent), [2, 4]);
        assert_eq!(ids(EventType::NotificationFailed), Vec::<i64>::new());
    }

    fn sending(kind: EventType, attempts: u32) -> Delivery {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Delivery {
            id: DeliveryId::parse(1).unwrap(),
            endpoint: WebhookId::parse(1).unwrap(),
            message_id: new_message_id(1),
            event: Event {
                kind,
                subject: Subject::Endpoint(WebhookId::parse(1).unwrap()),
                occurred_at: at,
            },
            status: DeliveryStatus::Sending,
            attempts,
            next_attempt_at: None,
            last_status_code: None,
            last_error: None,
            last_latency_ms: None,
            created_at: at,
            delivered_at: None,
        }
    }

    #[test]
    fn an_attempts_answer_delivers_retries_or_fails_and_disables() {
        let now = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        let schedule = RetrySchedule::standard();
        let status = |code| Answer::Status {
            code,
            retry_after: None,
        };
        let after = |kind, attempts, answer: &Answer| {
            let ms = Duration::from_millis(42);
            attempted(sending(kind, attempts), answer, ms, now, &schedule, 0.5)
        };
        let booked = EventType::TransactionBooked;
        let ok = after(booked, 1, &status(204));
        assert_eq!(ok.delivery.status, DeliveryStatus::Delivered);
        assert_eq!(ok.delivery.delivered_at, Some(now));
        assert_eq!(ok.delivery.last_error, None);
        assert_eq!(ok.delivery.last_latency_ms, Some(42));
        assert_eq!(ok.disable, None);
        let retry = after(booked, 1, &status(503));
        assert_eq!(retry.delivery.status, DeliveryStatus::Pending);
        assert_eq!(
            retry.delivery.next_attempt_at,
            Some(now + chrono::Duration::seconds(5))
        );
        assert_eq!(retry.delivery.last_status_code, Some(503));
        assert_eq!(retry.disable, None);
        let gone = after(booked, 1, &status(410));
        assert_eq!(gone.delivery.status, DeliveryStatus::Failed);
        assert!(gone.disable.unwrap().contains("410"));
        let last = after(
            booked,
            schedule.attempts(),
            &Answer::NoAnswer("refused".into()),
        );
        assert_eq!(last.delivery.status, DeliveryStatus::Failed);
        assert_eq!(last.delivery.last_status_code, None);
        assert!(last.disable.unwrap().contains("every attempt"));
        let test = after(EventType::Test, 1, &status(410));
        assert_eq!(test.delivery.status, DeliveryStatus::Failed);
        assert_eq!(test.disable, None, "a test event disables nothing");
    }

    #[test]
    fn a_message_id_is_msg_and_32_hex_digits() {
        assert_eq!(new_message_id(255), format!("msg_{}ff", "0".repeat(30)));
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
    }
}
