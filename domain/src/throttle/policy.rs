//! The login limits in force and a refusal by one of them: plain values, which the error type
//! carries.

use std::time::Duration;

/// Failed logins allowed within `window`, per e-mail address and per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures per e-mail address (0: no limit).
    pub per_email: u32,
    /// Failures per client address (0: no limit).
    pub per_client: u32,
    /// The window the counts are over.
    pub window: Duration,
}

impl ThrottlePolicy {
    /// No limits: every attempt is admitted.
    pub const OFF: Self = Self {
        per_email: 0,
        per_client: 0,
        window: Duration::ZERO,
    };

    /// The limits in force, each with the failures it allows within [`Self::window`].
    pub fn limits(&self) -> impl Iterator<Item = (LimitScope, u32)> + use<> {
        let window = !self.window.is_zero();
        [
            (LimitScope::Email, self.per_email),
            (LimitScope::Client, self.per_client),
        ]
        .into_iter()
        .filter(move |(_, quota)| window && *quota > 0)
    }
}

/// What a login limit counts failures of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// One e-mail address, whoever tries it.
    Email,
    /// One client address, whatever e-mail addresses it tries.
    Client,
}

impl LimitScope {
    /// The limit's name, as rate-limit headers give it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Client => "client",
        }
    }
}

/// A login attempt refused by a limit: which one, and how long until one more is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// The limit the attempt ran into (the one with the longer wait when both did).
    pub scope: LimitScope,
    /// How long until an attempt would be admitted.
    pub wait: Duration,
    /// Every limit in force.
    pub policy: ThrottlePolicy,
}
