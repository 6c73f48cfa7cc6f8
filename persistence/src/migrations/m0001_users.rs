//! The users table. `email_key` is the lower-cased address, unique: that is how addresses are
//! unique case-insensitively on every backend.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Name,
    Email,
    EmailKey,
    PasswordHash,
    Bio,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    // AUTOINCREMENT on SQLite, an identity on PostgreSQL: ids of deleted users are
                    // never handed out again.
                    .col(big_integer(Users::Id).auto_increment().primary_key())
                    .col(text(Users::Name))
                    .col(text(Users::Email))
                    .col(text(Users::EmailKey))
                    .col(text(Users::PasswordHash))
                    .col(text_null(Users::Bio))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_email_key")
                    .table(Users::Table)
                    .col(Users::EmailKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
