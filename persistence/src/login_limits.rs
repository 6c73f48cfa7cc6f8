//! The failed-login counts in SQL: [`SqlLoginLimits`]. The domain's rule decides; this applies
//! it to the stored instants inside one write transaction, with the keys' rows locked, so two
//! instances never both admit the attempt that only one of them may. A refusal, which writes
//! nothing, is decided on a plain read first.

use crate::{
    Database,
    error::{Result, in_storage},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::throttle::{LoginLimitStore, NOT_KEPT, Rule, Throttled};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr, sea_query::OnConflict,
};
use std::collections::HashMap;

/// The `login_limits` table.
pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    /// One limited key (`email:…` or `client:…`) and when its charged attempts drain.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_limits")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub drained_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as LoginLimits, Model};

/// Failed-login counts stored in the service's database.
#[derive(Clone)]
pub struct SqlLoginLimits {
    db: Database,
}

impl SqlLoginLimits {
    /// Counts over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl LoginLimitStore for SqlLoginLimits {
    async fn tally(
        &self,
        keys: &[String],
        rule: &Rule<'_>,
    ) -> domain::Result<Result<(), Throttled>> {
        in_storage(async {
            // A refusal writes nothing, so a committed snapshot is enough to decide one: it is
            // the answer the attempt would have had at the moment of the read. Attacks are
            // mostly refusals; they cost a read, not a write transaction.
            let snapshot = LoginLimits::find()
                .filter(Column::Key.is_in(keys.iter().map(String::as_str)))
                .all(self.db.conn())
                .await?;
            if let Err(refused) = rule(&in_order(keys, snapshot)) {
                return Ok(Err(refused));
            }
            // Every key's row, made drained long ago when new (no backlog), and locked until the commit: a no-op update on conflict takes the row lock on
            // PostgreSQL, and on SQLite the write transaction is the only writer. Sorted, so
            // two tallies over the same keys queue instead of deadlocking.
            let mut locking: Vec<&String> = keys.iter().collect();
            locking.sort();
            locking.dedup();
            let rows = locking.into_iter().map(|key| ActiveModel {
                key: Set(key.clone()),
                drained_at: Set(NOT_KEPT),
            });
            let lock = LoginLimits::insert_many(rows).on_conflict(
                OnConflict::column(Column::Key)
                    .value(
                        Column::DrainedAt,
                        Expr::col((LoginLimits, Column::DrainedAt)),
                    )
                    .to_owned(),
            );
            let txn = self.db.begin_write().await?;
            let drained = in_order(keys, lock.exec_with_returning(txn.conn()?).await?);
            let decided = match rule(&drained) {
                Ok(decided) => decided,
                Err(refused) => {
                    txn.rollback().await?;
                    return Ok(Err(refused));
                }
            };
            for ((key, was), kept) in keys.iter().zip(&drained).zip(decided) {
                match kept {
                    Some(at) if at == *was => {}
                    Some(at) => {
                        LoginLimits::update_many()
                            .col_expr(Column::DrainedAt, Expr::value(at))
                            .filter(Column::Key.eq(key.as_str()))
                            .exec(txn.conn()?)
                            .await?;
                    }
                    None => {
                        LoginLimits::delete_by_id(key.clone())
                            .exec(txn.conn()?)
                            .await?;
                    }
                }
            }
            txn.commit().await?;
            Ok(Ok(()))
        })
        .await
    }

    async fn sweep(&self, now: DateTime<Utc>) -> domain::Result<u64> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            let swept = LoginLimits::delete_many()
                .filter(Column::DrainedAt.lte(now))
                .exec(txn.conn()?)
                .await?;
            txn.commit().await?;
            Ok(swept.rows_affected)
        })
        .await
    }
}

/// When each of `keys` drains, in their order, from the `rows` kept ([`NOT_KEPT`] for a key
/// without).
fn in_order(keys: &[String], rows: Vec<Model>) -> Vec<DateTime<Utc>> {
    let stored: HashMap<String, DateTime<Utc>> = rows
        .into_iter()
        .map(|row| (row.key, row.drained_at))
        .collect();
    keys.iter()
        .map(|key| stored.get(key).copied().unwrap_or(NOT_KEPT))
        .collect()
}

#[cfg(test)]
mod tests;
