//! Idempotency keys for requests that move money.
//!
//! A client that retries a money-moving request with the same `Idempotency-Key` must not move
//! money twice. The first request with a key claims it; the money movement and the recording of
//! its outcome then commit in one storage transaction, so after any crash either both happened
//! (a repeat replays the outcome) or neither (a repeat, once the claim's lease runs out, executes
//! the request). A repeat while the first is still executing is refused; the same key with a
//! different request is refused; keys are forgotten after 24 hours.

use crate::{Result, Violation, ids::UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How long a key is remembered.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a claim may execute before a repeat may take it over (its owner presumably died).
pub const CLAIM_LEASE: Duration = Duration::from_secs(30);

/// An `Idempotency-Key`: 1..=255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 255;

    /// Parses a key.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        let printable = value.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if (1..=Self::MAX_LEN).contains(&value.len()) && printable {
            Ok(Self(value.to_owned()))
        } else {
            Err(Violation::new(
                "idempotency_key_invalid",
                "must be 1 to 255 printable ASCII characters",
            ))
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request that carries an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentRequest {
    /// Whose key it is: keys are scoped per user.
    pub owner: UserId,
    /// The key.
    pub key: IdempotencyKey,
    /// A canonical description of the request: equal for equal requests, different otherwise.
    pub request: String,
}

/// The right to execute a request under a key, held until the outcome is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The storage id of the key's record.
    pub record: i64,
}

/// What a request with a key may do; `O` is what a request executed under a key comes to:
/// enough to answer a repeat identically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin<O> {
    /// Nobody used the key (or its holder died): execute, then record the outcome.
    Execute(Claim),
    /// The same request already executed: answer with its outcome, change nothing.
    Replay(O),
    /// The key was used for a different request.
    Mismatch,
    /// The same request is executing right now.
    InFlight,
}

/// A key's record as storage keeps it: what [`decide`] rules on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord<O> {
    /// What identifies the request that claimed the key: equal for equal requests (storage's
    /// digest of [`IdempotentRequest::request`]).
    pub fingerprint: String,
    /// When the key was first claimed.
    pub created_at: DateTime<Utc>,
    /// Where that request is.
    pub state: KeyState<O>,
}

/// Where the request that claimed a key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState<O> {
    /// Executing, by a holder whose lease on the key runs until then.
    InFlight {
        /// When a repeat may take the key over.
        lease_until: DateTime<Utc>,
    },
    /// Executed: this is what it came to.
    Done(O),
}

/// What storage does with a key, as [`decide`] rules: it writes what a decision says and
/// decides nothing itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<O> {
    /// Claim the key for the request, its lease running until `lease_until`: a new record,
    /// after deleting the expired one (`replaces_expired`) that the key still has.
    Claim {
        /// The new claim's lease.
        lease_until: DateTime<Utc>,
        /// Whether an expired record of the key is to be deleted first.
        replaces_expired: bool,
    },
    /// Take the record over (its holder died before recording anything, so nothing moved):
    /// its lease now runs until `lease_until`.
    TakeOver {
        /// The taken claim's new lease.
        lease_until: DateTime<Utc>,
    },
    /// The same request executed already: answer with its outcome.
    Replay(O),
    /// The key was used for another request.
    Mismatch,
    /// The same request is executing right now.
    InFlight,
}

