//! The users export: every user in id order, read in batches by id, so that no transaction is
//! held between batches and memory stays flat however many users there are. The next batch is
//! read while the consumer takes the current one.
//!
//! On a SQLite file the rows are stepped by a connection of the export's own on a blocking
//! thread ([`sqlite`]): sqlx hands each row from its SQLite thread to the async side with a
//! wake-up, and those wake-ups (then, the JSON SQLite built to avoid them) bounded the export.
//! PostgreSQL (and an in-memory SQLite database, which no second connection can open) read
//! through the pool.

use super::entity::{Column, Entity as Users};
use crate::{
    Database,
    error::{Error, Result},
};
use chrono::{DateTime, Utc};
use domain::users::{ExportedUser, UserStream};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio_util::task::AbortOnDropHandle;

mod sqlite;

/// Users read per query: enough to amortise a query, few enough that a batch stays small.
pub(super) const BATCH: u64 = 2000;

/// The export of every user, in id order.
pub(super) fn export(db: &Database) -> UserStream {
    if let Some(file) = db.sqlite_file() {
        return sqlite::export(file);
    }
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
