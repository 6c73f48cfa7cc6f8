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
    let rows: Vec<Row> = Users::find()
        .select_only()
        .columns([
            Column::Id,
            Column::Name,
            Column::Email,
            Column::Bio,
            Column::CreatedAt,
            Column::UpdatedAt,
        ])
        .filter(Column::Id.gt(after))
        .order_by_asc(Column::Id)
        .limit(BATCH)
        .into_tuple()
        .all(&conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, email, bio, created_at, updated_at)| ExportedUser {
                id,
                name,
                email,
                bio,
                created_at,
                updated_at,
            },
        )
        .collect())
}

/// One user as the export reads it.
type Row = (
    i64,
    String,
    String,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
);

/// A batch as one value: `[[id, name, email, bio, created_at, updated_at], …]`, built by
/// SQLite.
async fn sqlite_batch(conn: &DatabaseConnection, after: i64) -> Result<Vec<ExportedUser>> {
    let statement = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "SELECT json_group_array(json_array(id, name, email, bio, created_at, updated_at)) \
         AS batch FROM (SELECT id, name, email, bio, created_at, updated_at FROM users \
         WHERE id > ?1 ORDER BY id LIMIT ?2)",
        [after.into(), (BATCH as i64).into()],
    );
    let Some(row) = conn.query_one_raw(statement).await? else {
        return Ok(Vec::new());
    };
    let text: String = row.try_get("", "batch")?;
    let rows: Vec<BatchRow<'_>> =
        serde_json::from_str(&text).map_err(|err| corrupt(err.to_string()))?;
    rows.into_iter()
        .map(|BatchRow(id, name, email, bio, created_at, updated_at)| {
            Ok(ExportedUser {
                id,
                name,
                email,
                bio,
                created_at: instant(&created_at)?,
                updated_at: instant(&updated_at)?,
            })
        })
        .collect()
}

/// A timestamp as sqlx writes a `DateTime<Utc>` to SQLite: RFC 3339 text.
fn instant(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| corrupt(format!("{text:?}: {err}")))
}

/// One user of a SQLite batch; the timestamps are read in place when they have no escapes
/// (always).
#[derive(serde::Deserialize)]
struct BatchRow<'a>(
    i64,
    String,
    String,
    Option<String>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
);

fn corrupt(reason: String) -> Error {
    Error::Corrupt {
        what: "exported user",
        reason,
    }
}
