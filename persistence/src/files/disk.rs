//! File bytes on disk: every blob is a file of its own, `.blob-<uuid>` in the files directory.
//!
//! An upload streams into `.upload-<uuid>` (hashing as it goes), syncs it, renames it to its
//! blob name and syncs the directory: a blob is whole if and only if it has that name. The only
//! paths ever opened are built here from generated ids, never from a client's input.

use super::Digest256;
use crate::error::{Error, Result, in_storage};
use async_trait::async_trait;
use bytes::Bytes;
use domain::files::{BlobId, BlobStore, ByteStream, StagedBlob};
use futures_util::{StreamExt, TryStreamExt};
use std::{
    collections::BTreeSet,
    ops::Range,
    path::{Path, PathBuf},
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

const BLOB_PREFIX: &str = ".blob-";
const UPLOAD_PREFIX: &str = ".upload-";
/// Bytes per read when streaming a blob out.
const READ_CHUNK: usize = 256 * 1024;

/// File bytes in a directory of blobs.
#[derive(Clone)]
pub struct FsBlobStore {
    dir: PathBuf,
}

impl FsBlobStore {
    /// A store in `dir`, created when missing.
    pub fn new(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|err| {
            Error::Settings(format!(
                "cannot create the files directory {}: {err}",
                dir.display()
            ))
        })?;
        Ok(Self { dir })
    }

    /// The uuid of `blob`, if it is a blob id this store made.
    fn uuid<'a>(&self, blob: &'a BlobId) -> Result<&'a str> {
        let uuid = blob.0.strip_prefix(BLOB_PREFIX).unwrap_or_default();
        match uuid::Uuid::try_parse(uuid) {
            Ok(_) => Ok(uuid),
            Err(_) => Err(Error::Corrupt {
                what: "blob id",
                reason: blob.0.clone(),
            }),
        }
    }

    /// The path of `blob` once whole.
    fn path(&self, blob: &BlobId) -> Result<PathBuf> {
        Ok(self.dir.join(format!("{BLOB_PREFIX}{}", self.uuid(blob)?)))
    }

    /// The path `blob` is written at until it is whole.
    fn upload_path(&self, blob: &BlobId) -> Result<PathBuf> {
        Ok(self
            .dir
            .join(format!("{UPLOAD_PREFIX}{}", self.uuid(blob)?)))
    }

    /// Streams `bytes` into a new file at `path` and syncs it: its size and SHA-256 (hex).
    async fn write_to(&self, path: &Path, mut bytes: ByteStream) -> Result<(u64, String)> {
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        let mut digest = Digest256::default();
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(domain::Error::Upload)?;
            digest.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        Ok(digest.finish())
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    fn allocate(&self) -> BlobId {
        BlobId(format!("{BLOB_PREFIX}{}", uuid::Uuid::new_v4()))
    }

    async fn stage(&self, blob: BlobId, bytes: ByteStream) -> domain::Result<StagedBlob> {
        in_storage(async {
            let upload = self.upload_path(&blob)?;
            let (size, sha256) = match self.write_to(&upload, bytes).await {
                Ok(written) => written,
                Err(err) => {
                    // Nothing half-written stays behind, whatever went wrong.
                    let _ = tokio::fs::remove_file(&upload).await;
                    return Err(err);
                }
            };
            tokio::fs::rename(&upload, self.path(&blob)?)
                .await
                .map_err(io)?;
            sync_dir(&self.dir).await?;
            Ok(StagedBlob { blob, size, sha256 })
        })
        .await
    }

    async fn read(&self, blob: &BlobId, range: Range<u64>) -> domain::Result<ByteStream> {
        in_storage(async {
            let mut file = tokio::fs::File::open(self.path(blob)?).await.map_err(io)?;
            file.seek(std::io::SeekFrom::Start(range.start))
                .await
                .map_err(io)?;
            let window = file.take(range.end.saturating_sub(range.start));
            let chunks = tokio_util::io::ReaderStream::with_capacity(window, READ_CHUNK);
            Ok(chunks.map_ok(Bytes::from).boxed())
        })
        .await
    }

    async fn remove(&self, blob: &BlobId) -> domain::Result<()> {
        in_storage(async {
            for path in [self.path(blob)?, self.upload_path(blob)?] {
                match tokio::fs::remove_file(path).await {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(io(err)),
                }
            }
            Ok(())
        })
        .await
    }

    async fn list(&self) -> domain::Result<Vec<BlobId>> {
        in_storage(async {
            let mut entries = tokio::fs::read_dir(&self.dir).await.map_err(io)?;
            let mut blobs = BTreeSet::new();
            while let Some(entry) = entries.next_entry().await.map_err(io)? {
                let name = entry.file_name().to_string_lossy().into_owned();
                let uuid = name
                    .strip_prefix(BLOB_PREFIX)
                    .or_else(|| name.strip_prefix(UPLOAD_PREFIX));
                if let Some(uuid) = uuid.filter(|uuid| uuid::Uuid::try_parse(uuid).is_ok()) {
                    blobs.insert(BlobId(format!("{BLOB_PREFIX}{uuid}")));
                }
            }
            Ok(blobs.into_iter().collect())
        })
        .await
    }

    async fn check(&self) -> domain::Result<()> {
        match tokio::fs::metadata(&self.dir).await {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(domain::Error::BlobStoreUnavailable(
                format!("{} is not a directory", self.dir.display()).into(),
            )),
            Err(err) => Err(domain::Error::BlobStoreUnavailable(Box::new(err))),
        }
    }
}

/// Syncs a directory, so that a rename in it survives a crash of the machine.
async fn sync_dir(dir: &Path) -> Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await?
        .map_err(io)
}

fn io(err: std::io::Error) -> Error {
    Error::Io(err)
}

#[cfg(test)]
mod tests;
