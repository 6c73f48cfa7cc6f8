//! What a delivery attempt's answer means, the Standard Webhooks way: a 2xx delivered it;
//! `410 Gone` says the endpoint is gone, which disables it; anything else (another status, no
//! answer within the timeout, a refused connection) is a failure tried again by the
//! [`RetrySchedule`] until its last attempt, after which the delivery has failed for good.

use super::schedule::{Next, RetrySchedule};
use std::time::Duration;

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The endpoint answered with this status; `retry_after` is its `Retry-After`, if any.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The endpoint's `Retry-After`, in seconds or as a date, as a duration from now.
        retry_after: Option<Duration>,
    },
    /// No answer: the connection failed or was refused (an address webhooks may not reach
    /// among the reasons), or the answer did not come within the timeout.
    NoAnswer(String),
}

/// What becomes of the delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered: nothing more to do.
    Delivered,
    /// Try again after this long.
    RetryIn(Duration),
    /// The last attempt failed: the delivery has failed, and so has the endpoint, which is
    /// disabled with `reason` (its owner sees it).
    Failed {
        /// Why, for the endpoint's owner.
        reason: String,
    },
    /// The endpoint said it is gone (410): the delivery ends and the endpoint is disabled.
    Gone,
}

impl Answer {
    /// Whether it counts as delivered.
    pub fn delivered(&self) -> bool {
        matches!(self, Self::Status { code, .. } if (200..300).contains(code))
    }

    /// What it was, in a few words, for the endpoint's owner.
    pub fn describe(&self) -> String {
        match self {
            Self::Status { code, .. } => format!("answered {code}"),
            Self::NoAnswer(why) => format!("no answer: {why}"),
        }
    }
}

/// The verdict on attempt number `attempt` (1 for the first) that ended with `answer`, under
/// `schedule`; `jitter` is a random number in `[0, 1)` that spreads the wait.
pub fn judge(answer: &Answer, attempt: u32, schedule: &RetrySchedule, jitter: f64) -> Verdict {
    let retry_after = match answer {
        _ if answer.delivered() => return Verdict::Delivered,
        Answer::Status { code: 410, .. } => return Verdict::Gone,
        Answer::Status { retry_after, .. } => *retry_after,
        Answer::NoAnswer(_) => None,
    };
    match schedule.after_failure(attempt, jitter, retry_after) {
        Next::RetryIn(wait) => Verdict::RetryIn(wait),
        Next::GiveUp => Verdict::Failed {
            reason: format!(
                "every attempt of a delivery failed over {} attempts; the last {}",
                schedule.attempts(),
                answer.describe()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Answer {
        Answer::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn any_2xx_delivers_and_a_redirect_does_not() {
        let schedule = RetrySchedule::standard();
        for code in [200, 201, 202, 204, 299] {
            assert_eq!(judge(&status(code), 1, &schedule, 0.5), Verdict::Delivered);
        }
        for code in [301, 302, 307, 308] {
            assert_eq!(
                judge(&status(code), 1, &schedule, 0.5),
                Verdict::RetryIn(Duration::from_secs(5)),
                "{code}: redirects are not followed, and not success"
            );
        }
    }

    #[test]
    fn gone_ends_the_delivery_at_once_whatever_the_attempt() {
        let schedule = RetrySchedule::standard();
        assert_eq!(judge(&status(410), 1, &schedule, 0.5), Verdict::Gone);
        assert_eq!(judge(&status(410), 8, &schedule, 0.5), Verdict::Gone);
    }

    #[test]
    fn failures_are_retried_on_the_schedule_honouring_retry_after_until_the_last() {
        let schedule = RetrySchedule::standard();
        let busy = Answer::Status {
            code: 503,
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(
            judge(&busy, 1, &schedule, 0.5),
            Verdict::RetryIn(Duration::from_secs(60))
        );
        let silent = Answer::NoAnswer("timed out after 10 s".into());
        assert_eq!(
            judge(&silent, 2, &schedule, 0.5),
            Verdict::RetryIn(Duration::from_secs(300))
        );
        let Verdict::Failed { reason } = judge(&status(500), 8, &schedule, 0.5) else {
            panic!("the last attempt's failure is final");
        };
        assert!(reason.contains("answered 500"), "{reason}");
        assert!(reason.contains("8 attempts"), "{reason}");
    }
}
