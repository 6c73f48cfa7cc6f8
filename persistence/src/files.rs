//! Files: metadata in SQL ([`SqlFileRepository`]), bytes in a blob store: a directory on disk
//! ([`FsBlobStore`], the default) or an S3-compatible bucket ([`S3BlobStore`]).
//!
//! Every version of a file is a blob of its own, under a key generated for it, never derived
//! from a client's input. An upload is recorded (`file_uploads`) before its first byte is
//! stored; once the store holds the whole blob, one transaction points the file's row at it and
//! ends the record, and the old blob is removed. A crash anywhere leaves the previous version or
//! the new one, whole; a sweep ([`domain::files::FileService::sweep`]) removes what it left.

use crate::{
    Database,
    database::WriteTxn,
    error::{Error, Result, in_storage, stored},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    files::{BlobId, BlobOwners, FileInfo, FileName, FileRepository, NewVersion, Put},
    precondition::Precondition,
    users::PutOutcome,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use sha2::{Digest, Sha256};

mod disk;
mod s3;

pub use disk::FsBlobStore;
pub use s3::{S3BlobStore, S3Settings};

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

/// The `file_uploads` table: uploads under way.
pub(crate) mod upload {
    use sea_orm::entity::prelude::*;

    /// An upload begun and neither committed nor given up.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "file_uploads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub blob: String,
        pub began_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as Files, Model};
use upload::Entity as Uploads;

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
            let ended = Uploads::delete_by_id(staged.blob.0.as_str())
                .exec(txn.conn()?)
                .await?;
            if ended.rows_affected == 0 {
                return Err(domain::Error::UploadAbandoned.into());
            }
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

    async fn begin_upload(&self, blob: &BlobId, at: DateTime<Utc>) -> domain::Result<()> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            let row = upload::ActiveModel {
                blob: Set(blob.0.clone()),
                began_at: Set(at),
            };
            Uploads::insert(row).exec(txn.conn()?).await?;
            txn.commit().await
        })
        .await
    }

    async fn end_upload(&self, blob: &BlobId) -> domain::Result<bool> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            let ended = Uploads::delete_by_id(blob.0.as_str())
                .exec(txn.conn()?)
                .await?;
            txn.commit().await?;
            Ok(ended.rows_affected > 0)
        })
        .await
    }

    async fn blob_owners(&self) -> domain::Result<BlobOwners> {
        in_storage(async {
            // Uploads first: one committed between the two reads is then seen as an upload
            // (its record read before the commit ended it), never as nobody's blob.
            let uploads = Uploads::find().all(self.db.conn()).await?;
            let files: Vec<String> = Files::find()
                .select_only()
                .column(Column::Blob)
                .into_tuple()
                .all(self.db.conn())
                .await?;
            Ok(BlobOwners {
                files: files.into_iter().map(BlobId).collect(),
                uploads: uploads
                    .into_iter()
                    .map(|row| (BlobId(row.blob), row.began_at))
                    .collect(),
            })
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

/// The size and SHA-256 of bytes as they stream past.
#[derive(Default)]
struct Digest256 {
    hasher: Sha256,
    size: u64,
}

impl Digest256 {
    fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
    }

    /// The size and the SHA-256 as lower-case hex.
    fn finish(self) -> (u64, String) {
        let sha256 = self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (self.size, sha256)
    }
}

#[cfg(test)]
mod contract;
#[cfg(test)]
mod tests;
