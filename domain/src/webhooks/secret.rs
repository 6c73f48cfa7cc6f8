//! An endpoint's signing secrets: each `whsec_` and the base64 of 24 to 64 random bytes, and
//! the rotation that lets an old one sign beside its successor until it expires.

use crate::Violation;
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use std::{fmt, time::Duration};

/// A secret that signs an endpoint's deliveries. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl SigningSecret {
    /// Fewest bytes a secret has.
    pub const MIN_BYTES: usize = 24;
    /// Most bytes a secret has.
    pub const MAX_BYTES: usize = 64;
    /// What every secret's text starts with.
    pub const PREFIX: &'static str = "whsec_";

    /// The secret of these bytes (new ones come from a random source, 32 of them).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Violation> {
        if (Self::MIN_BYTES..=Self::MAX_BYTES).contains(&bytes.len()) {
            Ok(Self(bytes))
        } else {
            Err(Self::invalid())
        }
    }

    /// Parses a secret's text, `whsec_` and standard base64.
    pub fn parse(text: &str) -> Result<Self, Violation> {
        let encoded = text.strip_prefix(Self::PREFIX).ok_or_else(Self::invalid)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| Self::invalid())?;
        Self::from_bytes(bytes)
    }

    /// The key bytes the HMAC is keyed with.
    pub fn key(&self) -> &[u8] {
        &self.0
    }

    /// The secret's text, shown once, when it is made.
    pub fn reveal(&self) -> String {
        format!("{}{}", Self::PREFIX, STANDARD.encode(&self.0))
    }

    fn invalid() -> Violation {
        Violation::new(
            "signing_secret_invalid",
            format!(
                "must be `{}` and the base64 of {} to {} bytes",
                Self::PREFIX,
                Self::MIN_BYTES,
                Self::MAX_BYTES
            ),
        )
    }
}

/// A secret of exactly 32 bytes, within the bounds by construction.
impl From<[u8; 32]> for SigningSecret {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes.to_vec())
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

/// One of an endpoint's secrets, with when it stops signing (`None`: while it is the newest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptSecret {
    /// The secret.
    pub secret: SigningSecret,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops signing; set when a newer one replaces it.
    pub expires_at: Option<DateTime<Utc>>,
}

impl KeptSecret {
    /// Whether it still signs at `now`.
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

/// The secrets of `kept` that sign a delivery at `now`, newest first.
pub fn signing(kept: &[KeptSecret], now: DateTime<Utc>) -> Vec<SigningSecret> {
    let mut live: Vec<&KeptSecret> = kept.iter().filter(|k| k.live(now)).collect();
    live.sort_by_key(|k| std::cmp::Reverse(k.created_at));
    live.into_iter().map(|k| k.secret.clone()).collect()
}

/// `kept` after `new` replaces its newest at `now`: every secret that had no expiry signs for
/// `overlap` more (one that expires sooner keeps its time), the expired ones are dropped, and
/// `new` signs from now on.
pub fn rotated(
    kept: Vec<KeptSecret>,
    new: SigningSecret,
    now: DateTime<Utc>,
    overlap: Duration,
) -> Vec<KeptSecret> {
    let until = chrono::Duration::from_std(overlap)
        .ok()
        .and_then(|overlap| now.checked_add_signed(overlap))
        .unwrap_or(now);
    let mut kept: Vec<KeptSecret> = kept
        .into_iter()
        .filter(|k| k.live(now))
        .map(|k| KeptSecret {
            expires_at: Some(k.expires_at.map_or(until, |expiry| expiry.min(until))),
            ..k
        })
        .collect();
    kept.push(KeptSecret {
        secret: new,
        created_at: now,
        expires_at: None,
    });
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_rotation_old_and_new_both_sign_until_the_old_one_expires() {
        let at = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
        let secret = |b: u8| SigningSecret::from_bytes(vec![b; 32]).unwrap();
        let first = vec![KeptSecret {
            secret: secret(1),
            created_at: at(0),
            expires_at: None,
        }];
        assert_eq!(signing(&first, at(10)), [secret(1)]);
        let hour = Duration::from_secs(3600);
        let second = rotated(first, secret(2), at(100), hour);
        assert_eq!(signing(&second, at(100)), [secret(2), secret(1)]);
        assert_eq!(signing(&second, at(100 + 3599)), [secret(2), secret(1)]);
        assert_eq!(signing(&second, at(100 + 3600)), [secret(2)]);
        // A second rotation within the hour keeps the first's expiry and adds the second's.
        let third = rotated(second, secret(3), at(200), hour);
        assert_eq!(signing(&third, at(200)), [secret(3), secret(2), secret(1)]);
        assert_eq!(signing(&third, at(3700)), [secret(3), secret(2)]);
        assert_eq!(signing(&third, at(3800)), [secret(3)]);
        // The expired are dropped at the next rotation.
        let fourth = rotated(third, secret(4), at(5000), Duration::ZERO);
        assert_eq!(fourth.len(), 2, "{fourth:?}");
        assert_eq!(signing(&fourth, at(5000)), [secret(4)]);
    }

    #[test]
    fn a_secret_is_whsec_and_base64_of_24_to_64_bytes_and_round_trips() {
        for len in [24, 32, 64] {
            let secret = SigningSecret::from_bytes(vec![7; len]).unwrap();
            assert_eq!(SigningSecret::parse(&secret.reveal()), Ok(secret));
        }
        for len in [0, 23, 65] {
            assert!(SigningSecret::from_bytes(vec![7; len]).is_err(), "{len}");
        }
        let short = format!("whsec_{}", STANDARD.encode([1; 23]));
        for bad in [
            "",
            "whsec_",
            "whsec_!!!!",
            &short,
            &STANDARD.encode([1; 32]),
        ] {
            assert_eq!(
                SigningSecret::parse(bad).unwrap_err().code,
                "signing_secret_invalid",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_secret_s_debug_shows_none_of_it() {
        let secret = SigningSecret::from_bytes(vec![42; 32]).unwrap();
        assert_eq!(format!("{secret:?}"), "SigningSecret(..)");
    }
}
