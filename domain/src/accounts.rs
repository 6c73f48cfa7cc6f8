//! Accounts and the money that moves between them.
//!
//! Rules kept here: a balance is an integer count of minor units that never goes below zero (a
//! withdrawal or transfer beyond it fails with [`Error::InsufficientFunds`], carrying the
//! balance and the amount asked for) and never overflows; every movement writes a ledger row,
//! so a balance always equals the sum of its account's transactions; a transfer goes between two
//! different accounts of one currency; only an account's owner or an admin touches it (for a
//! transfer, the source account's). Storage applies these rules under a lock on the accounts
//! involved ([`AccountRepository::book`]).

use crate::{
    Error, Page, PageRequest, Result,
    auth::{Principal, Reach},
    idempotency::{Begin, Claim, IdempotencyKey, IdempotencyStore, IdempotentRequest, Outcome},
    money::{Amount, Currency},
    now,
    users::UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

positive_id!(
    /// An account's id.
    AccountId
);
positive_id!(
    /// A ledger row's id.
    TransactionId
);
positive_id!(
    /// A transfer's id.
    TransferId
);

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

impl Account {
    /// The balance after paying `amount` in.
    pub fn credited(&self, amount: Amount) -> Result<i64> {
        self.balance
            .checked_add(amount.get())
            .ok_or(Error::BalanceOverflow)
    }

    /// The balance after paying `amount` out; never below zero.
    pub fn debited(&self, amount: Amount) -> Result<i64> {
        if self.balance < amount.get() {
            return Err(Error::InsufficientFunds {
                balance: self.balance,
                required: amount.get(),
            });
        }
        Ok(self.balance - amount.get())
    }
}

/// One ledger row a movement writes: the account, what happened to it, its balance after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The account.
    pub account: Account,
    /// What kind of movement it records.
    pub kind: TransactionKind,
    /// The balance after it.
    pub balance_after: i64,
}

/// Decides a movement on the accounts as they are (`None`: no such account), for a caller whose
/// reach is `reach`. The rules apply in this order: the source account exists and is within
/// reach (404, 403), the target of a transfer exists (404) and shares the currency (422), then
/// the money is there (402) and no balance overflows (422). `target` is ignored but for
/// transfers.
pub fn plan(
    movement: Movement,
    reach: Reach,
    source: Option<&Account>,
    target: Option<&Account>,
) -> Result<Vec<Entry>> {
    let source = source.ok_or(Error::AccountNotFound(movement.source()))?;
    if !reach.allows(source.owner_id) {
        return Err(Error::Forbidden(
            "The account is someone else's, and only its owner or an admin may move its money.",
        ));
    }
    let entry = |account: &Account, kind, balance_after| Entry {
        account: account.clone(),
        kind,
        balance_after,
    };
    match movement {
        Movement::Deposit(_, amount) => Ok(vec![entry(
            source,
            TransactionKind::Deposit,
            source.credited(amount)?,
        )]),
        Movement::Withdrawal(_, amount) => Ok(vec![entry(
            source,
            TransactionKind::Withdrawal,
            source.debited(amount)?,
        )]),
        Movement::Transfer { to, amount, .. } => {
            let target = target.ok_or(Error::AccountNotFound(to))?;
            let (source_after, target_after) = transfer_balances(source, target, amount)?;
            Ok(vec![
                entry(source, TransactionKind::TransferOut, source_after),
                entry(target, TransactionKind::TransferIn, target_after),
            ])
        }
    }
}

/// Checks what a transfer can check without the balances: two different accounts.
pub fn check_transfer_accounts(from: AccountId, to: AccountId) -> Result<()> {
    if from == to {
        return Err(Error::SameAccount);
    }
    Ok(())
}

/// The balances of `from` and `to` after moving `amount`: same currency, enough money, no
/// overflow.
pub fn transfer_balances(from: &Account, to: &Account, amount: Amount) -> Result<(i64, i64)> {
    check_transfer_accounts(from.id, to.id)?;
    if from.currency != to.currency {
        return Err(Error::CurrencyMismatch);
    }
    Ok((from.debited(amount)?, to.credited(amount)?))
}

