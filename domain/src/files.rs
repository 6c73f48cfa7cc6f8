//! Files: named byte blobs that admins upload and every user may download.
//!
//! Rules kept here: a name is `[A-Za-z0-9][A-Za-z0-9._-]{0,254}` ([`FileName`]), so it can
//! never be a path, a hidden file or `..`; only admins write (upload, replace, delete); any
//! authenticated user reads. Storage keeps the bytes of each version in a blob of its own and
//! switches a name from one blob to the next in one transaction, so that a failed or interrupted
//! upload leaves the previous version whole and no partial file visible.

use crate::{
    Error, Page, PageRequest, Result, now, precondition::Precondition, principal::Principal,
    users::PutOutcome,
};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_core::stream::BoxStream;
use std::{
    collections::{HashMap, HashSet},
    ops::Range,
    sync::Arc,
    time::Duration,
};

pub mod name;
pub use name::FileName;

/// Where a file's bytes are kept: an opaque key of the blob store, never derived from a name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobId(pub String);

/// A stored file's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The file's name.
    pub name: FileName,
    /// Its length in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
    /// When a file of this name was first stored.
    pub created_at: DateTime<Utc>,
    /// When its current bytes were stored.
    pub updated_at: DateTime<Utc>,
    /// Where its current bytes are.
    pub blob: BlobId,
}

/// Bytes written to the blob store and synced, not yet the content of any name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedBlob {
    /// The blob.
    pub blob: BlobId,
    /// Its length in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
}

/// Staged bytes that are to become the content of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    /// The file's name.
    pub name: FileName,
    /// The bytes, already durable in the blob store.
    pub staged: StagedBlob,
    /// When the file changes: its `updated_at`, and its `created_at` when it is new.
    pub at: DateTime<Utc>,
}

/// What a [`FileRepository::put`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    /// The file as stored now.
    pub file: FileInfo,
    /// Whether it was created or replaced.
    pub outcome: PutOutcome,
    /// The blob it pointed at before, which nothing points at any more.
    pub replaced: Option<BlobId>,
}

/// A stream of bytes, as uploaded or as read back.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// What a sweep needs to know of the blobs: those files point at, and the uploads under way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobOwners {
    /// Every blob some file points at.
    pub files: HashSet<BlobId>,
    /// Every upload begun and neither committed nor given up: its blob and when it began.
    pub uploads: HashMap<BlobId, DateTime<Utc>>,
}

/// Where file metadata is stored.
#[async_trait]
pub trait FileRepository: Send + Sync {
    /// The file called `name`, if any.
    async fn get(&self, name: &FileName) -> Result<Option<FileInfo>>;

    /// Up to `limit` files with names after `after`, by name.
    async fn list(&self, after: Option<FileName>, limit: usize) -> Result<Vec<FileInfo>>;

    /// Records that an upload into `blob` begins at `at`: until it is committed or given up,
    /// sweeps leave its blob alone.
    async fn begin_upload(&self, blob: &BlobId, at: DateTime<Utc>) -> Result<()>;

    /// Forgets the upload into `blob` (it failed, or a sweep gives it up); whether it was still
    /// recorded (false: it was committed or given up already).
    async fn end_upload(&self, blob: &BlobId) -> Result<bool>;

    /// Makes `version` the file's content (creating the file or replacing its bytes) and ends
    /// its upload, in one transaction, when `precondition` holds of the file as it is there.
    /// [`Error::UploadAbandoned`] when a sweep gave the upload up first.
    async fn put(&self, version: NewVersion, precondition: &Precondition<FileInfo>) -> Result<Put>;

    /// Forgets `name`, when `precondition` holds of it in the deleting transaction; returns its
    /// blob. [`Error::FileNotFound`] when there is none (and the precondition allows that).
    async fn delete(
        &self,
        name: &FileName,
        precondition: &Precondition<FileInfo>,
    ) -> Result<BlobId>;

    /// The blobs files point at and the uploads under way, read at one moment.
    async fn blob_owners(&self) -> Result<BlobOwners>;
}

/// Where file bytes are stored.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// A blob id never used before (no I/O: the upload is recorded under it first).
    fn allocate(&self) -> BlobId;

    /// Writes `bytes` to the blob `blob`, durably, computing its size and SHA-256. When the
    /// stream fails ([`Error::Upload`]) or storage does, nothing is left behind.
    async fn stage(&self, blob: BlobId, bytes: ByteStream) -> Result<StagedBlob>;

    /// The bytes `range` of `blob`, streamed from storage.
    async fn read(&self, blob: &BlobId, range: Range<u64>) -> Result<ByteStream>;

    /// Removes a blob (and whatever an unfinished write of it left); no error when it is gone.
    async fn remove(&self, blob: &BlobId) -> Result<()>;

    /// Every blob in the store, whole or still being written.
    async fn list(&self) -> Result<Vec<BlobId>>;

    /// `Ok` when the store answers; [`Error::BlobStoreUnavailable`] otherwise.
    async fn check(&self) -> Result<()>;
}

/// The files use cases.
#[derive(Clone)]
pub struct FileService {
    files: Arc<dyn FileRepository>,
    blobs: Arc<dyn BlobStore>,
}

impl FileService {
    /// A service keeping metadata in `files` and bytes in `blobs`.
    pub fn new(files: Arc<dyn FileRepository>, blobs: Arc<dyn BlobStore>) -> Self {
        Self { files, blobs }
    }

