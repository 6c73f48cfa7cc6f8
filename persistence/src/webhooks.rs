//! Webhook endpoints in SQL: the `webhook_endpoints` and `webhook_secrets` tables and
//! [`SqlWebhookRepository`], the domain's [`WebhookRepository`].

use crate::{
    Database,
    error::{Result, in_storage, stored},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    principal::Reach,
    users::UserId,
    webhooks::{
        Description, Endpoint, EventSet, KeptSecret, NewEndpoint, SigningSecret, WebhookId,
        WebhookRepository, WebhookUrl, rotated,
    },
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::time::Duration;

/// The `webhook_endpoints` table.
pub(crate) mod endpoint {
    use sea_orm::entity::prelude::*;

    /// One row of `webhook_endpoints`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub owner_id: i64,
        pub url: String,
        pub events: String,
        pub description: String,
        pub enabled: bool,
        pub disabled_reason: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `webhook_secrets` table.
pub(crate) mod secret {
    use sea_orm::entity::prelude::*;

    /// One row of `webhook_secrets`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_secrets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub endpoint_id: i64,
        pub secret: String,
        pub created_at: DateTimeUtc,
        pub expires_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use endpoint::{Column, Entity as Endpoints};
use secret::{Column as SecretColumn, Entity as Secrets};

/// Endpoints stored in the service's database.
#[derive(Clone)]
pub struct SqlWebhookRepository {
    db: Database,
}

impl SqlWebhookRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl WebhookRepository for SqlWebhookRepository {
    async fn create(
        &self,
        owner: UserId,
        new: &NewEndpoint,
        first: &KeptSecret,
    ) -> domain::Result<Endpoint> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            let row = endpoint::ActiveModel {
                owner_id: Set(owner.get()),
                url: Set(new.url.as_str().to_owned()),
                events: Set(events_text(&new.events)),
                description: Set(new.description.as_str().to_owned()),
                enabled: Set(new.enabled),
                disabled_reason: Set(None),
                created_at: Set(first.created_at),
                updated_at: Set(first.created_at),
                ..Default::default()
            }
            .insert(txn.conn()?)
            .await?;
            secret_row(row.id, first).insert(txn.conn()?).await?;
            txn.commit().await?;
            to_domain(row)
        })
        .await
    }

    async fn get(&self, id: WebhookId) -> domain::Result<Option<Endpoint>> {
        in_storage(async {
            let row = Endpoints::find_by_id(id.get()).one(self.db.conn()).await?;
            row.map(to_domain).transpose()
        })
        .await
    }

    async fn list(
        &self,
        reach: Reach,
        after: Option<WebhookId>,
        limit: usize,
    ) -> domain::Result<Vec<Endpoint>> {
        in_storage(async {
            let mut query = Endpoints::find().order_by_asc(Column::Id);
            if let Reach::OwnedBy(owner) = reach {
                query = query.filter(Column::OwnerId.eq(owner.get()));
            }
            if let Some(after) = after {
                query = query.filter(Column::Id.gt(after.get()));
            }
            let rows = query.limit(limit as u64).all(self.db.conn()).await?;
            rows.into_iter().map(to_domain).collect()
        })
        .await
    }

    async fn update(&self, e: &Endpoint) -> domain::Result<bool> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            let done = Endpoints::update_many()
                .col_expr(Column::Url, e.url.as_str().into())
                .col_expr(Column::Events, events_text(&e.events).into())
                .col_expr(Column::Description, e.description.as_str().into())
                .col_expr(Column::Enabled, e.enabled.into())
                .col_expr(Column::DisabledReason, e.disabled_reason.clone().into())
                .col_expr(Column::UpdatedAt, e.updated_at.into())
                .filter(Column::Id.eq(e.id.get()))
                .exec(txn.conn()?)
                .await?;
            txn.commit().await?;
            Ok(done.rows_affected == 1)
        })
        .await
    }

    async fn delete(&self, id: WebhookId) -> domain::Result<bool> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            // Its secrets go with it (the foreign key cascades).
            let done = Endpoints::delete_by_id(id.get()).exec(txn.conn()?).await?;
            txn.commit().await?;
            Ok(done.rows_affected == 1)
        })
        .await
    }

    async fn secrets(&self, id: WebhookId) -> domain::Result<Vec<KeptSecret>> {
        in_storage(async { read_secrets(self.db.conn(), id).await }).await
    }

    async fn rotate(
        &self,
        id: WebhookId,
        new: SigningSecret,
        now: DateTime<Utc>,
        overlap: Duration,
    ) -> domain::Result<Option<Vec<KeptSecret>>> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            // Concurrent rotations of one endpoint take turns on its row (SQLite's one writer
            // does that by itself); each reads what the one before it wrote.
            let locked = self
                .db
                .locking(Endpoints::find_by_id(id.get()))
                .one(txn.conn()?)
                .await?;
            if locked.is_none() {
                txn.rollback().await?;
                return Ok(None);
            }
            let kept = rotated(read_secrets(txn.conn()?, id).await?, new, now, overlap);
            Secrets::delete_many()
                .filter(SecretColumn::EndpointId.eq(id.get()))
                .exec(txn.conn()?)
                .await?;
            for secret in &kept {
                secret_row(id.get(), secret).insert(txn.conn()?).await?;
            }
            txn.commit().await?;
            Ok(Some(kept))
        })
        .await
    }
}

pub(crate) async fn read_secrets(
    conn: &impl sea_orm::ConnectionTrait,
    id: WebhookId,
) -> Result<Vec<KeptSecret>> {
    let rows = Secrets::find()
        .filter(SecretColumn::EndpointId.eq(id.get()))
        .order_by_asc(SecretColumn::Id)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(KeptSecret {
                secret: stored("webhook secret", SigningSecret::parse(&row.secret))?,
                created_at: row.created_at,
                expires_at: row.expires_at,
            })
        })
        .collect()
}

fn secret_row(endpoint_id: i64, kept: &KeptSecret) -> secret::ActiveModel {
    secret::ActiveModel {
        endpoint_id: Set(endpoint_id),
        secret: Set(kept.secret.reveal()),
        created_at: Set(kept.created_at),
        expires_at: Set(kept.expires_at),
        ..Default::default()
    }
}

fn events_text(events: &EventSet) -> String {
    let names: Vec<&str> = events.iter().map(|kind| kind.as_str()).collect();
    names.join(",")
}

pub(crate) fn to_domain(row: endpoint::Model) -> Result<Endpoint> {
    Ok(Endpoint {
        id: stored("webhook id", WebhookId::parse(row.id))?,
        owner: stored("webhook owner", UserId::parse(row.owner_id))?,
        url: stored("webhook url", WebhookUrl::parse(&row.url))?,
        events: stored("webhook events", EventSet::parse(row.events.split(',')))?,
        description: stored("webhook description", Description::parse(&row.description))?,
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub mod deliveries;
#[cfg(test)]
mod tests;
