//! Accounts and the money that moves between them.
//!
//! Rules kept here: a balance is an integer count of minor units that never goes below zero (a
//! withdrawal or transfer beyond it fails with [`Error::InsufficientFunds`], carrying the
//! balance and the amount asked for) and never overflows; every movement writes a ledger row,
//! so a balance always equals the sum of its account's transactions; a transfer goes between two
//! different accounts of one currency; only an account's owner or an admin touches it (for a
//! transfer, the source account's). The rules are stated once, here, as a [`Plan`] that
//! storage executes atomically as it stands ([`AccountRepository::book`]); a refusal is named
//! here too ([`Plan::refusal`]), from the accounts storage found.

use crate::{
    Error, Page, PageRequest, Result,
    idempotency::{Begin, Claim, IdempotencyKey, IdempotencyStore, IdempotentRequest},
    money::{Amount, Currency},
    now,
    principal::Principal,
    streams::{self, Followed, Topic, Wakeups},
    users::UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub use crate::ids::{AccountId, TransactionId, TransferId};
pub use entities::{
    Account, Booked, Booking, Movement, Outcome, Transaction, TransactionKind, Transfer,
};
pub use plan::{Bound, Leg, Plan, Shape, recorded_refusal};

mod entities;
mod plan;

impl Account {
    /// The balance after paying `amount` in: [`Error::BalanceOverflow`] when it has no room.
    pub fn credited(&self, amount: Amount) -> Result<i64> {
        Leg::credit(self.id, TransactionKind::Deposit, amount).applied_to(self)
    }

    /// The balance after paying `amount` out; never below zero: [`Error::InsufficientFunds`]
    /// when the balance does not cover it.
    pub fn debited(&self, amount: Amount) -> Result<i64> {
        Leg::debit(self.id, TransactionKind::Withdrawal, amount).applied_to(self)
    }
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

    /// Up to `limit` of the account's ledger rows with ids above `after` (all, from the first,
    /// when it is `None`), oldest first.
    async fn transactions_after(
        &self,
        account: AccountId,
        after: Option<TransactionId>,
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

    /// Executes `plan` atomically: every leg whose bound holds (and the owner and currency
    /// conditions) applied, the ledger rows written and the outcome recorded under `claim`
    /// (when given), all in one transaction; or, when a condition fails, nothing written and
    /// the accounts as they are handed back ([`Booking::Refused`]).
    async fn book(&self, plan: &Plan, claim: Option<&Claim>, now: DateTime<Utc>)
    -> Result<Booking>;
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

/// How often a refused plan runs again when the accounts found no longer explain the refusal.
const EXECUTIONS: usize = 3;

/// The accounts use cases.
#[derive(Clone)]
pub struct AccountService {
    accounts: Arc<dyn AccountRepository>,
    keys: Arc<dyn IdempotencyStore<Outcome>>,
    wakeups: Arc<dyn Wakeups>,
}

impl AccountService {
    /// A service over `accounts`, remembering idempotency keys in `keys`.
    pub fn new(
        accounts: Arc<dyn AccountRepository>,
        keys: Arc<dyn IdempotencyStore<Outcome>>,
        wakeups: Arc<dyn Wakeups>,
    ) -> Self {
        Self {
            accounts,
            keys,
            wakeups,
        }
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

    /// The ledger rows of account `id` booked from now on, for its owner or an admin, as they
    /// are stored: every row with an id above `after` when it is given (a follower resuming,
    /// whatever was booked meanwhile; 0 for every row), else every row after the last one
    /// booked so far. It never ends by itself.
    pub async fn follow(
        &self,
        actor: &Principal,
        id: AccountId,
        after: Option<u64>,
    ) -> Result<Followed<Transaction>> {
        let watch = self.wakeups.watch(Topic::Account(id));
        self.get(actor, id).await?;
        let after = match after {
            // Past the largest id, nothing comes after; 0 means from the first.
            Some(after) => TransactionId::parse(i64::try_from(after).unwrap_or(i64::MAX)).ok(),
            None => {
                let last = self.accounts.transactions(id, None, 1).await?;
                last.first().map(|t| t.id)
            }
        };
        let accounts = self.accounts.clone();
        let read = move |after| {
            let accounts = accounts.clone();
            async move { accounts.transactions_after(id, after, streams::BATCH).await }
        };
        Ok(streams::follow(
            after,
            watch,
            read,
            |t| Some(t.id),
            |_| false,
        ))
    }

    /// Books a deposit or a withdrawal (`movement`) on one account: a deposit pays its amount
    /// in, a withdrawal pays it out if the balance covers it.
    pub async fn book_on_account(
        &self,
        actor: &Principal,
        movement: Movement,
        key: Option<IdempotencyKey>,
    ) -> Replayable<Transaction> {
        self.move_money(actor, movement, key)
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
        self.move_money(actor, Movement::Transfer { from, to, amount }, key)
            .await
            .map_booked(Booked::into_transfer)
    }

    /// Books `movement` for `actor`: its plan decided here, executed by storage as it stands,
    /// a refusal named here from the accounts storage found, and the idempotency key settled
    /// by what the request came to.
    async fn move_money(
        &self,
        actor: &Principal,
        movement: Movement,
        key: Option<IdempotencyKey>,
    ) -> Replayable<Booked> {
        let plan = match Plan::new(movement, actor.reach()) {
            Ok(plan) => plan,
            Err(refused) => return Replayable::fresh(Err(refused)),
        };
        // The account's existence and owner are checked with the booking itself, in one round
        // trip; a refused request settles its claimed key below.
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
        let result = self.execute(&plan, claim.as_ref()).await;
        if let (Err(err), Some(claim)) = (&result, claim) {
            self.settle(claim, err).await;
        }
        Replayable::fresh(result)
    }

    /// Has storage execute `plan`; a refusal comes back with the accounts it found, named
    /// here. Behind SQLite's one writer the accounts found are those the statement saw; on
    /// PostgreSQL a concurrent change can make a refused plan possible before they are read,
    /// and the plan then runs again.
    async fn execute(&self, plan: &Plan, claim: Option<&Claim>) -> Result<Booked> {
        for _ in 0..EXECUTIONS {
            match self.accounts.book(plan, claim, now()).await? {
                Booking::Booked(booked) => return Ok(booked),
                Booking::Refused { source, target } => {
                    if let Some(refused) = plan.refusal(source.as_ref(), target.as_ref()) {
                        return Err(refused);
                    }
                }
            }
        }
        Err(Error::Conflict(
            "The accounts kept changing while the movement was booked; retry it.",
        ))
    }

    /// Settles the key of a request refused with `refusal`: its outcome recorded when the
    /// refusal is part of the key's history, else the key given back. If even this fails, the
    /// claim's lease runs out instead.
    async fn settle(&self, claim: Claim, refusal: &Error) {
        let settled = match recorded_refusal(refusal) {
            Some(outcome) => self.keys.complete(claim, &outcome).await,
            None => self.keys.release(claim).await,
        };
        if let Err(err) = settled {
            tracing::warn!(error = %err, "cannot settle an idempotency key");
        }
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
mod service_tests;
#[cfg(test)]
mod tests;
