//! The `instances` table: each service process's heartbeat, so that a claim names a holder
//! whose liveness every instance can see.

use crate::{Database, error::Result};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait,
    sea_query::{OnConflict, SelectStatement},
};

/// One instance's last heartbeat.
pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    /// An instance.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "instances")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub heartbeat_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as Instances};

/// How long a gone instance's row is kept: long after its claims were taken over.
const FORGET_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Records that instance `id` is alive at `now`, on a shared server. Where the process owns
/// the database (SQLite) there is no one to tell, and nothing is written: every other instance
/// is a process that has gone, and claiming knows it. (A write every second would also cost an
/// fsync a second for nothing.)
pub(crate) async fn beat(db: &Database, id: &str, now: DateTime<Utc>) -> Result<()> {
    if db.owns_the_database() {
        return Ok(());
    }
    let row = ActiveModel {
        id: sea_orm::ActiveValue::Set(id.to_owned()),
        heartbeat_at: sea_orm::ActiveValue::Set(now),
    };
    let upsert = Instances::insert(row).on_conflict(
        OnConflict::column(Column::Id)
            .update_column(Column::HeartbeatAt)
            .to_owned(),
    );
    let others = Instances::delete_many()
        .filter(Column::Id.ne(id))
        .filter(Column::HeartbeatAt.lt(now - FORGET_AFTER));
    let txn = db.begin_write().await?;
    upsert.exec(txn.conn()?).await?;
    others.exec(txn.conn()?).await?;
    txn.commit().await
}

/// Forgets instance `id`: it is stopping. Where the process owns the database it never beat,
/// and there is nothing to forget.
pub(crate) async fn retire(db: &Database, id: &str) -> Result<()> {
    if db.owns_the_database() {
        return Ok(());
    }
    let txn = db.begin_write().await?;
    Instances::delete_by_id(id.to_owned())
        .exec(txn.conn()?)
        .await?;
    txn.commit().await
}

/// The ids of the instances whose last heartbeat is at or after `since`.
pub(crate) fn beating_since(since: DateTime<Utc>) -> SelectStatement {
    Instances::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::HeartbeatAt.gte(since))
        .into_query()
}
