//! The webhook deliveries outbox in SQL: the `webhook_deliveries` table, [`enqueue`] (called in
//! the transaction of each change that causes an event) and [`SqlDeliveryRepository`].
//!
//! Claims work as the notifications outbox's do: one `UPDATE … WHERE id IN (SELECT … LIMIT n)
//! RETURNING *`, under `FOR UPDATE SKIP LOCKED` on PostgreSQL, naming this instance; a claim
//! of an instance whose heartbeat stopped is taken over, with the same `webhook-id`.

use super::{endpoint, read_secrets, to_domain as endpoint_of};
use crate::{
    Database,
    accounts::{account, ledger},
    database::WriteTxn,
    error::{Error, Result, in_storage, stored},
    notifications::instances,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    accounts::{AccountId, Booked, TransactionId},
    notifications::{INSTANCE_TIMEOUT, NotificationId},
    streams::Topic,
    users::UserId,
    webhooks::{
        Attempted, Claimed, Delivery, DeliveryId, DeliveryRepository, DeliveryStatus, Event,
        EventType, Subject, WebhookId, new_message_id, recipients,
    },
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait},
};
use std::sync::Arc;

/// The `webhook_deliveries` table.
pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    /// One row of `webhook_deliveries`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub endpoint_id: i64,
        pub message_id: String,
        pub event_type: String,
        pub subject_id: i64,
        pub subject_parent: Option<i64>,
        pub occurred_at: DateTimeUtc,
        pub status: String,
        pub attempts: i32,
        pub next_attempt_at: Option<DateTimeUtc>,
        pub claimed_by: Option<String>,
        pub last_status_code: Option<i32>,
        pub last_error: Option<String>,
        pub last_latency_ms: Option<i64>,
        pub created_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column, Entity as Deliveries, Model};

const PENDING: &str = "pending";
const SENDING: &str = "sending";

/// The longest `last_error` kept, in characters.
const MAX_ERROR_LEN: usize = 1000;

/// Writes, in `txn`, a delivery of `event` to each endpoint of `owner` that receives it now,
/// and announces them to the workers of every instance once `txn` commits.
pub(crate) async fn enqueue(txn: &mut WriteTxn, owner: UserId, event: Event) -> Result<()> {
    let rows = endpoint::Entity::find()
        .filter(endpoint::Column::OwnerId.eq(owner.get()))
        .filter(endpoint::Column::Enabled.eq(true))
        .all(txn.conn()?)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let endpoints = rows
        .into_iter()
        .map(endpoint_of)
        .collect::<Result<Vec<_>>>()?;
    let to = recipients(&endpoints, event.kind);
    for endpoint in &to {
        insert(txn.conn()?, *endpoint, event).await?;
    }
    if !to.is_empty() {
        txn.announce([Topic::WebhookDeliveries]).await?;
    }
    Ok(())
}

