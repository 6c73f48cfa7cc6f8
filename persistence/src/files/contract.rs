//! What every blob store does, checked the same way on each (the disk's and the bucket's tests
//! call these): bytes round-trip whole and in ranges, across parts; a failed upload leaves
//! nothing listed; removal is idempotent; only ids the store made are opened.

use super::*;
use bytes::Bytes;
use domain::files::{BlobStore, ByteStream};
use futures_util::{StreamExt, TryStreamExt, stream};
use std::ops::Range;

/// `parts` as an upload's body.
pub(crate) fn chunks(parts: Vec<Vec<u8>>) -> ByteStream {
    stream::iter(parts.into_iter().map(|part| Ok(Bytes::from(part)))).boxed()
}

/// `size` bytes that differ from one offset to the next (a misplaced range shows).
pub(crate) fn patterned(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// The bytes `range` of `blob`.
pub(crate) async fn read_all(blobs: &dyn BlobStore, blob: &BlobId, range: Range<u64>) -> Vec<u8> {
    let chunks: Vec<Bytes> = blobs
        .read(blob, range)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    chunks.concat()
}

fn sha256_hex(bytes: &[u8]) -> String {
    let mut digest = Digest256::default();
    digest.update(bytes);
    digest.finish().1
}

/// Small bytes: size, SHA-256, whole, in ranges, listed, removed (twice).
pub(crate) async fn small_bytes_round_trip(blobs: &dyn BlobStore) {
    let blob = blobs.allocate();
    let staged = blobs
        .stage(
            blob.clone(),
            chunks(vec![b"hello ".to_vec(), b"world".to_vec()]),
        )
        .await
        .unwrap();
    assert_eq!(staged.blob, blob);
    assert_eq!(staged.size, 11);
    assert_eq!(
        staged.sha256,
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
    assert_eq!(read_all(blobs, &blob, 0..11).await, b"hello world");
    assert_eq!(read_all(blobs, &blob, 6..9).await, b"wor");
    assert_eq!(read_all(blobs, &blob, 3..3).await, b"");
    assert_eq!(blobs.list().await.unwrap(), std::slice::from_ref(&blob));
    blobs.check().await.unwrap();
    blobs.remove(&blob).await.unwrap();
    blobs.remove(&blob).await.unwrap();
    assert!(blobs.list().await.unwrap().is_empty());
}

/// An empty body is an empty blob.
pub(crate) async fn an_empty_body_is_an_empty_blob(blobs: &dyn BlobStore) {
    let blob = blobs.allocate();
    let staged = blobs.stage(blob.clone(), chunks(vec![])).await.unwrap();
    assert_eq!(staged.size, 0);
    assert_eq!(staged.sha256, sha256_hex(b""));
    assert_eq!(read_all(blobs, &blob, 0..0).await, b"");
}

/// A body of several parts (`size` bytes in uneven chunks): whole, and ranges across parts.
pub(crate) async fn a_large_body_round_trips_across_parts(blobs: &dyn BlobStore, size: usize) {
    let bytes = patterned(size);
    let uneven: Vec<Vec<u8>> = bytes.chunks(64 * 1024 + 17).map(<[u8]>::to_vec).collect();
    let blob = blobs.allocate();
    let staged = blobs.stage(blob.clone(), chunks(uneven)).await.unwrap();
    assert_eq!(staged.size, size as u64);
    assert_eq!(staged.sha256, sha256_hex(&bytes));
    assert!(read_all(blobs, &blob, 0..size as u64).await == bytes);
    let middle = (size / 2 - 1000) as u64..(size / 2 + 1000) as u64;
    let expected = &bytes[middle.start as usize..middle.end as usize];
    assert!(read_all(blobs, &blob, middle).await == expected);
    let tail = size as u64 - 10..size as u64;
    assert!(read_all(blobs, &blob, tail).await == bytes[size - 10..]);
}

/// A body that fails after `before` bytes: an upload error, and nothing listed.
pub(crate) async fn a_failed_body_leaves_nothing(blobs: &dyn BlobStore, before: usize) {
    let blob = blobs.allocate();
    let broken: ByteStream = stream::iter(vec![
        Ok(Bytes::from(patterned(before))),
        Err(std::io::Error::other("client went away")),
    ])
    .boxed();
    let err = blobs.stage(blob, broken).await.unwrap_err();
    assert!(matches!(err, domain::Error::Upload(_)), "{err:?}");
    assert!(blobs.list().await.unwrap().is_empty());
}

/// Ids the store did not make are refused before anything is opened.
pub(crate) async fn only_ids_the_store_made_are_opened(blobs: &dyn BlobStore) {
    for forged in [
        "../../etc/passwd",
        ".blob-../../etc/passwd",
        "/etc/passwd",
        ".blob-",
        "",
    ] {
        let forged = BlobId(forged.to_owned());
        let err = blobs.read(&forged, 0..1).await.err().unwrap();
        assert!(
            matches!(err, domain::Error::Internal(_)),
            "{forged:?}: {err:?}"
        );
        let err = blobs.remove(&forged).await.unwrap_err();
        assert!(
            matches!(err, domain::Error::Internal(_)),
            "{forged:?}: {err:?}"
        );
    }
}
