use super::*;
use crate::test_database::{MigratedTestDatabase, TestDatabase};
use chrono::{DateTime, SubsecRound, Utc};
use domain::precondition::Precondition;
use futures_util::stream;

struct Store {
    files: SqlFileRepository,
    blobs: FsBlobStore,
    dir: tempfile::TempDir,
    _db: MigratedTestDatabase,
}

async fn store() -> Store {
    let db = TestDatabase::migrated().await;
    let dir = tempfile::tempdir().unwrap();
    Store {
        files: SqlFileRepository::new(db.db.clone()),
        blobs: FsBlobStore::new(dir.path().join("files")).unwrap(),
        dir,
        _db: db,
    }
}

fn chunks(parts: &[&'static [u8]]) -> ByteStream {
    let parts: Vec<std::io::Result<Bytes>> = parts
        .iter()
        .map(|part| Ok(Bytes::from_static(part)))
        .collect();
    stream::iter(parts).boxed()
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

async fn read_all(blobs: &FsBlobStore, blob: &BlobId, range: Range<u64>) -> Vec<u8> {
    let chunks: Vec<Bytes> = blobs
        .read(blob, range)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    chunks.concat()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn staging_streams_to_a_synced_blob_with_its_size_and_sha256() {
    let store = store().await;
    let staged = store
        .blobs
        .stage(chunks(&[b"hello ", b"world"]))
        .await
        .unwrap();
    assert_eq!(staged.size, 11);
    assert_eq!(
        staged.sha256,
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
    assert!(staged.blob.0.starts_with(".blob-"));
    assert_eq!(
        read_all(&store.blobs, &staged.blob, 0..11).await,
        b"hello world"
    );
    assert_eq!(read_all(&store.blobs, &staged.blob, 6..9).await, b"wor");
    assert_eq!(
        entries(&store.dir.path().join("files")),
        std::slice::from_ref(&staged.blob.0)
    );
}

#[tokio::test]
async fn a_failed_upload_leaves_nothing_behind() {
    let store = store().await;
    let broken: ByteStream = stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(std::io::Error::other("client went away")),
    ])
    .boxed();
    let err = store.blobs.stage(broken).await.unwrap_err();
    assert!(matches!(err, domain::Error::Upload(_)), "{err:?}");
    assert!(entries(&store.dir.path().join("files")).is_empty());
}

#[tokio::test]
async fn put_creates_then_replaces_and_reports_the_blob_it_replaced() {
    let store = store().await;
    let now = Utc::now().trunc_subsecs(6);
    let first = store.blobs.stage(chunks(&[b"one"])).await.unwrap();
    let put = store
        .files
        .put(version("a.txt", first.clone(), now), &Precondition::none())
        .await
        .unwrap();
    assert_eq!((put.outcome, put.replaced), (PutOutcome::Created, None));
    assert_eq!((put.file.size, put.file.blob), (3, first.blob.clone()));
    let second = store.blobs.stage(chunks(&[b"second"])).await.unwrap();
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
        let staged = store.blobs.stage(chunks(&[b"x"])).await.unwrap();
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
async fn sweeping_removes_partial_uploads_and_unreferenced_blobs_only() {
    let store = store().await;
    let dir = store.dir.path().join("files");
    let kept = store.blobs.stage(chunks(&[b"kept"])).await.unwrap();
    store
        .files
        .put(
            version("kept", kept.clone(), Utc::now()),
            &Precondition::none(),
        )
        .await
        .unwrap();
    let orphan = store.blobs.stage(chunks(&[b"orphan"])).await.unwrap();
    std::fs::write(
        dir.join(".upload-00000000-0000-0000-0000-000000000000"),
        b"crashed",
    )
    .unwrap();
    let keep = store.files.blobs().await.unwrap();
    assert_eq!(store.blobs.sweep(&keep).await.unwrap(), 2);
    assert_eq!(entries(&dir), std::slice::from_ref(&kept.blob.0));
    assert!(!dir.join(&orphan.blob.0).exists());
}

#[tokio::test]
async fn only_blob_ids_this_store_made_are_ever_opened() {
    let store = store().await;
    for forged in [
        "../../etc/passwd",
        ".blob-../../etc/passwd",
        "/etc/passwd",
        ".blob-",
    ] {
        let err = store
            .blobs
            .read(&BlobId(forged.to_owned()), 0..1)
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, domain::Error::Internal(_)),
            "{forged}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_failed_precondition_leaves_the_file_as_it_was() {
    use domain::precondition::Condition;
    let store = store().await;
    let first = store.blobs.stage(chunks(&[b"one"])).await.unwrap();
    let info = store
        .files
        .put(version("a.txt", first, Utc::now()), &Precondition::none())
        .await
        .unwrap()
        .file;
    let tag_of = |file: &FileInfo| file.sha256.clone();
    let stale = Precondition::new(Condition::Matches(vec!["stale".into()]), tag_of);
    let second = store.blobs.stage(chunks(&[b"two"])).await.unwrap();
    let err = store
        .files
        .put(version("a.txt", second, Utc::now()), &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::PreconditionFailed), "{err:?}");
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
