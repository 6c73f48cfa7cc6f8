//! File bytes in an S3-compatible bucket, through Apache Arrow's `object_store`: every blob is
//! an object of its own, `<prefix>/blobs/<uuid>`.
//!
//! An upload small enough for one part is one `PUT`; a larger one is a multipart upload whose
//! parts are sent while the next is read (at most [`PARTS_IN_FLIGHT`] at once, so memory stays
//! at a few parts whatever the size), completed once the body has ended, and aborted when it
//! fails: an object exists only whole. Downloads are ranged `GET`s, streamed.
//!
//! Every call to the store is bounded, so that the store down, slow or refusing fails it as
//! [`domain::Error::BlobStoreUnavailable`]: a call without a body within the store timeout
//! ([`S3Settings::timeout`], a second by default); one that sends bytes within that plus a
//! second per [`SEND_FLOOR`] bytes (a store that takes less than a MiB per second is taken for
//! down); each wait for the next chunk of a download within [`STALL_FACTOR`] times the store
//! timeout; completing a multipart upload within [`COMPLETE_TIMEOUT`].

use super::Digest256;
use crate::error::{Error, Result, in_storage};
use async_trait::async_trait;
use bytes::Bytes;
use domain::files::{BlobId, BlobStore, ByteStream, StagedBlob};
use futures_util::{StreamExt, TryStreamExt};
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, MultipartUpload, ObjectStore, PutPayload,
    RetryConfig,
    aws::{AmazonS3, AmazonS3Builder},
    path::Path,
};
use std::{future::Future, ops::Range, sync::Arc, time::Duration};
use tokio::task::JoinSet;

/// Bytes per part of a multipart upload (S3's smallest part but the last).
const PART_SIZE: usize = 5 << 20;
/// Parts sent at once while the next one is read.
const PARTS_IN_FLIGHT: usize = 2;
/// Bytes a second below which a store taking an upload is taken for down.
const SEND_FLOOR: u64 = 1 << 20;
/// How many store timeouts a download may wait for its next chunk.
const STALL_FACTOR: u32 = 5;
/// How long the store may take to make an object of its parts (S3 says it can take a while).
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(30);
/// The HTTP client's own bound on any call but a download: a backstop behind those above.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a sweep's listing of the bucket may wait for each page.
const LIST_PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the bucket is and how to reach it: the ecosystem's usual `AWS_*` settings.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `s3://bucket` or `s3://bucket/prefix`.
    pub url: String,
    /// The store's endpoint (`AWS_ENDPOINT_URL`), for a store other than AWS itself.
    pub endpoint: Option<String>,
    /// The region (`AWS_REGION`).
    pub region: Option<String>,
    /// The access key id (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// The secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// A session token (`AWS_SESSION_TOKEN`), with temporary credentials.
    pub session_token: Option<String>,
    /// Virtual-hosted-style requests (`bucket.endpoint/key`), as AWS prefers; otherwise
    /// path-style (`endpoint/bucket/key`), as self-hosted stores need.
    pub virtual_hosted_style: bool,
    /// How long a call to the store may take before the request it serves gets a 503.
    pub timeout: Duration,
}

impl S3Settings {
    /// The bucket and the key prefix (without slashes at its ends) that `url` names.
    pub fn bucket_and_prefix(&self) -> Result<(String, String)> {
        let rest = self.url.strip_prefix("s3://").ok_or_else(|| {
            Error::Settings(format!("FILES_URL {} must start with s3://", self.url))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(Error::Settings(format!(
                "FILES_URL {} does not name a bucket (3 to 63 lower-case letters, digits, dots \
                 and hyphens)",
                self.url
            )));
        }
        let prefix = prefix.trim_matches('/');
        if Path::parse(prefix).is_err() {
            return Err(Error::Settings(format!(
                "FILES_URL {} has a prefix that is no object key",
                self.url
            )));
        }
        Ok((bucket.to_owned(), prefix.to_owned()))
    }
}

/// File bytes in an S3-compatible bucket.
#[derive(Clone)]
pub struct S3BlobStore {
    /// For everything but downloads: each call bounded by the HTTP client's timeout too.
    calls: Arc<AmazonS3>,
    /// For downloads, whose bodies may take as long as the client reading them: no overall
    /// timeout, only one per chunk.
    downloads: Arc<AmazonS3>,
    /// `<prefix>/blobs`.
    blobs: Path,
    /// The prefix itself, which readiness lists.
    root: Path,
    timeout: Duration,
}

impl S3BlobStore {
    /// A store in the bucket `settings` name; no request is made yet.
    pub fn new(settings: &S3Settings) -> Result<Self> {
        let (bucket, prefix) = settings.bucket_and_prefix()?;
        let client = |options: ClientOptions| {
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(&bucket)
                .with_virtual_hosted_style_request(settings.virtual_hosted_style)
                .with_client_options(options)
                .with_retry(RetryConfig {
                    // Retried within the store timeout, so that an outage is an answer soon.
                    backoff: BackoffConfig {
                        init_backoff: Duration::from_millis(50),
                        max_backoff: Duration::from_millis(250),
                        base: 2.0,
                    },
                    max_retries: 2,
                    retry_timeout: settings.timeout,
                });
            if let Some(endpoint) = &settings.endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            if let Some(region) = &settings.region {
                builder = builder.with_region(region);
            }
            if let Some(key) = &settings.access_key_id {
                builder = builder.with_access_key_id(key);
            }
            if let Some(secret) = &settings.secret_access_key {
                builder = builder.with_secret_access_key(secret);
            }
            if let Some(token) = &settings.session_token {
                builder = builder.with_token(token);
            }
            builder
                .build()
                .map(Arc::new)
                .map_err(|err| Error::Settings(format!("the object store settings: {err}")))
        };
        let connect = ClientOptions::new().with_connect_timeout(settings.timeout);
        let root = Path::from(prefix.as_str());
        Ok(Self {
            calls: client(connect.clone().with_timeout(CALL_TIMEOUT))?,
            downloads: client(connect.with_timeout_disabled())?,
            blobs: root.child("blobs"),
            root,
            timeout: settings.timeout,
        })
    }

