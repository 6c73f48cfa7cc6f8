//! A webhook endpoint: where its owner's events are sent, and which.

use super::{event::EventType, url::WebhookUrl};
use crate::{Violation, ids::WebhookId, users::UserId};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

bounded_text!(
    /// What an endpoint is for, in its owner's words: at most 500 characters.
    Description,
    "description",
    0..=500
);

/// The event types an endpoint subscribes to: at least one, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSet(BTreeSet<EventType>);

impl EventSet {
    /// Parses the names of `types`; a repeated name counts once.
    pub fn parse<'a>(types: impl IntoIterator<Item = &'a str>) -> Result<Self, Violation> {
        let set = types
            .into_iter()
            .map(EventType::parse)
            .collect::<Result<BTreeSet<_>, _>>()?;
        if set.is_empty() {
            return Err(Violation::new(
                "webhook_events_empty",
                "must name at least one event type",
            ));
        }
        Ok(Self(set))
    }

    /// Whether `kind` is among them.
    pub fn contains(&self, kind: EventType) -> bool {
        self.0.contains(&kind)
    }

    /// The types, in their order.
    pub fn iter(&self) -> impl Iterator<Item = EventType> + '_ {
        self.0.iter().copied()
    }
}

/// A stored endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its id.
    pub id: WebhookId,
    /// The user whose events it receives.
    pub owner: UserId,
    /// Where they are sent.
    pub url: WebhookUrl,
    /// Which are sent.
    pub events: EventSet,
    /// What it is for.
    pub description: Description,
    /// Whether deliveries are made; `false` once disabled by its owner or by its failures.
    pub enabled: bool,
    /// Why the service disabled it (`410 Gone`, or a whole schedule of failures), for its
    /// owner; cleared when it is enabled again.
    pub disabled_reason: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// Whether an event of `kind` is to be sent to it now: it is enabled and subscribes to it
    /// (a test event is sent whenever it is asked for).
    pub fn receives(&self, kind: EventType) -> bool {
        self.enabled && (kind == EventType::Test || self.events.contains(kind))
    }

    /// It, disabled by the service for `reason`.
    #[must_use]
    pub fn disabled_for(self, reason: impl Into<String>) -> Self {
        Self {
            enabled: false,
            disabled_reason: Some(reason.into()),
            ..self
        }
    }

    /// It, enabled or disabled by its owner: enabling clears the service's reason.
    #[must_use]
    pub fn switched(self, enabled: bool) -> Self {
        Self {
            enabled,
            disabled_reason: if enabled { None } else { self.disabled_reason },
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(events: &[&str]) -> Endpoint {
        Endpoint {
            id: WebhookId::parse(1).unwrap(),
            owner: UserId::parse(7).unwrap(),
            url: WebhookUrl::parse("https://hooks.example.com/in").unwrap(),
            events: EventSet::parse(events.iter().copied()).unwrap(),
            description: Description::parse("").unwrap(),
            enabled: true,
            disabled_reason: None,
            created_at: DateTime::from_timestamp(0, 0).unwrap(),
            updated_at: DateTime::from_timestamp(0, 0).unwrap(),
        }
    }

    #[test]
    fn an_event_set_names_known_types_at_least_one_each_once() {
        let set = EventSet::parse(["notification.sent", "notification.sent"]).unwrap();
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [EventType::NotificationSent]
        );
        let empty: [&str; 0] = [];
        assert_eq!(
            EventSet::parse(empty).unwrap_err().code,
            "webhook_events_empty"
        );
        assert_eq!(
            EventSet::parse(["notification.sent", "user.created"])
                .unwrap_err()
                .code,
            "event_type_unknown"
        );
    }

    #[test]
    fn an_enabled_endpoint_receives_what_it_subscribes_to_and_tests() {
        let hook = endpoint(&["account.transaction.booked"]);
        assert!(hook.receives(EventType::TransactionBooked));
        assert!(hook.receives(EventType::Test));
        assert!(!hook.receives(EventType::NotificationSent));
        let off = hook.disabled_for("answered 410 Gone");
        assert!(!off.receives(EventType::TransactionBooked));
        assert!(!off.receives(EventType::Test));
        assert_eq!(off.disabled_reason.as_deref(), Some("answered 410 Gone"));
    }

    #[test]
    fn enabling_again_clears_the_reason_and_disabling_by_hand_keeps_it() {
        let off = endpoint(&["notification.failed"]).disabled_for("every attempt failed");
        let kept = off.clone().switched(false);
        assert_eq!(
            kept.disabled_reason.as_deref(),
            Some("every attempt failed")
        );
        let on = off.switched(true);
        assert!(on.enabled);
        assert_eq!(on.disabled_reason, None);
    }

    #[test]
    fn a_description_is_at_most_500_characters() {
        assert!(Description::parse(&"é".repeat(500)).is_ok());
        assert_eq!(
            Description::parse(&"é".repeat(501)).unwrap_err().code,
            "string_too_long"
        );
    }
}
