//! Receiving the service's webhooks: [`verify`] checks a delivery's Standard Webhooks
//! signature with the endpoint's secret (through the `standardwebhooks` crate, the
//! specification's own library) and reads its payload.

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use std::fmt;

/// A verified delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Its `webhook-id`: the same on every attempt of one event, so a receiver can drop a
    /// redelivery it has processed.
    pub id: String,
    /// The event it carries.
    pub event: Event,
}

/// A delivery's payload.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Event {
    /// The event type, e.g. `account.transaction.booked`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// What it is about, as the API shows it (a `TransactionOut`, a `NotificationOut`, ...).
    pub data: serde_json::Value,
}

/// Why a delivery was not taken.
#[derive(Debug)]
pub enum VerifyError {
    /// The secret is not a `whsec_` secret.
    Secret(String),
    /// A signature header is missing, none of the signatures is the body's under the secret,
    /// or the timestamp is more than five minutes away from now (a replay).
    Signature(String),
    /// The body is not the service's payload.
    Payload(serde_json::Error),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(why) => write!(f, "the secret is not usable: {why}"),
            Self::Signature(why) => write!(f, "the signature does not verify: {why}"),
            Self::Payload(err) => write!(f, "the payload does not parse: {err}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verifies a delivery: its `headers` and raw `body`, as received, under the endpoint's
/// `secret` (during a rotation, either secret verifies it); then reads the payload.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<Delivery, VerifyError> {
    let webhook = standardwebhooks::Webhook::new(secret)
        .map_err(|err| VerifyError::Secret(err.to_string()))?;
    webhook
        .verify(body, headers)
        .map_err(|err| VerifyError::Signature(err.to_string()))?;
    let id = headers
        .get(standardwebhooks::HEADER_WEBHOOK_ID)
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let event = serde_json::from_slice(body).map_err(VerifyError::Payload)?;
    Ok(Delivery { id, event })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    /// The example of the Standard Webhooks specification.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = |text: &str| HeaderValue::from_str(text).unwrap();
        headers.insert("webhook-id", value(id));
        headers.insert("webhook-timestamp", value(&timestamp.to_string()));
        headers.insert("webhook-signature", value(signature));
        headers
    }

    fn signed(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
        let webhook = standardwebhooks::Webhook::new(secret).unwrap();
        webhook.sign(id, timestamp, body).unwrap()
    }

    #[test]
    fn a_signed_delivery_verifies_and_a_tampered_one_does_not() {
        let body = br#"{"type":"webhook.test","timestamp":"2026-12-08T10:00:00.000000Z","data":{"webhook_id":1,"url":"https://hooks.example.com/"}}"#;
        let now = Utc::now().timestamp();
        let good = headers("msg_1", now, &signed(SECRET, "msg_1", now, body));
        let delivery = verify(SECRET, &good, body).unwrap();
        assert_eq!(delivery.id, "msg_1");
        assert_eq!(delivery.event.kind, "webhook.test");
        assert_eq!(delivery.event.data["webhook_id"], 1);
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert!(matches!(
            verify(SECRET, &good, &tampered),
            Err(VerifyError::Signature(_))
        ));
        let old = now - 600;
        let replayed = headers("msg_1", old, &signed(SECRET, "msg_1", old, body));
        assert!(verify(SECRET, &replayed, body).is_err(), "too old");
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let newer = "whsec_C2bLhbN1EzMhyFRxPjEAF4X3fXzJaGhk";
        let body = br#"{"type":"webhook.test","timestamp":"2026-12-08T10:00:00Z","data":{}}"#;
        let now = Utc::now().timestamp();
        let both = format!(
            "{} {}",
            signed(newer, "msg_2", now, body),
            signed(SECRET, "msg_2", now, body)
        );
        let sent = headers("msg_2", now, &both);
        assert!(verify(newer, &sent, body).is_ok());
        assert!(verify(SECRET, &sent, body).is_ok());
        let other = "whsec_dGVzdC1rZXktYnl0ZXMtdGhhdC1hcmUtbG9uZw==";
        assert!(verify(other, &sent, body).is_err());
    }
}
