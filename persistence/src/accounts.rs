//! Accounts, the ledger and transfers in SQL: [`SqlAccountRepository`], the domain's
//! [`AccountRepository`].
//!
//! A money movement is one transaction. On PostgreSQL its usual course is one atomic
//! conditional update per account, `UPDATE accounts SET balance = balance - :amount WHERE id =
//! :id AND balance >= :amount [AND owner_id = :caller] RETURNING …` (the row lock comes with
//! it), in id order so that two transfers in opposite directions cannot deadlock; then the
//! ledger rows and the idempotency outcome, and commit. When an update matches no row,
//! something the domain forbids is the matter: the transaction is rolled back and the accounts
//! are read again under `SELECT … FOR UPDATE` for [`plan`] to decide, which names the refusal
//! (or, if a concurrent change made the movement possible meanwhile, books it). SQLite, with one
//! writer at a time, books each movement in a single statement instead: see [`sqlite`].

use crate::{
    Database,
    database::WriteTxn,
    error::{Error, Result, stored},
    idempotency::complete,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    accounts::{
        Account, AccountId, AccountRepository, Booked, Entry, Movement, Transaction, TransactionId,
        TransactionKind, Transfer, TransferId, plan,
    },
    auth::Reach,
    idempotency::{Claim, Outcome},
    money::{Amount, Currency},
    users::UserId,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    ExprTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, sea_query::Expr,
};

