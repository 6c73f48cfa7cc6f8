use super::*;
use crate::{
    SqlUserRepository,
    test_database::{MigratedTestDatabase, TestDatabase},
};
use chrono::SubsecRound;
use domain::users::{UserRepository, deletion_rule};
use std::sync::Arc;

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn secret(byte: u8) -> SigningSecret {
    SigningSecret::from_bytes(vec![byte; 32]).unwrap()
}

fn first(byte: u8) -> KeptSecret {
    KeptSecret {
        secret: secret(byte),
        created_at: now(),
        expires_at: None,
    }
}

fn new(url: &str, events: &[&str]) -> NewEndpoint {
    NewEndpoint {
        url: WebhookUrl::parse(url).unwrap(),
        events: EventSet::parse(events.iter().copied()).unwrap(),
        description: Description::parse("orders").unwrap(),
        enabled: true,
    }
}

struct Store {
    repo: Arc<SqlWebhookRepository>,
    users: SqlUserRepository,
    db: MigratedTestDatabase,
}

async fn store() -> Store {
    let db = TestDatabase::migrated().await;
    Store {
        repo: Arc::new(SqlWebhookRepository::new(db.db.clone())),
        users: SqlUserRepository::new(db.db.clone(), Duration::from_secs(60)),
        db,
    }
}

impl Store {
    async fn owner(&self, email: &str) -> UserId {
        let record = crate::users::tests::record("Owner", email);
        self.users.insert(record).await.unwrap().id
    }

    /// A new user's endpoint, subscribed to `notification.sent`.
    async fn endpoint(&self, email: &str) -> (UserId, Endpoint) {
        let owner = self.owner(email).await;
        let new = new("https://hooks.example.com/", &["notification.sent"]);
        (
            owner,
            self.repo.create(owner, &new, &first(1)).await.unwrap(),
        )
    }
}

#[tokio::test]
async fn an_endpoint_reads_back_as_written_and_its_changes_persist() {
    let store = store().await;
    let repo = &store.repo;
    let ann = store.owner("ann@example.com").await;
    let events = ["account.transaction.booked", "notification.sent"];
    let made = repo
        .create(
            ann,
            &new("https://hooks.example.com/in?x=1", &events),
            &first(1),
        )
        .await
        .unwrap();
    assert_eq!(repo.get(made.id).await.unwrap(), Some(made.clone()));
    assert_eq!(made.events.iter().count(), 2);
    let changed = Endpoint {
        url: WebhookUrl::parse("https://other.example.com/").unwrap(),
        events: EventSet::parse(["notification.failed"]).unwrap(),
        ..made.clone().disabled_for("answered 410 Gone")
    };
    assert!(repo.update(&changed).await.unwrap());
    assert_eq!(repo.get(made.id).await.unwrap(), Some(changed));
    assert_eq!(
        repo.secrets(made.id).await.unwrap(),
        [first(1)].map(|k| KeptSecret {
            created_at: made.created_at,
            ..k
        })
    );
    assert!(repo.delete(made.id).await.unwrap());
    assert_eq!(repo.get(made.id).await.unwrap(), None);
    assert!(repo.secrets(made.id).await.unwrap().is_empty());
    assert!(!repo.delete(made.id).await.unwrap());
    assert!(!repo.update(&made).await.unwrap());
}

#[tokio::test]
async fn a_list_within_an_owners_reach_holds_only_theirs_by_ascending_id() {
    let store = store().await;
    let repo = &store.repo;
    let (ann, bob) = (
        store.owner("ann@example.com").await,
        store.owner("bob@example.com").await,
    );
    let mut anns = Vec::new();
    for (n, who) in [ann, bob, ann, bob, ann].into_iter().enumerate() {
        let url = format!("https://hooks.example.com/{n}");
        let made = repo
            .create(who, &new(&url, &["notification.sent"]), &first(1))
            .await
            .unwrap();
        if who == ann {
            anns.push(made.id);
        }
    }
    let ids = |list: Vec<Endpoint>| list.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let all = repo.list(Reach::OwnedBy(ann), None, 10).await.unwrap();
    assert_eq!(ids(all), anns);
    let rest = repo
        .list(Reach::OwnedBy(ann), Some(anns[0]), 1)
        .await
        .unwrap();
    assert_eq!(ids(rest), [anns[1]]);
    assert_eq!(
        repo.list(Reach::Everything, None, 10).await.unwrap().len(),
        5
    );
}

