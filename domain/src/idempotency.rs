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
