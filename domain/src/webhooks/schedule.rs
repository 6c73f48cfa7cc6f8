//! When a delivery that failed is tried again.
//!
//! The default is the schedule Standard Webhooks senders use: the first attempt at once, then
//! 5 seconds, 5 minutes, 30 minutes, 2 hours, 5 hours, 10 hours and 10 hours after the attempt
//! before (eight attempts over about 27.6 hours). Each wait is spread by up to a fifth either
//! way (jitter), so that the retries of many deliveries that failed together do not arrive
//! together; an endpoint's `Retry-After` lengthens a wait, up to the schedule's longest. After
//! the last attempt fails the delivery has failed for good, and an endpoint whose every
//! delivery of a schedule fails is disabled.

use std::time::Duration;

/// The waits between a delivery's attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    /// The wait before each attempt after the first.
    waits: Vec<Duration>,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again after this long.
    RetryIn(Duration),
    /// That was the last attempt: the delivery has failed.
    GiveUp,
}

impl RetrySchedule {
    /// The Standard Webhooks schedule.
    pub fn standard() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            waits: vec![
                Duration::from_secs(5),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(600),
            ],
        }
    }

    /// This schedule with every wait multiplied by `factor` (between 0 and 1: a shorter one,
    /// for tests and local development); a factor outside that keeps it as it is.
    pub fn scaled(self, factor: f64) -> Self {
        if !(factor > 0.0 && factor <= 1.0) {
            return self;
        }
        Self {
            waits: self.waits.iter().map(|w| w.mul_f64(factor)).collect(),
        }
    }

    /// How many attempts a delivery gets in all.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.waits.len()).map_or(u32::MAX, |n| n.saturating_add(1))
    }

    /// The time from the first attempt to the last, without jitter.
    pub fn span(&self) -> Duration {
        self.waits.iter().sum()
    }

    /// What follows the failure of attempt number `attempt` (1 for the first): `jitter`, a
    /// random number in `[0, 1)`, spreads the wait; `retry_after` is the endpoint's own ask.
    pub fn after_failure(&self, attempt: u32, jitter: f64, retry_after: Option<Duration>) -> Next {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(wait) = self.waits.get(index) else {
            return Next::GiveUp;
        };
        let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        let wait = wait.mul_f64(spread);
        let longest = self.waits.iter().max().copied().unwrap_or_default();
        let asked = retry_after.map_or(Duration::ZERO, |asked| asked.min(longest));
        Next::RetryIn(wait.max(asked))
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_schedule_is_eight_attempts_over_about_a_day() {
        let schedule = RetrySchedule::standard();
        assert_eq!(schedule.attempts(), 8);
        let hours = schedule.span().as_secs_f64() / 3600.0;
        assert!((27.0..28.0).contains(&hours), "{hours}");
    }

    #[test]
    fn each_failure_waits_its_step_spread_by_a_fifth_and_the_last_gives_up() {
        let schedule = RetrySchedule::standard();
        let wait = |attempt, jitter| schedule.after_failure(attempt, jitter, None);
        assert_eq!(wait(1, 0.5), Next::RetryIn(Duration::from_secs(5)));
        assert_eq!(wait(1, 0.0), Next::RetryIn(Duration::from_secs(4)));
        assert_eq!(wait(1, 1.0), Next::RetryIn(Duration::from_secs(6)));
        assert_eq!(wait(2, 0.5), Next::RetryIn(Duration::from_secs(300)));
        assert_eq!(wait(7, 0.5), Next::RetryIn(Duration::from_secs(36_000)));
        assert_eq!(wait(8, 0.5), Next::GiveUp);
        assert_eq!(wait(100, 0.5), Next::GiveUp);
    }

    #[test]
    fn retry_after_lengthens_a_wait_up_to_the_longest_step_and_never_shortens_one() {
        let schedule = RetrySchedule::standard();
        let wait = |asked| schedule.after_failure(1, 0.5, Some(asked));
        assert_eq!(
            wait(Duration::from_secs(120)),
            Next::RetryIn(Duration::from_secs(120))
        );
        assert_eq!(
            wait(Duration::from_secs(1)),
            Next::RetryIn(Duration::from_secs(5))
        );
        assert_eq!(
            wait(Duration::from_secs(7 * 24 * 3600)),
            Next::RetryIn(Duration::from_secs(36_000))
        );
    }

    #[test]
    fn a_scaled_schedule_keeps_its_steps_shorter_and_a_bad_factor_changes_nothing() {
        let scaled = RetrySchedule::standard().scaled(0.001);
        assert_eq!(scaled.attempts(), 8);
        assert_eq!(
            scaled.after_failure(2, 0.5, None),
            Next::RetryIn(Duration::from_millis(300))
        );
        for factor in [0.0, -1.0, 2.0, f64::NAN] {
            assert_eq!(
                RetrySchedule::standard().scaled(factor),
                RetrySchedule::standard()
            );
        }
    }
}
