//! The notifications outbox in SQL: [`SqlNotificationRepository`].
//!
//! Claiming is one statement, `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING *`: on SQLite
//! the group commit's one writer makes it exclusive; on PostgreSQL the subquery takes `FOR UPDATE SKIP LOCKED`,
//! so that workers of several instances claim disjoint rows without waiting for each other.

use crate::{
    Database,
    error::{Error, Result, in_storage, stored},
    webhooks::deliveries,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    Email,
    notifications::{
        AfterFailure, INSTANCE_TIMEOUT, MessageBody, NewNotification, Notification,
        NotificationEvent, NotificationId, NotificationRepository, NotificationStatus, Subject,
    },
    users::UserId,
    webhooks::{Event, EventType, Subject as EventSubject},
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait},
};
use std::sync::Arc;

/// The `notifications` table.
pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    /// One notification.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub owner_id: i64,
        pub email: String,
        pub subject: String,
        pub body: String,
        pub status: String,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub next_attempt_at: DateTimeUtc,
        pub lease_until: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub sent_at: Option<DateTimeUtc>,
        /// The instance whose claim this is, while `sending`.
        pub claimed_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as Notifications, Model};

const QUEUED: &str = "queued";
const SENDING: &str = "sending";

/// The longest `last_error` kept: a mail server's answer, not a novel.
const MAX_ERROR_LEN: usize = 1000;

/// Notifications stored in the service's database.
#[derive(Clone)]
pub struct SqlNotificationRepository {
    db: Database,
    /// This process's name in claims and heartbeats: new at every start.
    instance: Arc<str>,
}

impl SqlNotificationRepository {
    /// A repository over `db`, for a new instance.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            instance: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    /// The id this repository claims under, and beats for.
    pub fn instance(&self) -> Arc<str> {
        self.instance.clone()
    }
}

#[async_trait]
impl NotificationRepository for SqlNotificationRepository {
    async fn create(
        &self,
        owner: UserId,
        new: NewNotification,
        now: DateTime<Utc>,
    ) -> domain::Result<Notification> {
        in_storage(async {
            let row = ActiveModel {
                owner_id: Set(owner.get()),
                email: Set(new.email.as_str().to_owned()),
                subject: Set(new.subject.as_str().to_owned()),
                body: Set(new.body.as_str().to_owned()),
                status: Set(QUEUED.to_owned()),
                attempts: Set(0),
                last_error: Set(None),
                next_attempt_at: Set(now),
                lease_until: Set(None),
                created_at: Set(now),
                sent_at: Set(None),
                claimed_by: Set(None),
                ..Default::default()
            };
            let mut txn = self.db.begin_write().await?;
            let model = row.insert(txn.conn()?).await?;
            events::record(&mut txn, &[model.id]).await?;
            txn.commit().await?;
            to_domain(model)
        })
        .await
    }

    async fn get(&self, id: NotificationId) -> domain::Result<Option<Notification>> {
        in_storage(async {
            let model = Notifications::find_by_id(id.get())
                .one(self.db.conn())
                .await?;
            model.map(to_domain).transpose()
        })
        .await
    }

    async fn events(
        &self,
        id: NotificationId,
        after: u64,
        limit: usize,
    ) -> domain::Result<Vec<NotificationEvent>> {
        in_storage(events::read(self.db.conn(), id, after, limit, Order::Asc)).await
    }

    async fn last_event(&self, id: NotificationId) -> domain::Result<Option<NotificationEvent>> {
        in_storage(async {
            let last = events::read(self.db.conn(), id, 0, 1, Order::Desc).await?;
            Ok(last.into_iter().next())
        })
        .await
    }

