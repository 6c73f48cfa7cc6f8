//! Users in SQL: the `users` table and [`SqlUserRepository`], the domain's [`UserRepository`].

use crate::{
    Database,
    error::{Error, Result, in_storage, stored},
    ttl_cache::TtlCache,
};
use async_trait::async_trait;
use domain::{
    Email,
    users::{
        Bio, Credentials, DeletionFacts, DeletionRule, NewUserRecord, PasswordHash, PutOutcome,
        User, UserEdit, UserId, UserName, UserRepository, UserStream,
    },
};
use sea_orm::ExprTrait;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{self, Set},
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr,
};
use std::{sync::Arc, time::Duration};

/// The `users` table.
pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    /// One row of `users`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub email: String,
        pub email_key: String,
        pub password_hash: String,
        pub bio: Option<String>,
        pub is_admin: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as Users, Model};

/// Most users cached at once.
const CACHE_CAPACITY: usize = 50_000;

/// Users stored in the service's database.
#[derive(Clone)]
pub struct SqlUserRepository {
    db: Database,
    /// Users by id (`None`: no such user) as last read or written by this process. Credentials
    /// are read from it on every authenticated request; whole users only where it is exact.
    cache: Arc<TtlCache<i64, Option<User>>>,
    /// Whether this process sees every write, so that cached users are exact: true on SQLite,
    /// where one process owns the file; false on PostgreSQL, which other instances may share.
    exact_cache: bool,
}

impl SqlUserRepository {
    /// A repository over `db`, caching users for `ttl`: this process's writes are seen at once,
    /// another process's (on a shared PostgreSQL) within that time by the credentials check,
    /// and at once by reads of users, which there always go to the database.
    pub fn new(db: Database, ttl: Duration) -> Self {
        Self {
            exact_cache: db.backend() == DbBackend::Sqlite,
            db,
            cache: Arc::new(TtlCache::new(ttl, CACHE_CAPACITY)),
        }
    }

    /// Reads the user from the database, and caches what it read.
    async fn read(&self, id: UserId) -> Result<Option<User>> {
        let ticket = self.cache.ticket();
        let model = Users::find_by_id(id.get()).one(self.db.conn()).await?;
        let user = model.map(to_domain).transpose()?;
        self.cache.insert(ticket, id.get(), user.clone());
        Ok(user)
    }
}

