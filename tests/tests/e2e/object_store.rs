//! Files in a bucket of a real S3 server (`s3s-fs`, one per test): the store stopped or hanging
//! mid-run (503s within about a second, `/readyz` saying so, recovery without a restart), a
//! SIGKILL during uploads (nothing acknowledged lost, nothing partial visible, the orphans
//! swept), and two instances with directories of their own sharing one bucket through one
//! PostgreSQL database.

use e2e::{
    FilesAt, Service, TestStorage,
    process::{Instance, admin_token},
    sha256_hex, wait_until,
};
use serde_json::Value;
use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// The bytes of upload `n`: every third a multipart upload (over 5 MiB), the rest small.
fn content(n: usize) -> Vec<u8> {
    let size = if n.is_multiple_of(3) {
        (6 << 20) + n
    } else {
        10_000 + n
    };
    (0..size).map(|i| ((i * 31 + n * 7) % 251) as u8).collect()
}

async fn put(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    client
        .put(format!("{base}/files/{name}"))
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn get(client: &reqwest::Client, base: &str, token: &str, name: &str) -> reqwest::Response {
    client
        .get(format!("{base}/files/{name}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// `answer` is a 503 `storage-unavailable` problem with `Retry-After`.
async fn storage_unavailable(answer: reqwest::Response, what: &str) {
    assert_eq!(answer.status(), 503, "{what}");
    assert_eq!(answer.headers()["retry-after"], "2", "{what}");
    let problem: Value = answer.json().await.unwrap();
    assert_eq!(
        problem["type"], "/problems/storage-unavailable",
        "{what}: {problem}"
    );
}

#[tokio::test]
#[ignore = "needs s3s-fs (an S3 server the test starts): run by ./test.sh when s3s-fs is installed"]
async fn a_stopped_or_hanging_store_gets_fast_503s_and_the_service_recovers_by_itself() {
    let mut storage = TestStorage::with_files(FilesAt::Bucket).await;
    let service = Service::start_on(&storage, |_| {}).await;
    let (client, base) = (&service.client, service.base.as_str());
    let admin = service.admin().await;
    let kept = content(1);
    assert_eq!(
        put(client, base, &admin, "kept.bin", kept.clone())
            .await
            .status(),
        201
    );

    let mut stored = vec!["kept.bin".to_owned()];
    for hanging in [false, true] {
        let what = if hanging { "hanging" } else { "stopped" };
        let new = format!("new-{what}.bin");
        let bucket = storage.bucket.as_mut().unwrap();
        if hanging {
            bucket.freeze(true);
        } else {
            bucket.kill();
        }
        let started = Instant::now();
        storage_unavailable(get(client, base, &admin, "kept.bin").await, what).await;
        let small = content(2);
        storage_unavailable(put(client, base, &admin, &new, small.clone()).await, what).await;
        let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
        storage_unavailable(ready, what).await;
        // Three answers, each within about a second of the store's timeout.
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{what}: {:?}",
            started.elapsed()
        );
        // What needs no file bytes goes on.
        let head = client
            .head(format!("{base}/files/kept.bin"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200, "{what}");
        let listed: Value =
            e2e::json_of(client.get(format!("{base}/files")).bearer_auth(&admin)).await;
        let names: Vec<&str> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, stored, "{what}: the refused upload is not there");

        let bucket = storage.bucket.as_mut().unwrap();
        if hanging {
            bucket.freeze(false);
        } else {
            bucket.run();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        wait_until(deadline, "ready again", async || {
            let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
            if ready.status() == 200 {
                Ok(())
            } else {
                Err(ready.status())
            }
        })
        .await;
        let again = get(client, base, &admin, "kept.bin").await;
        assert_eq!(again.status(), 200, "{what}");
        assert!(again.bytes().await.unwrap() == kept, "{what}");
        let created = put(client, base, &admin, &new, small.clone()).await;
        assert_eq!(created.status(), 201, "{what}");
        let back = get(client, base, &admin, &new).await.bytes().await.unwrap();
        assert!(back == small, "{what}");
        stored.push(new);
    }
}

/// Uploads of one client, until `stop`: each acknowledged one recorded with its SHA-256 and
/// size.
async fn upload_until(
    client: reqwest::Client,
    base: String,
    token: String,
    client_no: usize,
    acked: Arc<Mutex<BTreeMap<String, (String, usize)>>>,
    stop: Arc<AtomicBool>,
) {
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let name = format!("c{client_no}-{n}.bin");
        let bytes = content(client_no + n * 4);
        let (sha, size) = (sha256_hex(&bytes), bytes.len());
        let sent = client
            .put(format!("{base}/files/{name}"))
            .bearer_auth(&token)
            .body(bytes)
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status() == 201 => {
                acked.lock().unwrap().insert(name, (sha, size));
            }
            _ => return,
        }
    }
}

#[tokio::test]
#[ignore = "needs s3s-fs (an S3 server the test starts): run by ./test.sh when s3s-fs is installed"]
async fn a_sigkill_during_uploads_loses_no_acknowledged_upload_and_exposes_no_partial_one() {
    let storage = TestStorage::with_files(FilesAt::Bucket).await;
    // Uploads given up after 3 s, swept every second: the orphans go while the test waits.
    let env = [
        ("BODY_TIMEOUT_SECONDS", "2".to_owned()),
        ("FILES_SWEEP_GRACE_SECONDS", "3".to_owned()),
        ("FILES_SWEEP_INTERVAL_SECONDS", "1".to_owned()),
    ];
    let client = reqwest::Client::new();
    let instance = Instance::spawn(&storage, &env);
    instance.wait_ready(&client).await;
    let token = admin_token(&client, &instance.base).await;
    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let uploads: Vec<_> = (0..4)
        .map(|no| {
            tokio::spawn(upload_until(
                client.clone(),
                instance.base.clone(),
                token.clone(),
                no,
                acked.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    wait_until(
        deadline,
        "a dozen uploads acknowledged, some multipart",
        async || {
            let acked = acked.lock().unwrap();
            let large = acked.values().filter(|(_, size)| *size > 5 << 20).count();
            if acked.len() >= 12 && large >= 2 {
                Ok(())
            } else {
                Err(acked.len())
            }
        },
    )
    .await;
    // Killed with uploads in flight.
    instance.kill();
    stop.store(true, Ordering::SeqCst);
    for upload in uploads {
        upload.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let instance = Instance::spawn(&storage, &env);
    instance.wait_ready(&client).await;
    let token = admin_token(&client, &instance.base).await;
    for (name, (sha, _)) in &acked {
        let answer = get(&client, &instance.base, &token, name).await;
        assert_eq!(answer.status(), 200, "{name} was acknowledged");
        assert_eq!(&sha256_hex(&answer.bytes().await.unwrap()), sha, "{name}");
    }
    // Whatever is listed is whole: its bytes are the SHA-256 it was stored with.
    let listed = e2e::all_items(&client, &instance.base, "/files", &token).await;
    assert!(listed.len() >= acked.len());
    for file in &listed {
        let name = file["name"].as_str().unwrap();
        let bytes = get(&client, &instance.base, &token, name)
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            sha256_hex(&bytes),
            file["sha256"].as_str().unwrap(),
            "{name} is partial"
        );
    }
    // Objects that no file points at (an upload killed between its object and its commit) are
    // swept once their grace has passed: the bucket ends with one object per file.
    let deadline = Instant::now() + Duration::from_secs(20);
    let bucket = storage.bucket.as_ref().unwrap();
    wait_until(deadline, "one object per file", async || {
        let keys = bucket.keys().len();
        if keys == listed.len() {
            Ok(())
        } else {
            Err(format!("{keys} objects, {} files", listed.len()))
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (several instances on one database) and s3s-fs: run by ./test.sh's PostgreSQL half when s3s-fs is installed"]
async fn two_instances_with_directories_of_their_own_share_files_through_one_bucket() {
    let storage = TestStorage::postgres().await.keeping_files(FilesAt::Bucket);
    let own_dir = tempfile::tempdir().unwrap();
    let a = Instance::spawn(&storage, &[]);
    let b = Instance::spawn(
        &storage,
        &[("DATA_DIR", own_dir.path().display().to_string())],
    );
    let client = reqwest::Client::new();
    a.wait_ready(&client).await;
    b.wait_ready(&client).await;
    let token = admin_token(&client, &a.base).await;

    let first = content(0);
    let stored = put(&client, &a.base, &token, "shared.bin", first.clone()).await;
    assert_eq!(stored.status(), 201);
    let etag = stored.headers()["etag"].clone();
    let through_b = get(&client, &b.base, &token, "shared.bin").await;
    assert_eq!(through_b.status(), 200);
    assert_eq!(
        through_b.headers()["etag"],
        etag,
        "one ETag whichever instance answers"
    );
    assert!(through_b.bytes().await.unwrap() == first);
    let range = client
        .get(format!("{}/files/shared.bin", b.base))
        .bearer_auth(&token)
        .header("range", "bytes=5242870-5242889")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert!(range.bytes().await.unwrap() == first[5_242_870..5_242_890]);
    let unchanged = client
        .get(format!("{}/files/shared.bin", b.base))
        .bearer_auth(&token)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);

    // Replaced through B while it has that ETag; A serves the new bytes; a stale If-Match fails.
    let second = content(1);
    let replaced = client
        .put(format!("{}/files/shared.bin", b.base))
        .bearer_auth(&token)
        .header("if-match", etag.clone())
        .body(second.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    let new_etag = replaced.headers()["etag"].clone();
    let through_a = get(&client, &a.base, &token, "shared.bin").await;
    assert_eq!(through_a.headers()["etag"], new_etag);
    assert!(through_a.bytes().await.unwrap() == second);
    let stale = client
        .put(format!("{}/files/shared.bin", a.base))
        .bearer_auth(&token)
        .header("if-match", etag)
        .body(first)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);

    let deleted = client
        .delete(format!("{}/files/shared.bin", a.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        get(&client, &b.base, &token, "shared.bin").await.status(),
        404
    );
    // Neither instance kept file bytes on its own disk.
    for dir in [storage.dir(), own_dir.path()] {
        assert!(!dir.join("files").exists(), "{}", dir.display());
    }
}
