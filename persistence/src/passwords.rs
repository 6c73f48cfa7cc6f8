//! Argon2id password hashing on a bounded set of blocking threads.
//!
//! A hash costs tens of milliseconds of CPU by design. Run on the async threads it would stall
//! every other request; run without a bound, a signup storm would occupy every core. So each
//! hash runs on tokio's blocking pool, and a semaphore lets at most `max_parallel` run at once.

use crate::Error;
use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{
        PasswordHash as Phc, PasswordHasher as _, PasswordVerifier as _, SaltString,
        rand_core::OsRng,
    },
};
use async_trait::async_trait;
use domain::users::{Password, PasswordHash, PasswordHasher};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane).
#[derive(Clone)]
pub struct Argon2Hasher {
    permits: Arc<Semaphore>,
}

impl Argon2Hasher {
    /// A hasher running at most `max_parallel` hashes at once.
    pub fn new(max_parallel: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_parallel.max(1))),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|err| Error::Hashing(err.to_string()))?;
        tokio::task::spawn_blocking(move || work(&argon2()?)).await?
    }
}

fn argon2() -> Result<Argon2<'static>, Error> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(hashing)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hashing(err: impl std::fmt::Display) -> Error {
    Error::Hashing(err.to_string())
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> domain::Result<PasswordHash> {
        let clear = password.expose().to_owned();
        let phc = self
            .run(move |argon2| {
                let salt = SaltString::generate(&mut OsRng);
                let hash = argon2
                    .hash_password(clear.as_bytes(), &salt)
                    .map_err(hashing)?;
                Ok(hash.to_string())
            })
            .await?;
        Ok(PasswordHash::from_phc(phc))
    }

    async fn verify(&self, password: &str, hash: &PasswordHash) -> domain::Result<bool> {
        let clear = password.to_owned();
        let phc = hash.as_phc().to_owned();
        let matches = self
            .run(move |argon2| {
                let parsed = Phc::new(&phc).map_err(hashing)?;
                Ok(argon2.verify_password(clear.as_bytes(), &parsed).is_ok())
            })
            .await?;
        Ok(matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_is_salted_argon2id_and_verifies_only_the_right_password() {
        let hasher = Argon2Hasher::new(2);
        let password = Password::parse("correct horse battery").unwrap();
        let first = hasher.hash(&password).await.unwrap();
        let second = hasher.hash(&password).await.unwrap();
        assert!(
            first
                .as_phc()
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
        assert_ne!(first, second, "each hash has its own salt");
        assert!(
            hasher
                .verify("correct horse battery", &first)
                .await
                .unwrap()
        );
        assert!(!hasher.verify("wrong horse battery", &first).await.unwrap());
    }
}
