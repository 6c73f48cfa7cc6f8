//! The brute-force rule for logins: so many failed attempts per e-mail address and per client
//! address within a window, then one more each time a share of the window has passed.
//!
//! Each key keeps one instant (the generic cell rate algorithm): the time at which its
//! recorded attempts will have drained. An attempt is charged before the password is checked,
//! so concurrent guesses cannot all slip in ahead of their failures; a success gives the
//! charge back. Nothing is stored per attempt.
//!
//! The instants live in a [`LoginLimitStore`], which every instance of one database shares, so
//! that N instances allow the attempts of one. The rule is decided here; the store applies it
//! to the stored instants atomically and keeps what it decides.

use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use std::{net::IpAddr, sync::Arc, time::Duration};

pub mod policy;
pub use policy::{LimitScope, ThrottlePolicy, Throttled};

/// What the rule decides for the keys it is shown: the instant each is to drain at, in the
/// order shown (`None`: the key is forgotten), or a refusal, which changes nothing.
pub type Decision = std::result::Result<Vec<Option<DateTime<Utc>>>, Throttled>;

/// The rule a [`LoginLimitStore`] applies: from when each key drains, what to keep instead.
/// It reads the clock itself, when the store applies it: an attempt that waited for another's
/// lock is judged at the time it is counted, after the other, never at an earlier instant.
pub type Rule<'a> = dyn Fn(&[DateTime<Utc>]) -> Decision + Send + Sync + 'a;

/// The clock an attempt is judged by.
pub type Clock<'a> = dyn Fn() -> DateTime<Utc> + Send + Sync + 'a;

/// When a key that is not kept drained: long ago, so it has no backlog.
pub const NOT_KEPT: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// Where the login limits' instants are kept: one place for every instance of a database.
#[async_trait]
pub trait LoginLimitStore: Send + Sync {
    /// Reads when each of `keys` drains ([`NOT_KEPT`] for a key not kept), applies `rule`, and
    /// keeps what it decides, atomically with respect to every other tally of those keys in any
    /// instance. A refusal keeps nothing and comes back as the inner error.
    async fn tally(
        &self,
        keys: &[String],
        rule: &Rule<'_>,
    ) -> Result<std::result::Result<(), Throttled>>;

    /// Forgets the keys that have drained by `now`; returns how many.
    async fn sweep(&self, now: DateTime<Utc>) -> Result<u64>;
}

/// One limit an attempt counts against: its stored key, its scope, and one attempt's share
/// of the window.
#[derive(Debug)]
struct Limited {
    key: String,
    scope: LimitScope,
    step: TimeDelta,
}

/// Counts login attempts against a [`ThrottlePolicy`], in a [`LoginLimitStore`].
#[derive(Clone)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    store: Arc<dyn LoginLimitStore>,
}

/// An admitted attempt; hand it back with [`LoginThrottle::forgive`] when it succeeded.
#[derive(Debug)]
pub struct Charge {
    limited: Vec<Limited>,
}

impl LoginThrottle {
    /// A throttle enforcing `policy`, keeping its counts in `store`.
    pub fn new(policy: ThrottlePolicy, store: Arc<dyn LoginLimitStore>) -> Self {
        Self { policy, store }
    }

    /// Admits an attempt for `email` from `client` as of `now`, charging it to both, or says
    /// which limit refuses it and how long to wait before one would be admitted (the inner
    /// error).
    pub async fn admit(
        &self,
        email: &str,
        client: Option<IpAddr>,
        now: &Clock<'_>,
    ) -> Result<std::result::Result<Charge, Throttled>> {
        let limited = self.limits_on(email, client);
        if !limited.is_empty() {
            let rule = |drained: &[DateTime<Utc>]| self.charged(&limited, drained, now());
            if let Err(refused) = self.store.tally(&keys(&limited), &rule).await? {
                return Ok(Err(refused));
            }
        }
        Ok(Ok(Charge { limited }))
    }

    /// Gives back a successful attempt's charge: the address's failures are forgotten, and the
    /// client is charged for failures only.
    pub async fn forgive(&self, charge: Charge, now: &Clock<'_>) -> Result<()> {
        if charge.limited.is_empty() {
            return Ok(());
        }
        let rule = |drained: &[DateTime<Utc>]| Ok(forgiven(&charge.limited, drained, now()));
        self.store
            .tally(&keys(&charge.limited), &rule)
            .await?
            .map_err(crate::Error::TooManyAttempts)
    }

    /// The limits in force on an attempt for `email` from `client`.
    fn limits_on(&self, email: &str, client: Option<IpAddr>) -> Vec<Limited> {
        let email = Some(format!("email:{}", email.trim().to_lowercase()));
        let client = client.map(|ip| format!("client:{ip}"));
        [
            (email, self.policy.per_email, LimitScope::Email),
            (client, self.policy.per_client, LimitScope::Client),
        ]
        .into_iter()
        .filter_map(|(key, limit, scope)| {
            Some(Limited {
                key: key?,
                scope,
                step: self.step(limit)?,
            })
        })
        .collect()
    }

