//! The disk store: the blob store contract, and what it looks like in the directory.

use super::*;
use crate::files::contract;

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn store() -> (FsBlobStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (FsBlobStore::new(dir.path().join("files")).unwrap(), dir)
}

#[tokio::test]
async fn the_disk_store_holds_the_blob_store_contract() {
    let (blobs, _dir) = store();
    contract::small_bytes_round_trip(&blobs).await;
    contract::an_empty_body_is_an_empty_blob(&blobs).await;
    contract::a_large_body_round_trips_across_parts(&blobs, 3 << 20).await;
    contract::only_ids_the_store_made_are_opened(&blobs).await;
}

#[tokio::test]
async fn a_failed_upload_leaves_no_file_in_the_directory() {
    let (blobs, dir) = store();
    contract::a_failed_body_leaves_nothing(&blobs, 1000).await;
    assert!(entries(&dir.path().join("files")).is_empty());
}

#[tokio::test]
async fn a_blob_is_a_synced_file_named_by_its_id_and_an_unfinished_one_is_listed_too() {
    let (blobs, dir) = store();
    let dir = dir.path().join("files");
    let blob = blobs.allocate();
    blobs
        .stage(blob.clone(), contract::chunks(vec![b"x".to_vec()]))
        .await
        .unwrap();
    assert_eq!(entries(&dir), std::slice::from_ref(&blob.0));
    // What a crash mid-upload leaves: listed under its blob's id, and removed with it.
    let crashed = blobs.allocate();
    let uuid = crashed.0.strip_prefix(BLOB_PREFIX).unwrap();
    std::fs::write(dir.join(format!("{UPLOAD_PREFIX}{uuid}")), b"partial").unwrap();
    std::fs::write(dir.join("not-a-blob"), b"someone else's").unwrap();
    let mut listed = blobs.list().await.unwrap();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![blob, crashed.clone()];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(listed, expected);
    blobs.remove(&crashed).await.unwrap();
    assert_eq!(
        entries(&dir).len(),
        2,
        "the blob and the stranger's file stay"
    );
}

#[tokio::test]
async fn a_missing_directory_is_unavailable() {
    let (blobs, dir) = store();
    std::fs::remove_dir(dir.path().join("files")).unwrap();
    let err = blobs.check().await.unwrap_err();
    assert!(
        matches!(err, domain::Error::BlobStoreUnavailable(_)),
        "{err:?}"
    );
}
