//! Accounts, the ledger and transfers in SQL: [`SqlAccountRepository`], the domain's
//! [`AccountRepository`].
//!
//! A money movement is one transaction: lock the accounts involved (in id order, so two
//! transfers in opposite directions cannot deadlock), let the domain decide from the balances
//! as they are, write the new balances and the ledger rows, record the idempotency outcome,
//! commit. On SQLite the write gate and `BEGIN IMMEDIATE` are the lock; on PostgreSQL,
//! `SELECT … FOR UPDATE`.

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
        Account, AccountId, AccountRepository, Booked, Movement, Transaction, TransactionId,
        TransactionKind, Transfer, TransferId, transfer_balances,
    },
    idempotency::{Claim, Outcome},
    money::{Amount, Currency},
    users::UserId,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr,
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
        claim: Option<&Claim>,
        now: DateTime<Utc>,
    ) -> Result<Booked> {
        let txn = self.db.begin_write().await?;
        let planned = match movement {
            Movement::Deposit(id, amount) => {
                let account = self.lock(&txn, &[id]).await?.remove(0);
                account
                    .credited(amount)
                    .map(|after| vec![(account, TransactionKind::Deposit, after)])
            }
            Movement::Withdrawal(id, amount) => {
                let account = self.lock(&txn, &[id]).await?.remove(0);
                account
                    .debited(amount)
                    .map(|after| vec![(account, TransactionKind::Withdrawal, after)])
            }
            Movement::Transfer { from, to, amount } => {
                let mut accounts = self.lock(&txn, &[from, to]).await?;
                let (source, target) = (accounts.remove(0), accounts.remove(0));
                transfer_balances(&source, &target, amount).map(|(source_after, target_after)| {
                    vec![
                        (source, TransactionKind::TransferOut, source_after),
                        (target, TransactionKind::TransferIn, target_after),
                    ]
                })
            }
        };
        let rows = match planned {
            Ok(rows) => rows,
            Err(domain::Error::InsufficientFunds { balance, required }) => {
                // Nothing moves, but the answer is part of the key's history: a repeat must get
                // the same 402, not a success after a deposit landed meanwhile.
                if let Some(claim) = claim {
                    complete(
                        &txn.txn,
                        claim,
                        &Outcome::InsufficientFunds { balance, required },
                    )
                    .await?;
                    txn.commit().await?;
                }
                return Err(domain::Error::InsufficientFunds { balance, required }.into());
            }
            Err(err) => return Err(err.into()),
        };
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
        let mut booked_rows = Vec::with_capacity(rows.len());
        for (account, kind, balance_after) in rows {
            account::Entity::update_many()
                .col_expr(account::Column::Balance, balance_after.into())
                .filter(account::Column::Id.eq(account.id.get()))
                .exec(&txn.txn)
                .await?;
            let row = ledger::ActiveModel {
                account_id: Set(account.id.get()),
                kind: Set(kind.as_str().to_owned()),
                amount: Set(amount.get()),
                balance_after: Set(balance_after),
                transfer_id: Set(transfer.as_ref().map(|t| t.id)),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn.txn)
            .await?;
            booked_rows.push(row);
        }
        let booked = match transfer {
            Some(transfer) => Booked::Transfer(to_transfer(transfer)?),
            None => Booked::Transaction(to_transaction(booked_rows.remove(0))?),
        };
        if let Some(claim) = claim {
            complete(&txn.txn, claim, &booked.outcome()).await?;
        }
        txn.commit().await?;
        Ok(booked)
    }

    /// Locks and reads the accounts `ids`, returned in the order asked; lock order is by id.
    async fn lock(&self, txn: &WriteTxn, ids: &[AccountId]) -> Result<Vec<Account>> {
        let mut query = account::Entity::find()
            .filter(account::Column::Id.is_in(ids.iter().map(|id| id.get())))
            .order_by_asc(account::Column::Id);
        if self.db.backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        let found = query.all(&txn.txn).await?;
        ids.iter()
            .map(|id| {
                let model = found
                    .iter()
                    .find(|model| model.id == id.get())
                    .cloned()
                    .ok_or(domain::Error::AccountNotFound(*id))?;
                to_account(model)
            })
            .collect()
    }
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
        claim: Option<&Claim>,
        now: DateTime<Utc>,
    ) -> domain::Result<Booked> {
        Ok(self.book_movement(movement, claim, now).await?)
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

#[cfg(test)]
mod tests;
