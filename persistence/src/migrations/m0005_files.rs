//! File metadata. A file's bytes live in the blob its row names; replacing a file points the
//! row at a new blob, in one statement.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Files {
    Table,
    Name,
    Size,
    Sha256,
    Blob,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Files::Table)
                    .col(text(Files::Name).primary_key())
                    .col(big_integer(Files::Size))
                    .col(text(Files::Sha256))
                    .col(text(Files::Blob))
                    .col(timestamp_with_time_zone(Files::CreatedAt))
                    .col(timestamp_with_time_zone(Files::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