    /// The key of `blob`, if it is a blob id this store made.
    fn key(&self, blob: &BlobId) -> Result<Path> {
        match uuid::Uuid::try_parse(&blob.0) {
            Ok(_) => Ok(self.blobs.child(blob.0.as_str())),
            Err(_) => Err(Error::Corrupt {
                what: "blob id",
                reason: blob.0.clone(),
            }),
        }
    }

    /// `call`, failed when the store takes longer than its timeout.
    async fn bounded<T>(&self, call: impl Future<Output = object_store::Result<T>>) -> Result<T> {
        within(self.timeout, call).await
    }

    /// How long sending `bytes` may take.
    fn sending(&self, bytes: usize) -> Duration {
        self.timeout + Duration::from_secs_f64(bytes as f64 / SEND_FLOOR as f64)
    }

    /// Streams `bytes` to the object `key`: one `PUT` for a body of at most one part, else a
    /// multipart upload, aborted when anything fails.
    async fn write(&self, key: &Path, mut bytes: ByteStream) -> Result<(u64, String)> {
        let mut digest = Digest256::default();
        let mut part = Part::default();
        let mut upload: Option<Multipart> = None;
        let written = async {
            while let Some(chunk) = bytes.next().await {
                let chunk = chunk.map_err(domain::Error::Upload)?;
                digest.update(&chunk);
                part.push(chunk);
                if part.size >= PART_SIZE {
                    let multipart = match upload.as_mut() {
                        Some(multipart) => multipart,
                        None => upload.insert(Multipart {
                            upload: self.bounded(self.calls.put_multipart(key)).await?,
                            sending: JoinSet::new(),
                            part_timeout: self.sending(PART_SIZE),
                        }),
                    };
                    multipart.send(part.take()).await?;
                }
            }
            match upload.as_mut() {
                None => {
                    let timeout = self.sending(part.size);
                    within(timeout, self.calls.put(key, part.take())).await?;
                }
                Some(multipart) => {
                    if part.size > 0 {
                        multipart.send(part.take()).await?;
                    }
                    multipart.complete().await?;
                }
            }
            Ok(())
        }
        .await;
        if let Err(err) = written {
            if let Some(multipart) = upload {
                multipart.abort(self.timeout).await;
            }
            return Err(err);
        }
        Ok(digest.finish())
    }
}

/// The chunks of one part, gathered without copying.
#[derive(Default)]
struct Part {
    chunks: Vec<Bytes>,
    size: usize,
}

impl Part {
    fn push(&mut self, chunk: Bytes) {
        self.size += chunk.len();
        self.chunks.push(chunk);
    }

    fn take(&mut self) -> PutPayload {
        self.size = 0;
        std::mem::take(&mut self.chunks).into_iter().collect()
    }
}

/// A multipart upload under way, with the parts being sent.
struct Multipart {
    upload: Box<dyn MultipartUpload>,
    sending: JoinSet<object_store::Result<()>>,
    /// How long waiting for a part to be stored may take.
    part_timeout: Duration,
}

impl Multipart {
    /// Sends `part` once fewer than [`PARTS_IN_FLIGHT`] are on their way.
    async fn send(&mut self, part: PutPayload) -> Result<()> {
        while self.sending.len() >= PARTS_IN_FLIGHT {
            self.sent_one().await?;
        }
        self.sending.spawn(self.upload.put_part(part));
        Ok(())
    }

