//! Notifications: e-mail accepted now (202) and delivered later by a background worker.
//!
//! Rules kept here: a notification is stored before it is acknowledged; its subject is one line
//! of 1..=200 characters and its body 1..=10000; only its creator or an admin reads it. A failed
//! delivery is retried after an exponentially growing, jittered delay, until the attempts run
//! out and it is `failed` for good ([`RetryPolicy`]). A worker holds a claim on a notification
//! for a lease; a notification whose worker died is claimed again when the lease runs out, so
//! delivery is at least once (and exactly once for the file transport, which rewrites the same
//! file).

use crate::{
    Email, Error, Result, Violation, now,
    principal::Principal,
    streams::{self, Followed, Topic, Wakeups},
    users::UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::{sync::Arc, time::Duration};

pub use crate::ids::NotificationId;

/// A subject: one line of 1..=200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject(String);

impl Subject {
    /// The longest subject accepted, in characters.
    pub const MAX_LEN: usize = 200;

    /// Parses a subject; line breaks and other control characters are refused, so that a
    /// subject can never add a header to the message.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Violation::check_text(value, 1, Self::MAX_LEN)?;
        if value.chars().any(char::is_control) {
            return Err(Violation::new(
                "string_control",
                "must be one line without control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The subject as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

bounded_text!(
    /// A message body: 1..=10000 characters.
    MessageBody,
    "body",
    1..=10_000
);

/// Where a notification is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationStatus {
    /// Stored, waiting for a worker (first attempt or a retry).
    Queued,
    /// Claimed by a worker that is delivering it.
    Sending,
    /// Delivered.
    Sent,
    /// Given up on after the last attempt.
    Failed,
}

impl NotificationStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [Self::Queued, Self::Sending, Self::Sent, Self::Failed];

    /// The status's name on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// Whether the notification will not change again: `sent` or `failed`.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Sent | Self::Failed)
    }
}

/// A notification to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// The recipient.
    pub email: Email,
    /// The subject line.
    pub subject: Subject,
    /// The text.
    pub body: MessageBody,
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The notification's id.
    pub id: NotificationId,
    /// Who asked for it.
    pub owner_id: UserId,
    /// The recipient.
    pub email: Email,
    /// The subject line.
    pub subject: Subject,
    /// The text.
    pub body: MessageBody,
    /// Where it is in its life.
    pub status: NotificationStatus,
    /// Delivery attempts so far (claims, including the one in progress).
    pub attempts: u32,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it is due for its next attempt, while it is queued.
    pub next_attempt_at: DateTime<Utc>,
}

/// One stored change of a notification: its number in the notification's sequence of changes
/// (1 when it was accepted), and the notification as it became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationEvent {
    /// The change's number: each change of one notification has the next.
    pub seq: u64,
    /// The notification right after the change.
    pub notification: Notification,
}

/// How long a client watching a notification in flight waits at least between looks: a
/// delivery takes milliseconds, so a second later it has usually moved on.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

impl Notification {
    /// How long, from `now`, a client watching this notification should wait before it looks
    /// again: nothing once it is `sent` or `failed` (it will not change); until its next
    /// attempt when a retry is scheduled later than that; else [`POLL_INTERVAL`]. In whole
    /// seconds, as `Retry-After` gives them.
    pub fn look_again_after(&self, now: DateTime<Utc>) -> Option<Duration> {
        match self.status {
            NotificationStatus::Sent | NotificationStatus::Failed => None,
            NotificationStatus::Sending => Some(POLL_INTERVAL),
            NotificationStatus::Queued => {
                let due = (self.next_attempt_at - now).to_std().unwrap_or_default();
                let whole = Duration::from_secs(due.as_secs() + u64::from(due.subsec_nanos() > 0));
                Some(whole.max(POLL_INTERVAL))
            }
        }
    }
}

/// When to try again after a failed delivery, and when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before giving up (the first delivery included).
    pub max_attempts: u32,
    /// The delay after the first failure; each later one doubles it.
    pub base_delay: Duration,
    /// The longest delay between attempts.
    pub max_delay: Duration,
}

/// What happens after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Queue it again, due at this time.
    RetryAt(DateTime<Utc>),
    /// No attempts left: it failed.
    GiveUp,
}

impl RetryPolicy {
    /// The decision after attempt number `attempts` (1-based) failed at `now` with `error`: a
    /// permanent refusal ends it at once, a transient one is retried (see
    /// [`RetryPolicy::after_failure`]).
    pub fn after_error(
        &self,
        error: &DeliveryError,
        attempts: u32,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> AfterFailure {
        if error.permanent {
            AfterFailure::GiveUp
        } else {
            self.after_failure(attempts, now, jitter)
        }
    }

    /// The decision after attempt number `attempts` (1-based) failed at `now`. `jitter` in
    /// `0.0..1.0` spreads retries over the upper half of the delay, so that notifications that
    /// failed together (a mail server outage) do not all come back at the same instant.
    pub fn after_failure(&self, attempts: u32, now: DateTime<Utc>, jitter: f64) -> AfterFailure {
        if attempts >= self.max_attempts {
            return AfterFailure::GiveUp;
        }
        let doublings = attempts.saturating_sub(1).min(30);
        let delay = self
            .base_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay);
        let jittered = delay.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        let delay = chrono::Duration::from_std(jittered).unwrap_or(chrono::Duration::MAX);
        AfterFailure::RetryAt(now.checked_add_signed(delay).unwrap_or(now))
    }
}

