//! The `notification_events` table: every change of a notification, numbered, written in the
//! transaction of the change itself and announced to its followers.

use super::entity::{Column as N, Entity as Notifications, Model};
use crate::{
    database::WriteTxn,
    error::{Error, Result, stored},
};
use domain::{
    notifications::{NotificationEvent, NotificationId},
    streams::Topic,
};
use sea_orm::{
    ConnectionTrait, DbBackend, FromQueryResult, Order, QueryResult,
    prelude::DateTimeUtc,
    sea_query::{Expr, ExprTrait, Query, SelectStatement},
};

/// One stored change.
pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    /// A notification as one change left it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notification_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub notification_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub status: String,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub next_attempt_at: DateTimeUtc,
        pub sent_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column as E, Entity as Events};

/// Stores the state each notification of `ids` is in, in `txn`, as its next change, and
/// announces it to the notification's followers.
pub(super) async fn record(txn: &mut WriteTxn, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let next_seq = Expr::cust(
        "COALESCE((SELECT MAX(e.seq) FROM notification_events e \
         WHERE e.notification_id = notifications.id), 0) + 1",
    );
    let current = Query::select()
        .column((Notifications, N::Id))
        .expr(next_seq)
        .columns([
            (Notifications, N::Status),
            (Notifications, N::Attempts),
            (Notifications, N::LastError),
            (Notifications, N::NextAttemptAt),
            (Notifications, N::SentAt),
        ])
        .from(Notifications)
        .and_where(Expr::col((Notifications, N::Id)).is_in(ids.iter().copied()))
        .to_owned();
    let insert = Query::insert()
        .into_table(Events)
        .columns([
            E::NotificationId,
            E::Seq,
            E::Status,
            E::Attempts,
            E::LastError,
            E::NextAttemptAt,
            E::SentAt,
        ])
        .select_from(current)
        .map_err(|err| sea_orm::DbErr::Custom(err.to_string()))?
        .to_owned();
    txn.conn()?.execute(&insert).await?;
    let topics = ids
        .iter()
        .map(|id| stored("notification id", NotificationId::parse(*id)).map(Topic::Notification))
        .collect::<Result<Vec<_>>>()?;
    txn.announce(topics).await
}

/// Up to `limit` changes of notification `id` numbered above `after`, in order (`Desc`: the
/// last ones, last first).
pub(super) async fn read<C: ConnectionTrait>(
    conn: &C,
    id: NotificationId,
    after: u64,
    limit: usize,
    order: Order,
) -> Result<Vec<NotificationEvent>> {
    let query = joined()
        .and_where(Expr::col((Events, E::NotificationId)).eq(id.get()))
        .and_where(Expr::col((Events, E::Seq)).gt(i64::try_from(after).unwrap_or(i64::MAX)))
        .order_by((Events, E::Seq), order)
        .limit(crate::database::sql_limit(limit))
        .to_owned();
    let backend: DbBackend = conn.get_database_backend();
    let rows = conn.query_all_raw(backend.build(&query)).await?;
    rows.iter().map(to_event).collect()
}

/// Each change, with the fields of its notification that no change alters.
fn joined() -> SelectStatement {
    Query::select()
        .columns([
            (Events, E::Seq),
            (Events, E::Status),
            (Events, E::Attempts),
            (Events, E::LastError),
            (Events, E::NextAttemptAt),
            (Events, E::SentAt),
        ])
        .columns([
            (Notifications, N::Id),
            (Notifications, N::OwnerId),
            (Notifications, N::Email),
            (Notifications, N::Subject),
            (Notifications, N::Body),
            (Notifications, N::CreatedAt),
        ])
        .from(Events)
        .inner_join(
            Notifications,
            Expr::col((Notifications, N::Id)).equals((Events, E::NotificationId)),
        )
        .to_owned()
}

/// A row of [`joined`].
#[derive(FromQueryResult)]
struct Row {
    seq: i64,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    next_attempt_at: DateTimeUtc,
    sent_at: Option<DateTimeUtc>,
    id: i64,
    owner_id: i64,
    email: String,
    subject: String,
    body: String,
    created_at: DateTimeUtc,
}

fn to_event(result: &QueryResult) -> Result<NotificationEvent> {
    let row = Row::from_query_result(result, "")?;
    let notification = super::to_domain(Model {
        id: row.id,
        owner_id: row.owner_id,
        email: row.email,
        subject: row.subject,
        body: row.body,
        status: row.status,
        attempts: row.attempts,
        last_error: row.last_error,
        next_attempt_at: row.next_attempt_at,
        lease_until: None,
        created_at: row.created_at,
        sent_at: row.sent_at,
        claimed_by: None,
    })?;
    let seq = u64::try_from(row.seq).map_err(|_| Error::Corrupt {
        what: "notification event number",
        reason: row.seq.to_string(),
    })?;
    Ok(NotificationEvent { seq, notification })
}

#[cfg(test)]
mod tests;