    /// Waits for one part on its way to be stored.
    async fn sent_one(&mut self) -> Result<()> {
        match tokio::time::timeout(self.part_timeout, self.sending.join_next()).await {
            Err(_) => Err(Error::StoreTimeout(self.part_timeout)),
            Ok(None) => Ok(()),
            Ok(Some(joined)) => Ok(joined??),
        }
    }

    /// Waits for every part, then makes the object of them.
    async fn complete(&mut self) -> Result<()> {
        while !self.sending.is_empty() {
            self.sent_one().await?;
        }
        within(COMPLETE_TIMEOUT, self.upload.complete()).await?;
        Ok(())
    }

    /// Stops sending and has the store drop the parts it has. When the store does not answer,
    /// they stay invisible (no object has them) until the bucket's lifecycle rule removes them.
    async fn abort(mut self, timeout: Duration) {
        self.sending.abort_all();
        if let Err(err) = within(timeout, self.upload.abort()).await {
            tracing::warn!(error = %err, "cannot abort a multipart upload");
        }
    }
}

/// `call`, failed as [`Error::StoreTimeout`] after `timeout`.
async fn within<T>(
    timeout: Duration,
    call: impl Future<Output = object_store::Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, call).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(Error::StoreTimeout(timeout)),
    }
}

/// `chunks`, failing when the store sends nothing for `stall` while it is asked for more (a
/// reader who is slow to take them does not count).
fn stall_guarded(chunks: ByteStream, stall: Duration) -> ByteStream {
    async_stream::stream! {
        futures_util::pin_mut!(chunks);
        loop {
            match tokio::time::timeout(stall, chunks.next()).await {
                Ok(Some(chunk)) => yield chunk,
                Ok(None) => break,
                Err(_) => {
                    yield Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the object store stopped sending the file",
                    ));
                    break;
                }
            }
        }
    }
    .boxed()
}

#[async_trait]
impl BlobStore for S3BlobStore {
    fn allocate(&self) -> BlobId {
        BlobId(uuid::Uuid::new_v4().to_string())
    }

    async fn stage(&self, blob: BlobId, bytes: ByteStream) -> domain::Result<StagedBlob> {
        in_storage(async {
            let (size, sha256) = self.write(&self.key(&blob)?, bytes).await?;
            Ok(StagedBlob { blob, size, sha256 })
        })
        .await
    }

    async fn read(&self, blob: &BlobId, range: Range<u64>) -> domain::Result<ByteStream> {
        in_storage(async {
            let key = self.key(blob)?;
            if range.is_empty() {
                // S3 has no empty range; the bytes of nothing need no request.
                return Ok(futures_util::stream::empty().boxed());
            }
            let options = GetOptions {
                range: Some(GetRange::Bounded(range)),
                ..GetOptions::default()
            };
            let found = match self.bounded(self.downloads.get_opts(&key, options)).await {
                Err(Error::Store(object_store::Error::NotFound { .. })) => {
                    return Err(Error::Corrupt {
                        what: "file",
                        reason: format!("its blob {key} is missing from the bucket"),
                    });
                }
                other => other?,
            };
            let chunks = found.into_stream().map_err(std::io::Error::other).boxed();
            Ok(stall_guarded(chunks, self.timeout * STALL_FACTOR))
        })
        .await
    }

    async fn remove(&self, blob: &BlobId) -> domain::Result<()> {
        in_storage(async {
            match self.bounded(self.calls.delete(&self.key(blob)?)).await {
                Err(Error::Store(object_store::Error::NotFound { .. })) => Ok(()),
                other => other,
            }
        })
        .await
    }

    async fn list(&self) -> domain::Result<Vec<BlobId>> {
        in_storage(async {
            let mut objects = self.calls.list(Some(&self.blobs));
            let mut blobs = Vec::new();
            loop {
                let next = tokio::time::timeout(LIST_PAGE_TIMEOUT, objects.next()).await;
                let object = match next {
                    Err(_) => return Err(Error::StoreTimeout(LIST_PAGE_TIMEOUT)),
                    Ok(None) => break,
                    Ok(Some(object)) => object?,
                };
                // Keys of others (not made here) under the prefix are left alone.
                let name = object.location.filename().unwrap_or_default();
                if uuid::Uuid::try_parse(name).is_ok() {
                    blobs.push(BlobId(name.to_owned()));
                }
            }
            Ok(blobs)
        })
        .await
    }

    async fn check(&self) -> domain::Result<()> {
        in_storage(async {
            self.bounded(self.calls.list_with_delimiter(Some(&self.root)))
                .await?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
