//! File metadata and upload records on a real database (SQLite, or PostgreSQL when
//! `TEST_DATABASE_URL` names one), with bytes on disk; and sweeps over both.

use super::*;
use crate::{
    files::contract::chunks,
    test_database::{MigratedTestDatabase, TestDatabase},
};
use chrono::{SubsecRound, Utc};
use domain::{
    files::{BlobStore, FileService, StagedBlob},
    precondition::{Condition, Precondition},
    principal::Principal,
};
use std::{sync::Arc, time::Duration};

struct Store {
    files: Arc<SqlFileRepository>,
    blobs: Arc<FsBlobStore>,
    _dir: tempfile::TempDir,
    _db: MigratedTestDatabase,
}

async fn store() -> Store {
    let db = TestDatabase::migrated().await;
    let dir = tempfile::tempdir().unwrap();
    Store {
        files: Arc::new(SqlFileRepository::new(db.db.clone())),
        blobs: Arc::new(FsBlobStore::new(dir.path().join("files")).unwrap()),
        _dir: dir,
        _db: db,
    }
}

impl Store {
    /// `bytes` staged as an upload begun now, as the files service stages them.
    async fn staged(&self, bytes: &[u8]) -> StagedBlob {
        let blob = self.blobs.allocate();
        self.files.begin_upload(&blob, Utc::now()).await.unwrap();
        self.blobs
            .stage(blob, chunks(vec![bytes.to_vec()]))
            .await
            .unwrap()
    }
}

fn name(text: &str) -> FileName {
    FileName::parse(text).unwrap()
}

/// `staged` as the content of `file` as of `at`.
fn version(file: &str, staged: StagedBlob, at: DateTime<Utc>) -> NewVersion {
    NewVersion {
        name: name(file),
        staged,
        at,
    }
}

#[tokio::test]
async fn put_creates_then_replaces_and_reports_the_blob_it_replaced() {
    let store = store().await;
    let now = Utc::now().trunc_subsecs(6);
    let first = store.staged(b"one").await;
    let put = store
        .files
        .put(version("a.txt", first.clone(), now), &Precondition::none())
        .await
        .unwrap();
    assert_eq!((put.outcome, put.replaced), (PutOutcome::Created, None));
    assert_eq!((put.file.size, put.file.blob), (3, first.blob.clone()));
    let second = store.staged(b"second").await;
    let later = now + chrono::Duration::seconds(1);
    let Put {
        file: info,
        outcome,
        replaced,
    } = store
        .files
        .put(
            version("a.txt", second.clone(), later),
            &Precondition::none(),
        )
        .await
        .unwrap();
    assert_eq!(
        (outcome, replaced),
        (PutOutcome::Replaced, Some(first.blob))
    );
    assert_eq!(
        (info.size, info.created_at, info.updated_at),
        (6, now, later)
    );
    assert_eq!(store.files.get(&name("a.txt")).await.unwrap(), Some(info));
}

#[tokio::test]
async fn files_list_by_name_and_delete_returns_the_blob() {
    let store = store().await;
    for file in ["c", "a", "b"] {
        let staged = store.staged(b"x").await;
        store
            .files
            .put(version(file, staged, Utc::now()), &Precondition::none())
            .await
            .unwrap();
    }
    let names: Vec<String> = store
        .files
        .list(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name.as_str().to_owned())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    let after_a = store.files.list(Some(name("a")), 1).await.unwrap();
    assert_eq!(after_a[0].name, name("b"));
    let blob = store
        .files
        .delete(&name("b"), &Precondition::none())
        .await
        .unwrap();
    assert!(blob.0.starts_with(".blob-"));
    let err = store
        .files
        .delete(&name("b"), &Precondition::none())
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::FileNotFound(_)));
}

