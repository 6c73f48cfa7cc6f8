//! Files over a real socket, with their bytes on disk and in a bucket of a real S3 server
//! (`s3s-fs`): streamed uploads (multipart in the bucket), uploads cut short or too large
//! leaving nothing partial, ranges and HEAD as hyper sends them, the generated client's builder
//! interface; and a disk that fills up.

use e2e::{FilesAt, Service, TestStorage, sha256_hex, wait_until};
use futures_util::{StreamExt, stream};
use std::{
    path::Path,
    time::{Duration, Instant},
};
use tokio::io::AsyncWriteExt;

/// Runs each test named here twice: with the files on disk, and in a bucket.
macro_rules! on_disk_and_in_a_bucket {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn on_disk() {
                super::$test(e2e::FilesAt::Disk).await;
            }

            #[tokio::test]
            #[ignore = "needs s3s-fs (an S3 server the test starts): run by ./test.sh when s3s-fs is installed"]
            async fn in_a_bucket() {
                super::$test(e2e::FilesAt::Bucket).await;
            }
        }
    )*};
}

on_disk_and_in_a_bucket!(
    a_streamed_upload_downloads_byte_for_byte_whole_in_ranges_and_by_head,
    a_chunked_upload_over_the_limit_is_413_and_leaves_nothing_partial,
    an_upload_cut_short_by_the_client_leaves_the_old_version_and_no_partial_file,
    files_and_the_export_through_the_generated_builder_interface,
);

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Uploads `bytes` in 64 KiB chunks with chunked transfer encoding (no Content-Length).
async fn upload_chunked(
    service: &Service,
    token: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    service
        .client
        .put(service.url(&format!("/files/{name}")))
        .bearer_auth(token)
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap()
}

