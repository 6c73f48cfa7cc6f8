use super::*;
use crate::{
    SqlUserRepository,
    test_database::{MigratedTestDatabase, TestDatabase},
};
use chrono::{Duration, SubsecRound};
use domain::users::UserRepository;
use std::{collections::HashSet, sync::Arc};

pub(super) struct Outbox {
    pub(super) repo: SqlNotificationRepository,
    owner: UserId,
    pub(super) db: MigratedTestDatabase,
}

pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(super) async fn outbox() -> Outbox {
    outbox_on(TestDatabase::new().await).await
}

/// An outbox with a user to own its notifications, on `database`.
pub(super) async fn outbox_on(database: TestDatabase) -> Outbox {
    let db = database.migrate().await;
    let users = SqlUserRepository::new(db.db.clone(), std::time::Duration::from_secs(1));
    let owner = users
        .insert(crate::users::tests::record("Ann", "ann@example.com"))
        .await
        .unwrap()
        .id;
    Outbox {
        repo: SqlNotificationRepository::new(db.db.clone()),
        owner,
        db,
    }
}

fn message(n: usize) -> NewNotification {
    NewNotification {
        email: Email::parse(&format!("to{n}@example.com")).unwrap(),
        subject: Subject::parse(&format!("subject {n}")).unwrap(),
        body: MessageBody::parse("hello").unwrap(),
    }
}

impl Outbox {
    pub(super) async fn queue(&self, n: usize) -> Notification {
        self.repo
            .create(self.owner, message(n), now())
            .await
            .unwrap()
    }

    async fn status(&self, id: NotificationId) -> Notification {
        self.repo.get(id).await.unwrap().unwrap()
    }
}

#[tokio::test]
async fn a_new_notification_is_queued_with_no_attempts() {
    let outbox = outbox().await;
    let n = outbox.queue(1).await;
    assert_eq!(
        (n.status, n.attempts, n.last_error.clone(), n.sent_at),
        (NotificationStatus::Queued, 0, None, None)
    );
    assert_eq!(outbox.repo.get(n.id).await.unwrap(), Some(n));
}

