//! Authentication (who is calling) and authorization (what they may touch).
//!
//! Rules kept here: a user reads and changes only their own user; listing users, creating a
//! user with a chosen id and deleting another user are for admins; the last admin cannot be
//! deleted. A wrong e-mail address and a wrong password fail the same way, after the same work:
//! an unknown address is checked against a dummy hash, so the answer's timing does not tell
//! which was wrong. A token stays valid only while its user exists with the password it was
//! issued for: the token carries a stamp of the password hash, compared on every request.

use crate::{
    Error, Result,
    principal::Principal,
    throttle::{LoginLimitStore, LoginThrottle, ThrottlePolicy},
    users::{Password, PasswordHash, PasswordHasher, UserId, UserRepository},
};
use std::{net::IpAddr, sync::Arc};

/// A bearer token as issued to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// What a token says once its signature and expiry are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Whose token it is.
    pub user_id: UserId,
    /// The stamp of the password hash it was issued for.
    pub stamp: String,
}

/// Issues and verifies signed, expiring bearer tokens.
pub trait TokenCodec: Send + Sync {
    /// A token for `user_id`, stamped with `password_hash`.
    fn issue(&self, user_id: UserId, password_hash: &PasswordHash) -> Result<IssuedToken>;

    /// The claims of `token`, if it is well-formed, signed by this codec's key and unexpired.
    fn verify(&self, token: &str) -> Option<TokenClaims>;

    /// The stamp a token issued for `password_hash` carries.
    fn stamp(&self, password_hash: &PasswordHash) -> String;
}

/// Logging in and checking tokens.
#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenCodec>,
    /// Checked instead of a real hash when the e-mail address is unknown.
    dummy_hash: PasswordHash,
    /// Failed logins per address and per client.
    throttle: LoginThrottle,
}

impl AuthService {
    /// An auth service; hashes the dummy password once, so it costs one hash at start-up.
    pub async fn new(
        users: Arc<dyn UserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenCodec>,
        throttle: ThrottlePolicy,
        login_limits: Arc<dyn LoginLimitStore>,
    ) -> Result<Self> {
        let dummy = Password::parse("no user has this password").map_err(Error::internal)?;
        let dummy_hash = hasher.hash(&dummy).await?;
        Ok(Self {
            users,
            hasher,
            tokens,
            dummy_hash,
            throttle: LoginThrottle::new(throttle, login_limits),
        })
    }

    /// A token for the user with this e-mail address and password, asked for from `client`.
    ///
    /// Fails with [`Error::InvalidCredentials`] whether the address or the password is wrong,
    /// and with [`Error::TooManyAttempts`], before any password is checked, once the address or
    /// the client has failed too often.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<IssuedToken> {
        let charge = self
            .throttle
            .admit(email, client, &crate::now)
            .await?
            .map_err(Error::TooManyAttempts)?;
        let user = match crate::Email::parse(email) {
            Ok(email) => self.users.find_by_email(&email).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().map_or(&self.dummy_hash, |u| &u.password_hash);
        let matches = self.hasher.verify(password, hash).await?;
        match user {
            Some(user) if matches => {
                // The password was right: a charge that cannot be given back now only
                // counts against the limits until it drains.
                if let Err(err) = self.throttle.forgive(charge, &crate::now).await {
                    tracing::warn!(error = %err, "cannot give back a login's charge");
                }
                self.tokens.issue(user.id, &user.password_hash)
            }
            _ => Err(Error::InvalidCredentials),
        }
    }

    /// The caller a bearer token stands for.
    ///
    /// Fails with [`Error::InvalidToken`] when the token is malformed, forged or expired, when
    /// its user no longer exists, or when the user's password changed since it was issued.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let claims = self.tokens.verify(token).ok_or(Error::InvalidToken(
            "the token is malformed, forged or expired",
        ))?;
        let credentials = self
            .users
            .credentials(claims.user_id)
            .await?
            .ok_or(Error::InvalidToken("the token's user no longer exists"))?;
        if self.tokens.stamp(&credentials.password_hash) != claims.stamp {
            return Err(Error::InvalidToken(
                "the password changed after the token was issued",
            ));
        }
        Ok(Principal {
            user_id: claims.user_id,
            is_admin: credentials.is_admin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(id: i64, is_admin: bool) -> Principal {
        Principal {
            user_id: UserId::parse(id).unwrap(),
            is_admin,
        }
    }

    #[test]
    fn users_may_touch_only_themselves() {
        let ann = principal(1, false);
        assert!(ann.require_self_or_admin(UserId::parse(1).unwrap()).is_ok());
        let err = ann
            .require_self_or_admin(UserId::parse(2).unwrap())
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
    }

    #[test]
    fn reach_is_everything_for_admins_and_ones_own_otherwise() {
        let (ann, bob) = (UserId::parse(1).unwrap(), UserId::parse(2).unwrap());
        assert!(principal(1, true).reach().allows(bob));
        assert!(principal(1, false).reach().allows(ann));
        assert!(!principal(1, false).reach().allows(bob));
    }

    #[test]
    fn admins_may_touch_anyone_and_do_admin_things() {
        let admin = principal(1, true);
        assert!(
            admin
                .require_self_or_admin(UserId::parse(2).unwrap())
                .is_ok()
        );
        assert!(admin.require_admin("list users").is_ok());
        assert!(matches!(
            principal(2, false).require_admin("list users"),
            Err(Error::Forbidden("list users"))
        ));
    }
}
