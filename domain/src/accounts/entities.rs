//! What accounts storage holds and hands back: accounts, ledger rows, transfers, the movements
//! asked for and what became of them. Plain values; the rules that make them are in
//! [`super::plan`] and [`super::AccountService`].

use crate::{
    ids::{AccountId, TransactionId, TransferId},
    money::{Amount, Currency},
    users::UserId,
};
use chrono::{DateTime, Utc};

/// An account: a balance in one currency, owned by one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account's id.
    pub id: AccountId,
    /// Who owns it.
    pub owner_id: UserId,
    /// The balance in minor units; never negative.
    pub balance: i64,
    /// The currency of every amount on the account.
    pub currency: Currency,
    /// When the account was opened.
    pub created_at: DateTime<Utc>,
}

/// What a ledger row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionKind {
    /// Money paid in.
    Deposit,
    /// Money paid out.
    Withdrawal,
    /// Money received from another account.
    TransferIn,
    /// Money sent to another account.
    TransferOut,
}

impl TransactionKind {
    /// Every kind, in the order of the contract.
    pub const ALL: [Self; 4] = [
        Self::Deposit,
        Self::Withdrawal,
        Self::TransferIn,
        Self::TransferOut,
    ];

    /// The kind's name on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deposit => "deposit",
            Self::Withdrawal => "withdrawal",
            Self::TransferIn => "transfer_in",
            Self::TransferOut => "transfer_out",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Whether the kind adds to the balance.
    pub fn is_credit(self) -> bool {
        matches!(self, Self::Deposit | Self::TransferIn)
    }
}

/// One ledger row: a movement on one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The row's id.
    pub id: TransactionId,
    /// The account it moved money on.
    pub account_id: AccountId,
    /// What kind of movement.
    pub kind: TransactionKind,
    /// How much.
    pub amount: Amount,
    /// The account's balance right after.
    pub balance_after: i64,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A transfer between two accounts (recorded as a `transfer_out` and a `transfer_in` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The transfer's id.
    pub id: TransferId,
    /// Where the money came from.
    pub from_account_id: AccountId,
    /// Where it went.
    pub to_account_id: AccountId,
    /// How much.
    pub amount: Amount,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A money movement to book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// Pay `Amount` into the account.
    Deposit(AccountId, Amount),
    /// Pay `Amount` out of the account.
    Withdrawal(AccountId, Amount),
    /// Move `amount` from one account to another.
    Transfer {
        /// The source account.
        from: AccountId,
        /// The target account.
        to: AccountId,
        /// How much.
        amount: Amount,
    },
}

impl Movement {
    /// The account whose owner may request the movement.
    pub fn source(self) -> AccountId {
        match self {
            Self::Deposit(id, _) | Self::Withdrawal(id, _) => id,
            Self::Transfer { from, .. } => from,
        }
    }

    /// The canonical description idempotency keys compare requests by.
    pub fn describe(self) -> String {
        match self {
            Self::Deposit(id, amount) => format!("deposit account={id} amount={}", amount.get()),
            Self::Withdrawal(id, amount) => {
                format!("withdrawal account={id} amount={}", amount.get())
            }
            Self::Transfer { from, to, amount } => {
                format!("transfer from={from} to={to} amount={}", amount.get())
            }
        }
    }
}

/// What a request executed under a key came to: enough to answer a repeat identically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A deposit or withdrawal booked this transaction.
    Transaction(AccountId, TransactionId),
    /// A transfer was booked.
    Transfer(TransferId),
    /// The money was not there.
    InsufficientFunds {
        /// The balance at the time.
        balance: i64,
        /// The amount asked for.
        required: i64,
    },
}

/// What a booked movement produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Booked {
    /// A deposit's or withdrawal's ledger row.
    Transaction(Transaction),
    /// A transfer.
    Transfer(Transfer),
}

impl Booked {
    /// How a repeat of the request under the same idempotency key finds this again.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Transaction(t) => Outcome::Transaction(t.account_id, t.id),
            Self::Transfer(t) => Outcome::Transfer(t.id),
        }
    }
}

/// What storage did with a [`super::Plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Booking {
    /// Every leg applied, the ledger written and the outcome recorded under the claim.
    Booked(Booked),
    /// A condition did not hold and nothing was written: the accounts as they were, for
    /// [`super::Plan::refusal`] to name why.
    Refused {
        /// The movement's source account, if it exists.
        source: Option<Account>,
        /// A transfer's target account, if it exists.
        target: Option<Account>,
    },
}
