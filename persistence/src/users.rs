//! Users in SQL: the `users` table and [`SqlUserRepository`], the domain's [`UserRepository`].

use crate::{
    Database,
    error::{Error, Result, stored},
};
use async_trait::async_trait;
use domain::{
    Email,
    users::{
        Bio, NewUserRecord, PasswordHash, PutOutcome, User, UserEdit, UserId, UserName,
        UserRepository,
    },
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

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
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as Users, Model};

/// Users stored in the service's database.
#[derive(Clone)]
pub struct SqlUserRepository {
    db: Database,
}

impl SqlUserRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    async fn insert_row(&self, record: NewUserRecord) -> Result<User> {
        let row = ActiveModel {
            name: Set(record.name.as_str().to_owned()),
            email: Set(record.email.as_str().to_owned()),
            email_key: Set(record.email.key()),
            password_hash: Set(record.password_hash.as_phc().to_owned()),
            bio: Set(record.bio.as_ref().map(|bio| bio.as_str().to_owned())),
            created_at: Set(record.created_at),
            updated_at: Set(record.created_at),
            ..Default::default()
        };
        let _gate = self.db.gate().await;
        let model = row
            .insert(self.db.conn())
            .await
            .map_err(|err| constraint(err, None))?;
        to_domain(model)
    }

    async fn find(&self, id: UserId) -> Result<Option<User>> {
        let model = Users::find_by_id(id.get()).one(self.db.conn()).await?;
        model.map(to_domain).transpose()
    }

    async fn page(&self, after: Option<UserId>, limit: usize) -> Result<Vec<User>> {
        let mut query = Users::find().order_by_asc(Column::Id);
        if let Some(after) = after {
            query = query.filter(Column::Id.gt(after.get()));
        }
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        let models = query.limit(limit).all(self.db.conn()).await?;
        models.into_iter().map(to_domain).collect()
    }

    async fn write(&self, id: UserId, edit: UserEdit) -> Result<(User, PutOutcome)> {
        let txn = self.db.begin_write().await?;
        let backend = self.db.backend();
        let mut query = Users::find_by_id(id.get());
        if backend == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        let existing = query.one(&txn.txn).await?.map(to_domain).transpose()?;
        let user = edit(existing.as_ref())?;
        let outcome = if existing.is_some() {
            to_active(&user)
                .update(&txn.txn)
                .await
                .map_err(|err| constraint(err, None))?;
            PutOutcome::Replaced
        } else {
            to_active(&user)
                .insert(&txn.txn)
                .await
                .map_err(|err| constraint(err, Some(id)))?;
            if backend == DbBackend::Postgres {
                // An explicit id does not advance the identity sequence; without this the next
                // POST could be handed the id just taken.
                txn.txn
                    .execute_unprepared(
                        "SELECT setval(pg_get_serial_sequence('users', 'id'), \
                         GREATEST((SELECT MAX(id) FROM users), 1))",
                    )
                    .await?;
            }
            PutOutcome::Created
        };
        txn.commit().await?;
        Ok((user, outcome))
    }

    async fn remove(&self, id: UserId) -> Result<()> {
        let _gate = self.db.gate().await;
        let result = Users::delete_by_id(id.get()).exec(self.db.conn()).await?;
        if result.rows_affected == 0 {
            return Err(domain::Error::UserNotFound(id).into());
        }
        Ok(())
    }
}

#[async_trait]
impl UserRepository for SqlUserRepository {
    async fn insert(&self, user: NewUserRecord) -> domain::Result<User> {
        Ok(self.insert_row(user).await?)
    }

    async fn get(&self, id: UserId) -> domain::Result<Option<User>> {
        Ok(self.find(id).await?)
    }

    async fn list(&self, after: Option<UserId>, limit: usize) -> domain::Result<Vec<User>> {
        Ok(self.page(after, limit).await?)
    }

    async fn upsert(&self, id: UserId, edit: UserEdit) -> domain::Result<(User, PutOutcome)> {
        Ok(self.write(id, edit).await?)
    }

    async fn delete(&self, id: UserId) -> domain::Result<()> {
        Ok(self.remove(id).await?)
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
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn to_active(user: &User) -> ActiveModel {
    ActiveModel {
        id: Set(user.id.get()),
        name: Set(user.name.as_str().to_owned()),
        email: Set(user.email.as_str().to_owned()),
        email_key: Set(user.email.key()),
        password_hash: Set(user.password_hash.as_phc().to_owned()),
        bio: Set(user.bio.as_ref().map(|bio| bio.as_str().to_owned())),
        created_at: Set(user.created_at),
        updated_at: Set(user.updated_at),
    }
}

#[cfg(test)]
mod tests;