/// The bytes of file `name`, downloaded whole.
async fn download(service: &Service, token: &str, name: &str) -> Vec<u8> {
    let answer = service
        .client
        .get(service.url(&format!("/files/{name}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    answer.bytes().await.unwrap().to_vec()
}

async fn a_streamed_upload_downloads_byte_for_byte_whole_in_ranges_and_by_head(files: FilesAt) {
    let storage = TestStorage::with_files(files).await;
    let service = Service::start_on(&storage, |_| {}).await;
    let admin = service.admin().await;
    // Two parts of a multipart upload, in a bucket.
    let bytes = pattern(7 * 1024 * 1024 + 17);
    let resp = upload_chunked(&service, &admin, "data.bin", bytes.clone()).await;
    assert_eq!(resp.status(), 201);
    let info: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(info["sha256"], sha256_hex(&bytes));
    assert_eq!(info["size"], bytes.len());

    let url = service.url("/files/data.bin");
    let whole = service
        .client
        .get(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(
        whole.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(whole.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let part = service
        .client
        .get(&url)
        .bearer_auth(&admin)
        .header("range", "bytes=1000000-1000099")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 1000000-1000099/{}", bytes.len()).as_str()
    );
    assert_eq!(
        part.bytes().await.unwrap().as_ref(),
        &bytes[1_000_000..1_000_100]
    );

    let head = service
        .client
        .head(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert!(head.bytes().await.unwrap().is_empty());
    assert_eq!(storage.partial_uploads(), Vec::<String>::new());
    assert_eq!(storage.blobs(), 1);
}

async fn a_chunked_upload_over_the_limit_is_413_and_leaves_nothing_partial(files: FilesAt) {
    let storage = TestStorage::with_files(files).await;
    // Past the first part of a multipart upload, in a bucket.
    let service = Service::start_on(&storage, |s| s.max_file_bytes = 6 << 20).await;
    let admin = service.admin().await;
    let old = pattern(10);
    assert_eq!(
        upload_chunked(&service, &admin, "keep.bin", old.clone())
            .await
            .status(),
        201
    );
    let resp = upload_chunked(&service, &admin, "keep.bin", pattern(7 << 20)).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert_eq!(download(&service, &admin, "keep.bin").await, old);
    assert_eq!(storage.partial_uploads(), Vec::<String>::new());
    assert_eq!(storage.blobs(), 1, "the old version's alone");
}

async fn an_upload_cut_short_by_the_client_leaves_the_old_version_and_no_partial_file(
    files: FilesAt,
) {
    let storage = TestStorage::with_files(files).await;
    let service = Service::start_on(&storage, |_| {}).await;
    let admin = service.admin().await;
    let old = pattern(100);
    assert_eq!(
        upload_chunked(&service, &admin, "doc.bin", old.clone())
            .await
            .status(),
        201
    );

    let mut socket = tokio::net::TcpStream::connect(service.host_port())
        .await
        .unwrap();
    let head = format!(
        "PUT /files/doc.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    // 6 MiB: in a bucket, a multipart upload with its first part sent.
    for _ in 0..96 {
        socket.write_all(b"10000\r\n").await.unwrap();
        socket.write_all(&vec![b'z'; 0x10000]).await.unwrap();
        socket.write_all(b"\r\n").await.unwrap();
    }
    drop(socket);

    let deadline = Instant::now() + Duration::from_secs(10);
    wait_until(deadline, "the partial upload is gone", async || {
        let left = storage.partial_uploads();
        if left.is_empty() && storage.blobs() == 1 {
            Ok(())
        } else {
            Err(format!("{left:?}, {} blobs", storage.blobs()))
        }
    })
    .await;
    let kept = service
        .client
        .get(service.url("/files/doc.bin"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.bytes().await.unwrap().as_ref(), old.as_slice());
}

/// All the bytes of a generated client's streamed body.
async fn collect(body: client::ByteStream) -> Vec<u8> {
    let mut chunks = body.into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    bytes
}

async fn files_and_the_export_through_the_generated_builder_interface(files: FilesAt) {
    let storage = TestStorage::with_files(files).await;
    let service = Service::start_on(&storage, |_| {}).await;
    let admin = client::builder_with_token(&service.base, &service.admin().await).unwrap();
    let content = b"quarterly figures\n".repeat(100);

    let stored = admin
        .files_put()
        .name("report.txt")
        .body(content.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    assert_eq!(stored.size, content.len() as u64);

    let whole = admin.files_get().name("report.txt").send().await.unwrap();
    assert_eq!(whole.headers()["etag"], format!("\"{}\"", stored.sha256));
    assert_eq!(collect(whole.into_inner()).await, content);
    let part = admin
        .files_get()
        .name("report.txt")
        .range("bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(collect(part.into_inner()).await, &content[..10]);

    let listed = admin.files_list().send().await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].name, "report.txt");

    let deleted = admin
        .files_delete()
        .name("report.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let missing = admin
        .files_get()
        .name("report.txt")
        .send()
        .await
        .err()
        .unwrap();
    let problem = client::problem(&missing).expect("a typed problem");
    assert_eq!(
        (problem.status, problem.instance.as_str()),
        (404, "/files/report.txt")
    );

    let export = admin.users_export().send().await.unwrap();
    let csv = String::from_utf8(collect(export.into_inner()).await).unwrap();
    assert!(csv.starts_with("id,name,email,created_at\r\n1,"), "{csv}");
}

/// A tmpfs of `size` mounted at `at` for one test, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    /// Mounts it, or says why not (mounting needs root).
    fn mount(at: &Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(at).map_err(|err| err.to_string())?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|err| err.to_string())?;
        if !mounted.status.success() {
            return Err(String::from_utf8_lossy(&mounted.stderr).trim().to_owned());
        }
        Ok(Self(at.to_owned()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
#[ignore = "needs root (it mounts a 1 MiB tmpfs): run by ./test.sh as root"]
async fn an_upload_that_fills_the_disk_is_507_and_leaves_the_old_version_whole() {
    let storage = TestStorage::new().await;
    let files = storage.dir().join("small-disk");
    let _disk = SmallDisk::mount(&files, "1m")
        .unwrap_or_else(|why| panic!("cannot mount a 1 MiB tmpfs ({why}); it needs root"));
    let service = Service::start_on(&storage, |s| s.files_dir = Some(files.clone())).await;
    let admin = service.admin().await;
    let old = pattern(10);
    let kept = upload_chunked(&service, &admin, "keep.bin", old.clone()).await;
    assert_eq!(kept.status(), 201);

    let full = upload_chunked(&service, &admin, "keep.bin", pattern(2 << 20)).await;
    assert_eq!(full.status(), 507);
    assert_eq!(full.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = full.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/problems/storage-full"),
        "{problem}"
    );
    assert_eq!(download(&service, &admin, "keep.bin").await, old);
    // Nothing of the failed upload is left on the disk: the next one fits again.
    let names: Vec<String> = std::fs::read_dir(&files)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let next = upload_chunked(&service, &admin, "next.bin", pattern(512 * 1024)).await;
    assert_eq!(next.status(), 201);
}
