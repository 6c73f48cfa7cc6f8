//! Bearer tokens: HS256-signed JWTs.
//!
//! Signed tokens rather than stored ones: checking one costs an HMAC and no database round
//! trip, and every instance sharing the key accepts every other's tokens. What a signature
//! cannot know — that the user was deleted or changed their password — is caught by the stamp:
//! each token carries an HMAC of the password hash it was issued for, and the domain compares it
//! with the current one (cached in process, see [`crate::users`]).
//!
//! The key comes from the settings, or is generated on first start and kept (mode 0600) in the
//! data directory, so tokens survive restarts. Instances behind one load balancer must share it.

use crate::Error;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use domain::{
    auth::{IssuedToken, TokenClaims, TokenCodec},
    users::{PasswordHash, UserId},
};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use std::{
    io::Write,
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The encoded JOSE header every token has: `{"alg":"HS256","typ":"JWT"}`. Comparing it byte for
/// byte refuses every other algorithm, `none` included.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// The shortest key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;

/// The time in seconds since the Unix epoch, as tokens count it.
pub type Clock = std::sync::Arc<dyn Fn() -> u64 + Send + Sync>;

/// Signs and checks tokens with one HMAC-SHA256 key.
pub struct HmacTokens {
    /// The HMAC with the key already absorbed: cloning it skips hashing the key's two blocks
    /// again on every request.
    keyed: Hmac<Sha256>,
    ttl: Duration,
    clock: Clock,
}

impl HmacTokens {
    /// A codec whose tokens live for `ttl`.
    pub fn new(key: Vec<u8>, ttl: Duration) -> Result<Self, Error> {
        if key.len() < MIN_KEY_LEN {
            return Err(Error::Settings(format!(
                "the token key must have at least {MIN_KEY_LEN} bytes"
            )));
        }
        // HMAC takes keys of any length; the minimum is checked above.
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .map_err(|_| Error::Settings("the token key is not a valid HMAC key".to_owned()))?;
        Ok(Self {
            keyed,
            ttl,
            clock: std::sync::Arc::new(system_time),
        })
    }

    /// The same codec, telling the time by `clock` (tests move time forward without waiting).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The configured key, or else the one kept in `dir/token.key` (created on first use).
    pub fn load_or_create_key(configured: Option<&str>, dir: &Path) -> Result<Vec<u8>, Error> {
        if let Some(key) = configured {
            return Ok(key.as_bytes().to_vec());
        }
        let path = dir.join("token.key");
        let settings = |what: &str, err: std::io::Error| {
            Error::Settings(format!("{what} {}: {err}", path.display()))
        };
        match std::fs::read_to_string(&path) {
            Ok(key) => return Ok(key.trim().as_bytes().to_vec()),
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(settings("cannot read", err));
            }
            Err(_) => {}
        }
        std::fs::create_dir_all(dir)
            .map_err(|err| settings("cannot create the directory of", err))?;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|err| Error::Settings(format!("no randomness: {err}")))?;
        let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(key.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|err| settings("cannot write", err))?;
                Ok(key.into_bytes())
            }
            // Another instance created it first: use theirs.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load_or_create_key(None, dir)
            }
            Err(err) => Err(settings("cannot create", err)),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.keyed.clone()
    }

    fn sign(&self, signed: &str) -> String {
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// The claims a token's payload must carry (others, such as `iat`, are ignored).
#[derive(Deserialize)]
struct Claims {
    /// The user id, as a string (JWT subjects are strings).
    sub: String,
    /// Expiry, in seconds since the Unix epoch.
    exp: u64,
    /// The credential stamp.
    cst: String,
}

fn system_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl TokenCodec for HmacTokens {
    fn issue(&self, user_id: UserId, password_hash: &PasswordHash) -> domain::Result<IssuedToken> {
        let issued_at = (self.clock)();
        let expires_in = self.ttl.as_secs();
        let claims = json!({
            "sub": user_id.get().to_string(),
            "iat": issued_at,
            "exp": issued_at + expires_in,
            "cst": self.stamp(password_hash),
        });
        let signed = format!("{HEADER}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = self.sign(&signed);
        Ok(IssuedToken {
            access_token: format!("{signed}.{signature}"),
            expires_in,
        })
    }

    fn verify(&self, token: &str) -> Option<TokenClaims> {
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        if header != HEADER {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        mac.verify_slice(&signature).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        if claims.exp <= (self.clock)() {
            return None;
        }
        Some(TokenClaims {
            user_id: UserId::parse(claims.sub.parse().ok()?).ok()?,
            stamp: claims.cst,
        })
    }

    fn stamp(&self, password_hash: &PasswordHash) -> String {
        let mut mac = self.mac();
        mac.update(b"credential-stamp:");
        mac.update(password_hash.as_phc().as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(ttl: u64) -> HmacTokens {
        HmacTokens::new(vec![7; 32], Duration::from_secs(ttl)).unwrap()
    }

    fn hash(tag: &str) -> PasswordHash {
        PasswordHash::from_phc(format!("$argon2id${tag}"))
    }

    fn user(n: i64) -> UserId {
        UserId::parse(n).unwrap()
    }

    #[test]
    fn issued_token_verifies_to_its_user_and_stamp() {
        let codec = codec(60);
        let token = codec.issue(user(3), &hash("a")).unwrap();
        assert_eq!(token.expires_in, 60);
        let claims = codec.verify(&token.access_token).unwrap();
        assert_eq!(claims.user_id, user(3));
        assert_eq!(claims.stamp, codec.stamp(&hash("a")));
        assert_ne!(claims.stamp, codec.stamp(&hash("b")));
    }

    #[test]
    fn forged_tampered_or_foreign_tokens_do_not_verify() {
        let codec = codec(60);
        let token = codec.issue(user(3), &hash("a")).unwrap().access_token;
        let (signed, _) = token.rsplit_once('.').unwrap();
        assert!(codec.verify(&format!("{signed}.AAAA")).is_none());
        let other = HmacTokens::new(vec![8; 32], Duration::from_secs(60)).unwrap();
        assert!(other.verify(&token).is_none());
        let forged_claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"1","exp":9999999999,"cst":"x"}"#);
        let forged = format!(
            "{HEADER}.{forged_claims}.{}",
            token.rsplit_once('.').unwrap().1
        );
        assert!(codec.verify(&forged).is_none());
        let none_alg = format!("eyJhbGciOiJub25lIn0.{forged_claims}.");
        assert!(codec.verify(&none_alg).is_none());
        for junk in ["", "a.b", "a.b.c", "...."] {
            assert!(codec.verify(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn expired_token_does_not_verify() {
        let codec = codec(0);
        let token = codec.issue(user(3), &hash("a")).unwrap().access_token;
        assert!(codec.verify(&token).is_none());
    }

    #[test]
    fn a_token_verifies_until_its_expiry_by_the_codecs_clock() {
        let time = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1_000));
        let clock = time.clone();
        let codec = codec(60).with_clock(std::sync::Arc::new(move || {
            clock.load(std::sync::atomic::Ordering::SeqCst)
        }));
        let token = codec.issue(user(3), &hash("a")).unwrap().access_token;
        time.store(1_059, std::sync::atomic::Ordering::SeqCst);
        assert!(codec.verify(&token).is_some(), "a second before expiry");
        time.store(1_060, std::sync::atomic::Ordering::SeqCst);
        assert!(codec.verify(&token).is_none(), "at expiry");
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(HmacTokens::new(vec![1; 31], Duration::from_secs(1)).is_err());
    }

    #[test]
    fn generated_key_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = HmacTokens::load_or_create_key(None, dir.path()).unwrap();
        let second = HmacTokens::load_or_create_key(None, dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("token.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let configured = HmacTokens::load_or_create_key(Some("k".repeat(40).as_str()), dir.path());
        assert_eq!(configured.unwrap(), vec![b'k'; 40]);
    }
}
