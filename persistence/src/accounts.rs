//! Accounts, the ledger and transfers in SQL: [`SqlAccountRepository`], the domain's
//! [`AccountRepository`].
//!
//! A money movement arrives as the domain's [`Plan`] and is executed as it stands, in one
//! transaction: each leg's values (its bound, the owner and the currency its row must have)
//! are conditions of the statements, and storage decides nothing. On PostgreSQL each leg is
//! one conditional update, `UPDATE accounts SET balance = balance + :change WHERE id = :id AND
//! balance {>=,<=} :bound [AND owner_id = :owner] [AND currency IN (SELECT currency FROM
//! accounts WHERE id = :other)] RETURNING …` (the row lock comes with it), in the plan's lock
//! order so that two transfers in opposite directions cannot deadlock; then the rows the
//! plan's shape names and the idempotency outcome, and commit. When a leg matches no row, the
//! transaction is rolled back and the accounts are handed back as they are, for the domain to
//! name the refusal. SQLite, with one writer at a time, executes each plan in a single
//! statement instead: see [`sqlite`].

use crate::{
    Database,
    database::WriteTxn,
    error::{Error, Result, in_storage, stored},
    idempotency::complete,
    webhooks::deliveries,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    accounts::{
        Account, AccountId, AccountRepository, Booked, Booking, Bound, Leg, Plan, Shape,
        Transaction, TransactionId, TransactionKind, Transfer, TransferId,
    },
    idempotency::Claim,
    money::{Amount, Currency},
    users::UserId,
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr,
    sea_query::{Expr, Query},
};

/// The `accounts` table.
pub(crate) mod account {
    use sea_orm::entity::prelude::*;

    /// One row of `accounts`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub owner_id: i64,
        pub balance: i64,
        pub currency: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `transactions` table: the ledger.
pub(crate) mod ledger {
    use sea_orm::entity::prelude::*;

    /// One row of the ledger.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "transactions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub kind: String,
        pub amount: i64,
        pub balance_after: i64,
        pub transfer_id: Option<i64>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `transfers` table.
pub(crate) mod transfer {
    use sea_orm::entity::prelude::*;

    /// One transfer.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "transfers")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub from_account_id: i64,
        pub to_account_id: i64,
        pub amount: i64,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Accounts stored in the service's database.
#[derive(Clone)]
pub struct SqlAccountRepository {
    db: Database,
}

impl SqlAccountRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Applies `leg` as one conditional update: the account after, or `None` when one of the
    /// leg's conditions (its bound, owner and currency) does not hold, or it is missing.
    async fn apply(&self, txn: &WriteTxn, leg: Leg) -> Result<Option<Account>> {
        let condition = match leg.bound {
            Bound::AtLeast(least) => account::Column::Balance.gte(least),
            Bound::AtMost(most) => account::Column::Balance.lte(most),
        };
        let mut update = account::Entity::update_many()
            .col_expr(
                account::Column::Balance,
                Expr::col(account::Column::Balance).add(leg.change),
            )
            .filter(account::Column::Id.eq(leg.account.get()))
            .filter(condition);
        if let Some(owner) = leg.owner {
            update = update.filter(account::Column::OwnerId.eq(owner.get()));
        }
        if let Some(other) = leg.currency_of {
            let currency = Query::select()
                .column(account::Column::Currency)
                .from(account::Entity)
                .and_where(account::Column::Id.eq(other.get()))
                .to_owned();
            update = update.filter(account::Column::Currency.in_subquery(currency));
        }
        let changed = update.exec_with_returning(txn.conn()?).await?;
        changed.into_iter().next().map(to_account).transpose()
    }

