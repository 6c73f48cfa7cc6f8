//! The webhook deliveries outbox: one row per event and endpoint, written in the transaction
//! of the change that caused the event, claimed by `(status, next_attempt_at)`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    MessageId,
    EventType,
    // What the event is about: an account's transaction, a notification or the endpoint.
    SubjectId,
    SubjectParent,
    OccurredAt,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedBy,
    LastStatusCode,
    LastError,
    LastLatencyMs,
    CreatedAt,
    DeliveredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use WebhookDeliveries as D;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .col(big_integer(D::Id).auto_increment().primary_key())
                    .col(big_integer(D::EndpointId))
                    .col(text(D::MessageId))
                    .col(text(D::EventType))
                    .col(big_integer(D::SubjectId))
                    .col(big_integer_null(D::SubjectParent))
                    .col(timestamp_with_time_zone(D::OccurredAt))
                    .col(text(D::Status))
                    .col(integer(D::Attempts).default(0))
                    .col(timestamp_with_time_zone_null(D::NextAttemptAt))
                    .col(text_null(D::ClaimedBy))
                    .col(integer_null(D::LastStatusCode))
                    .col(text_null(D::LastError))
                    .col(big_integer_null(D::LastLatencyMs))
                    .col(timestamp_with_time_zone(D::CreatedAt))
                    .col(timestamp_with_time_zone_null(D::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(D::Table, D::EndpointId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due")
                    .table(D::Table)
                    .col(D::Status)
                    .col(D::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // An endpoint's deliveries are listed newest first by it.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_endpoint")
                    .table(D::Table)
                    .col(D::EndpointId)
                    .col(D::Id)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
