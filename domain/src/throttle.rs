//! The brute-force rule for logins: so many failed attempts per e-mail address and per client
//! address within a window, then one more each time a share of the window has passed.
//!
//! Each key keeps one instant (the generic cell rate algorithm): the time at which its
//! recorded attempts will have drained. An attempt is charged before the password is checked,
//! so concurrent guesses cannot all slip in ahead of their failures; a success gives the
//! charge back. Nothing is stored per attempt, and keys that have drained are dropped.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Email(String),
    Client(IpAddr),
}

/// Keys kept before drained ones are swept out.
const SWEEP_AT: usize = 10_000;

/// Counts login attempts against a [`ThrottlePolicy`].
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    /// When each key's charged attempts will have drained.
    drained_at: Mutex<HashMap<Key, Instant>>,
}

/// An admitted attempt; hand it back with [`LoginThrottle::forgive`] when it succeeded.
#[derive(Debug)]
pub struct Charge {
    email: Key,
    client: Option<Key>,
}

impl LoginThrottle {
    /// A throttle enforcing `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            drained_at: Mutex::new(HashMap::new()),
        }
    }

    /// Admits an attempt for `email` from `client` at `now`, charging it to both, or says which
    /// limit refuses it and how long to wait before one would be admitted.
    pub fn admit(
        &self,
        email: &str,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Result<Charge, Throttled> {
        let charge = Charge {
            email: Key::Email(email.trim().to_lowercase()),
            client: client.map(Key::Client),
        };
        let mut drained_at = self.drained_at.lock().unwrap_or_else(|e| e.into_inner());
        if drained_at.len() >= SWEEP_AT {
            drained_at.retain(|_, at| *at > now);
        }
        let limits = [
            (
                Some(&charge.email),
                self.policy.per_email,
                LimitScope::Email,
            ),
            (
                charge.client.as_ref(),
                self.policy.per_client,
                LimitScope::Client,
            ),
        ];
        let refusal = limits
            .iter()
            .filter_map(|(key, limit, scope)| {
                let at = drained_at.get((*key)?).copied()?;
                Some((self.wait(at, *limit, now)?, *scope))
            })
            .max_by_key(|(wait, _)| *wait);
        if let Some((wait, scope)) = refusal {
            return Err(Throttled {
                scope,
                wait,
                policy: self.policy,
            });
        }
        for (key, limit, _) in limits {
            if let (Some(key), Some(step)) = (key, self.step(limit)) {
                let at = drained_at.entry(key.clone()).or_insert(now);
                *at = (*at).max(now) + step;
            }
        }
        Ok(charge)
    }

    /// Gives back a successful attempt's charge: the address's failures are forgotten, and the
    /// client is charged for failures only.
    pub fn forgive(&self, charge: Charge) {
        let mut drained_at = self.drained_at.lock().unwrap_or_else(|e| e.into_inner());
        drained_at.remove(&charge.email);
        if let (Some(client), Some(step)) = (charge.client, self.step(self.policy.per_client))
            && let Some(at) = drained_at.get_mut(&client)
        {
            *at = at.checked_sub(step).unwrap_or(*at);
        }
    }

    /// The share of the window one attempt takes, when `limit` limits anything.
    fn step(&self, limit: u32) -> Option<Duration> {
        (limit > 0 && !self.policy.window.is_zero()).then(|| self.policy.window / limit)
    }

    /// How long a key drained at `at` must wait at `now` before another attempt fits.
    fn wait(&self, at: Instant, limit: u32, now: Instant) -> Option<Duration> {
        let step = self.step(limit)?;
        let backlog = at.checked_duration_since(now)?;
        let room = self.policy.window - step;
        (backlog > room).then(|| backlog - room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: ThrottlePolicy = ThrottlePolicy {
        per_email: 3,
        per_client: 5,
        window: Duration::from_secs(60),
    };
    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    const AWAY: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9)));

    #[test]
    fn the_attempt_past_the_email_limit_waits_one_share_of_the_window() {
        let throttle = LoginThrottle::new(POLICY);
        let t0 = Instant::now();
        for _ in 0..3 {
            throttle.admit("ann@example.com", HOME, t0).unwrap();
        }
        let refused = throttle.admit("ann@example.com", AWAY, t0).unwrap_err();
        assert_eq!(
            (refused.scope, refused.wait),
            (LimitScope::Email, Duration::from_secs(20))
        );
        // The same address in another case is the same address.
        assert!(throttle.admit(" ANN@example.com", AWAY, t0).is_err());
        assert!(throttle.admit("bob@example.com", AWAY, t0).is_ok());
        let later = t0 + Duration::from_secs(20);
        assert!(throttle.admit("ann@example.com", AWAY, later).is_ok());
        assert!(throttle.admit("ann@example.com", AWAY, later).is_err());
    }

    #[test]
    fn one_client_guessing_many_addresses_is_limited_per_client() {
        let throttle = LoginThrottle::new(POLICY);
        let t0 = Instant::now();
        for n in 0..5 {
            throttle
                .admit(&format!("u{n}@example.com"), HOME, t0)
                .unwrap();
        }
        let refused = throttle.admit("u9@example.com", HOME, t0).unwrap_err();
        assert_eq!(
            (refused.scope, refused.wait),
            (LimitScope::Client, Duration::from_secs(12))
        );
        assert!(throttle.admit("u9@example.com", AWAY, t0).is_ok());
    }

    #[test]
    fn a_success_forgives_the_address_and_does_not_count_for_the_client() {
        let throttle = LoginThrottle::new(POLICY);
        let t0 = Instant::now();
        throttle.admit("ann@example.com", HOME, t0).unwrap();
        throttle.admit("ann@example.com", HOME, t0).unwrap();
        let success = throttle.admit("ann@example.com", HOME, t0).unwrap();
        throttle.forgive(success);
        for _ in 0..3 {
            throttle.admit("ann@example.com", HOME, t0).unwrap();
        }
        // Five failures from HOME so far; the success was given back.
        assert!(throttle.admit("bob@example.com", HOME, t0).is_err());
    }

    #[test]
    fn many_logins_that_succeed_are_never_throttled() {
        let throttle = LoginThrottle::new(POLICY);
        let t0 = Instant::now();
        for _ in 0..100 {
            let charge = throttle.admit("ann@example.com", HOME, t0).unwrap();
            throttle.forgive(charge);
        }
    }

    #[test]
    fn a_zero_limit_or_policy_off_admits_everything() {
        let t0 = Instant::now();
        let off = LoginThrottle::new(ThrottlePolicy::OFF);
        let email_only = LoginThrottle::new(ThrottlePolicy {
            per_client: 0,
            ..POLICY
        });
        for n in 0..50 {
            assert!(off.admit("ann@example.com", HOME, t0).is_ok());
            assert!(email_only.admit(&format!("u{n}@x.org"), HOME, t0).is_ok());
        }
    }

    #[test]
    fn the_limits_in_force_are_those_with_a_quota_and_a_window() {
        let scopes = |policy: ThrottlePolicy| policy.limits().collect::<Vec<_>>();
        assert_eq!(
            scopes(POLICY),
            [(LimitScope::Email, 3), (LimitScope::Client, 5)]
        );
        let email_only = ThrottlePolicy {
            per_client: 0,
            ..POLICY
        };
        assert_eq!(scopes(email_only), [(LimitScope::Email, 3)]);
        assert_eq!(scopes(ThrottlePolicy::OFF), []);
    }

    #[test]
    fn drained_keys_are_swept_once_many_are_kept() {
        let throttle = LoginThrottle::new(POLICY);
        let t0 = Instant::now();
        for n in 0..SWEEP_AT {
            throttle
                .admit(&format!("u{n}@example.com"), None, t0)
                .unwrap();
        }
        let much_later = t0 + Duration::from_secs(3600);
        throttle.admit("new@example.com", None, much_later).unwrap();
        let kept = throttle.drained_at.lock().unwrap().len();
        assert_eq!(kept, 1);
    }
}