/// Writes, in `txn`, the deliveries of `account.transaction.booked` for each ledger row of
/// `booked`, to the endpoints of each row's account owner that receive it. Costs one indexed
/// query when no owner has an endpoint (nearly every booking), a few more when one has.
pub(crate) async fn enqueue_booked(
    txn: &mut WriteTxn,
    booked: &Booked,
    at: DateTime<Utc>,
) -> Result<()> {
    let accounts: Vec<i64> = match booked {
        Booked::Transaction(t) => vec![t.account_id.get()],
        Booked::Transfer(t) => vec![t.from_account_id.get(), t.to_account_id.get()],
    };
    let owners_of_accounts = account::Entity::find()
        .select_only()
        .column(account::Column::OwnerId)
        .filter(account::Column::Id.is_in(accounts.clone()))
        .into_query();
    let rows = endpoint::Entity::find()
        .filter(endpoint::Column::Enabled.eq(true))
        .filter(endpoint::Column::OwnerId.in_subquery(owners_of_accounts))
        .all(txn.conn()?)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let endpoints = rows
        .into_iter()
        .map(endpoint_of)
        .collect::<Result<Vec<_>>>()?;
    // A deposit's or withdrawal's endpoints are all its account owner's; a transfer's legs may
    // be two owners'.
    let owners: Vec<(i64, i64)> = match booked {
        Booked::Transaction(t) => vec![(t.account_id.get(), endpoints[0].owner.get())],
        Booked::Transfer(_) => {
            account::Entity::find()
                .select_only()
                .column(account::Column::Id)
                .column(account::Column::OwnerId)
                .filter(account::Column::Id.is_in(accounts))
                .into_tuple()
                .all(txn.conn()?)
                .await?
        }
    };
    let legs: Vec<(i64, i64)> = match booked {
        Booked::Transaction(t) => vec![(t.account_id.get(), t.id.get())],
        Booked::Transfer(t) => {
            ledger::Entity::find()
                .select_only()
                .column(ledger::Column::AccountId)
                .column(ledger::Column::Id)
                .filter(ledger::Column::TransferId.eq(t.id.get()))
                .order_by_asc(ledger::Column::Id)
                .into_tuple()
                .all(txn.conn()?)
                .await?
        }
    };
    let mut enqueued = false;
    for (account, transaction) in legs {
        let Some((_, owner)) = owners.iter().find(|(id, _)| *id == account) else {
            continue;
        };
        let theirs: Vec<_> = endpoints
            .iter()
            .filter(|e| e.owner.get() == *owner)
            .cloned()
            .collect();
        let event = Event {
            kind: EventType::TransactionBooked,
            subject: Subject::Transaction(
                stored("ledger account", AccountId::parse(account))?,
                stored("ledger id", TransactionId::parse(transaction))?,
            ),
            occurred_at: at,
        };
        for endpoint in recipients(&theirs, event.kind) {
            entity::Entity::insert(row(endpoint, event))
                .exec_without_returning(txn.conn()?)
                .await?;
            enqueued = true;
        }
    }
    if enqueued {
        txn.announce([Topic::WebhookDeliveries]).await?;
    }
    Ok(())
}

async fn insert(conn: &impl ConnectionTrait, endpoint: WebhookId, event: Event) -> Result<Model> {
    Ok(row(endpoint, event).insert(conn).await?)
}