#[tokio::test]
async fn an_owners_deletion_takes_their_endpoints_and_secrets_along() {
    let store = store().await;
    let (ann, made) = store.endpoint("ann@example.com").await;
    let repo = &store.repo;
    let rule = deletion_rule(ann, domain::precondition::Precondition::none());
    store.users.delete(ann, rule).await.unwrap();
    assert_eq!(repo.get(made.id).await.unwrap(), None);
    assert!(repo.secrets(made.id).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_each_build_on_the_one_before() {
    let store = store().await;
    let (_, made) = store.endpoint("ann@example.com").await;
    let repo = &store.repo;
    let at = now();
    let rotations: Vec<_> = (2..10u8)
        .map(|byte| {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.rotate(made.id, secret(byte), at, Duration::from_secs(3600))
                    .await
                    .unwrap()
                    .unwrap()
            })
        })
        .collect();
    for rotation in rotations {
        rotation.await.unwrap();
    }
    // Nine secrets, one kept from each rotation: a rotation that read the secrets before
    // another wrote would drop that one's secret.
    let kept = repo.secrets(made.id).await.unwrap();
    assert_eq!(kept.len(), 9, "{kept:?}");
    assert_eq!(kept.iter().filter(|k| k.expires_at.is_none()).count(), 1);
    let missing = WebhookId::parse(made.id.get() + 1).unwrap();
    let none = repo.rotate(missing, secret(1), at, Duration::ZERO).await;
    assert_eq!(none.unwrap(), None);
}

mod outbox {
    use super::*;
    use crate::webhooks::deliveries::SqlDeliveryRepository;
    use domain::{
        streams::Topic,
        webhooks::{
            Answer, Delivery, DeliveryRepository, DeliveryStatus, Event, EventType, RetrySchedule,
            Subject, attempted,
        },
    };

    fn test_event(endpoint: WebhookId) -> Event {
        Event {
            kind: EventType::Test,
            subject: Subject::Endpoint(endpoint),
            occurred_at: now(),
        }
    }

    fn answered(delivery: Delivery, code: u16) -> domain::webhooks::Attempted {
        let answer = Answer::Status {
            code,
            retry_after: None,
        };
        let schedule = RetrySchedule::standard();
        attempted(
            delivery,
            &answer,
            Duration::from_millis(3),
            now(),
            &schedule,
            0.5,
        )
    }

