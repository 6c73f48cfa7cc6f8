//! Files: metadata in SQL ([`SqlFileRepository`]) and bytes on disk ([`FsBlobStore`]).
//!
//! Every version of a file is a blob of its own, `.blob-<uuid>` in the files directory. An
//! upload streams into `.upload-<uuid>` (hashing as it goes), syncs it, and renames it to its
//! blob name: a blob is complete if and only if it has that name. Then one statement points the
//! file's row at it, and the old blob is removed. A crash anywhere leaves the previous version
//! or the new one, whole; [`FsBlobStore::sweep`] removes what it left behind. The only paths
//! ever opened are built here from generated ids, never from a client's input.

use crate::{
    Database,
    database::WriteTxn,
    error::{Error, Result, in_storage, stored},
};
use async_trait::async_trait;
use bytes::Bytes;
use domain::{
    files::{
        BlobId, BlobStore, ByteStream, FileInfo, FileName, FileRepository, NewVersion, Put,
        StagedBlob,
    },
    precondition::Precondition,
    users::PutOutcome,
};
use futures_util::{StreamExt, TryStreamExt};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use sha2::{Digest, Sha256};
use std::{
    ops::Range,
    path::{Path, PathBuf},
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The `files` table.
pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    /// One file's metadata.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "files")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub size: i64,
        pub sha256: String,
        pub blob: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as Files, Model};

/// File metadata stored in the service's database.
#[derive(Clone)]
pub struct SqlFileRepository {
    db: Database,
}

impl SqlFileRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The row of `name`, read (and on PostgreSQL locked) in `txn`, once `precondition` holds
    /// of it.
    async fn checked(
        &self,
        txn: &WriteTxn,
        name: &FileName,
        precondition: &Precondition<FileInfo>,
    ) -> Result<Option<Model>> {
        let query = self.db.locking(Files::find_by_id(name.as_str()));
        let existing = query.one(txn.conn()?).await?;
        let current = existing.clone().map(to_domain).transpose()?;
        precondition.check(current.as_ref())?;
        Ok(existing)
    }
}

#[async_trait]
impl FileRepository for SqlFileRepository {
    async fn get(&self, name: &FileName) -> domain::Result<Option<FileInfo>> {
        in_storage(async {
            let model = Files::find_by_id(name.as_str()).one(self.db.conn()).await?;
            model.map(to_domain).transpose()
        })
        .await
    }

    async fn list(&self, after: Option<FileName>, limit: usize) -> domain::Result<Vec<FileInfo>> {
        in_storage(async {
            let mut query = Files::find().order_by_asc(Column::Name);
            if let Some(after) = after {
                query = query.filter(Column::Name.gt(after.as_str()));
            }
            let rows = query
                .limit(crate::database::sql_limit(limit))
                .all(self.db.conn())
                .await?;
            rows.into_iter().map(to_domain).collect()
        })
        .await
    }

    async fn put(
        &self,
        version: NewVersion,
        precondition: &Precondition<FileInfo>,
    ) -> domain::Result<Put> {
        let NewVersion { name, staged, at } = version;
        in_storage(async {
            let size = i64::try_from(staged.size).map_err(|_| Error::Corrupt {
                what: "file size",
                reason: "over 2^63 bytes".into(),
            })?;
            let txn = self.db.begin_write().await?;
            let existing = self.checked(&txn, &name, precondition).await?;
            let (model, outcome, replaced) = match existing {
                Some(old) => {
                    let replaced = BlobId(old.blob.clone());
                    let mut row: ActiveModel = old.into();
                    row.size = Set(size);
                    row.sha256 = Set(staged.sha256);
                    row.blob = Set(staged.blob.0);
                    row.updated_at = Set(at);
                    (
                        row.update(txn.conn()?).await?,
                        PutOutcome::Replaced,
                        Some(replaced),
                    )
                }
                None => {
                    let row = ActiveModel {
                        name: Set(name.as_str().to_owned()),
                        size: Set(size),
                        sha256: Set(staged.sha256),
                        blob: Set(staged.blob.0),
                        created_at: Set(at),
                        updated_at: Set(at),
                    };
                    (row.insert(txn.conn()?).await?, PutOutcome::Created, None)
                }
            };
            txn.commit().await?;
            Ok(Put {
                file: to_domain(model)?,
                outcome,
                replaced,
            })
        })
        .await
    }