    /// Executes `plan` on PostgreSQL: one conditional update per leg, in lock order, then the
    /// transfer's row (for a transfer) and the ledger rows; `None`, with nothing written, when
    /// a condition fails.
    async fn booked(
        &self,
        txn: &WriteTxn,
        plan: &Plan,
        now: DateTime<Utc>,
    ) -> Result<Option<Booked>> {
        let mut applied = Vec::with_capacity(2);
        for leg in plan.legs_in_lock_order() {
            let Some(after) = self.apply(txn, leg).await? else {
                return Ok(None);
            };
            applied.push((leg, after));
        }
        let transfer = match plan.shape() {
            Shape::Single(_) => None,
            Shape::Transfer { debit, credit } => Some(
                transfer::ActiveModel {
                    from_account_id: Set(debit.account.get()),
                    to_account_id: Set(credit.account.get()),
                    amount: Set(plan.amount().get()),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(txn.conn()?)
                .await?,
            ),
        };
        let mut rows = Vec::with_capacity(applied.len());
        for (leg, after) in &applied {
            let transfer_id = transfer.as_ref().map(|t| t.id);
            rows.push(ledger_row(txn, (*leg, after), transfer_id, now).await?);
        }
        let booked = match (transfer, rows.into_iter().next()) {
            (Some(transfer), _) => Booked::Transfer(to_transfer(transfer)?),
            (None, Some(row)) => Booked::Transaction(to_transaction(row)?),
            (None, None) => {
                return Err(Error::Corrupt {
                    what: "booking",
                    reason: "a plan without a leg".to_owned(),
                });
            }
        };
        Ok(Some(booked))
    }

    /// Ends a refused plan's transaction, writing nothing, and hands back its accounts as
    /// they are now.
    async fn refused(&self, txn: WriteTxn, plan: &Plan) -> Result<Booking> {
        txn.rollback().await?;
        let (source, target) = self.read(self.db.conn(), plan.accounts()).await?;
        Ok(Booking::Refused { source, target })
    }

    /// Reads a plan's accounts (its source and a transfer's target), each `None` when missing.
    async fn read<C: ConnectionTrait>(
        &self,
        conn: &C,
        (source, target): (AccountId, Option<AccountId>),
    ) -> Result<(Option<Account>, Option<Account>)> {
        let ids = [Some(source), target]
            .into_iter()
            .flatten()
            .map(AccountId::get);
        let found: Vec<Account> = account::Entity::find()
            .filter(account::Column::Id.is_in(ids))
            .all(conn)
            .await?
            .into_iter()
            .map(to_account)
            .collect::<Result<_>>()?;
        let take = |id: AccountId| found.iter().find(|account| account.id == id).cloned();
        Ok((take(source), target.and_then(take)))
    }
}

/// Writes the ledger row of `leg`, with its account after (`account`) and the transfer it is
/// part of, if any.
async fn ledger_row(
    txn: &WriteTxn,
    (leg, account): (Leg, &Account),
    transfer_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<ledger::Model> {
    let row = ledger::ActiveModel {
        account_id: Set(account.id.get()),
        kind: Set(leg.kind.as_str().to_owned()),
        amount: Set(leg.amount()),
        balance_after: Set(account.balance),
        transfer_id: Set(transfer_id),
        created_at: Set(now),
        ..Default::default()
    };
    Ok(row.insert(txn.conn()?).await?)
}

#[async_trait]
impl AccountRepository for SqlAccountRepository {
    async fn create(
        &self,
        owner: UserId,
        currency: Currency,
        now: DateTime<Utc>,
    ) -> domain::Result<Account> {
        in_storage(async {
            let row = account::ActiveModel {
                owner_id: Set(owner.get()),
                balance: Set(0),
                currency: Set(currency.as_str().to_owned()),
                created_at: Set(now),
                ..Default::default()
            };
            let txn = self.db.begin_write().await?;
            match row.insert(txn.conn()?).await {
                Ok(model) => {
                    txn.commit().await?;
                    to_account(model)
                }
                Err(err)
                    if matches!(
                        err.sql_err(),
                        Some(SqlErr::ForeignKeyConstraintViolation(_))
                    ) =>
                {
                    Err(domain::Error::UnknownOwner(owner).into())
                }
                Err(err) => Err(err.into()),
            }
        })
        .await
    }

    async fn get(&self, id: AccountId) -> domain::Result<Option<Account>> {
        in_storage(async {
            let model = account::Entity::find_by_id(id.get())
                .one(self.db.conn())
                .await?;
            model.map(to_account).transpose()
        })
        .await
    }

    async fn transactions(
        &self,
        id: AccountId,
        before: Option<TransactionId>,
        limit: usize,
    ) -> domain::Result<Vec<Transaction>> {
        in_storage(async {
            let mut query = ledger::Entity::find()
                .filter(ledger::Column::AccountId.eq(id.get()))
                .order_by_desc(ledger::Column::Id);
            if let Some(before) = before {
                query = query.filter(ledger::Column::Id.lt(before.get()));
            }
            let rows = query
                .limit(crate::database::sql_limit(limit))
                .all(self.db.conn())
                .await?;
            rows.into_iter().map(to_transaction).collect()
        })
        .await
    }

    async fn transactions_after(
        &self,
        account: AccountId,
        after: Option<TransactionId>,
        limit: usize,
    ) -> domain::Result<Vec<Transaction>> {
        in_storage(async {
            let rows = ledger::Entity::find()
                .filter(ledger::Column::AccountId.eq(account.get()))
                .filter(ledger::Column::Id.gt(after.map_or(0, TransactionId::get)))
                .order_by_asc(ledger::Column::Id)
                .limit(crate::database::sql_limit(limit))
                .all(self.db.conn())
                .await?;
            rows.into_iter().map(to_transaction).collect()
        })
        .await
    }

    async fn transaction(
        &self,
        account: AccountId,
        id: TransactionId,
    ) -> domain::Result<Option<Transaction>> {
        in_storage(async {
            let row = ledger::Entity::find_by_id(id.get())
                .filter(ledger::Column::AccountId.eq(account.get()))
                .one(self.db.conn())
                .await?;
            row.map(to_transaction).transpose()
        })
        .await
    }

    async fn transfer(&self, id: TransferId) -> domain::Result<Option<Transfer>> {
        in_storage(async {
            let row = transfer::Entity::find_by_id(id.get())
                .one(self.db.conn())
                .await?;
            row.map(to_transfer).transpose()
        })
        .await
    }

    async fn book(
        &self,
        plan: &Plan,
        claim: Option<&Claim>,
        now: DateTime<Utc>,
    ) -> domain::Result<Booking> {
        in_storage(async {
            if self.db.backend() == DbBackend::Sqlite {
                return self.book_on_sqlite(plan, claim, now).await;
            }
            let mut txn = self.db.begin_write().await?;
            let Some(booked) = self.booked(&txn, plan, now).await? else {
                return self.refused(txn, plan).await;
            };
            if let Some(claim) = claim {
                complete(txn.conn()?, claim, &booked.outcome()).await?;
            }
            deliveries::enqueue_booked(&mut txn, &booked, now).await?;
            txn.announce(plan.topics()).await?;
            txn.commit().await?;
            Ok(Booking::Booked(booked))
        })
        .await
    }
}

fn to_account(model: account::Model) -> Result<Account> {
    Ok(Account {
        id: stored("account id", AccountId::parse(model.id))?,
        owner_id: stored("account owner", UserId::parse(model.owner_id))?,
        balance: model.balance,
        currency: stored("currency", Currency::parse(&model.currency))?,
        created_at: model.created_at,
    })
}

fn to_transaction(model: ledger::Model) -> Result<Transaction> {
    Ok(Transaction {
        id: stored("transaction id", TransactionId::parse(model.id))?,
        account_id: stored("account id", AccountId::parse(model.account_id))?,
        kind: TransactionKind::parse(&model.kind).ok_or_else(|| Error::Corrupt {
            what: "transaction kind",
            reason: model.kind.clone(),
        })?,
        amount: stored("amount", Amount::parse(model.amount))?,
        balance_after: model.balance_after,
        created_at: model.created_at,
    })
}

fn to_transfer(model: transfer::Model) -> Result<Transfer> {
    Ok(Transfer {
        id: stored("transfer id", TransferId::parse(model.id))?,
        from_account_id: stored("account id", AccountId::parse(model.from_account_id))?,
        to_account_id: stored("account id", AccountId::parse(model.to_account_id))?,
        amount: stored("amount", Amount::parse(model.amount))?,
        created_at: model.created_at,
    })
}

mod sqlite;
#[cfg(test)]
mod tests;
