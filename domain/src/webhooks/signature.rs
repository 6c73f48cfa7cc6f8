//! The `webhook-signature` header: for each live secret, `v1,` and the base64 of the
//! HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed by the secret's bytes,
//! space-separated, so that a receiver holding either secret of a rotation accepts it.

use super::secret::SigningSecret;
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The `v1,` signature of one delivery under `secret`: `id` is its `webhook-id`, `timestamp`
/// its `webhook-timestamp` (Unix seconds), `body` the bytes sent.
pub fn sign(secret: &SigningSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    // Any key length suits HMAC, so keying cannot fail; the fallback is never taken.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.key()) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The whole `webhook-signature` value: one signature per secret in `secrets`, in their order.
pub fn header(secrets: &[SigningSecret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks libraries, which the Python one (`standardwebhooks`
    /// 1.x, `Webhook.sign`) reproduces.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn a_signature_is_the_standard_webhooks_one() {
        let secret = SigningSecret::parse(SECRET).unwrap();
        assert_eq!(sign(&secret, ID, TIMESTAMP, BODY), SIGNED);
    }

    #[test]
    fn each_part_of_the_signed_content_changes_the_signature() {
        let secret = SigningSecret::parse(SECRET).unwrap();
        assert_ne!(sign(&secret, "msg_other", TIMESTAMP, BODY), SIGNED);
        assert_ne!(sign(&secret, ID, TIMESTAMP + 1, BODY), SIGNED);
        assert_ne!(sign(&secret, ID, TIMESTAMP, br#"{"test": 1}"#), SIGNED);
        let other = SigningSecret::from_bytes(vec![1; 24]).unwrap();
        assert_ne!(sign(&other, ID, TIMESTAMP, BODY), SIGNED);
    }

    #[test]
    fn during_a_rotation_every_live_secret_signs_in_order() {
        let old = SigningSecret::parse(SECRET).unwrap();
        let new = SigningSecret::from_bytes(vec![9; 32]).unwrap();
        let value = header(&[old, new.clone()], ID, TIMESTAMP, BODY);
        let entries: Vec<&str> = value.split(' ').collect();
        assert_eq!(entries, [SIGNED, &sign(&new, ID, TIMESTAMP, BODY)]);
    }
}