#[tokio::test]
async fn a_commit_ends_its_upload_record_and_an_upload_given_up_cannot_commit() {
    let store = store().await;
    let committed = store.staged(b"one").await;
    let given_up = store.staged(b"two").await;
    let owners = store.files.blob_owners().await.unwrap();
    assert!(owners.files.is_empty());
    assert_eq!(owners.uploads.len(), 2);
    store
        .files
        .put(
            version("a", committed.clone(), Utc::now()),
            &Precondition::none(),
        )
        .await
        .unwrap();
    // A sweep gives the other up: its commit is refused, and nothing changes.
    assert!(store.files.end_upload(&given_up.blob).await.unwrap());
    assert!(!store.files.end_upload(&given_up.blob).await.unwrap());
    let err = store
        .files
        .put(version("b", given_up, Utc::now()), &Precondition::none())
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::UploadAbandoned), "{err:?}");
    assert_eq!(store.files.get(&name("b")).await.unwrap(), None);
    let owners = store.files.blob_owners().await.unwrap();
    assert_eq!(owners.files, [committed.blob].into_iter().collect());
    assert!(owners.uploads.is_empty());
}

#[tokio::test]
async fn a_failed_precondition_leaves_the_file_and_the_upload_record_as_they_were() {
    let store = store().await;
    let first = store.staged(b"one").await;
    let info = store
        .files
        .put(version("a.txt", first, Utc::now()), &Precondition::none())
        .await
        .unwrap()
        .file;
    let tag_of = |file: &FileInfo| file.sha256.clone();
    let stale = Precondition::new(Condition::Matches(vec!["stale".into()]), tag_of);
    let second = store.staged(b"two").await;
    let err = store
        .files
        .put(version("a.txt", second.clone(), Utc::now()), &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::PreconditionFailed), "{err:?}");
    let owners = store.files.blob_owners().await.unwrap();
    assert!(owners.uploads.contains_key(&second.blob));
    let err = store
        .files
        .delete(&name("a.txt"), &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::PreconditionFailed), "{err:?}");
    assert_eq!(
        store.files.get(&name("a.txt")).await.unwrap(),
        Some(info.clone())
    );
    let current = Precondition::new(Condition::Matches(vec![info.sha256.clone()]), tag_of);
    store.files.delete(&name("a.txt"), &current).await.unwrap();
    assert_eq!(store.files.get(&name("a.txt")).await.unwrap(), None);
}

#[tokio::test]
async fn a_sweep_removes_orphans_and_old_uploads_but_not_files_or_uploads_under_way() {
    let store = store().await;
    let service = FileService::new(store.files.clone(), store.blobs.clone());
    let admin = Principal {
        user_id: domain::ids::UserId::parse(1).unwrap(),
        is_admin: true,
    };
    let kept = service
        .put(
            &admin,
            &name("kept"),
            chunks(vec![b"kept".to_vec()]),
            Precondition::none(),
        )
        .await
        .unwrap()
        .0;
    // A replaced blob whose removal failed: nobody's.
    let orphan = store.blobs.allocate();
    store
        .blobs
        .stage(orphan.clone(), chunks(vec![b"orphan".to_vec()]))
        .await
        .unwrap();
    // An upload under way, and one whose process died an hour ago.
    let under_way = store.staged(b"arriving").await;
    let dead = store.blobs.allocate();
    let an_hour_ago = Utc::now() - chrono::Duration::hours(1);
    store.files.begin_upload(&dead, an_hour_ago).await.unwrap();
    store
        .blobs
        .stage(dead.clone(), chunks(vec![b"dead".to_vec()]))
        .await
        .unwrap();

    let removed = service.sweep(Duration::from_secs(600)).await.unwrap();
    assert_eq!(removed, 2);
    let mut left = store.blobs.list().await.unwrap();
    left.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![kept.blob, under_way.blob.clone()];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(left, expected);
    let owners = store.files.blob_owners().await.unwrap();
    assert_eq!(owners.uploads.keys().collect::<Vec<_>>(), [&under_way.blob]);
    // The dead upload's commit, had its process come back, is refused.
    let err = store
        .files
        .put(
            version(
                "dead",
                StagedBlob {
                    blob: dead,
                    size: 4,
                    sha256: String::new(),
                },
                Utc::now(),
            ),
            &Precondition::none(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::UploadAbandoned), "{err:?}");
}
