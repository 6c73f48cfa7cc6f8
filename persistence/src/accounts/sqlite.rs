//! Money movements on SQLite: each plan executed as a single `INSERT … SELECT … RETURNING`,
//! whose triggers (migration m0006) write the rest of the ledger and move the balances.
//!
//! SQLite takes its write lock before such a statement reads anything, and the group commit's
//! turn queues this process's writers in front of it, so the plan's conditions in the `SELECT`
//! (each leg's bound, owner and currency, as the plan gives them) hold when the rows are
//! written. The
//! statement runs in the writer's savepoint of the batch, with the key's outcome when there is
//! one, and is answered once the batch has committed.

use super::{SqlAccountRepository, ledger, to_transaction, to_transfer, transfer};
use crate::{error::Result, idempotency::complete, webhooks::deliveries};
use chrono::{DateTime, Utc};
use domain::{
    accounts::{Booked, Booking, Bound, Leg, Plan, Shape},
    idempotency::Claim,
};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};

impl SqlAccountRepository {
    /// Executes `plan` in one statement (and records the outcome under `claim`, in one
    /// transaction with it); when the statement writes nothing, the accounts are read back
    /// still behind the gate, so they are the ones the statement saw.
    pub(super) async fn book_on_sqlite(
        &self,
        plan: &Plan,
        claim: Option<&Claim>,
        now: DateTime<Utc>,
    ) -> Result<Booking> {
        let statement = booking(plan, now);
        let mut txn = self.db.begin_write().await?;
        match run(txn.conn()?, plan, statement).await? {
            Some(booked) => {
                if let Some(claim) = claim {
                    complete(txn.conn()?, claim, &booked.outcome()).await?;
                }
                deliveries::enqueue_booked(&mut txn, &booked, now).await?;
                txn.announce(plan.topics()).await?;
                txn.commit().await?;
                Ok(Booking::Booked(booked))
            }
            None => {
                let refused = self.found(txn.conn()?, plan).await;
                txn.rollback().await?;
                refused
            }
        }
    }

    /// The refusal of a plan whose statement wrote nothing: its accounts as they are.
    async fn found<C: ConnectionTrait>(&self, conn: &C, plan: &Plan) -> Result<Booking> {
        let (source, target) = self.read(conn, plan.accounts()).await?;
        Ok(Booking::Refused { source, target })
    }
}

/// Runs the booking statement: the movement booked, or `None` when its conditions held no row.
async fn run<C: ConnectionTrait>(
    conn: &C,
    plan: &Plan,
    statement: Statement,
) -> Result<Option<Booked>> {
    let Some(row) = conn.query_one_raw(statement).await? else {
        return Ok(None);
    };
    let booked = match plan.shape() {
        Shape::Transfer { .. } => {
            Booked::Transfer(to_transfer(transfer::Model::from_query_result(&row, "")?)?)
        }
        Shape::Single(_) => {
            Booked::Transaction(to_transaction(ledger::Model::from_query_result(&row, "")?)?)
        }
    };
    Ok(Some(booked))
}

/// The conditions `leg` puts on the row of `accounts AS alias` (its bound, and the owner and
/// currency it must have when the plan names them), their values bound as the next slots.
fn conditions(alias: &str, leg: &Leg, values: &mut Vec<Value>) -> String {
    let (op, bound) = match leg.bound {
        Bound::AtLeast(least) => (">=", least),
        Bound::AtMost(most) => ("<=", most),
    };
    values.push(bound.into());
    let mut sql = format!("{alias}.balance {op} ?{}", values.len());
    if let Some(owner) = leg.owner {
        values.push(owner.get().into());
        sql += &format!(" AND {alias}.owner_id = ?{}", values.len());
    }
    if let Some(other) = leg.currency_of {
        values.push(other.get().into());
        sql += &format!(
            " AND {alias}.currency = (SELECT currency FROM accounts WHERE id = ?{})",
            values.len()
        );
    }
    sql
}

/// The one statement that executes `plan` if its conditions hold, returning the row written.
fn booking(plan: &Plan, now: DateTime<Utc>) -> Statement {
    let amount = plan.amount().get();
    let mut values: Vec<Value> = Vec::with_capacity(10);
    let sql = match plan.shape() {
        Shape::Transfer { debit, credit } => {
            values.extend([
                debit.account.get().into(),
                credit.account.get().into(),
                amount.into(),
                now.into(),
            ]);
            let source = conditions("source", &debit, &mut values);
            let target = conditions("target", &credit, &mut values);
            format!(
                "INSERT INTO transfers (from_account_id, to_account_id, amount, created_at) \
                 SELECT source.id, target.id, ?3, ?4 FROM accounts AS source, accounts AS target \
                 WHERE source.id = ?1 AND target.id = ?2 AND {source} AND {target} \
                 RETURNING id, from_account_id, to_account_id, amount, created_at"
            )
        }
        Shape::Single(leg) => {
            values.extend([
                leg.account.get().into(),
                leg.change.into(),
                leg.kind.as_str().into(),
                now.into(),
                leg.amount().into(),
            ]);
            let account = conditions("account", &leg, &mut values);
            format!(
                "INSERT INTO transactions \
                     (account_id, kind, amount, balance_after, transfer_id, created_at) \
                 SELECT account.id, ?3, ?5, account.balance + ?2, NULL, ?4 FROM accounts AS account \
                 WHERE account.id = ?1 AND {account} \
                 RETURNING id, account_id, kind, amount, balance_after, transfer_id, created_at"
            )
        }
    };
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}