/// Which way a conditional balance update moves money.
#[derive(Clone, Copy)]
enum Side {
    Debit,
    Credit,
}

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

    async fn open(&self, owner: UserId, currency: Currency, now: DateTime<Utc>) -> Result<Account> {
        let row = account::ActiveModel {
            owner_id: Set(owner.get()),
            balance: Set(0),
            currency: Set(currency.as_str().to_owned()),
            created_at: Set(now),
            ..Default::default()
        };
        let _gate = self.db.gate().await;
        match row.insert(self.db.conn()).await {
            Ok(model) => to_account(model),
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
    }

    async fn find(&self, id: AccountId) -> Result<Option<Account>> {
        let model = account::Entity::find_by_id(id.get())
            .one(self.db.conn())
            .await?;
        model.map(to_account).transpose()
    }

    async fn ledger_page(
        &self,
        id: AccountId,
        before: Option<TransactionId>,
        limit: usize,
    ) -> Result<Vec<Transaction>> {
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
    }

    async fn ledger_row(
        &self,
        account: AccountId,
        id: TransactionId,
    ) -> Result<Option<Transaction>> {
        let row = ledger::Entity::find_by_id(id.get())
            .filter(ledger::Column::AccountId.eq(account.get()))
            .one(self.db.conn())
            .await?;
        row.map(to_transaction).transpose()
    }

    async fn find_transfer(&self, id: TransferId) -> Result<Option<Transfer>> {
        let row = transfer::Entity::find_by_id(id.get())
            .one(self.db.conn())
            .await?;
        row.map(to_transfer).transpose()
    }

    async fn book_movement(
        &self,
        movement: Movement,
        reach: Reach,
        claim: Option<&Claim>,
        now: DateTime<Utc>,
    ) -> Result<Booked> {
        if self.db.backend() == DbBackend::Sqlite {
            return self.book_on_sqlite(movement, reach, claim, now).await;
        }
        let txn = self.db.begin_write().await?;
        if let Some(entries) = self.apply_conditionally(&txn, movement, reach).await? {
            return self.record(txn, movement, entries, claim, now).await;
        }
        txn.rollback().await?;
        let txn = self.db.begin_write().await?;
        let (source, target) = self.read(&txn.txn, movement, true).await?;
        match plan(movement, reach, source.as_ref(), target.as_ref()) {
            Ok(entries) => {
                for entry in &entries {
                    account::Entity::update_many()
                        .col_expr(account::Column::Balance, entry.balance_after.into())
                        .filter(account::Column::Id.eq(entry.account.id.get()))
                        .exec(&txn.txn)
                        .await?;
                }
                self.record(txn, movement, entries, claim, now).await
            }
            Err(refused) => Err(match claim {
                Some(claim) => keep_refusal(txn, claim, refused).await?,
                None => refused.into(),
            }),
        }
    }

    /// The movement as conditional updates, in account id order; `None` as soon as one matches
    /// no row or the currencies differ (the caller then rolls back).
    async fn apply_conditionally(
        &self,
        txn: &WriteTxn,
        movement: Movement,
        reach: Reach,
    ) -> Result<Option<Vec<Entry>>> {
        let entry = |account: Account, kind| Entry {
            balance_after: account.balance,
            account,
            kind,
        };
        let entries = match movement {
            Movement::Deposit(id, amount) => self
                .shift(txn, Side::Credit, id, amount, reach)
                .await?
                .map(|account| vec![entry(account, TransactionKind::Deposit)]),
            Movement::Withdrawal(id, amount) => self
                .shift(txn, Side::Debit, id, amount, reach)
                .await?
                .map(|account| vec![entry(account, TransactionKind::Withdrawal)]),
            Movement::Transfer { from, to, amount } => {
                let (source, target) = if from < to {
                    let source = self.shift(txn, Side::Debit, from, amount, reach).await?;
                    let target = match source {
                        Some(_) => {
                            self.shift(txn, Side::Credit, to, amount, Reach::Everything)
                                .await?
                        }
                        None => None,
                    };
                    (source, target)
                } else {
                    let target = self
                        .shift(txn, Side::Credit, to, amount, Reach::Everything)
                        .await?;
                    let source = match target {
                        Some(_) => self.shift(txn, Side::Debit, from, amount, reach).await?,
                        None => None,
                    };
                    (source, target)
                };
                match (source, target) {
                    (Some(source), Some(target)) if source.currency == target.currency => {
                        Some(vec![
                            entry(source, TransactionKind::TransferOut),
                            entry(target, TransactionKind::TransferIn),
                        ])
                    }
                    _ => None,
                }
            }
        };
        Ok(entries)
    }

    /// Moves `amount` out of ([`Side::Debit`]) or into the account when `reach` allows and
    /// the balance covers the debit or has room for the credit; the account after, or `None`
    /// when no row matched.
    async fn shift(
        &self,
        txn: &WriteTxn,
        side: Side,
        id: AccountId,
        amount: Amount,
        reach: Reach,
    ) -> Result<Option<Account>> {
        let (balance, possible) = match side {
            Side::Debit => (
                Expr::col(account::Column::Balance).sub(amount.get()),
                account::Column::Balance.gte(amount.get()),
            ),
            Side::Credit => (
                Expr::col(account::Column::Balance).add(amount.get()),
                account::Column::Balance.lte(i64::MAX - amount.get()),
            ),
        };
        let mut update = account::Entity::update_many()
            .col_expr(account::Column::Balance, balance)
            .filter(account::Column::Id.eq(id.get()))
            .filter(possible);
        if let Reach::OwnedBy(owner) = reach {
            update = update.filter(account::Column::OwnerId.eq(owner.get()));
        }
        let changed = update.exec_with_returning(&txn.txn).await?;
        changed.into_iter().next().map(to_account).transpose()
    }

    /// Writes the ledger rows of `entries` (and the transfer), records the outcome under
    /// `claim`, and commits.
    async fn record(
        &self,
        txn: WriteTxn,
        movement: Movement,
        entries: Vec<Entry>,
        claim: Option<&Claim>,
        now: DateTime<Utc>,
    ) -> Result<Booked> {
        let amount = movement_amount(movement);
        let transfer = match movement {
            Movement::Transfer { from, to, .. } => Some(
                transfer::ActiveModel {
                    from_account_id: Set(from.get()),
                    to_account_id: Set(to.get()),
                    amount: Set(amount.get()),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn.txn)
                .await?,
            ),
            _ => None,
        };
        let mut rows = Vec::with_capacity(entries.len());
        for entry in entries {
            let row = ledger::ActiveModel {
                account_id: Set(entry.account.id.get()),
                kind: Set(entry.kind.as_str().to_owned()),
                amount: Set(amount.get()),
                balance_after: Set(entry.balance_after),
                transfer_id: Set(transfer.as_ref().map(|t| t.id)),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn.txn)
            .await?;
            rows.push(row);
        }
        let booked = match transfer {
            Some(transfer) => Booked::Transfer(to_transfer(transfer)?),
            None => Booked::Transaction(to_transaction(rows.remove(0))?),
        };
        if let Some(claim) = claim {
            complete(&txn.txn, claim, &booked.outcome()).await?;
        }
        txn.commit().await?;
        Ok(booked)
    }

    /// Reads the accounts of `movement` in id order, locking them (on PostgreSQL) when `lock`
    /// says so: its source, and for a transfer its target (each `None` when missing).
    async fn read<C: ConnectionTrait>(
        &self,
        conn: &C,
        movement: Movement,
        lock: bool,
    ) -> Result<(Option<Account>, Option<Account>)> {
        let (source, target) = match movement {
            Movement::Deposit(id, _) | Movement::Withdrawal(id, _) => (id, None),
            Movement::Transfer { from, to, .. } => (from, Some(to)),
        };
        let ids = [Some(source), target]
            .into_iter()
            .flatten()
            .map(AccountId::get);
        let mut query = account::Entity::find()
            .filter(account::Column::Id.is_in(ids))
            .order_by_asc(account::Column::Id);
        if lock {
            // SQLite has no row locks; its query builder leaves the clause out.
            query = query.lock_exclusive();
        }
        let found: Vec<Account> = query
            .all(conn)
            .await?
            .into_iter()
            .map(to_account)
            .collect::<Result<_>>()?;
        let take = |id: AccountId| found.iter().find(|account| account.id == id).cloned();
        Ok((take(source), target.and_then(take)))
    }
}

