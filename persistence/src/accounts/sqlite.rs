//! Money movements on SQLite: each one a single `INSERT … SELECT … RETURNING`, whose
//! triggers (migration m0006) write the rest of the ledger and move the balances.
//!
//! SQLite takes its write lock before such a statement reads anything, and the write gate
//! queues this process's writers in front of it, so the condition in the `SELECT` (the
//! account exists, is within reach, the balance covers the debit or has room for the credit,
//! the currencies match) holds when the rows are written. A statement is atomic with its
//! triggers, so without an idempotency key a movement is one round trip to the driver's
//! SQLite thread; with one, it runs in a transaction with the key's outcome.

use super::{SqlAccountRepository, keep_refusal, ledger, to_transaction, to_transfer, transfer};
use crate::{
    error::{Error, Result},
    idempotency::complete,
};
use chrono::{DateTime, Utc};
use domain::{
    accounts::{Booked, Movement, TransactionKind, plan},
    auth::Reach,
    idempotency::Claim,
};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};

impl SqlAccountRepository {
    /// Books `movement` in one statement (and the outcome under `claim`, in one transaction
    /// with it); a refusal is named from the accounts as they are, still behind the gate.
    pub(super) async fn book_on_sqlite(
        &self,
        movement: Movement,
        reach: Reach,
        claim: Option<&Claim>,
        now: DateTime<Utc>,
    ) -> Result<Booked> {
        let statement = booking(movement, reach, now);
        let Some(claim) = claim else {
            let _gate = self.db.gate().await;
            return match run(self.db.conn(), movement, statement).await? {
                Some(booked) => Ok(booked),
                None => Err(self.refusal(self.db.conn(), movement, reach).await),
            };
        };
        let txn = self.db.begin_write().await?;
        match run(&txn.txn, movement, statement).await? {
            Some(booked) => {
                complete(&txn.txn, claim, &booked.outcome()).await?;
                txn.commit().await?;
                Ok(booked)
            }
            None => match self.refusal(&txn.txn, movement, reach).await {
                Error::Domain(refused) => Err(keep_refusal(txn, claim, refused).await?),
                other => Err(other),
            },
        }
    }

    /// Why the booking statement wrote nothing: the domain's rules applied to the accounts as
    /// they are now, which no writer has changed since (the gate is still held).
    async fn refusal<C: ConnectionTrait>(
        &self,
        conn: &C,
        movement: Movement,
        reach: Reach,
    ) -> Error {
        let (source, target) = match self.read(conn, movement, false).await {
            Ok(accounts) => accounts,
            Err(err) => return err,
        };
        match plan(movement, reach, source.as_ref(), target.as_ref()) {
            Err(refused) => refused.into(),
            Ok(_) => Error::Corrupt {
                what: "booking",
                reason: format!(
                    "the statement refused what the rules allow: {}",
                    movement.describe()
                ),
            },
        }
    }
}

/// Runs the booking statement: the movement booked, or `None` when its condition held no row.
async fn run<C: ConnectionTrait>(
    conn: &C,
    movement: Movement,
    statement: Statement,
) -> Result<Option<Booked>> {
    let Some(row) = conn.query_one_raw(statement).await? else {
        return Ok(None);
    };
    let booked = match movement {
        Movement::Transfer { .. } => {
            Booked::Transfer(to_transfer(transfer::Model::from_query_result(&row, "")?)?)
        }
        Movement::Deposit(..) | Movement::Withdrawal(..) => {
            Booked::Transaction(to_transaction(ledger::Model::from_query_result(&row, "")?)?)
        }
    };
    Ok(Some(booked))
}

/// The one statement that books `movement` if the rules allow it, returning the row written.
fn booking(movement: Movement, reach: Reach, now: DateTime<Utc>) -> Statement {
    let owner = match reach {
        Reach::Everything => None,
        Reach::OwnedBy(owner) => Some(owner.get()),
    };
    // The caller's reach, as a condition on the debited account's owner (bound as ?6).
    let mine = |column: &str| match owner {
        Some(_) => format!(" AND {column} = ?6"),
        None => String::new(),
    };
    let (sql, mut values): (String, Vec<Value>) = match movement {
        Movement::Deposit(id, amount) | Movement::Withdrawal(id, amount) => {
            // ?5 is the bound the balance must keep: room for a credit, cover for a debit.
            let (kind, after, possible, bound) = match movement {
                Movement::Deposit(..) => (
                    TransactionKind::Deposit,
                    "balance + ?2",
                    "balance <= ?5",
                    i64::MAX - amount.get(),
                ),
                _ => (
                    TransactionKind::Withdrawal,
                    "balance - ?2",
                    "balance >= ?5",
                    amount.get(),
                ),
            };
            let sql = format!(
                "INSERT INTO transactions \
                     (account_id, kind, amount, balance_after, transfer_id, created_at) \
                 SELECT id, ?3, ?2, {after}, NULL, ?4 FROM accounts \
                 WHERE id = ?1 AND {possible}{mine} \
                 RETURNING id, account_id, kind, amount, balance_after, transfer_id, created_at",
                mine = mine("owner_id"),
            );
            let values = vec![
                id.get().into(),
                amount.get().into(),
                kind.as_str().into(),
                now.into(),
                bound.into(),
            ];
            (sql, values)
        }
        Movement::Transfer { from, to, amount } => {
            let sql = format!(
                "INSERT INTO transfers (from_account_id, to_account_id, amount, created_at) \
                 SELECT source.id, target.id, ?3, ?4 FROM accounts AS source, accounts AS target \
                 WHERE source.id = ?1 AND target.id = ?2 AND source.currency = target.currency \
                   AND source.balance >= ?3 AND target.balance <= ?5{mine} \
                 RETURNING id, from_account_id, to_account_id, amount, created_at",
                mine = mine("source.owner_id"),
            );
            let values = vec![
                from.get().into(),
                to.get().into(),
                amount.get().into(),
                now.into(),
                (i64::MAX - amount.get()).into(),
            ];
            (sql, values)
        }
    };
    values.extend(owner.map(Value::from));
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}
