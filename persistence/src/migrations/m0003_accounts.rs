//! Accounts, their ledger, transfers, and idempotency keys.
//!
//! `balance >= 0` is checked by the database too, as a last line of defence behind the domain
//! rule. Deleting a user deletes their accounts, ledgers and keys (the domain allows it only when
//! every account is empty). Transfers are a log: they outlive the accounts they name.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    OwnerId,
    Balance,
    Currency,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Transactions {
    Table,
    Id,
    AccountId,
    Kind,
    Amount,
    BalanceAfter,
    TransferId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Transfers {
    Table,
    Id,
    FromAccountId,
    ToAccountId,
    Amount,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Id,
    OwnerId,
    Key,
    RequestHash,
    State,
    LeaseUntil,
    Outcome,
    AccountId,
    ResultId,
    Balance,
    Required,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(big_integer(Accounts::Id).auto_increment().primary_key())
                    .col(big_integer(Accounts::OwnerId))
                    .col(
                        big_integer(Accounts::Balance)
                            .default(0)
                            .check(Expr::col(Accounts::Balance).gte(0)),
                    )
                    .col(text(Accounts::Currency))
                    .col(timestamp_with_time_zone(Accounts::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Accounts::Table, Accounts::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_accounts_owner")
                    .table(Accounts::Table)
                    .col(Accounts::OwnerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Transfers::Table)
                    .col(big_integer(Transfers::Id).auto_increment().primary_key())
                    .col(big_integer(Transfers::FromAccountId))
                    .col(big_integer(Transfers::ToAccountId))
                    .col(big_integer(Transfers::Amount))
                    .col(timestamp_with_time_zone(Transfers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Transactions::Table)
                    .col(big_integer(Transactions::Id).auto_increment().primary_key())
                    .col(big_integer(Transactions::AccountId))
                    .col(text(Transactions::Kind))
                    .col(big_integer(Transactions::Amount))
                    .col(big_integer(Transactions::BalanceAfter))
                    .col(big_integer_null(Transactions::TransferId))
                    .col(timestamp_with_time_zone(Transactions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Transactions::Table, Transactions::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_transactions_account")
                    .table(Transactions::Table)
                    .col(Transactions::AccountId)
                    .col(Transactions::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(
                        big_integer(IdempotencyKeys::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big_integer(IdempotencyKeys::OwnerId))
                    .col(text(IdempotencyKeys::Key))
                    .col(text(IdempotencyKeys::RequestHash))
                    .col(text(IdempotencyKeys::State))
                    .col(timestamp_with_time_zone(IdempotencyKeys::LeaseUntil))
                    .col(text_null(IdempotencyKeys::Outcome))
                    .col(big_integer_null(IdempotencyKeys::AccountId))
                    .col(big_integer_null(IdempotencyKeys::ResultId))
                    .col(big_integer_null(IdempotencyKeys::Balance))
                    .col(big_integer_null(IdempotencyKeys::Required))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(IdempotencyKeys::Table, IdempotencyKeys::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_owner_key")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::OwnerId)
                    .col(IdempotencyKeys::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_created")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