/// Ends the transaction of a movement refused under `claim`: an insufficient-funds refusal is
/// part of the key's history (a repeat must get the same 402, not a success after a deposit
/// landed meanwhile), so it is recorded and committed; any other refusal records nothing. The
/// refusal, to answer with.
async fn keep_refusal(txn: WriteTxn, claim: &Claim, refused: domain::Error) -> Result<Error> {
    if let domain::Error::InsufficientFunds { balance, required } = refused {
        let outcome = Outcome::InsufficientFunds { balance, required };
        complete(&txn.txn, claim, &outcome).await?;
        txn.commit().await?;
    }
    Ok(refused.into())
}

fn movement_amount(movement: Movement) -> Amount {
    match movement {
        Movement::Deposit(_, amount) | Movement::Withdrawal(_, amount) => amount,
        Movement::Transfer { amount, .. } => amount,
    }
}

#[async_trait]
impl AccountRepository for SqlAccountRepository {
    async fn create(
        &self,
        owner: UserId,
        currency: Currency,
        now: DateTime<Utc>,
    ) -> domain::Result<Account> {
        Ok(self.open(owner, currency, now).await?)
    }

    async fn get(&self, id: AccountId) -> domain::Result<Option<Account>> {
        Ok(self.find(id).await?)
    }

    async fn transactions(
        &self,
        account: AccountId,
        before: Option<TransactionId>,
        limit: usize,
    ) -> domain::Result<Vec<Transaction>> {
        Ok(self.ledger_page(account, before, limit).await?)
    }

    async fn transaction(
        &self,
        account: AccountId,
        id: TransactionId,
    ) -> domain::Result<Option<Transaction>> {
        Ok(self.ledger_row(account, id).await?)
    }

    async fn transfer(&self, id: TransferId) -> domain::Result<Option<Transfer>> {
        Ok(self.find_transfer(id).await?)
    }

    async fn book(
        &self,
        movement: Movement,
        reach: Reach,
        claim: Option<&Claim>,
        now: DateTime<Utc>,
    ) -> domain::Result<Booked> {
        Ok(self.book_movement(movement, reach, claim, now).await?)
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