#[async_trait]
impl UserRepository for SqlUserRepository {
    async fn insert(&self, record: NewUserRecord) -> domain::Result<User> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            let model = to_active(&record)
                .insert(txn.conn()?)
                .await
                .map_err(|err| constraint(err, None))?;
            txn.commit().await?;
            // A cached "no such user" for this id must not outlive the insert.
            self.cache.invalidate(&model.id);
            to_domain(model)
        })
        .await
    }

    async fn get(&self, id: UserId) -> domain::Result<Option<User>> {
        in_storage(async {
            if self.exact_cache
                && let Some(cached) = self.cache.get(&id.get())
            {
                return Ok(cached);
            }
            self.read(id).await
        })
        .await
    }

    async fn find_by_email(&self, email: &Email) -> domain::Result<Option<User>> {
        in_storage(async {
            let model = Users::find()
                .filter(Column::EmailKey.eq(email.key()))
                .one(self.db.conn())
                .await?;
            model.map(to_domain).transpose()
        })
        .await
    }

    async fn credentials(&self, id: UserId) -> domain::Result<Option<Credentials>> {
        in_storage(async {
            let user = match self.cache.get(&id.get()) {
                Some(cached) => cached,
                None => self.read(id).await?,
            };
            Ok(user.map(|user| Credentials {
                is_admin: user.is_admin,
                password_hash: user.password_hash,
            }))
        })
        .await
    }

    async fn list(&self, after: Option<UserId>, limit: usize) -> domain::Result<Vec<User>> {
        in_storage(async {
            let mut query = Users::find().order_by_asc(Column::Id);
            if let Some(after) = after {
                query = query.filter(Column::Id.gt(after.get()));
            }
            let models = query
                .limit(crate::database::sql_limit(limit))
                .all(self.db.conn())
                .await?;
            models.into_iter().map(to_domain).collect()
        })
        .await
    }

    async fn upsert(&self, id: UserId, edit: UserEdit) -> domain::Result<(User, PutOutcome)> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            let backend = self.db.backend();
            let query = self.db.locking(Users::find_by_id(id.get()));
            let existing = query.one(txn.conn()?).await?.map(to_domain).transpose()?;
            let user = edit(existing.as_ref())?;
            let outcome = if existing.is_some() {
                to_active(&user)
                    .update(txn.conn()?)
                    .await
                    .map_err(|err| constraint(err, None))?;
                PutOutcome::Replaced
            } else {
                to_active(&user)
                    .insert(txn.conn()?)
                    .await
                    .map_err(|err| constraint(err, Some(id)))?;
                if backend == DbBackend::Postgres {
                    // An explicit id does not advance the identity sequence; without this the next
                    // POST could be handed the id just taken.
                    txn.conn()?
                        .execute_unprepared(
                            "SELECT setval(pg_get_serial_sequence('users', 'id'), \
                             GREATEST((SELECT MAX(id) FROM users), 1))",
                        )
                        .await?;
                }
                PutOutcome::Created
            };
            txn.commit().await?;
            self.cache.invalidate(&id.get());
            Ok((user, outcome))
        })
        .await
    }

    fn export(&self) -> UserStream {
        export::export(&self.db)
    }

    async fn delete(&self, id: UserId, rule: DeletionRule) -> domain::Result<()> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            // The user and every admin, locked in one statement in id order: two deletions of the
            // last two admins then queue behind each other (instead of each locking itself and
            // waiting for the other: a deadlock) and the second sees the first's outcome.
            let involved = self.db.locking(
                Users::find()
                    .filter(Column::Id.eq(id.get()).or(Column::IsAdmin.eq(true)))
                    .order_by_asc(Column::Id),
            );
            let involved = involved.all(txn.conn()?).await?;
            let Some(user) = involved
                .iter()
                .find(|row| row.id == id.get())
                .cloned()
                .map(to_domain)
                .transpose()?
            else {
                rule(None)?;
                return Ok(());
            };
            let other_admins = involved
                .iter()
                .filter(|row| row.is_admin && row.id != id.get())
                .count() as u64;
            // Locked too, so that no deposit lands on an account between this count and the delete.
            let accounts = self.db.locking(
                crate::accounts::account::Entity::find()
                    .select_only()
                    .column(crate::accounts::account::Column::Balance)
                    .filter(crate::accounts::account::Column::OwnerId.eq(id.get())),
            );
            let balances: Vec<i64> = accounts.into_tuple().all(txn.conn()?).await?;
            rule(Some(&DeletionFacts {
                user,
                other_admins,
                funded_accounts: balances.iter().filter(|b| **b != 0).count() as u64,
            }))?;
            Users::delete_by_id(id.get()).exec(txn.conn()?).await?;
            txn.commit().await?;
            self.cache.invalidate(&id.get());
            Ok(())
        })
        .await
    }
}

/// Maps the unique violations a users write can cause to the domain errors they mean: the
/// e-mail key, or (for an insert with a chosen `id`) the primary key, which a concurrent
/// transaction took between this one's read and write (PostgreSQL locks no missing row).
fn constraint(err: DbErr, id: Option<UserId>) -> Error {
    match (err.sql_err(), id) {
        (Some(SqlErr::UniqueConstraintViolation(message)), _) if message.contains("email_key") => {
            domain::Error::EmailTaken.into()
        }
        (Some(SqlErr::UniqueConstraintViolation(_)), Some(id)) => {
            domain::Error::UserExists(id).into()
        }
        _ => err.into(),
    }
}

fn to_domain(model: Model) -> Result<User> {
    Ok(User {
        id: stored("user id", UserId::parse(model.id))?,
        name: stored("user name", UserName::parse(&model.name))?,
        email: stored("user email", Email::parse(&model.email))?,
        bio: model
            .bio
            .as_deref()
            .map(|bio| stored("user bio", Bio::parse(bio)))
            .transpose()?,
        password_hash: PasswordHash::from_phc(model.password_hash),
        is_admin: model.is_admin,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

/// A user's id as its row takes it: set when it has one, left to the database when not.
trait RowId {
    fn row_id(&self) -> ActiveValue<i64>;
}

impl RowId for UserId {
    fn row_id(&self) -> ActiveValue<i64> {
        Set(self.get())
    }
}

impl RowId for () {
    fn row_id(&self) -> ActiveValue<i64> {
        ActiveValue::NotSet
    }
}

/// The row of `user`.
fn to_active<Id: RowId>(user: &User<Id>) -> ActiveModel {
    ActiveModel {
        id: user.id.row_id(),
        name: Set(user.name.as_str().to_owned()),
        email: Set(user.email.as_str().to_owned()),
        email_key: Set(user.email.key()),
        password_hash: Set(user.password_hash.as_phc().to_owned()),
        bio: Set(user.bio.as_ref().map(|bio| bio.as_str().to_owned())),
        is_admin: Set(user.is_admin),
        created_at: Set(user.created_at),
        updated_at: Set(user.updated_at),
    }
}

mod export;
#[cfg(test)]
pub(crate) mod tests;