    async fn delete(
        &self,
        name: &FileName,
        precondition: &Precondition<FileInfo>,
    ) -> domain::Result<BlobId> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            let existing = self.checked(&txn, name, precondition).await?;
            let existing = existing.ok_or_else(|| domain::Error::FileNotFound(name.clone()))?;
            Files::delete_by_id(name.as_str()).exec(txn.conn()?).await?;
            txn.commit().await?;
            Ok(BlobId(existing.blob))
        })
        .await
    }

    async fn blobs(&self) -> domain::Result<Vec<BlobId>> {
        in_storage(async {
            let blobs: Vec<String> = Files::find()
                .select_only()
                .column(Column::Blob)
                .into_tuple()
                .all(self.db.conn())
                .await?;
            Ok(blobs.into_iter().map(BlobId).collect())
        })
        .await
    }
}

fn to_domain(model: Model) -> Result<FileInfo> {
    Ok(FileInfo {
        name: stored("file name", FileName::parse(&model.name))?,
        size: u64::try_from(model.size).map_err(|_| Error::Corrupt {
            what: "file size",
            reason: model.size.to_string(),
        })?,
        sha256: model.sha256,
        created_at: model.created_at,
        updated_at: model.updated_at,
        blob: BlobId(model.blob),
    })
}

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

    /// The path of `blob`, if it is a blob id this store made.
    fn path(&self, blob: &BlobId) -> Result<PathBuf> {
        let uuid = blob.0.strip_prefix(BLOB_PREFIX).unwrap_or_default();
        if uuid::Uuid::try_parse(uuid).is_err() {
            return Err(Error::Corrupt {
                what: "blob id",
                reason: blob.0.clone(),
            });
        }
        Ok(self.dir.join(&blob.0))
    }

    /// Streams `bytes` into a new file at `path` and syncs it: its size and SHA-256 (hex).
    async fn write_to(&self, path: &Path, mut bytes: ByteStream) -> Result<(u64, String)> {
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(domain::Error::Upload)?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        let sha256 = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok((size, sha256))
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stage(&self, bytes: ByteStream) -> domain::Result<StagedBlob> {
        in_storage(async {
            let id = uuid::Uuid::new_v4();
            let upload = self.dir.join(format!("{UPLOAD_PREFIX}{id}"));
            let result = self.write_to(&upload, bytes).await;
            let (size, sha256) = match result {
                Ok(written) => written,
                Err(err) => {
                    // Nothing half-written stays behind, whatever went wrong.
                    let _ = tokio::fs::remove_file(&upload).await;
                    return Err(err);
                }
            };
            let blob = BlobId(format!("{BLOB_PREFIX}{id}"));
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
            match tokio::fs::remove_file(self.path(blob)?).await {
                Ok(()) => Ok(()),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(err) => Err(io(err)),
            }
        })
        .await
    }

    async fn sweep(&self, keep: &[BlobId]) -> domain::Result<usize> {
        in_storage(async {
            let mut entries = tokio::fs::read_dir(&self.dir).await.map_err(io)?;
            let mut removed = 0;
            while let Some(entry) = entries.next_entry().await.map_err(io)? {
                let name = entry.file_name().to_string_lossy().into_owned();
                let orphan = name.starts_with(UPLOAD_PREFIX)
                    || (name.starts_with(BLOB_PREFIX) && !keep.iter().any(|blob| blob.0 == name));
                if orphan {
                    tokio::fs::remove_file(entry.path()).await.map_err(io)?;
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
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
