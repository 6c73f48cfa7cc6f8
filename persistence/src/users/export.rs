//! The users export: every user in id order, read in batches by id, so that no connection is
//! held between batches and memory stays flat however many users there are.
//!
//! The next batch is read while the consumer takes the current one. On SQLite a batch comes
//! back as one JSON array built by SQLite itself: sqlx hands each row from its SQLite thread to
//! the async side with a wake-up, and those wake-ups, not the reading, bounded the export.

use super::entity::{Column, Entity as Users};
use crate::{
    Database,
    error::{Error, Result},
};
use chrono::{DateTime, Utc};
use domain::users::{ExportedUser, UserStream};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use std::borrow::Cow;
use tokio_util::task::AbortOnDropHandle;

/// Users read per query: enough to amortise a query, few enough that a batch stays small.
pub(super) const BATCH: u64 = 2000;

/// The export of every user, in id order.
pub(super) fn export(db: &Database) -> UserStream {
    let conn = db.conn().clone();
    Box::pin(async_stream::try_stream! {
        // Aborted when dropped: a client that goes away stops the batch read for it.
        let mut next = AbortOnDropHandle::new(tokio::spawn(batch(conn.clone(), 0)));
        loop {
            let rows = (&mut next).await.map_err(Error::from)??;
            let full = rows.len() as u64 == BATCH;
            if let (true, Some(last)) = (full, rows.last()) {
                next = AbortOnDropHandle::new(tokio::spawn(batch(conn.clone(), last.id)));
            }
            for row in rows {
                yield row;
            }
            if !full {
                break;
            }
        }
    })
}

/// Up to [`BATCH`] users with ids above `after`, in id order.
async fn batch(conn: DatabaseConnection, after: i64) -> Result<Vec<ExportedUser>> {
    if conn.get_database_backend() == DbBackend::Sqlite {
        return sqlite_batch(&conn, after).await;
    }
    let rows: Vec<(i64, String, String, DateTime<Utc>)> = Users::find()
        .select_only()
        .columns([Column::Id, Column::Name, Column::Email, Column::CreatedAt])
        .filter(Column::Id.gt(after))
        .order_by_asc(Column::Id)
        .limit(BATCH)
        .into_tuple()
        .all(&conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, email, created_at)| ExportedUser {
            id,
            name,
            email,
            created_at,
        })
        .collect())
}

/// A batch as one value: `[[id, name, email, created_at], …]`, built by SQLite.
async fn sqlite_batch(conn: &DatabaseConnection, after: i64) -> Result<Vec<ExportedUser>> {
    let statement = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "SELECT json_group_array(json_array(id, name, email, created_at)) AS batch \
         FROM (SELECT id, name, email, created_at FROM users WHERE id > ?1 ORDER BY id LIMIT ?2)",
        [after.into(), (BATCH as i64).into()],
    );
    let Some(row) = conn.query_one_raw(statement).await? else {
        return Ok(Vec::new());
    };
    let text: String = row.try_get("", "batch")?;
    let rows: Vec<BatchRow<'_>> =
        serde_json::from_str(&text).map_err(|err| corrupt(err.to_string()))?;
    rows.into_iter()
        .map(|BatchRow(id, name, email, created_at)| {
            // Stored as sqlx writes a `DateTime<Utc>`: RFC 3339 text.
            let created_at = DateTime::parse_from_rfc3339(&created_at)
                .map_err(|err| corrupt(format!("{created_at:?}: {err}")))?
                .with_timezone(&Utc);
            Ok(ExportedUser {
                id,
                name,
                email,
                created_at,
            })
        })
        .collect()
}

/// One user of a SQLite batch; the timestamp is read in place when it has no escapes (always).
#[derive(serde::Deserialize)]
struct BatchRow<'a>(i64, String, String, #[serde(borrow)] Cow<'a, str>);

fn corrupt(reason: String) -> Error {
    Error::Corrupt {
        what: "exported user",
        reason,
    }
}
