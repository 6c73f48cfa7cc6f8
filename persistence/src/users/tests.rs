use super::*;
use crate::test_database::{MigratedTestDatabase, TestDatabase};
use chrono::{SubsecRound, Utc};
use domain::{
    precondition::Precondition,
    users::{PutOutcome, deletion_rule, put_user},
};
use std::time::Duration;

/// The repository over a fresh, migrated test database.
struct Users {
    repo: SqlUserRepository,
    _db: MigratedTestDatabase,
}

async fn users() -> Users {
    let db = TestDatabase::migrated().await;
    Users {
        repo: SqlUserRepository::new(db.db.clone(), Duration::from_secs(60)),
        _db: db,
    }
}

/// A user called `name` at `email`, not an admin, to insert (also for other modules' tests).
pub(crate) fn record(name: &str, email: &str) -> NewUserRecord {
    let now = Utc::now().trunc_subsecs(6);
    NewUserRecord {
        id: (),
        name: UserName::parse(name).unwrap(),
        email: Email::parse(email).unwrap(),
        bio: None,
        password_hash: PasswordHash::from_phc("$argon2id$test".into()),
        is_admin: false,
        created_at: now,
        updated_at: now,
    }
}

fn id(n: i64) -> UserId {
    UserId::parse(n).unwrap()
}

#[tokio::test]
async fn inserted_user_reads_back_equal() {
    let db = users().await;
    let mut rec = record("Ann", "Ann@Example.com");
    rec.bio = Some(Bio::parse("hi").unwrap());
    let user = db.repo.insert(rec.clone()).await.unwrap();
    assert_eq!(user.name, rec.name);
    assert_eq!(user.email.as_str(), "Ann@Example.com");
    assert_eq!(user.created_at, rec.created_at);
    assert_eq!(user.updated_at, rec.created_at);
    assert_eq!(db.repo.get(user.id).await.unwrap(), Some(user));
}

#[tokio::test]
async fn email_differing_only_in_case_is_taken() {
    let db = users().await;
    db.repo
        .insert(record("Ann", "ann@example.com"))
        .await
        .unwrap();
    let err = db
        .repo
        .insert(record("Other", "ANN@EXAMPLE.COM"))
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::EmailTaken), "{err:?}");
}

#[tokio::test]
async fn missing_user_reads_as_none() {
    let db = users().await;
    assert_eq!(db.repo.get(id(99)).await.unwrap(), None);
}

#[tokio::test]
async fn list_walks_pages_by_ascending_id() {
    let db = users().await;
    for n in 0..5 {
        db.repo
            .insert(record("U", &format!("u{n}@example.com")))
            .await
            .unwrap();
    }
    let first = db.repo.list(None, 2).await.unwrap();
    let ids: Vec<i64> = first.iter().map(|u| u.id.get()).collect();
    assert_eq!(ids, [1, 2]);
    let rest = db.repo.list(Some(id(2)), 10).await.unwrap();
    let ids: Vec<i64> = rest.iter().map(|u| u.id.get()).collect();
    assert_eq!(ids, [3, 4, 5]);
}

fn put_edit(target: UserId, email: &str) -> UserEdit {
    let input = domain::users::NewUser {
        name: UserName::parse("Put").unwrap(),
        email: Email::parse(email).unwrap(),
        password: domain::users::Password::parse("password1").unwrap(),
        bio: None,
    };
    let hash = PasswordHash::from_phc("$argon2id$put".into());
    let now = Utc::now().trunc_subsecs(6);
    Box::new(move |existing| Ok(put_user(target, existing, input, hash, now).0))
}

#[tokio::test]
async fn upsert_creates_with_the_chosen_id_then_replaces() {
    let db = users().await;
    let (created, outcome) = db
        .repo
        .upsert(id(40), put_edit(id(40), "p@example.com"))
        .await
        .unwrap();
    assert_eq!(outcome, PutOutcome::Created);
    assert_eq!(created.id, id(40));
    let (replaced, outcome) = db
        .repo
        .upsert(id(40), put_edit(id(40), "q@example.com"))
        .await
        .unwrap();
    assert_eq!(outcome, PutOutcome::Replaced);
    assert_eq!(replaced.created_at, created.created_at);
    assert_eq!(db.repo.get(id(40)).await.unwrap(), Some(replaced));
    // The next assigned id continues after the chosen one.
    let next = db.repo.insert(record("N", "n@example.com")).await.unwrap();
    assert_eq!(next.id, id(41));
}