    /// The rule for an attempt: refused when a key's backlog leaves no room for one more (the
    /// longer wait when both do), else charged one step on every key.
    fn charged(
        &self,
        limited: &[Limited],
        drained: &[DateTime<Utc>],
        now: DateTime<Utc>,
    ) -> Decision {
        let refusal = limited
            .iter()
            .zip(drained)
            .filter_map(|(limit, at)| Some((self.wait(*at, limit.step, now)?, limit.scope)))
            .max_by_key(|(wait, _)| *wait);
        if let Some((wait, scope)) = refusal {
            return Err(Throttled {
                scope,
                wait,
                policy: self.policy,
            });
        }
        Ok(limited
            .iter()
            .zip(drained)
            .map(|(limit, at)| Some((*at).max(now) + limit.step))
            .collect())
    }

    /// The share of the window one attempt takes, when `limit` limits anything.
    fn step(&self, limit: u32) -> Option<TimeDelta> {
        (limit > 0 && !self.policy.window.is_zero())
            .then(|| TimeDelta::from_std(self.policy.window / limit).unwrap_or(TimeDelta::MAX))
    }

    /// How long a key drained at `at` must wait at `now` before another attempt fits.
    fn wait(&self, at: DateTime<Utc>, step: TimeDelta, now: DateTime<Utc>) -> Option<Duration> {
        let window = TimeDelta::from_std(self.policy.window).unwrap_or(TimeDelta::MAX);
        let over = (at - now) - (window - step);
        (over > TimeDelta::zero()).then(|| over.to_std().unwrap_or_default())
    }
}

/// The stored keys of `limited`, in its order.
fn keys(limited: &[Limited]) -> Vec<String> {
    limited.iter().map(|limit| limit.key.clone()).collect()
}