    /// Stores `bytes` as the file `name`, for admins: created, or replaced whole, when
    /// `precondition` holds of the file as stored at the write.
    pub async fn put(
        &self,
        actor: &Principal,
        name: &FileName,
        bytes: ByteStream,
        precondition: Precondition<FileInfo>,
    ) -> Result<(FileInfo, PutOutcome)> {
        actor.require_admin("Only an admin may upload files.")?;
        // Recorded before a byte is stored, so that a sweep, which lists the store before it
        // reads the records, never takes this blob for an orphan while it is written.
        let blob = self.blobs.allocate();
        self.files.begin_upload(&blob, now()).await?;
        let staged = match self.blobs.stage(blob.clone(), bytes).await {
            Ok(staged) => staged,
            Err(err) => {
                self.give_up(&blob).await;
                return Err(err);
            }
        };
        let version = NewVersion {
            name: name.clone(),
            staged,
            at: now(),
        };
        match self.files.put(version, &precondition).await {
            Ok(put) => {
                if let Some(old) = put.replaced {
                    self.discard(&old).await;
                }
                Ok((put.file, put.outcome))
            }
            Err(err) => {
                self.discard(&blob).await;
                self.give_up(&blob).await;
                Err(err)
            }
        }
    }

    /// The file `name`, for any authenticated user.
    pub async fn get(&self, _actor: &Principal, name: &FileName) -> Result<FileInfo> {
        self.files
            .get(name)
            .await?
            .ok_or_else(|| Error::FileNotFound(name.clone()))
    }

    /// The bytes `range` of `file`.
    pub async fn read(&self, file: &FileInfo, range: Range<u64>) -> Result<ByteStream> {
        self.blobs.read(&file.blob, range).await
    }

    /// One page of files by name.
    pub async fn list(
        &self,
        _actor: &Principal,
        page: PageRequest<FileName>,
    ) -> Result<Page<FileInfo, FileName>> {
        let fetched = self.files.list(page.after, page.limit.get() + 1).await?;
        Ok(Page::from_overfetch(fetched, page.limit, |f| {
            f.name.clone()
        }))
    }

    /// Deletes the file `name`, for admins, when `precondition` holds of it at the deletion.
    pub async fn delete(
        &self,
        actor: &Principal,
        name: &FileName,
        precondition: Precondition<FileInfo>,
    ) -> Result<()> {
        actor.require_admin("Only an admin may delete files.")?;
        let blob = self.files.delete(name, &precondition).await?;
        self.discard(&blob).await;
        Ok(())
    }

    /// Removes the blobs no file points at: those replaced or deleted whose removal failed,
    /// and those of uploads begun more than `grace` ago and never committed (their process
    /// died). Safe in any number of instances at once: a blob is listed before the records are
    /// read, an upload is recorded before its first byte is stored, and an upload given up
    /// here can no longer be committed. Returns how many blobs it removed.
    pub async fn sweep(&self, grace: Duration) -> Result<usize> {
        let stored = self.blobs.list().await?;
        let owners = self.files.blob_owners().await?;
        let cutoff = now() - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let mut removed = 0;
        for blob in &stored {
            if owners.files.contains(blob) {
                continue;
            }
            match owners.uploads.get(blob) {
                Some(began) if *began > cutoff => continue,
                // Committed since the read (or given up by another sweep): not ours to remove.
                Some(_) if !self.files.end_upload(blob).await? => continue,
                _ => {}
            }
            self.blobs.remove(blob).await?;
            removed += 1;
        }
        let stored: HashSet<&BlobId> = stored.iter().collect();
        for (blob, began) in &owners.uploads {
            if *began <= cutoff && !stored.contains(blob) {
                // Died before its blob was whole: what the store keeps of it goes too.
                if self.files.end_upload(blob).await? {
                    self.blobs.remove(blob).await?;
                }
            }
        }
        Ok(removed)
    }

    /// Whether the blob store answers.
    pub async fn check(&self) -> Result<()> {
        self.blobs.check().await
    }

    /// Forgets a failed upload's record; a failure only leaves it for a sweep to give up.
    async fn give_up(&self, blob: &BlobId) {
        if let Err(err) = self.files.end_upload(blob).await {
            tracing::warn!(error = %err, blob = %blob.0, "cannot forget a failed upload; a sweep will");
        }
    }

    /// Removes a blob nothing points at; a failure only leaves garbage for the next sweep.
    async fn discard(&self, blob: &BlobId) {
        if let Err(err) = self.blobs.remove(blob).await {
            tracing::warn!(error = %err, blob = %blob.0, "cannot remove a blob; the next sweep will");
        }
    }
}

#[cfg(test)]
mod service_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_parse() {
        for ok in ["a", "report.pdf", "A_b-c.d.e", "0", &"x".repeat(255)] {
            assert_eq!(FileName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn paths_hidden_files_and_odd_characters_are_refused() {
        for bad in [
            "",
            "..",
            ".env",
            ".",
            "-rf",
            "_x",
            "a/b",
            "../etc/passwd",
            "a\\b",
            "%2e%2e",
            "a%2Fb",
            "a\0b",
            "name with space",
            "é.txt",
            "a:b",
            &"x".repeat(256),
        ] {
            assert_eq!(
                FileName::parse(bad).unwrap_err().code,
                "file_name_invalid",
                "{bad:?}"
            );
        }
    }
}
