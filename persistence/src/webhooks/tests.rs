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
    _db: MigratedTestDatabase,
}

async fn store() -> Store {
    let db = TestDatabase::migrated().await;
    Store {
        repo: Arc::new(SqlWebhookRepository::new(db.db.clone())),
        users: SqlUserRepository::new(db.db.clone(), Duration::from_secs(60)),
        _db: db,
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
