//! An endpoint's signing secret: `whsec_` and the base64 of 24 to 64 random bytes.

use crate::Violation;
use base64::{Engine, engine::general_purpose::STANDARD};
use std::fmt;

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

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
