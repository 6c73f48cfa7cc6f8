//! The events an endpoint can subscribe to.

use crate::Violation;
use std::fmt;

/// A kind of event sent to endpoints; its name is the payload's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A notification was delivered.
    NotificationSent,
    /// A notification failed for good.
    NotificationFailed,
    /// A transaction was booked on an account (a deposit, withdrawal or transfer leg).
    TransactionBooked,
    /// Sent on request to check an endpoint (`POST /webhooks/{id}/test`); never subscribed.
    Test,
}

impl EventType {
    /// Every type an endpoint can subscribe to.
    pub const SUBSCRIBABLE: [Self; 3] = [
        Self::NotificationSent,
        Self::NotificationFailed,
        Self::TransactionBooked,
    ];

    /// Its name, as the payload's `type` says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotificationSent => "notification.sent",
            Self::NotificationFailed => "notification.failed",
            Self::TransactionBooked => "account.transaction.booked",
            Self::Test => "webhook.test",
        }
    }

    /// The type named `name`, the test event's included.
    pub fn named(name: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([Self::Test])
            .find(|kind| kind.as_str() == name)
    }

    /// The subscribable type named `name`.
    pub fn parse(name: &str) -> Result<Self, Violation> {
        Self::SUBSCRIBABLE
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::SUBSCRIBABLE.iter().map(|k| k.as_str()).collect();
                Violation::new(
                    "event_type_unknown",
                    format!("must be one of {}", names.join(", ")),
                )
            })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscribable_type_parses_from_its_name_and_the_test_event_does_not() {
        for kind in EventType::SUBSCRIBABLE {
            assert_eq!(EventType::parse(kind.as_str()), Ok(kind));
        }
        assert_eq!(
            EventType::parse("webhook.test").unwrap_err().code,
            "event_type_unknown"
        );
        assert!(EventType::parse("Notification.Sent").is_err());
        assert_eq!(EventType::named("webhook.test"), Some(EventType::Test));
        assert_eq!(
            EventType::named("notification.sent"),
            Some(EventType::NotificationSent)
        );
    }
}
