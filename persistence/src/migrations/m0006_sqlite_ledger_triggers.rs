//! On SQLite, the ledger moves the balances: a ledger row sets its account's balance to its
//! `balance_after`, and a transfer row writes its two ledger rows.
//!
//! So that a money movement is one statement, `INSERT … SELECT … WHERE <the balance covers
//! it> RETURNING …`, atomic on its own: every statement a movement needs is a round trip to
//! the driver's SQLite thread, and SQLite admits one writer at a time, so those round trips
//! were what bounded money movements (see BENCHMARKS.md). PostgreSQL, where rows are locked
//! and writers run side by side, books with statements of its own and gets no triggers. The
//! kind names repeat `TransactionKind::as_str`, frozen here like the rest of the schema.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const LEDGER_MOVES_BALANCE: &str = "
CREATE TRIGGER ledger_moves_balance AFTER INSERT ON transactions
BEGIN
    UPDATE accounts SET balance = NEW.balance_after WHERE id = NEW.account_id;
END";

const TRANSFER_WRITES_LEDGER: &str = "
CREATE TRIGGER transfer_writes_ledger AFTER INSERT ON transfers
BEGIN
    INSERT INTO transactions (account_id, kind, amount, balance_after, transfer_id, created_at)
        SELECT id, 'transfer_out', NEW.amount, balance - NEW.amount, NEW.id, NEW.created_at
        FROM accounts WHERE id = NEW.from_account_id;
    INSERT INTO transactions (account_id, kind, amount, balance_after, transfer_id, created_at)
        SELECT id, 'transfer_in', NEW.amount, balance + NEW.amount, NEW.id, NEW.created_at
        FROM accounts WHERE id = NEW.to_account_id;
END";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(LEDGER_MOVES_BALANCE).await?;
        db.execute_unprepared(TRANSFER_WRITES_LEDGER).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TRIGGER IF EXISTS transfer_writes_ledger")
            .await?;
        db.execute_unprepared("DROP TRIGGER IF EXISTS ledger_moves_balance")
            .await?;
        Ok(())
    }
}
