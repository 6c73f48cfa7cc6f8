//! Every change of a notification stored with it, in order, readable from any point, and
//! announced to its followers: in this process, and on PostgreSQL to another instance.

use super::super::tests::{Outbox, now, outbox, outbox_on};
use crate::{Database, DatabaseSettings, test_database::TestDatabase};
use chrono::Duration;
use domain::{
    notifications::{AfterFailure, NotificationId, NotificationRepository, NotificationStatus},
    streams::{Topic, Watch},
};
use sea_orm::ConnectionTrait;

/// Statuses and attempts of the changes read after `after`.
async fn changes(outbox: &Outbox, id: NotificationId, after: u64) -> Vec<(u64, &'static str, u32)> {
    let read = outbox.repo.events(id, after, 100).await.unwrap();
    read.into_iter()
        .map(|e| {
            (
                e.seq,
                e.notification.status.as_str(),
                e.notification.attempts,
            )
        })
        .collect()
}

#[tokio::test]
async fn every_change_of_a_notification_is_stored_in_order_and_read_after_any_point() {
    let outbox = outbox().await;
    let n = outbox.queue(1).await;
    let t = now();
    let lease = t + Duration::seconds(60);
    outbox.repo.claim(1, t, lease).await.unwrap();
    let retry = AfterFailure::RetryAt(t);
    outbox
        .repo
        .mark_failed(n.id, "451 try later", retry)
        .await
        .unwrap();
    outbox.repo.claim(1, t, lease).await.unwrap();
    outbox.repo.mark_sent(n.id, t).await.unwrap();
    // Not sending any more: no change, and no event.
    outbox.repo.mark_sent(n.id, t).await.unwrap();
    assert_eq!(
        changes(&outbox, n.id, 0).await,
        [
            (1, "queued", 0),
            (2, "sending", 1),
            (3, "queued", 1),
            (4, "sending", 2),
            (5, "sent", 2),
        ]
    );
    assert_eq!(
        changes(&outbox, n.id, 3).await,
        [(4, "sending", 2), (5, "sent", 2)]
    );
    let failed = outbox.repo.events(n.id, 2, 1).await.unwrap();
    assert_eq!(
        failed[0].notification.last_error.as_deref(),
        Some("451 try later")
    );
    let last = outbox.repo.last_event(n.id).await.unwrap().unwrap();
    assert_eq!(
        (last.seq, last.notification.status),
        (5, NotificationStatus::Sent)
    );
    assert_eq!(
        last.notification.subject, n.subject,
        "the unchanging fields too"
    );
    // Another notification's changes are its own.
    let other = outbox.queue(2).await;
    assert_eq!(changes(&outbox, other.id, 0).await, [(1, "queued", 0)]);
}

/// Whether `watch` wakes within `within`.
async fn wakes(watch: &mut Box<dyn Watch>, within: std::time::Duration) -> bool {
    tokio::time::timeout(within, watch.changed()).await.is_ok()
}

#[tokio::test]
async fn a_committed_change_wakes_the_followers_of_its_notification() {
    let outbox = outbox().await;
    let n = outbox.queue(1).await;
    let m = outbox.queue(2).await;
    // On PostgreSQL every follower reads again once the listener is up, and the listener hears
    // the two creations a moment after their commits: let both pass.
    outbox.db.db.hearing().await;
    let changes = outbox.db.db.wakeups();
    let mut follower = changes.watch(Topic::Notification(n.id));
    let mut other = changes.watch(Topic::Notification(m.id));
    let t = now();
    let claimed = outbox
        .repo
        .claim(1, t, t + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(claimed[0].id, n.id);
    let quick = std::time::Duration::from_millis(500);
    assert!(wakes(&mut follower, quick).await);
    assert!(!wakes(&mut other, std::time::Duration::from_millis(50)).await);
}

#[tokio::test]
#[ignore = "needs PostgreSQL (several instances on one database): run by ./test.sh's PostgreSQL half"]
async fn another_instance_hears_a_change_within_a_second_even_after_its_channel_was_cut() {
    let outbox = outbox_on(TestDatabase::postgres_required().await).await;
    let other = Database::connect(&DatabaseSettings {
        url: outbox.db.url().to_owned(),
        max_connections: 2,
        durability: Default::default(),
    })
    .await
    .unwrap();
    let n = outbox.queue(1).await;
    other.hearing().await;
    let mut follower = other.wakeups().watch(Topic::Notification(n.id));
    let t = now();
    outbox
        .repo
        .claim(1, t, t + Duration::seconds(60))
        .await
        .unwrap();
    let heard = std::time::Instant::now();
    assert!(wakes(&mut follower, std::time::Duration::from_secs(1)).await);
    eprintln!("another instance heard the change in {:?}", heard.elapsed());
    // Nothing more was committed: it sleeps, with its channel open.
    assert!(!wakes(&mut follower, std::time::Duration::from_millis(1500)).await);
    // Its channel cut: followers read again at once, and the listener reconnects.
    outbox
        .db
        .db
        .conn()
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .await
        .unwrap();
    assert!(wakes(&mut follower, std::time::Duration::from_secs(2)).await);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    outbox.repo.mark_sent(n.id, now()).await.unwrap();
    assert!(wakes(&mut follower, std::time::Duration::from_secs(1)).await);
    let read = other_repo(&other).events(n.id, 2, 10).await.unwrap();
    assert_eq!(read.len(), 1, "the change is there to read");
}

fn other_repo(db: &Database) -> crate::SqlNotificationRepository {
    crate::SqlNotificationRepository::new(db.clone())
}