/// Where accounts, the ledger and transfers are stored.
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Opens an account with a zero balance; [`Error::UnknownOwner`] when no such user exists.
    async fn create(
        &self,
        owner: UserId,
        currency: Currency,
        now: DateTime<Utc>,
    ) -> Result<Account>;

    /// The account with `id`, if any.
    async fn get(&self, id: AccountId) -> Result<Option<Account>>;

    /// Up to `limit` of the account's ledger rows with ids before `before`, newest first.
    async fn transactions(
        &self,
        account: AccountId,
        before: Option<TransactionId>,
        limit: usize,
    ) -> Result<Vec<Transaction>>;

    /// The ledger row `id` of `account`, if it is one of that account's.
    async fn transaction(
        &self,
        account: AccountId,
        id: TransactionId,
    ) -> Result<Option<Transaction>>;

    /// The transfer with `id`, if any.
    async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>>;

    /// Books `movement` for a caller with `reach`, atomically: under a lock on the accounts
    /// involved, decides as [`plan`] does from the accounts as they are, writes the new
    /// balances and the ledger rows, and records the outcome under `claim` (when given) in the
    /// same transaction. A movement refused for insufficient funds changes no balance, but its
    /// outcome is recorded too; one refused for any other reason records nothing.
    async fn book(
        &self,
        movement: Movement,
        reach: Reach,
        claim: Option<&Claim>,
        now: DateTime<Utc>,
    ) -> Result<Booked>;
}

/// The outcome of a money-moving request, and whether it was replayed from an earlier one with
/// the same idempotency key.
#[derive(Debug)]
pub struct Replayable<T> {
    /// What the request came to.
    pub result: Result<T>,
    /// Whether this is the stored outcome of an earlier request.
    pub replayed: bool,
}

impl<T> Replayable<T> {
    fn fresh(result: Result<T>) -> Self {
        Self {
            result,
            replayed: false,
        }
    }
}

/// The accounts use cases.
#[derive(Clone)]
pub struct AccountService {
    accounts: Arc<dyn AccountRepository>,
    keys: Arc<dyn IdempotencyStore>,
}

impl AccountService {
    /// A service over `accounts`, remembering idempotency keys in `keys`.
    pub fn new(accounts: Arc<dyn AccountRepository>, keys: Arc<dyn IdempotencyStore>) -> Self {
        Self { accounts, keys }
    }

    /// Opens an account for `owner` (the caller themselves, or anyone for an admin).
    pub async fn open(
        &self,
        actor: &Principal,
        owner: UserId,
        currency: Currency,
    ) -> Result<Account> {
        actor.require_self_or_admin(owner)?;
        self.accounts.create(owner, currency, now()).await
    }

    /// The account with `id`, for its owner or an admin.
    pub async fn get(&self, actor: &Principal, id: AccountId) -> Result<Account> {
        let account = self
            .accounts
            .get(id)
            .await?
            .ok_or(Error::AccountNotFound(id))?;
        actor.require_self_or_admin(account.owner_id)?;
        Ok(account)
    }

    /// One page of the account's ledger, newest first.
    pub async fn transactions(
        &self,
        actor: &Principal,
        id: AccountId,
        page: PageRequest<TransactionId>,
    ) -> Result<Page<Transaction, TransactionId>> {
        self.get(actor, id).await?;
        let fetched = self
            .accounts
            .transactions(id, page.after, page.limit.get() + 1)
            .await?;
        Ok(Page::from_overfetch(fetched, page.limit, |t| t.id))
    }

    /// One ledger row of the account.
    pub async fn transaction(
        &self,
        actor: &Principal,
        id: AccountId,
        transaction: TransactionId,
    ) -> Result<Transaction> {
        self.get(actor, id).await?;
        self.accounts
            .transaction(id, transaction)
            .await?
            .ok_or(Error::TransactionNotFound(transaction))
    }

    /// Pays `amount` into the account.
    pub async fn deposit(
        &self,
        actor: &Principal,
        id: AccountId,
        amount: Amount,
        key: Option<IdempotencyKey>,
    ) -> Replayable<Transaction> {
        self.move_money(actor, Movement::Deposit(id, amount), key)
            .await
            .map_booked(Booked::into_transaction)
    }