#[tokio::test]
async fn upsert_to_an_email_of_another_user_is_taken_and_changes_nothing() {
    let db = users().await;
    let ann = db
        .repo
        .insert(record("Ann", "ann@example.com"))
        .await
        .unwrap();
    let bob = db
        .repo
        .insert(record("Bob", "bob@example.com"))
        .await
        .unwrap();
    let err = db
        .repo
        .upsert(bob.id, put_edit(bob.id, "ANN@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::EmailTaken), "{err:?}");
    assert_eq!(db.repo.get(bob.id).await.unwrap(), Some(bob));
    assert_eq!(db.repo.get(ann.id).await.unwrap(), Some(ann));
}

#[tokio::test]
async fn failing_edit_writes_nothing() {
    let db = users().await;
    let edit: UserEdit = Box::new(|existing| {
        existing
            .cloned()
            .ok_or(domain::Error::UserNotFound(UserId::parse(5).unwrap()))
    });
    let err = db.repo.upsert(id(5), edit).await.unwrap_err();
    assert!(matches!(err, domain::Error::UserNotFound(_)));
    assert_eq!(db.repo.get(id(5)).await.unwrap(), None);
}

#[tokio::test]
async fn concurrent_edits_of_one_user_lose_no_update() {
    let db = users().await;
    let user = db
        .repo
        .insert(record("Ann", "ann@example.com"))
        .await
        .unwrap();
    // Each task appends one letter to the bio from what it reads: only atomic
    // read-modify-write keeps all 20.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let repo = db.repo.clone();
            let uid = user.id;
            tokio::spawn(async move {
                let edit: UserEdit = Box::new(move |existing| {
                    let mut next = existing.cloned().ok_or(domain::Error::UserNotFound(uid))?;
                    let bio = next.bio.as_ref().map_or("", |b| b.as_str()).to_owned() + "x";
                    next.bio = Some(Bio::parse(&bio).unwrap());
                    Ok(next)
                });
                repo.upsert(uid, edit).await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let bio = db.repo.get(user.id).await.unwrap().unwrap().bio.unwrap();
    assert_eq!(bio.as_str(), "x".repeat(20));
}

#[tokio::test]
async fn deleted_user_is_gone_and_its_id_is_never_reused() {
    let db = users().await;
    let ann = db
        .repo
        .insert(record("Ann", "ann@example.com"))
        .await
        .unwrap();
    db.repo
        .delete(ann.id, deletion_rule(ann.id, Precondition::none()))
        .await
        .unwrap();
    assert_eq!(db.repo.get(ann.id).await.unwrap(), None);
    let err = db
        .repo
        .delete(ann.id, deletion_rule(ann.id, Precondition::none()))
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::UserNotFound(_)));
    let next = db
        .repo
        .insert(record("Bob", "ann@example.com"))
        .await
        .unwrap();
    assert_ne!(next.id, ann.id);
}

#[tokio::test]
async fn find_by_email_ignores_case() {
    let db = users().await;
    let ann = db
        .repo
        .insert(record("Ann", "Ann@Example.com"))
        .await
        .unwrap();
    let found = db
        .repo
        .find_by_email(&Email::parse("ANN@example.COM").unwrap())
        .await
        .unwrap();
    assert_eq!(found, Some(ann));
    let none = db
        .repo
        .find_by_email(&Email::parse("bob@example.com").unwrap())
        .await
        .unwrap();
    assert_eq!(none, None);
}

#[tokio::test]
async fn credentials_follow_this_processes_writes_at_once_despite_the_cache() {
    let db = users().await;
    assert_eq!(
        db.repo.credentials(id(1)).await.unwrap(),
        None,
        "cached as absent"
    );
    let ann = db
        .repo
        .insert(record("Ann", "ann@example.com"))
        .await
        .unwrap();
    let before = db.repo.credentials(ann.id).await.unwrap().unwrap();
    assert_eq!(before.password_hash, ann.password_hash);
    let edit: UserEdit = Box::new(|existing| {
        let mut user = existing.cloned().unwrap();
        user.password_hash = PasswordHash::from_phc("$argon2id$new".into());
        user.is_admin = true;
        Ok(user)
    });
    db.repo.upsert(ann.id, edit).await.unwrap();
    let after = db.repo.credentials(ann.id).await.unwrap().unwrap();
    assert_eq!(after.password_hash.as_phc(), "$argon2id$new");
    assert!(after.is_admin);
    db.repo.delete(ann.id, Box::new(|_| Ok(()))).await.unwrap();
    assert_eq!(db.repo.credentials(ann.id).await.unwrap(), None);
}

#[tokio::test]
async fn reads_follow_this_processes_writes_at_once_despite_the_cache() {
    let db = users().await;
    assert_eq!(db.repo.get(id(1)).await.unwrap(), None, "cached as absent");
    let ann = db
        .repo
        .insert(record("Ann", "ann@example.com"))
        .await
        .unwrap();
    assert_eq!(db.repo.get(ann.id).await.unwrap().as_ref(), Some(&ann));
    let edit: UserEdit = Box::new(|existing| {
        let mut user = existing.cloned().unwrap();
        user.name = UserName::parse("Annie").unwrap();
        Ok(user)
    });
    db.repo.upsert(ann.id, edit).await.unwrap();
    let renamed = db.repo.get(ann.id).await.unwrap().unwrap();
    assert_eq!(renamed.name.as_str(), "Annie");
    db.repo.delete(ann.id, Box::new(|_| Ok(()))).await.unwrap();
    assert_eq!(db.repo.get(ann.id).await.unwrap(), None);
}

#[tokio::test]
async fn the_last_admin_is_not_deleted() {
    let db = users().await;
    let mut admin = record("Admin", "admin@example.com");
    admin.is_admin = true;
    let admin = db.repo.insert(admin).await.unwrap();
    let err = db
        .repo
        .delete(admin.id, deletion_rule(admin.id, Precondition::none()))
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::LastAdmin), "{err:?}");
    assert!(db.repo.get(admin.id).await.unwrap().is_some());
}