/// What a request whose fingerprint is `fingerprint` may do at `now` with its key, whose
/// record is `record` (`None`: the key is unused). A record older than [`KEY_LIFETIME`] is
/// forgotten, whatever it says; a live one for another request is a mismatch; a done one
/// replays; an in-flight one is in flight until its lease runs out, then taken over.
pub fn decide<O>(
    record: Option<KeyRecord<O>>,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Decision<O> {
    let lease_until = now + CLAIM_LEASE;
    let Some(record) = record else {
        return Decision::Claim {
            lease_until,
            replaces_expired: false,
        };
    };
    if record.created_at + KEY_LIFETIME <= now {
        return Decision::Claim {
            lease_until,
            replaces_expired: true,
        };
    }
    if record.fingerprint != fingerprint {
        return Decision::Mismatch;
    }
    match record.state {
        KeyState::Done(outcome) => Decision::Replay(outcome),
        KeyState::InFlight { lease_until: held } if held > now => Decision::InFlight,
        KeyState::InFlight { .. } => Decision::TakeOver { lease_until },
    }
}

/// Where idempotency keys are kept, with the outcomes `O` of the requests executed under them.
/// Recording an outcome is part of the request's own storage transaction where it can be (a
/// money movement's: [`crate::accounts::AccountRepository::book`]).
#[async_trait]
pub trait IdempotencyStore<O: Send + Sync + 'static>: Send + Sync {
    /// Claims the key for `request`, or says why not.
    async fn begin(&self, request: &IdempotentRequest) -> Result<Begin<O>>;

    /// Gives a claim up: the request changed nothing, and the key may be used again.
    async fn release(&self, claim: Claim) -> Result<()>;

    /// Records `outcome` as what the request under `claim` came to, when it is decided apart
    /// from its booking (a refusal): repeats then get it.
    async fn complete(&self, claim: Claim, outcome: &O) -> Result<()>;

    /// Forgets keys older than [`KEY_LIFETIME`]; returns how many.
    async fn purge_expired(&self) -> Result<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("a time")
    }

    fn record(state: KeyState<&'static str>, created: i64) -> Option<KeyRecord<&'static str>> {
        Some(KeyRecord {
            fingerprint: "f".into(),
            created_at: at(created),
            state,
        })
    }

    fn in_flight_until(seconds: i64) -> KeyState<&'static str> {
        KeyState::InFlight {
            lease_until: at(seconds),
        }
    }

    const LIFETIME: i64 = KEY_LIFETIME.as_secs() as i64;
    const LEASE: i64 = CLAIM_LEASE.as_secs() as i64;

    #[test]
    fn an_unused_key_is_claimed_for_a_lease() {
        assert_eq!(
            decide::<&str>(None, "f", at(0)),
            Decision::Claim {
                lease_until: at(LEASE),
                replaces_expired: false
            }
        );
    }

    #[test]
    fn a_key_past_its_lifetime_is_claimed_afresh_whatever_its_record_says() {
        for state in [KeyState::Done("booked"), in_flight_until(LIFETIME + 60)] {
            for fingerprint in ["f", "another request"] {
                assert_eq!(
                    decide(record(state.clone(), 0), fingerprint, at(LIFETIME)),
                    Decision::Claim {
                        lease_until: at(LIFETIME + LEASE),
                        replaces_expired: true
                    },
                    "{state:?} {fingerprint}"
                );
            }
        }
        // A second before, it is still remembered.
        assert_eq!(
            decide(record(KeyState::Done("booked"), 0), "f", at(LIFETIME - 1)),
            Decision::Replay("booked")
        );
    }

    #[test]
    fn a_live_key_for_another_request_is_a_mismatch_done_or_not() {
        for state in [KeyState::Done("booked"), in_flight_until(10)] {
            assert_eq!(decide(record(state, 0), "g", at(5)), Decision::Mismatch);
        }
    }

    #[test]
    fn the_same_request_done_replays_its_outcome() {
        assert_eq!(
            decide(record(KeyState::Done("booked"), 0), "f", at(5)),
            Decision::Replay("booked")
        );
    }

    #[test]
    fn the_same_request_in_flight_is_in_flight_until_its_lease_runs_out_then_taken_over() {
        assert_eq!(
            decide(record(in_flight_until(30), 0), "f", at(29)),
            Decision::InFlight
        );
        for now in [30, 31, 600] {
            assert_eq!(
                decide(record(in_flight_until(30), 0), "f", at(now)),
                Decision::TakeOver {
                    lease_until: at(now + LEASE)
                },
                "at {now}"
            );
        }
    }

    #[test]
    fn key_is_one_to_255_printable_ascii_characters() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse("order 42 / retry ~1").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in [
            String::new(),
            "k".repeat(256),
            "tab\there".into(),
            "é".into(),
        ] {
            assert_eq!(
                IdempotencyKey::parse(&bad).unwrap_err().code,
                "idempotency_key_invalid"
            );
        }
    }
}
