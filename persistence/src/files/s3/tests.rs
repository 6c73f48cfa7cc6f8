//! The bucket store against a real S3 server (`s3s-fs`, started per test): the blob store
//! contract, multipart uploads that are whole or absent, and a store that is down or hangs.

use super::*;
use crate::{files::contract, test_object_store::TestS3};
use std::time::Instant;

fn store(server: &TestS3, prefix: &str) -> S3BlobStore {
    S3BlobStore::new(&server.settings(prefix)).unwrap()
}

#[tokio::test]
#[ignore = "needs s3s-fs (an S3 server the test starts): run by ./test.sh when s3s-fs is installed"]
async fn the_bucket_holds_the_blob_store_contract() {
    let server = TestS3::start();
    let blobs = store(&server, "service");
    contract::small_bytes_round_trip(&blobs).await;
    contract::an_empty_body_is_an_empty_blob(&blobs).await;
    contract::a_large_body_round_trips_across_parts(&blobs, 2 * PART_SIZE + 12_345).await;
    contract::only_ids_the_store_made_are_opened(&blobs).await;
    let keys = server.keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter().all(|key| key.starts_with("service/blobs/")),
        "{keys:?}"
    );
}

#[tokio::test]
#[ignore = "needs s3s-fs (an S3 server the test starts): run by ./test.sh when s3s-fs is installed"]
async fn a_multipart_upload_that_fails_is_aborted_and_leaves_no_object() {
    let server = TestS3::start();
    let blobs = store(&server, "");
    // Two parts sent before the body fails.
    contract::a_failed_body_leaves_nothing(&blobs, 2 * PART_SIZE + 10).await;
    assert_eq!(server.unfinished_uploads(), 0);
    assert!(server.keys().is_empty(), "{:?}", server.keys());
}

#[tokio::test]
#[ignore = "needs s3s-fs (an S3 server the test starts): run by ./test.sh when s3s-fs is installed"]
async fn an_object_appears_only_once_its_upload_is_whole() {
    let server = TestS3::start();
    let blobs = store(&server, "p");
    let (send, body) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let blob = blobs.allocate();
    let staging = tokio::spawn({
        let blobs = blobs.clone();
        let blob = blob.clone();
        let body = tokio_stream_of(body);
        async move { blobs.stage(blob, body).await }
    });
    send.send(Ok(Bytes::from(contract::patterned(PART_SIZE + 1))))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.unfinished_uploads() == 0 {
        assert!(
            Instant::now() < deadline,
            "the multipart upload never began"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.keys().is_empty(), "visible before it is whole");
    assert!(blobs.list().await.unwrap().is_empty());
    send.send(Ok(Bytes::from_static(b"the end"))).await.unwrap();
    drop(send);
    let staged = staging.await.unwrap().unwrap();
    assert_eq!(staged.size, PART_SIZE as u64 + 8);
    assert_eq!(server.keys(), [format!("p/blobs/{}", blob.0)]);
    assert_eq!(server.unfinished_uploads(), 0);
}

fn tokio_stream_of(
    mut receiver: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
) -> ByteStream {
    async_stream::stream! {
        while let Some(chunk) = receiver.recv().await {
            yield chunk;
        }
    }
    .boxed()
}

/// `call`'s error, and that it came within twice the store's timeout.
async fn unavailable_soon<T>(what: &str, call: impl Future<Output = domain::Result<T>>) {
    let started = Instant::now();
    let Err(err) = call.await else {
        panic!("{what} succeeded");
    };
    assert!(
        matches!(err, domain::Error::BlobStoreUnavailable(_)),
        "{what}: {err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{what} took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
#[ignore = "needs s3s-fs (an S3 server the test starts): run by ./test.sh when s3s-fs is installed"]
async fn a_store_down_or_hanging_is_unavailable_within_its_timeout_and_then_recovers() {
    let mut server = TestS3::start();
    let blobs = store(&server, "");
    let blob = blobs.allocate();
    blobs
        .stage(blob.clone(), contract::chunks(vec![b"kept".to_vec()]))
        .await
        .unwrap();
    for frozen in [false, true] {
        if frozen {
            server.freeze(true);
        } else {
            server.kill();
        }
        unavailable_soon("check", blobs.check()).await;
        unavailable_soon("read", blobs.read(&blob, 0..4)).await;
        unavailable_soon("remove", blobs.remove(&blob)).await;
        let small = contract::chunks(vec![b"new".to_vec()]);
        unavailable_soon("stage", blobs.stage(blobs.allocate(), small)).await;
        if frozen {
            server.freeze(false);
        } else {
            server.run();
        }
        blobs.check().await.unwrap();
        assert_eq!(contract::read_all(&blobs, &blob, 0..4).await, b"kept");
    }
}

#[tokio::test]
#[ignore = "needs s3s-fs (an S3 server the test starts): run by ./test.sh when s3s-fs is installed"]
async fn a_download_from_a_store_that_hangs_midway_fails_instead_of_waiting_forever() {
    let server = TestS3::start();
    let blobs = store(&server, "");
    let size = 4 * PART_SIZE;
    let blob = blobs.allocate();
    blobs
        .stage(
            blob.clone(),
            contract::chunks(vec![contract::patterned(size)]),
        )
        .await
        .unwrap();
    let mut chunks = blobs.read(&blob, 0..size as u64).await.unwrap();
    chunks.next().await.unwrap().unwrap();
    server.freeze(true);
    let mut read = 0;
    let failed = loop {
        match chunks.next().await {
            Some(Ok(chunk)) => read += chunk.len(),
            Some(Err(err)) => break err,
            None => panic!("the whole file came from a frozen store"),
        }
    };
    assert_eq!(failed.kind(), std::io::ErrorKind::TimedOut, "{failed}");
    assert!(read < size);
    server.freeze(false);
}

#[test]
fn the_url_names_a_bucket_and_a_prefix() {
    let with = |url: &str| S3Settings {
        url: url.to_owned(),
        endpoint: None,
        region: None,
        access_key_id: None,
        secret_access_key: None,
        session_token: None,
        virtual_hosted_style: false,
        timeout: Duration::from_secs(1),
    };
    let parsed = |url: &str| with(url).bucket_and_prefix().ok();
    assert_eq!(parsed("s3://files"), Some(("files".into(), String::new())));
    assert_eq!(
        parsed("s3://my-files.eu/a/b/"),
        Some(("my-files.eu".into(), "a/b".into()))
    );
    for bad in [
        "files",
        "http://files",
        "s3://",
        "s3://UPPER",
        "s3://ab",
        "s3://a_b/x",
    ] {
        assert_eq!(parsed(bad), None, "{bad}");
    }
}