    #[tokio::test]
    async fn a_claimed_delivery_is_held_until_recorded_and_then_final() {
        let store = store().await;
        let (_, hook) = store.endpoint("ann@example.com").await;
        let outbox = SqlDeliveryRepository::new(store.db.db.clone(), "one".into());
        let other = SqlDeliveryRepository::new(store.db.db.clone(), "two".into());
        let written = outbox.enqueue(hook.id, test_event(hook.id)).await.unwrap();
        assert_eq!(written.status, DeliveryStatus::Pending);
        let claimed = outbox.claim(10, now()).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let held = claimed[0].delivery.clone();
        assert_eq!((held.status, held.attempts), (DeliveryStatus::Sending, 1));
        assert_eq!(held.message_id, written.message_id);
        assert_eq!(claimed[0].endpoint, hook);
        assert_eq!(claimed[0].secrets.len(), 1);
        assert!(
            outbox.claim(10, now()).await.unwrap().is_empty(),
            "its own claim"
        );
        other.record(&answered(held.clone(), 204)).await.unwrap();
        let still = outbox.get(hook.id, held.id).await.unwrap().unwrap();
        assert_eq!(
            still.status,
            DeliveryStatus::Sending,
            "only the holder records"
        );
        outbox.record(&answered(held.clone(), 204)).await.unwrap();
        let done = outbox.get(hook.id, held.id).await.unwrap().unwrap();
        assert_eq!(done.status, DeliveryStatus::Delivered);
        assert_eq!(done.last_status_code, Some(204));
        assert!(done.delivered_at.is_some());
        assert!(outbox.claim(10, now()).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_gone_endpoint_is_disabled_with_the_last_attempt_and_a_resend_keeps_the_id() {
        let store = store().await;
        let (_, hook) = store.endpoint("ann@example.com").await;
        let outbox = SqlDeliveryRepository::new(store.db.db.clone(), "one".into());
        let mut booked = test_event(hook.id);
        booked.kind = EventType::NotificationSent;
        booked.subject =
            Subject::Notification(domain::notifications::NotificationId::parse(5).unwrap());
        outbox.enqueue(hook.id, booked).await.unwrap();
        let claimed = outbox.claim(10, now()).await.unwrap().remove(0).delivery;
        outbox
            .record(&answered(claimed.clone(), 410))
            .await
            .unwrap();
        let endpoint = store.repo.get(hook.id).await.unwrap().unwrap();
        assert!(!endpoint.enabled);
        assert!(endpoint.disabled_reason.unwrap().contains("410"));
        let resent = outbox
            .resend(hook.id, claimed.id, now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resent.status, DeliveryStatus::Pending);
        assert_eq!(resent.message_id, claimed.message_id);
        assert_eq!(resent.attempts, 0);
        let listed = outbox.list(hook.id, None, 10).await.unwrap();
        assert_eq!(listed, [resent]);
        assert!(
            outbox
                .list(hook.id, Some(claimed.id), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_gone_processs_claim_is_taken_over_with_its_webhook_id() {
        let store = store().await;
        let (_, hook) = store.endpoint("ann@example.com").await;
        let dead = SqlDeliveryRepository::new(store.db.db.clone(), "dead".into());
        dead.enqueue(hook.id, test_event(hook.id)).await.unwrap();
        let taken = dead.claim(10, now()).await.unwrap().remove(0).delivery;
        let next = SqlDeliveryRepository::new(store.db.db.clone(), "next".into());
        // On SQLite the dead process's claims are the restarted one's at once; on PostgreSQL,
        // once its heartbeat is older than the instance timeout (it never beat here).
        let again = next.claim(10, now()).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].delivery.message_id, taken.message_id);
        assert_eq!(again[0].delivery.attempts, 2);
    }

    #[tokio::test]
    async fn deliveries_are_written_with_the_booking_and_announced_to_the_workers() {
        let store = store().await;
        let (ann, hook) = store.endpoint("ann@example.com").await;
        let subscribed = Endpoint {
            events: EventSet::parse(["account.transaction.booked"]).unwrap(),
            ..hook.clone()
        };
        store.repo.update(&subscribed).await.unwrap();
        let mut watch = store.db.db.wakeups().watch(Topic::WebhookDeliveries);
        store.db.db.hearing().await;
        let accounts = crate::SqlAccountRepository::new(store.db.db.clone());
        let eur = domain::money::Currency::parse("EUR").unwrap();
        let account = domain::accounts::AccountRepository::create(&accounts, ann, eur, now())
            .await
            .unwrap();
        let amount = domain::money::Amount::parse(250).unwrap();
        let plan = domain::accounts::Plan::new(
            domain::accounts::Movement::Deposit(account.id, amount),
            Reach::Everything,
        )
        .unwrap();
        let booked = domain::accounts::AccountRepository::book(&accounts, &plan, None, now())
            .await
            .unwrap();
        assert!(matches!(booked, domain::accounts::Booking::Booked(_)));
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .expect("the workers are woken");
        let outbox = SqlDeliveryRepository::new(store.db.db.clone(), "one".into());
        let listed = outbox.list(hook.id, None, 10).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].event.kind, EventType::TransactionBooked);
        let Subject::Transaction(on, _) = listed[0].event.subject else {
            panic!("{:?}", listed[0].event.subject);
        };
        assert_eq!(on, account.id);
    }
}
