//! Webhook endpoints and their signing secrets; both go with the user who owns them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    OwnerId,
    Url,
    Events,
    Description,
    Enabled,
    DisabledReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookSecrets {
    Table,
    Id,
    EndpointId,
    Secret,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(
                        big_integer(WebhookEndpoints::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big_integer(WebhookEndpoints::OwnerId))
                    .col(text(WebhookEndpoints::Url))
                    // The subscribed event types' names, comma-separated.
                    .col(text(WebhookEndpoints::Events))
                    .col(text(WebhookEndpoints::Description))
                    .col(boolean(WebhookEndpoints::Enabled))
                    .col(text_null(WebhookEndpoints::DisabledReason))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookEndpoints::Table, WebhookEndpoints::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // An owner's endpoints are listed, and found for each of their events, by it.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_endpoints_owner")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::OwnerId)
                    .col(WebhookEndpoints::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookSecrets::Table)
                    .col(
                        big_integer(WebhookSecrets::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big_integer(WebhookSecrets::EndpointId))
                    // `whsec_` and the base64 of the key: the HMAC needs the key itself.
                    .col(text(WebhookSecrets::Secret))
                    .col(timestamp_with_time_zone(WebhookSecrets::CreatedAt))
                    .col(timestamp_with_time_zone_null(WebhookSecrets::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookSecrets::Table, WebhookSecrets::EndpointId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_secrets_endpoint")
                    .table(WebhookSecrets::Table)
                    .col(WebhookSecrets::EndpointId)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
