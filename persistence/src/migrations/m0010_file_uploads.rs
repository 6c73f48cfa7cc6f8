//! Uploads under way: a blob is recorded here before its first byte is stored, and the record
//! goes in the transaction that points a file at the blob. A sweep removes a blob that is
//! neither a file's nor a recent upload's; one recorded long ago belongs to a process that died.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum FileUploads {
    Table,
    Blob,
    BeganAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FileUploads::Table)
                    .col(text(FileUploads::Blob).primary_key())
                    .col(timestamp_with_time_zone(FileUploads::BeganAt))
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