/// The rule for a success: the e-mail address's count is forgotten, the client's charge given
/// back (the key forgotten once nothing is left of it).
fn forgiven(
    limited: &[Limited],
    drained: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> Vec<Option<DateTime<Utc>>> {
    limited
        .iter()
        .zip(drained)
        .map(|(limit, at)| match limit.scope {
            LimitScope::Email => None,
            LimitScope::Client => Some(*at - limit.step).filter(|left| *left > now),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ready;
    use std::{collections::HashMap, sync::Mutex};

    const POLICY: ThrottlePolicy = ThrottlePolicy {
        per_email: 3,
        per_client: 5,
        window: Duration::from_secs(60),
    };
    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    const AWAY: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9)));

    /// The store's contract in memory: one lock around the read, the rule and the write.
    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, DateTime<Utc>>>);

    #[async_trait]
    impl LoginLimitStore for Memory {
        async fn tally(
            &self,
            keys: &[String],
            rule: &Rule<'_>,
        ) -> Result<std::result::Result<(), Throttled>> {
            let mut kept = self.0.lock().unwrap();
            let drained: Vec<_> = keys
                .iter()
                .map(|k| *kept.get(k).unwrap_or(&NOT_KEPT))
                .collect();
            let decided = match rule(&drained) {
                Ok(decided) => decided,
                Err(refused) => return Ok(Err(refused)),
            };
            for (key, at) in keys.iter().zip(decided) {
                match at {
                    Some(at) => kept.insert(key.clone(), at),
                    None => kept.remove(key),
                };
            }
            Ok(Ok(()))
        }

        async fn sweep(&self, now: DateTime<Utc>) -> Result<u64> {
            let mut kept = self.0.lock().unwrap();
            let before = kept.len();
            kept.retain(|_, at| *at > now);
            Ok((before - kept.len()) as u64)
        }
    }

    /// A store whose tallies are overtaken: before it applies an attempt's rule, `ahead` other
    /// attempts for the same address are counted first, a millisecond later by `clock`, as
    /// when an attempt waits for the row lock another instance holds.
    struct Overtaken {
        memory: Arc<Memory>,
        clock: Arc<Mutex<DateTime<Utc>>>,
        ahead: Mutex<usize>,
    }

    #[async_trait]
    impl LoginLimitStore for Overtaken {
        async fn tally(
            &self,
            keys: &[String],
            rule: &Rule<'_>,
        ) -> Result<std::result::Result<(), Throttled>> {
            let ahead = std::mem::take(&mut *self.ahead.lock().unwrap());
            if ahead > 0 {
                *self.clock.lock().unwrap() += TimeDelta::milliseconds(1);
                let others = LoginThrottle::new(POLICY, self.memory.clone());
                let at = *self.clock.lock().unwrap();
                for _ in 0..ahead {
                    admit(&others, "ann@example.com", AWAY, at).unwrap();
                }
            }
            self.memory.tally(keys, rule).await
        }

        async fn sweep(&self, now: DateTime<Utc>) -> Result<u64> {
            self.memory.sweep(now).await
        }
    }

    fn throttle(policy: ThrottlePolicy) -> (LoginThrottle, Arc<Memory>) {
        let memory = Arc::new(Memory::default());
        (LoginThrottle::new(policy, memory.clone()), memory)
    }

    fn admit(
        throttle: &LoginThrottle,
        email: &str,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> std::result::Result<Charge, Throttled> {
        ready(throttle.admit(email, client, &move || now)).unwrap()
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn secs(n: i64) -> TimeDelta {
        TimeDelta::seconds(n)
    }

    #[test]
    fn the_attempt_past_the_email_limit_waits_one_share_of_the_window() {
        let (throttle, _) = throttle(POLICY);
        for _ in 0..3 {
            admit(&throttle, "ann@example.com", HOME, t0()).unwrap();
        }
        let refused = admit(&throttle, "ann@example.com", AWAY, t0()).unwrap_err();
        assert_eq!(
            (refused.scope, refused.wait),
            (LimitScope::Email, Duration::from_secs(20))
        );
        // The same address in another case is the same address.
        assert!(admit(&throttle, " ANN@example.com", AWAY, t0()).is_err());
        assert!(admit(&throttle, "bob@example.com", AWAY, t0()).is_ok());
        let later = t0() + secs(20);
        assert!(admit(&throttle, "ann@example.com", AWAY, later).is_ok());
        assert!(admit(&throttle, "ann@example.com", AWAY, later).is_err());
    }

    #[test]
    fn one_client_guessing_many_addresses_is_limited_per_client() {
        let (throttle, _) = throttle(POLICY);
        for n in 0..5 {
            admit(&throttle, &format!("u{n}@example.com"), HOME, t0()).unwrap();
        }
        let refused = admit(&throttle, "u9@example.com", HOME, t0()).unwrap_err();
        assert_eq!(
            (refused.scope, refused.wait),
            (LimitScope::Client, Duration::from_secs(12))
        );
        assert!(admit(&throttle, "u9@example.com", AWAY, t0()).is_ok());
    }

    #[test]
    fn a_refused_attempt_is_not_charged() {
        let (throttle, memory) = throttle(POLICY);
        for _ in 0..3 {
            admit(&throttle, "ann@example.com", HOME, t0()).unwrap();
        }
        let before = memory.0.lock().unwrap().clone();
        admit(&throttle, "ann@example.com", HOME, t0()).unwrap_err();
        assert_eq!(*memory.0.lock().unwrap(), before);
    }

    #[test]
    fn a_success_forgives_the_address_and_does_not_count_for_the_client() {
        let (throttle, _) = throttle(POLICY);
        admit(&throttle, "ann@example.com", HOME, t0()).unwrap();
        admit(&throttle, "ann@example.com", HOME, t0()).unwrap();
        let success = admit(&throttle, "ann@example.com", HOME, t0()).unwrap();
        ready(throttle.forgive(success, &t0)).unwrap();
        for _ in 0..3 {
            admit(&throttle, "ann@example.com", HOME, t0()).unwrap();
        }
        // Five failures from HOME so far; the success was given back.
        assert!(admit(&throttle, "bob@example.com", HOME, t0()).is_err());
    }

    #[test]
    fn many_logins_that_succeed_are_never_throttled_and_leave_nothing_kept() {
        let (throttle, memory) = throttle(POLICY);
        for _ in 0..100 {
            let charge = admit(&throttle, "ann@example.com", HOME, t0()).unwrap();
            ready(throttle.forgive(charge, &t0)).unwrap();
        }
        assert!(memory.0.lock().unwrap().is_empty());
    }

    #[test]
    fn a_zero_limit_or_policy_off_admits_everything() {
        let (off, kept) = throttle(ThrottlePolicy::OFF);
        let (email_only, _) = throttle(ThrottlePolicy {
            per_client: 0,
            ..POLICY
        });
        for n in 0..50 {
            assert!(admit(&off, "ann@example.com", HOME, t0()).is_ok());
            assert!(admit(&email_only, &format!("u{n}@x.org"), HOME, t0()).is_ok());
        }
        assert!(kept.0.lock().unwrap().is_empty());
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
    fn an_attempt_overtaken_while_it_waits_is_judged_when_it_is_counted() {
        // Ann's limit is 3. Her attempt arrives at t0; two others overtake it a millisecond
        // later. Counted third, it is admitted: judged at its arrival, it would have found a
        // backlog that began after it arrived and been refused.
        let clock = Arc::new(Mutex::new(t0()));
        let store = Overtaken {
            memory: Arc::new(Memory::default()),
            clock: clock.clone(),
            ahead: Mutex::new(2),
        };
        let throttle = LoginThrottle::new(POLICY, Arc::new(store));
        let now = move || *clock.lock().unwrap();
        let admitted = ready(throttle.admit("ann@example.com", HOME, &now)).unwrap();
        assert!(admitted.is_ok(), "{admitted:?}");
        assert!(
            ready(throttle.admit("ann@example.com", HOME, &now))
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn each_attempt_moves_its_keys_drain_a_step_later() {
        let (throttle, memory) = throttle(POLICY);
        admit(&throttle, "ann@example.com", HOME, t0()).unwrap();
        admit(&throttle, "ann@example.com", None, t0()).unwrap();
        let kept = memory.0.lock().unwrap().clone();
        assert_eq!(kept["email:ann@example.com"], t0() + secs(40));
        assert_eq!(kept["client:127.0.0.1"], t0() + secs(12));
    }
}
