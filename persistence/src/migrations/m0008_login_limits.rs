//! The failed-login counts, kept in the database so that every instance of it counts the same
//! attempts: one row per limited key, with the instant its charged attempts will have drained.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum LoginLimits {
    Table,
    Key,
    DrainedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginLimits::Table)
                    .col(text(LoginLimits::Key).primary_key())
                    .col(timestamp_with_time_zone(LoginLimits::DrainedAt))
                    .to_owned(),
            )
            .await?;
        // The sweep deletes by it.
        manager
            .create_index(
                Index::create()
                    .name("login_limits_drained_at")
                    .table(LoginLimits::Table)
                    .col(LoginLimits::DrainedAt)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
