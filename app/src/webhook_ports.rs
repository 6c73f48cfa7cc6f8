//! What the webhook endpoints' rules need from the machine: name resolution, as the sender
//! will resolve at each delivery, and random secrets.

use async_trait::async_trait;
use domain::webhooks::{HostResolver, SecretSource, SigningSecret};
use rand::RngCore;
use std::{net::IpAddr, time::Duration};

/// How long a name may take to resolve when an endpoint is made: one that takes longer is
/// taken as not resolving yet (checked again at every delivery).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Resolves with the operating system's resolver.
pub struct SystemResolver;

#[async_trait]
impl HostResolver for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        let lookup = tokio::net::lookup_host((host, port));
        match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Ok(Ok(addresses)) => Ok(addresses.map(|address| address.ip()).collect()),
            Ok(Err(err)) => Err(format!("{host} does not resolve: {err}")),
            Err(_) => Err(format!("{host} did not resolve within {RESOLVE_TIMEOUT:?}")),
        }
    }
}

/// Secrets of 32 bytes from the operating system's random source.
pub struct RandomSecrets;

/// Bytes in a new secret: an HMAC-SHA256 key as long as its output.
const SECRET_BYTES: usize = 32;

impl SecretSource for RandomSecrets {
    fn generate(&self) -> SigningSecret {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        SigningSecret::from(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn localhost_resolves_to_loopback_and_a_reserved_name_does_not_resolve() {
        let found = SystemResolver.resolve("localhost", 443).await.unwrap();
        assert!(found.iter().all(IpAddr::is_loopback), "{found:?}");
        assert!(
            SystemResolver
                .resolve("nowhere.invalid", 443)
                .await
                .is_err()
        );
    }

    #[test]
    fn each_secret_is_new_and_32_bytes() {
        let (a, b) = (RandomSecrets.generate(), RandomSecrets.generate());
        assert_eq!(a.key().len(), 32);
        assert_ne!(a, b);
    }
}