/// Why a delivery failed, as the mail transport told it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// What the transport said.
    pub message: String,
    /// Whether trying again cannot help (the server refused for good, e.g. an SMTP 5xx).
    pub permanent: bool,
}

impl DeliveryError {
    /// A failure that may pass (a timeout, a 4xx, a full disk).
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    /// A refusal that will not change.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}

/// How often an instance says it is alive.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long after its last heartbeat an instance counts as gone, and its claims are taken
/// over: a few missed beats, so that a busy instance is not taken for dead.
pub const INSTANCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where notifications are stored, and claimed from by workers.
#[async_trait]
pub trait NotificationRepository: Send + Sync {
    /// Stores a queued notification, due now.
    async fn create(
        &self,
        owner: UserId,
        new: NewNotification,
        now: DateTime<Utc>,
    ) -> Result<Notification>;

    /// The notification with `id`, if any.
    async fn get(&self, id: NotificationId) -> Result<Option<Notification>>;

    /// Up to `limit` of the notification's stored changes numbered above `after`, in order.
    /// Every change of status (and every failed attempt, which queues a retry) is stored in
    /// the same transaction as the change itself.
    async fn events(
        &self,
        id: NotificationId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<NotificationEvent>>;

    /// The notification's last stored change, if any.
    async fn last_event(&self, id: NotificationId) -> Result<Option<NotificationEvent>>;

    /// Claims up to `limit` notifications that are due (queued and due by `now`; sending under
    /// a claim of an instance whose heartbeat stopped [`INSTANCE_TIMEOUT`] before `now`; or
    /// sending under a claim that names no instance, whose lease ran out), atomically against
    /// every other worker and instance: each becomes `sending`, claimed by this instance under
    /// a lease until `lease_until`, with one more attempt counted. A claim of an instance that
    /// still beats is never taken, however long its delivery takes.
    async fn claim(
        &self,
        limit: usize,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Notification>>;

    /// Says, at `now`, that this instance is alive, so that others leave its claims alone.
    /// Where one process owns the database (SQLite) there are no others, and every claim of
    /// another instance is one of a process that has gone, taken back at once.
    async fn heartbeat(&self, now: DateTime<Utc>) -> Result<()>;

    /// Gives up this instance's heartbeat as it stops, so that claims its deliveries left
    /// behind are taken over at once.
    async fn retire(&self) -> Result<()>;

    /// Records the delivery of a claimed notification.
    async fn mark_sent(&self, id: NotificationId, at: DateTime<Utc>) -> Result<()>;

    /// Records a failed delivery of a claimed notification, and what follows.
    async fn mark_failed(&self, id: NotificationId, error: &str, next: AfterFailure) -> Result<()>;

    /// How many notifications are in each status.
    async fn count_by_status(&self) -> Result<Vec<(NotificationStatus, u64)>>;
}

/// Delivers one notification as an e-mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `notification` to its recipient.
    async fn send(&self, notification: &Notification) -> Result<(), DeliveryError>;
}

/// Tells the delivery worker that new work is waiting (so it need not wait for its next poll).
pub trait OutboxSignal: Send + Sync {
    /// Wakes the worker.
    fn wake(&self);
}

/// The notifications use cases.
#[derive(Clone)]
pub struct NotificationService {
    repo: Arc<dyn NotificationRepository>,
    signal: Arc<dyn OutboxSignal>,
    wakeups: Arc<dyn Wakeups>,
}

impl NotificationService {
    /// A service over `repo`, waking the worker through `signal`, and followers through
    /// `changes`.
    pub fn new(
        repo: Arc<dyn NotificationRepository>,
        signal: Arc<dyn OutboxSignal>,
        wakeups: Arc<dyn Wakeups>,
    ) -> Self {
        Self {
            repo,
            signal,
            wakeups,
        }
    }

    /// Stores a notification for delivery (it is durable when this returns).
    pub async fn submit(&self, actor: &Principal, new: NewNotification) -> Result<Notification> {
        let stored = self.repo.create(actor.user_id, new, now()).await?;
        self.signal.wake();
        Ok(stored)
    }

    /// The notification with `id`, for its creator or an admin.
    pub async fn get(&self, actor: &Principal, id: NotificationId) -> Result<Notification> {
        let notification = self
            .repo
            .get(id)
            .await?
            .ok_or(Error::NotificationNotFound(id))?;
        actor.require_self_or_admin(notification.owner_id)?;
        Ok(notification)
    }