    /// Pays `amount` out of the account, if the balance covers it.
    pub async fn withdraw(
        &self,
        actor: &Principal,
        id: AccountId,
        amount: Amount,
        key: Option<IdempotencyKey>,
    ) -> Replayable<Transaction> {
        self.move_money(actor, Movement::Withdrawal(id, amount), key)
            .await
            .map_booked(Booked::into_transaction)
    }

    /// Moves `amount` from the caller's account `from` to any account `to` of the same
    /// currency.
    pub async fn transfer(
        &self,
        actor: &Principal,
        from: AccountId,
        to: AccountId,
        amount: Amount,
        key: Option<IdempotencyKey>,
    ) -> Replayable<Transfer> {
        if let Err(err) = check_transfer_accounts(from, to) {
            return Replayable::fresh(Err(err));
        }
        self.move_money(actor, Movement::Transfer { from, to, amount }, key)
            .await
            .map_booked(Booked::into_transfer)
    }

    async fn move_money(
        &self,
        actor: &Principal,
        movement: Movement,
        key: Option<IdempotencyKey>,
    ) -> Replayable<Booked> {
        // The account's existence and owner are checked with the booking itself, in one round
        // trip; a refused request gives its claimed key back below.
        let claim = match key {
            None => None,
            Some(key) => {
                let request = IdempotentRequest {
                    owner: actor.user_id,
                    key,
                    request: movement.describe(),
                };
                match self.keys.begin(&request).await {
                    Ok(Begin::Execute(claim)) => Some(claim),
                    Ok(Begin::Replay(outcome)) => {
                        return Replayable {
                            result: self.replay(outcome).await,
                            replayed: true,
                        };
                    }
                    Ok(Begin::Mismatch) => {
                        return Replayable::fresh(Err(Error::IdempotencyKeyReused));
                    }
                    Ok(Begin::InFlight) => {
                        return Replayable::fresh(Err(Error::IdempotencyKeyInFlight));
                    }
                    Err(err) => return Replayable::fresh(Err(err)),
                }
            }
        };
        let result = self
            .accounts
            .book(movement, actor.reach(), claim.as_ref(), now())
            .await;
        if let (Err(err), Some(claim)) = (&result, claim)
            && !matches!(err, Error::InsufficientFunds { .. })
        {
            // Nothing moved and no outcome was recorded: the key may be used again. If even
            // this fails, the claim's lease runs out instead.
            if let Err(release) = self.keys.release(claim).await {
                tracing::warn!(error = %release, "cannot release an idempotency key");
            }
        }
        Replayable::fresh(result)
    }

    async fn replay(&self, outcome: Outcome) -> Result<Booked> {
        let gone = || Error::internal("the recorded outcome of an idempotency key is gone");
        match outcome {
            Outcome::Transaction(account, id) => {
                match self.accounts.transaction(account, id).await? {
                    Some(transaction) => Ok(Booked::Transaction(transaction)),
                    // The account went with its owner since (an admin's key outlives the user), and
                    // its ledger with it: nothing is left to replay, and nothing to move again.
                    None if self.accounts.get(account).await?.is_none() => {
                        Err(Error::AccountNotFound(account))
                    }
                    None => Err(gone()),
                }
            }
            Outcome::Transfer(id) => self
                .accounts
                .transfer(id)
                .await?
                .map(Booked::Transfer)
                .ok_or_else(gone),
            Outcome::InsufficientFunds { balance, required } => {
                Err(Error::InsufficientFunds { balance, required })
            }
        }
    }
}

impl Booked {
    fn into_transaction(self) -> Result<Transaction> {
        match self {
            Self::Transaction(t) => Ok(t),
            Self::Transfer(_) => Err(Error::internal("a deposit or withdrawal booked a transfer")),
        }
    }

    fn into_transfer(self) -> Result<Transfer> {
        match self {
            Self::Transfer(t) => Ok(t),
            Self::Transaction(_) => Err(Error::internal("a transfer booked a single row")),
        }
    }
}

impl Replayable<Booked> {
    fn map_booked<T>(self, convert: fn(Booked) -> Result<T>) -> Replayable<T> {
        Replayable {
            result: self.result.and_then(convert),
            replayed: self.replayed,
        }
    }
}

#[cfg(test)]
mod tests;