#[tokio::test]
async fn two_admins_deleted_at_once_leave_one() {
    let db = users().await;
    let mut ids = Vec::new();
    for n in 0..2 {
        let mut admin = record("Admin", &format!("admin{n}@example.com"));
        admin.is_admin = true;
        ids.push(db.repo.insert(admin).await.unwrap().id);
    }
    let deletions: Vec<_> = ids
        .iter()
        .map(|&target| {
            let repo = db.repo.clone();
            tokio::spawn(async move {
                repo.delete(target, deletion_rule(target, Precondition::none()))
                    .await
            })
        })
        .collect();
    let mut refused = 0;
    for deletion in deletions {
        if let Err(err) = deletion.await.unwrap() {
            assert!(matches!(err, domain::Error::LastAdmin), "{err:?}");
            refused += 1;
        }
    }
    assert_eq!(refused, 1);
}

#[tokio::test]
async fn export_streams_every_user_in_id_order_across_batches() {
    let db = users().await;
    exports_every_user_in_id_order_across_batches(&db.repo).await;
}

#[tokio::test]
async fn export_of_an_in_memory_database_reads_through_the_pool() {
    // No second connection can open an in-memory database: the export reads its batches
    // through the pool.
    let settings = crate::DatabaseSettings {
        url: "sqlite::memory:".to_owned(),
        max_connections: 1,
        durability: crate::Durability::default(),
    };
    let db = Database::connect(&settings).await.unwrap();
    db.migrate().await.unwrap();
    assert!(db.sqlite_file().is_none());
    exports_every_user_in_id_order_across_batches(&SqlUserRepository::new(
        db,
        Duration::from_secs(60),
    ))
    .await;
}

/// Inserts two batches and a bit of users through `repo`'s database and exports them.
async fn exports_every_user_in_id_order_across_batches(repo: &SqlUserRepository) {
    use futures_util::TryStreamExt;
    let total = super::export::BATCH as usize * 2 + 7;
    let created_at = Utc::now().trunc_subsecs(6);
    // Inserted directly, in one transaction: only the stream is under test.
    let txn = repo.db.begin_write().await.unwrap();
    for n in 0..total {
        to_active(&User {
            id: UserId::parse(n as i64 + 1).unwrap(),
            name: UserName::parse(&format!("User, \"{n}\"\n\u{1}\\ é")).unwrap(),
            email: Email::parse(&format!("u{n}@example.com")).unwrap(),
            bio: (n % 2 == 0).then(|| Bio::parse("tea \"and\" cake").unwrap()),
            password_hash: PasswordHash::from_phc("$argon2id$x".into()),
            is_admin: false,
            created_at,
            updated_at: created_at,
        })
        .insert(txn.conn().unwrap())
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
    let exported: Vec<_> = repo.export().try_collect().await.unwrap();
    assert_eq!(exported.len(), total);
    assert!(exported.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(exported[3].name, "User, \"3\"\n\u{1}\\ é");
    assert_eq!(exported[3].email, "u3@example.com");
    assert_eq!(exported[3].bio, None);
    assert_eq!(exported[4].bio.as_deref(), Some("tea \"and\" cake"));
    assert!(exported.iter().all(|user| user.created_at == created_at));
}

#[tokio::test]
async fn a_deletion_whose_precondition_fails_keeps_the_user() {
    use domain::precondition::Condition;
    let db = users().await;
    let ann = db
        .repo
        .insert(record("Ann", "ann@example.com"))
        .await
        .unwrap();
    let tag_of = |user: &domain::users::User| user.updated_at.to_rfc3339();
    let stale = Precondition::new(Condition::Matches(vec!["stale".into()]), tag_of);
    let err = db
        .repo
        .delete(ann.id, deletion_rule(ann.id, stale))
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::PreconditionFailed), "{err:?}");
    assert_eq!(db.repo.get(ann.id).await.unwrap(), Some(ann.clone()));
    let missing = Precondition::new(Condition::Exists, tag_of);
    let err = db
        .repo
        .delete(id(999), deletion_rule(id(999), missing))
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::PreconditionFailed), "{err:?}");
}