/// The row of a new delivery of `event` to `endpoint`, due now.
fn row(endpoint: WebhookId, event: Event) -> entity::ActiveModel {
    let (subject_id, subject_parent) = match event.subject {
        Subject::Transaction(account, id) => (id.get(), Some(account.get())),
        Subject::Notification(id) => (id.get(), None),
        Subject::Endpoint(id) => (id.get(), None),
    };
    entity::ActiveModel {
        endpoint_id: Set(endpoint.get()),
        message_id: Set(new_message_id(uuid::Uuid::new_v4().as_u128())),
        event_type: Set(event.kind.as_str().to_owned()),
        subject_id: Set(subject_id),
        subject_parent: Set(subject_parent),
        occurred_at: Set(event.occurred_at),
        status: Set(PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(Some(event.occurred_at)),
        claimed_by: Set(None),
        last_status_code: Set(None),
        last_error: Set(None),
        last_latency_ms: Set(None),
        created_at: Set(event.occurred_at),
        delivered_at: Set(None),
        ..Default::default()
    }
}

/// The deliveries stored in the service's database, claimed in the name of one instance.
#[derive(Clone)]
pub struct SqlDeliveryRepository {
    db: Database,
    instance: Arc<str>,
}

impl SqlDeliveryRepository {
    /// A repository over `db`, claiming as `instance` (the id the notifications outbox beats
    /// under, so that one heartbeat keeps both kinds of claims).
    pub fn new(db: Database, instance: Arc<str>) -> Self {
        Self { db, instance }
    }
}

#[async_trait]
impl DeliveryRepository for SqlDeliveryRepository {
    async fn enqueue(&self, endpoint: WebhookId, event: Event) -> domain::Result<Delivery> {
        in_storage(async {
            let mut txn = self.db.begin_write().await?;
            let row = insert(txn.conn()?, endpoint, event).await?;
            txn.announce([Topic::WebhookDeliveries]).await?;
            txn.commit().await?;
            to_domain(row)
        })
        .await
    }

    async fn list(
        &self,
        endpoint: WebhookId,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> domain::Result<Vec<Delivery>> {
        in_storage(async {
            let mut query = Deliveries::find()
                .filter(Column::EndpointId.eq(endpoint.get()))
                .order_by_desc(Column::Id);
            if let Some(before) = before {
                query = query.filter(Column::Id.lt(before.get()));
            }
            let rows = query
                .limit(crate::database::sql_limit(limit))
                .all(self.db.conn())
                .await?;
            rows.into_iter().map(to_domain).collect()
        })
        .await
    }

    async fn get(&self, endpoint: WebhookId, id: DeliveryId) -> domain::Result<Option<Delivery>> {
        in_storage(async {
            let row = Deliveries::find_by_id(id.get())
                .filter(Column::EndpointId.eq(endpoint.get()))
                .one(self.db.conn())
                .await?;
            row.map(to_domain).transpose()
        })
        .await
    }

    async fn resend(
        &self,
        endpoint: WebhookId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> domain::Result<Option<Delivery>> {
        in_storage(async {
            let mut txn = self.db.begin_write().await?;
            let due = Deliveries::update_many()
                .col_expr(Column::Status, Expr::value(PENDING))
                .col_expr(Column::Attempts, Expr::value(0))
                .col_expr(Column::NextAttemptAt, Expr::value(now))
                .col_expr(Column::ClaimedBy, Expr::value(Option::<String>::None))
                .filter(Column::Id.eq(id.get()))
                .filter(Column::EndpointId.eq(endpoint.get()))
                .filter(Column::Status.ne(SENDING))
                .exec_with_returning(txn.conn()?)
                .await?;
            if !due.is_empty() {
                txn.announce([Topic::WebhookDeliveries]).await?;
            }
            txn.commit().await?;
            match due.into_iter().next() {
                Some(row) => to_domain(row).map(Some),
                // Under way now, or no such delivery: the caller tells which.
                None => Ok(None),
            }
        })
        .await
    }

    async fn claim(&self, limit: usize, now: DateTime<Utc>) -> domain::Result<Vec<Claimed>> {
        in_storage(async {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let other_holder = Expr::col(Column::ClaimedBy).ne(self.instance.as_ref());
            let holder_gone = if self.db.owns_the_database() {
                other_holder
            } else {
                other_holder.and(
                    Expr::col(Column::ClaimedBy)
                        .not_in_subquery(instances::beating_since(now - INSTANCE_TIMEOUT)),
                )
            };
            let due = Expr::col(Column::Status)
                .eq(PENDING)
                .and(Expr::col(Column::NextAttemptAt).lte(now))
                .or(Expr::col(Column::Status).eq(SENDING).and(holder_gone));
            let due_ids = self.db.claiming(
                Deliveries::find()
                    .select_only()
                    .column(Column::Id)
                    .filter(due)
                    .order_by_asc(Column::NextAttemptAt)
                    .order_by_asc(Column::Id)
                    .limit(crate::database::sql_limit(limit)),
            );
            let claim = Deliveries::update_many()
                .col_expr(Column::Status, Expr::value(SENDING))
                .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
                .col_expr(Column::ClaimedBy, Expr::value(self.instance.as_ref()))
                .filter(Column::Id.in_subquery(due_ids.into_query()));
            let txn = self.db.begin_write().await?;
            let mut rows = claim.exec_with_returning(txn.conn()?).await?;
            rows.sort_by_key(|row| row.id);
            let mut claimed = Vec::with_capacity(rows.len());
            for row in rows {
                let id = WebhookId::parse(row.endpoint_id).map_err(|v| Error::Corrupt {
                    what: "delivery endpoint",
                    reason: v.message,
                })?;
                let Some(endpoint) = endpoint::Entity::find_by_id(id.get())
                    .one(txn.conn()?)
                    .await?
                else {
                    continue;
                };
                claimed.push(Claimed {
                    delivery: to_domain(row)?,
                    endpoint: endpoint_of(endpoint)?,
                    secrets: read_secrets(txn.conn()?, id).await?,
                });
            }
            txn.commit().await?;
            Ok(claimed)
        })
        .await
    }

    async fn record(&self, attempted: &Attempted) -> domain::Result<()> {
        in_storage(async {
            let d = &attempted.delivery;
            let error = d
                .last_error
                .as_ref()
                .map(|e| e.chars().take(MAX_ERROR_LEN).collect::<String>());
            let update = Deliveries::update_many()
                .col_expr(Column::Status, Expr::value(d.status.as_str()))
                .col_expr(Column::NextAttemptAt, Expr::value(d.next_attempt_at))
                .col_expr(Column::ClaimedBy, Expr::value(Option::<String>::None))
                .col_expr(
                    Column::LastStatusCode,
                    Expr::value(d.last_status_code.map(i32::from)),
                )
                .col_expr(Column::LastError, Expr::value(error))
                .col_expr(
                    Column::LastLatencyMs,
                    Expr::value(
                        d.last_latency_ms
                            .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
                    ),
                )
                .col_expr(Column::DeliveredAt, Expr::value(d.delivered_at))
                .filter(Column::Id.eq(d.id.get()))
                .filter(Column::Status.eq(SENDING))
                .filter(Column::ClaimedBy.eq(self.instance.as_ref()));
            let txn = self.db.begin_write().await?;
            let held = update.exec(txn.conn()?).await?.rows_affected > 0;
            if held && let Some(reason) = &attempted.disable {
                endpoint::Entity::update_many()
                    .col_expr(endpoint::Column::Enabled, Expr::value(false))
                    .col_expr(
                        endpoint::Column::DisabledReason,
                        Expr::value(reason.clone()),
                    )
                    .filter(endpoint::Column::Id.eq(d.endpoint.get()))
                    .exec(txn.conn()?)
                    .await?;
            }
            txn.commit().await
        })
        .await
    }

    async fn heartbeat(&self, now: DateTime<Utc>) -> domain::Result<()> {
        in_storage(instances::beat(&self.db, &self.instance, now)).await
    }
}

fn to_domain(row: Model) -> Result<Delivery> {
    let corrupt = |what: &'static str, reason: String| Error::Corrupt { what, reason };
    let kind = EventType::named(&row.event_type)
        .ok_or_else(|| corrupt("delivery event type", row.event_type.clone()))?;
    let subject = match (kind, row.subject_parent) {
        (EventType::TransactionBooked, Some(account)) => Subject::Transaction(
            stored("delivery account", AccountId::parse(account))?,
            stored("delivery transaction", TransactionId::parse(row.subject_id))?,
        ),
        (EventType::NotificationSent | EventType::NotificationFailed, _) => {
            Subject::Notification(stored(
                "delivery notification",
                NotificationId::parse(row.subject_id),
            )?)
        }
        (EventType::Test, _) => Subject::Endpoint(stored(
            "delivery endpoint",
            WebhookId::parse(row.subject_id),
        )?),
        (EventType::TransactionBooked, None) => {
            return Err(corrupt(
                "delivery subject",
                "a transaction without its account".into(),
            ));
        }
    };
    Ok(Delivery {
        id: stored("delivery id", DeliveryId::parse(row.id))?,
        endpoint: stored("delivery endpoint", WebhookId::parse(row.endpoint_id))?,
        message_id: row.message_id,
        event: Event {
            kind,
            subject,
            occurred_at: row.occurred_at,
        },
        status: DeliveryStatus::parse(&row.status)
            .ok_or_else(|| corrupt("delivery status", row.status.clone()))?,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        next_attempt_at: row.next_attempt_at,
        last_status_code: row.last_status_code.and_then(|c| u16::try_from(c).ok()),
        last_error: row.last_error,
        last_latency_ms: row.last_latency_ms.and_then(|ms| u64::try_from(ms).ok()),
        created_at: row.created_at,
        delivered_at: row.delivered_at,
    })
}