#[tokio::test]
async fn claiming_takes_due_notifications_once_under_a_lease() {
    let outbox = outbox().await;
    let first = outbox.queue(1).await;
    let second = outbox.queue(2).await;
    let t = now();
    let claimed = outbox
        .repo
        .claim(10, t, t + Duration::seconds(60))
        .await
        .unwrap();
    let ids: Vec<_> = claimed.iter().map(|n| n.id).collect();
    assert_eq!(ids, [first.id, second.id]);
    assert!(
        claimed
            .iter()
            .all(|n| n.status == NotificationStatus::Sending && n.attempts == 1)
    );
    assert!(
        outbox
            .repo
            .claim(10, t, t + Duration::seconds(60))
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
}

#[tokio::test]
async fn claiming_respects_the_limit() {
    let outbox = outbox().await;
    for n in 0..5 {
        outbox.queue(n).await;
    }
    let t = now();
    assert_eq!(
        outbox
            .repo
            .claim(3, t, t + Duration::seconds(60))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        outbox
            .repo
            .claim(3, t, t + Duration::seconds(60))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(outbox.repo.claim(0, t, t).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_instance_never_claims_its_own_delivery_in_flight_again_even_past_its_lease() {
    let outbox = outbox().await;
    outbox.queue(1).await;
    let t = now();
    outbox.repo.heartbeat(t).await.unwrap();
    outbox
        .repo
        .claim(1, t, t + Duration::seconds(30))
        .await
        .unwrap();
    let after_expiry = t + Duration::seconds(31);
    outbox.repo.heartbeat(after_expiry).await.unwrap();
    assert!(
        outbox
            .repo
            .claim(1, after_expiry, after_expiry + Duration::seconds(30))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_failed_attempt_backs_off_until_its_retry_time() {
    let outbox = outbox().await;
    let n = outbox.queue(1).await;
    let t = now();
    outbox
        .repo
        .claim(1, t, t + Duration::seconds(60))
        .await
        .unwrap();
    let retry_at = t + Duration::seconds(10);
    outbox
        .repo
        .mark_failed(n.id, "451 try later", AfterFailure::RetryAt(retry_at))
        .await
        .unwrap();
    let queued = outbox.status(n.id).await;
    assert_eq!(
        (queued.status, queued.last_error.as_deref()),
        (NotificationStatus::Queued, Some("451 try later"))
    );
    assert!(
        outbox
            .repo
            .claim(1, t + Duration::seconds(9), t + Duration::seconds(99))
            .await
            .unwrap()
            .is_empty()
    );
    let due = outbox
        .repo
        .claim(1, retry_at, retry_at + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!((due[0].id, due[0].attempts), (n.id, 2));
}

#[tokio::test]
async fn giving_up_fails_it_for_good_and_sending_marks_it_sent() {
    let outbox = outbox().await;
    let doomed = outbox.queue(1).await;
    let fine = outbox.queue(2).await;
    let t = now();
    outbox
        .repo
        .claim(2, t, t + Duration::seconds(60))
        .await
        .unwrap();
    outbox
        .repo
        .mark_failed(doomed.id, "550 no such user", AfterFailure::GiveUp)
        .await
        .unwrap();
    outbox.repo.mark_sent(fine.id, t).await.unwrap();
    let failed = outbox.status(doomed.id).await;
    assert_eq!(
        (failed.status, failed.last_error.as_deref()),
        (NotificationStatus::Failed, Some("550 no such user"))
    );
    let sent = outbox.status(fine.id).await;
    assert_eq!(
        (sent.status, sent.sent_at),
        (NotificationStatus::Sent, Some(t))
    );
    let much_later = t + Duration::days(1);
    assert!(
        outbox
            .repo
            .claim(10, much_later, much_later)
            .await
            .unwrap()
            .is_empty()
    );
    let counts = outbox.repo.count_by_status().await.unwrap();
    assert_eq!(
        counts,
        [
            (NotificationStatus::Queued, 0),
            (NotificationStatus::Sending, 0),
            (NotificationStatus::Sent, 1),
            (NotificationStatus::Failed, 1),
        ]
    );
}

#[tokio::test]
async fn concurrent_claimers_never_take_the_same_notification() {
    let outbox = Arc::new(outbox().await);
    for n in 0..100 {
        outbox.queue(n).await;
    }
    let t = now();
    let claimers: Vec<_> = (0..8)
        .map(|_| {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = outbox
                        .repo
                        .claim(5, t, t + Duration::seconds(60))
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|n| n.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (100, 100));
}

impl Outbox {
    /// A repository of another instance on the same database.
    fn other_instance(&self) -> SqlNotificationRepository {
        SqlNotificationRepository::new(self.repo.db.clone())
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL (several instances on one database): run by ./test.sh's PostgreSQL half"]
async fn a_claim_is_taken_over_once_its_instance_stops_beating_and_never_while_it_beats() {
    let outbox = outbox_on(TestDatabase::postgres_required().await).await;
    let n = outbox.queue(1).await;
    let other = outbox.other_instance();
    let t = now();
    let at = |seconds: i64| t + Duration::seconds(seconds);
    outbox.repo.heartbeat(t).await.unwrap();
    outbox.repo.claim(1, t, at(60)).await.unwrap();

    // Past its lease, a delivery of an instance that still beats is left alone.
    outbox.repo.heartbeat(at(98)).await.unwrap();
    assert!(other.claim(1, at(100), at(160)).await.unwrap().is_empty());
    // Its beats stopped more than the timeout ago: gone, and its claim is taken.
    let timeout = Duration::from_std(INSTANCE_TIMEOUT).unwrap();
    let gone = at(98) + timeout + Duration::seconds(1);
    let taken = other
        .claim(1, gone, gone + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(taken.iter().map(|n| n.id).collect::<Vec<_>>(), [n.id]);
    // Now the taker's: the first instance, back, does not take it back while the taker beats.
    other.heartbeat(gone).await.unwrap();
    let soon = gone + Duration::seconds(1);
    assert!(
        outbox
            .repo
            .claim(1, soon, at(999))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn on_sqlite_a_new_process_takes_back_every_claim_at_once() {
    let outbox = outbox_on(TestDatabase::sqlite()).await;
    let n = outbox.queue(1).await;
    let t = now();
    outbox
        .repo
        .claim(1, t, t + Duration::seconds(60))
        .await
        .unwrap();
    // The process that claimed it is killed, and a new one starts on the file a moment later.
    let restarted = outbox.other_instance();
    let soon = t + Duration::seconds(1);
    let taken = restarted
        .claim(1, soon, soon + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(taken.iter().map(|n| n.id).collect::<Vec<_>>(), [n.id]);
    // Its own claim in flight it does not take again.
    assert!(
        restarted
            .claim(1, soon, soon + Duration::seconds(60))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL (several instances on one database): run by ./test.sh's PostgreSQL half"]
async fn a_retired_instance_s_claims_are_taken_over_at_once() {
    let outbox = outbox_on(TestDatabase::postgres_required().await).await;
    outbox.queue(1).await;
    let t = now();
    outbox.repo.heartbeat(t).await.unwrap();
    outbox
        .repo
        .claim(1, t, t + Duration::seconds(60))
        .await
        .unwrap();
    let other = outbox.other_instance();
    assert!(
        other
            .claim(1, t, t + Duration::seconds(60))
            .await
            .unwrap()
            .is_empty()
    );
    outbox.repo.retire().await.unwrap();
    assert_eq!(
        other
            .claim(1, t, t + Duration::seconds(60))
            .await
            .unwrap()
            .len(),
        1
    );
}
