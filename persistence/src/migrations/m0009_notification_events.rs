//! Every change of a notification, kept: what `GET /notifications/{id}/events` streams, from
//! any point a follower resumes at. A notification's changes are numbered from 1 (`seq`); the
//! notifications stored before this migration get their current state as their first.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum NotificationEvents {
    Table,
    NotificationId,
    Seq,
    Status,
    Attempts,
    LastError,
    NextAttemptAt,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationEvents::Table)
                    .col(big_integer(NotificationEvents::NotificationId))
                    .col(big_integer(NotificationEvents::Seq))
                    .col(text(NotificationEvents::Status))
                    .col(integer(NotificationEvents::Attempts))
                    .col(text_null(NotificationEvents::LastError))
                    .col(timestamp_with_time_zone(NotificationEvents::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(NotificationEvents::SentAt))
                    .primary_key(
                        Index::create()
                            .col(NotificationEvents::NotificationId)
                            .col(NotificationEvents::Seq),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                NotificationEvents::Table,
                                NotificationEvents::NotificationId,
                            )
                            .to(Notifications::Table, Notifications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO notification_events \
                     (notification_id, seq, status, attempts, last_error, next_attempt_at, sent_at) \
                 SELECT id, 1, status, attempts, last_error, next_attempt_at, sent_at \
                 FROM notifications",
            )
            .await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