    async fn claim(
        &self,
        limit: usize,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> domain::Result<Vec<Notification>> {
        in_storage(async {
            if limit == 0 {
                return Ok(Vec::new());
            }
            // Where this process owns the database (SQLite), any other instance is a process
            // that has gone; on a shared server, one whose beats stopped.
            let other_holder = Expr::col(Column::ClaimedBy).ne(self.instance.as_ref());
            let holder_gone = if self.db.owns_the_database() {
                other_holder
            } else {
                other_holder.and(
                    Expr::col(Column::ClaimedBy)
                        .not_in_subquery(instances::beating_since(now - INSTANCE_TIMEOUT)),
                )
            };
            // A claim that names no instance was made before instances beat: its lease is all
            // there is to go by. This instance's own claims are its deliveries in flight.
            let lease_out = Expr::col(Column::ClaimedBy)
                .is_null()
                .and(Expr::col(Column::LeaseUntil).lt(now));
            let due = Expr::col(Column::Status)
                .eq(QUEUED)
                .and(Expr::col(Column::NextAttemptAt).lte(now))
                .or(Expr::col(Column::Status)
                    .eq(SENDING)
                    .and(holder_gone.or(lease_out)));
            let due_ids = self.db.claiming(
                Notifications::find()
                    .select_only()
                    .column(Column::Id)
                    .filter(due)
                    .order_by_asc(Column::NextAttemptAt)
                    .order_by_asc(Column::Id)
                    .limit(crate::database::sql_limit(limit)),
            );
            let claim = Notifications::update_many()
                .col_expr(Column::Status, Expr::value(SENDING))
                .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
                .col_expr(Column::LeaseUntil, Expr::value(lease_until))
                .col_expr(Column::ClaimedBy, Expr::value(self.instance.as_ref()))
                .filter(Column::Id.in_subquery(due_ids.into_query()));
            let mut txn = self.db.begin_write().await?;
            let claimed = claim.exec_with_returning(txn.conn()?).await?;
            let ids: Vec<i64> = claimed.iter().map(|row| row.id).collect();
            events::record(&mut txn, &ids).await?;
            txn.commit().await?;
            let mut claimed: Vec<Notification> =
                claimed.into_iter().map(to_domain).collect::<Result<_>>()?;
            claimed.sort_by_key(|n| n.id);
            Ok(claimed)
        })
        .await
    }

    async fn heartbeat(&self, now: DateTime<Utc>) -> domain::Result<()> {
        in_storage(instances::beat(&self.db, &self.instance, now)).await
    }

    async fn retire(&self) -> domain::Result<()> {
        in_storage(instances::retire(&self.db, &self.instance)).await
    }

    async fn mark_sent(&self, id: NotificationId, at: DateTime<Utc>) -> domain::Result<()> {
        in_storage(async {
            let sent = Notifications::update_many()
                .col_expr(
                    Column::Status,
                    Expr::value(NotificationStatus::Sent.as_str()),
                )
                .col_expr(Column::SentAt, Expr::value(at))
                .col_expr(
                    Column::LeaseUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(Column::LastError, Expr::value(Option::<String>::None))
                .filter(Column::Id.eq(id.get()))
                .filter(Column::Status.eq(SENDING));
            let mut txn = self.db.begin_write().await?;
            if let Some(row) = sent.exec_with_returning(txn.conn()?).await?.pop() {
                events::record(&mut txn, &[id.get()]).await?;
                let owner = stored("notification owner", UserId::parse(row.owner_id))?;
                let event = webhook_event(EventType::NotificationSent, id, at);
                deliveries::enqueue(&mut txn, owner, event).await?;
            }
            txn.commit().await
        })
        .await
    }

    async fn mark_failed(
        &self,
        id: NotificationId,
        error: &str,
        next: AfterFailure,
    ) -> domain::Result<()> {
        in_storage(async {
            let error: String = error.chars().take(MAX_ERROR_LEN).collect();
            let mut update = Notifications::update_many()
                .col_expr(Column::LastError, Expr::value(error))
                .col_expr(
                    Column::LeaseUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(Column::Id.eq(id.get()))
                .filter(Column::Status.eq(SENDING));
            update = match next {
                AfterFailure::RetryAt(at) => update
                    .col_expr(Column::Status, Expr::value(QUEUED))
                    .col_expr(Column::NextAttemptAt, Expr::value(at)),
                AfterFailure::GiveUp => update.col_expr(
                    Column::Status,
                    Expr::value(NotificationStatus::Failed.as_str()),
                ),
            };
            let mut txn = self.db.begin_write().await?;
            if let Some(row) = update.exec_with_returning(txn.conn()?).await?.pop() {
                events::record(&mut txn, &[id.get()]).await?;
                if next == AfterFailure::GiveUp {
                    let owner = stored("notification owner", UserId::parse(row.owner_id))?;
                    let event = webhook_event(EventType::NotificationFailed, id, Utc::now());
                    deliveries::enqueue(&mut txn, owner, event).await?;
                }
            }
            txn.commit().await
        })
        .await
    }

    async fn count_by_status(&self) -> domain::Result<Vec<(NotificationStatus, u64)>> {
        in_storage(async {
            let rows: Vec<(String, i64)> = Notifications::find()
                .select_only()
                .column(Column::Status)
                .column_as(Column::Id.count(), "count")
                .group_by(Column::Status)
                .into_tuple()
                .all(self.db.conn())
                .await?;
            Ok(NotificationStatus::ALL
                .into_iter()
                .map(|status| {
                    let count = rows
                        .iter()
                        .find(|(name, _)| name == status.as_str())
                        .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0));
                    (status, count)
                })
                .collect())
        })
        .await
    }
}

/// The webhook event of a notification's final change.
fn webhook_event(kind: EventType, id: NotificationId, at: DateTime<Utc>) -> Event {
    Event {
        kind,
        subject: EventSubject::Notification(id),
        occurred_at: at,
    }
}

fn to_domain(model: Model) -> Result<Notification> {
    Ok(Notification {
        id: stored("notification id", NotificationId::parse(model.id))?,
        owner_id: stored("notification owner", UserId::parse(model.owner_id))?,
        email: stored("notification email", Email::parse(&model.email))?,
        subject: stored("subject", Subject::parse(&model.subject))?,
        body: stored("body", MessageBody::parse(&model.body))?,
        status: NotificationStatus::parse(&model.status).ok_or_else(|| Error::Corrupt {
            what: "notification status",
            reason: model.status.clone(),
        })?,
        attempts: u32::try_from(model.attempts).unwrap_or(0),
        last_error: model.last_error,
        created_at: model.created_at,
        sent_at: model.sent_at,
        next_attempt_at: model.next_attempt_at,
    })
}

mod events;
pub(crate) mod instances;
#[cfg(test)]
mod tests;
