use super::*;
use crate::test_database::{MigratedTestDatabase, TestDatabase};
use chrono::{SubsecRound, TimeDelta};
use domain::throttle::{LimitScope, LoginThrottle, ThrottlePolicy};
use sea_orm::QueryOrder;
use std::{net::IpAddr, sync::Arc, time::Duration};

const POLICY: ThrottlePolicy = ThrottlePolicy {
    per_email: 10,
    per_client: 0,
    window: Duration::from_secs(600),
};

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

async fn limits() -> (SqlLoginLimits, MigratedTestDatabase) {
    let db = TestDatabase::migrated().await;
    (SqlLoginLimits::new(db.db.clone()), db)
}

async fn kept(db: &Database) -> Vec<(String, DateTime<Utc>)> {
    LoginLimits::find()
        .order_by_asc(Column::Key)
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.key, row.drained_at))
        .collect()
}

/// `per_email` failures per address a day: on the real clock, an attempt drains only after
/// 86 400 s / `per_email`, far longer than a test runs.
fn per_day(per_email: u32) -> ThrottlePolicy {
    ThrottlePolicy {
        per_email,
        per_client: 0,
        window: Duration::from_secs(86_400),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_attempts_on_one_address_are_admitted_only_up_to_the_limit() {
    let (store, _db) = limits().await;
    // Enough allowed that the attempts race on every connection of the pool, not only on the
    // first one while the others open.
    let policy = per_day(100);
    let throttle = LoginThrottle::new(policy, Arc::new(store));
    // Eight clients of 40 attempts each on the real clock: exactly the limit fits, whatever
    // the interleaving, also when an attempt that read the clock first is counted after
    // others. (Eight keep the pool's four connections busy without queueing anyone past the
    // acquire timeout.)
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let throttle = throttle.clone();
            tokio::spawn(async move {
                let mut admitted = 0;
                for _ in 0..40 {
                    match throttle.admit("ann@example.com", None, &now).await.unwrap() {
                        Ok(_) => admitted += 1,
                        Err(refused) => assert_eq!(refused.scope, LimitScope::Email),
                    }
                }
                admitted
            })
        })
        .collect();
    let mut admitted = 0;
    for client in clients {
        admitted += client.await.unwrap();
    }
    assert_eq!(admitted, policy.per_email);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn as_many_attempts_at_once_as_the_limit_are_all_admitted() {
    let (store, _db) = limits().await;
    let policy = per_day(8);
    let throttle = LoginThrottle::new(policy, Arc::new(store));
    // On the real clock, the attempts are counted in another order than they read it: each
    // must be judged when it is counted, or the last counted finds the backlog the first
    // began after it arrived and is refused.
    for address in 0..20 {
        let email = format!("u{address}@example.com");
        let attempts: Vec<_> = (0..policy.per_email)
            .map(|_| {
                let (throttle, email) = (throttle.clone(), email.clone());
                tokio::spawn(async move { throttle.admit(&email, None, &now).await.unwrap() })
            })
            .collect();
        for attempt in attempts {
            let admitted = attempt.await.unwrap();
            assert!(admitted.is_ok(), "{email}: {admitted:?}");
        }
        let past = throttle.admit(&email, None, &now).await.unwrap();
        assert!(past.is_err(), "{email}: one past the limit was admitted");
    }
}

#[tokio::test]
async fn two_pools_on_one_database_count_the_same_attempts() {
    let (store, db) = limits().await;
    // A second pool of its own, as a second instance has.
    let other = Database::connect(&crate::DatabaseSettings {
        url: db.url().to_owned(),
        max_connections: 4,
        durability: crate::Durability::default(),
    })
    .await
    .unwrap();
    let throttles = [
        LoginThrottle::new(POLICY, Arc::new(store)),
        LoginThrottle::new(POLICY, Arc::new(SqlLoginLimits::new(other.clone()))),
    ];
    let t0 = now();
    let client = Some(IpAddr::from([192, 0, 2, 7]));
    for n in 0..POLICY.per_email {
        let throttle = &throttles[n as usize % 2];
        assert!(
            throttle
                .admit("ann@example.com", client, &|| t0)
                .await
                .unwrap()
                .is_ok()
        );
    }
    for throttle in &throttles {
        let refused = throttle
            .admit("ann@example.com", client, &|| t0)
            .await
            .unwrap();
        assert!(refused.is_err(), "an attempt past the limit was admitted");
    }
    other.close().await.unwrap();
}

#[tokio::test]
async fn a_refusal_writes_nothing_and_waits_for_no_writer_and_a_success_forgets_the_address() {
    let (store, db) = limits().await;
    let throttle = LoginThrottle::new(
        ThrottlePolicy {
            per_email: 2,
            per_client: 4,
            ..POLICY
        },
        Arc::new(store),
    );
    let t0 = now();
    let client = Some(IpAddr::from([192, 0, 2, 7]));
    throttle
        .admit("ann@example.com", client, &|| t0)
        .await
        .unwrap()
        .unwrap();
    let success = throttle
        .admit("ann@example.com", client, &|| t0)
        .await
        .unwrap()
        .unwrap();
    let charged = kept(&db.db).await;
    assert_eq!(
        charged,
        [
            ("client:192.0.2.7".to_owned(), t0 + TimeDelta::seconds(300)),
            (
                "email:ann@example.com".to_owned(),
                t0 + TimeDelta::seconds(600)
            ),
        ]
    );
    // A refusal is decided on a read: it does not wait for a writer that holds the key's row
    // (and on SQLite the one write turn), as it would if it took a write transaction.
    let holder = db.db.begin_write().await.unwrap();
    LoginLimits::update_many()
        .col_expr(Column::DrainedAt, Expr::col(Column::DrainedAt))
        .filter(Column::Key.eq("email:ann@example.com"))
        .exec(holder.conn().unwrap())
        .await
        .unwrap();
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        throttle.admit("ann@example.com", client, &|| t0),
    )
    .await
    .expect("a refusal waits for no writer");
    assert!(refused.unwrap().is_err());
    holder.rollback().await.unwrap();
    assert_eq!(kept(&db.db).await, charged);
    throttle.forgive(success, &|| t0).await.unwrap();
    assert_eq!(
        kept(&db.db).await,
        [("client:192.0.2.7".to_owned(), t0 + TimeDelta::seconds(150))]
    );
}

#[tokio::test]
async fn a_sweep_forgets_only_the_keys_that_have_drained() {
    let (store, db) = limits().await;
    let throttle = LoginThrottle::new(POLICY, Arc::new(store.clone()));
    let t0 = now();
    throttle
        .admit("ann@example.com", None, &|| t0)
        .await
        .unwrap()
        .unwrap();
    throttle
        .admit("bob@example.com", None, &|| t0 + TimeDelta::seconds(5))
        .await
        .unwrap()
        .unwrap();
    let step = TimeDelta::seconds(60);
    assert_eq!(store.sweep(t0 + step).await.unwrap(), 1);
    assert_eq!(
        kept(&db.db).await,
        [(
            "email:bob@example.com".to_owned(),
            t0 + TimeDelta::seconds(5) + step
        )]
    );
}