    /// The changes of notification `id`, for its creator or an admin, as they are stored: those
    /// numbered above `after` when it is given (a follower resuming), else its current state
    /// first. The stream ends after the change that makes it `sent` or `failed`.
    pub async fn follow(
        &self,
        actor: &Principal,
        id: NotificationId,
        after: Option<u64>,
    ) -> Result<Followed<NotificationEvent>> {
        let watch = self.wakeups.watch(Topic::Notification(id));
        let current = self.get(actor, id).await?;
        let last = self.repo.last_event(id).await?.map_or(0, |event| event.seq);
        let after = after.unwrap_or(last.saturating_sub(1));
        if current.status.is_final() && after >= last {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let repo = self.repo.clone();
        let read = move |after| {
            let repo = repo.clone();
            async move { repo.events(id, after, streams::BATCH).await }
        };
        Ok(streams::follow(
            after,
            watch,
            read,
            |event| event.seq,
            |event| event.notification.status.is_final(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn delay(after: AfterFailure) -> i64 {
        match after {
            AfterFailure::RetryAt(at) => (at - t0()).num_milliseconds(),
            AfterFailure::GiveUp => panic!("expected a retry"),
        }
    }

    #[test]
    fn retries_back_off_exponentially_between_half_and_full_delay() {
        let p = policy();
        assert_eq!(delay(p.after_failure(1, t0(), 1.0)), 2_000);
        assert_eq!(delay(p.after_failure(1, t0(), 0.0)), 1_000);
        assert_eq!(delay(p.after_failure(2, t0(), 1.0)), 4_000);
        assert_eq!(delay(p.after_failure(3, t0(), 1.0)), 8_000);
        assert_eq!(delay(p.after_failure(4, t0(), 0.5)), 12_000);
    }

    #[test]
    fn delay_is_capped() {
        let p = RetryPolicy {
            max_attempts: 100,
            ..policy()
        };
        assert_eq!(delay(p.after_failure(50, t0(), 1.0)), 60_000);
    }

    #[test]
    fn a_permanent_refusal_gives_up_at_once() {
        let refused = DeliveryError::permanent("550 no such user");
        assert_eq!(
            policy().after_error(&refused, 1, t0(), 0.5),
            AfterFailure::GiveUp
        );
        let busy = DeliveryError::transient("451 try later");
        assert!(matches!(
            policy().after_error(&busy, 1, t0(), 0.5),
            AfterFailure::RetryAt(_)
        ));
    }

    #[test]
    fn after_the_last_attempt_it_gives_up() {
        assert_eq!(policy().after_failure(5, t0(), 0.3), AfterFailure::GiveUp);
        assert_eq!(policy().after_failure(9, t0(), 0.3), AfterFailure::GiveUp);
    }

    #[test]
    fn subject_is_one_line_of_one_to_200_characters() {
        assert!(Subject::parse("Hello, Ann").is_ok());
        assert!(Subject::parse(&"s".repeat(200)).is_ok());
        assert_eq!(Subject::parse("").unwrap_err().code, "string_too_short");
        assert_eq!(
            Subject::parse(&"s".repeat(201)).unwrap_err().code,
            "string_too_long"
        );
        for injection in ["Hi\r\nBcc: x@evil.com", "Hi\nthere", "tab\there"] {
            assert_eq!(
                Subject::parse(injection).unwrap_err().code,
                "string_control"
            );
        }
    }

    #[test]
    fn body_has_one_to_ten_thousand_characters_and_may_span_lines() {
        assert!(MessageBody::parse("line one\nline two").is_ok());
        assert!(MessageBody::parse(&"b".repeat(10_000)).is_ok());
        assert_eq!(MessageBody::parse("").unwrap_err().code, "string_too_short");
        assert_eq!(
            MessageBody::parse(&"b".repeat(10_001)).unwrap_err().code,
            "string_too_long"
        );
    }

    #[test]
    fn statuses_round_trip() {
        for status in NotificationStatus::ALL {
            assert_eq!(NotificationStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(NotificationStatus::parse("lost"), None);
    }

    fn stored(status: NotificationStatus, next_attempt_at: DateTime<Utc>) -> Notification {
        Notification {
            id: NotificationId::parse(1).unwrap(),
            owner_id: UserId::parse(1).unwrap(),
            email: Email::parse("ann@example.com").unwrap(),
            subject: Subject::parse("Hi").unwrap(),
            body: MessageBody::parse("Hello").unwrap(),
            status,
            attempts: 1,
            last_error: None,
            created_at: t0(),
            sent_at: None,
            next_attempt_at,
        }
    }

    #[test]
    fn a_watcher_looks_again_in_a_second_or_at_the_next_attempt_and_never_once_final() {
        let soon = t0() + chrono::Duration::milliseconds(200);
        let later = t0() + chrono::Duration::milliseconds(7_300);
        let look = |status, due| stored(status, due).look_again_after(t0());
        assert_eq!(look(NotificationStatus::Queued, t0()), Some(POLL_INTERVAL));
        assert_eq!(look(NotificationStatus::Queued, soon), Some(POLL_INTERVAL));
        assert_eq!(
            look(NotificationStatus::Queued, later),
            Some(Duration::from_secs(8))
        );
        assert_eq!(
            look(NotificationStatus::Sending, later),
            Some(POLL_INTERVAL)
        );
        assert_eq!(look(NotificationStatus::Sent, later), None);
        assert_eq!(look(NotificationStatus::Failed, later), None);
    }
}
