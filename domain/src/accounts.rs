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
    events::{self, Changes, Followed, Topic},
    idempotency::{Begin, Claim, IdempotencyKey, IdempotencyStore, IdempotentRequest},
    money::{Amount, Currency},
    now,
    principal::{Principal, Reach},
    users::UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub use crate::ids::{AccountId, TransactionId, TransferId};

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

/// The condition a balance must meet for one side of a movement: the one statement of the
/// cover and overflow rules, which storage tests as it stands and [`Plan::refusal`] explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The balance must be at least this: it covers the debit.
    AtLeast(i64),
    /// The balance must be at most this: the credit has room.
    AtMost(i64),
}

impl Bound {
    /// Whether `balance` meets the bound.
    pub fn holds(self, balance: i64) -> bool {
        match self {
            Self::AtLeast(least) => balance >= least,
            Self::AtMost(most) => balance <= most,
        }
    }
}

/// One account's side of a movement: what storage adds to its balance, and the bound the
/// balance must meet first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    /// The account.
    pub account: AccountId,
    /// The ledger row's kind.
    pub kind: TransactionKind,
    /// What the balance changes by: the amount, negative for a debit.
    pub change: i64,
    /// The bound the balance must meet before the change.
    pub bound: Bound,
}

impl Leg {
    /// Paying `amount` out: the balance must cover it.
    fn debit(account: AccountId, kind: TransactionKind, amount: Amount) -> Self {
        Self {
            account,
            kind,
            change: -amount.get(),
            bound: Bound::AtLeast(amount.get()),
        }
    }

    /// Paying `amount` in: the balance must have room for it.
    fn credit(account: AccountId, kind: TransactionKind, amount: Amount) -> Self {
        Self {
            account,
            kind,
            change: amount.get(),
            bound: Bound::AtMost(i64::MAX - amount.get()),
        }
    }

    /// Two legs in account id order: the order storage locks their accounts in, so that two
    /// movements in opposite directions never wait for each other.
    pub fn in_lock_order(one: Self, other: Self) -> [Self; 2] {
        if one.account <= other.account {
            [one, other]
        } else {
            [other, one]
        }
    }

    /// The balance of `account` after this leg, or why the leg cannot apply to it.
    fn applied_to(self, account: &Account) -> Result<i64> {
        if self.bound.holds(account.balance) {
            return Ok(account.balance + self.change);
        }
        Err(match self.bound {
            Bound::AtLeast(_) => Error::InsufficientFunds {
                balance: account.balance,
                required: -self.change,
            },
            Bound::AtMost(_) => Error::BalanceOverflow,
        })
    }
}

/// A movement's legs: a credit, a debit or, for a transfer, both; never none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legs {
    /// A deposit: money paid in.
    Credit(Leg),
    /// A withdrawal: money paid out.
    Debit(Leg),
    /// A transfer: money paid out of one account and into another.
    Transfer {
        /// The source's leg.
        debit: Leg,
        /// The target's leg.
        credit: Leg,
    },
}

impl Legs {
    /// Every leg, the debit first.
    fn each(self) -> impl Iterator<Item = Leg> {
        let (first, second) = match self {
            Self::Credit(leg) | Self::Debit(leg) => (leg, None),
            Self::Transfer { debit, credit } => (debit, Some(credit)),
        };
        std::iter::once(first).chain(second)
    }
}

/// A movement as the domain decides it, for storage to execute atomically as it stands: its
/// legs and the owner the source account must have (a transfer's two accounts must also hold
/// one currency). Storage applies every leg or none; when a condition fails it writes nothing
/// and hands back the accounts as they were, and [`Plan::refusal`] alone says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The movement.
    pub movement: Movement,
    /// What each account's balance changes by, within which bound.
    pub legs: Legs,
    /// The user who must own the source account; `None`: anyone's (an admin).
    pub owner: Option<UserId>,
}

impl Plan {
    /// The plan of `movement` for a caller whose reach is `reach`;
    /// [`Error::SameAccount`] for a transfer from an account to itself.
    pub fn new(movement: Movement, reach: Reach) -> Result<Self> {
        let owner = match reach {
            Reach::Everything => None,
            Reach::OwnedBy(owner) => Some(owner),
        };
        let legs = match movement {
            Movement::Deposit(id, amount) => {
                Legs::Credit(Leg::credit(id, TransactionKind::Deposit, amount))
            }
            Movement::Withdrawal(id, amount) => {
                Legs::Debit(Leg::debit(id, TransactionKind::Withdrawal, amount))
            }
            Movement::Transfer { from, to, amount } => {
                if from == to {
                    return Err(Error::SameAccount);
                }
                Legs::Transfer {
                    debit: Leg::debit(from, TransactionKind::TransferOut, amount),
                    credit: Leg::credit(to, TransactionKind::TransferIn, amount),
                }
            }
        };
        Ok(Self {
            movement,
            legs,
            owner,
        })
    }

    /// What booking the plan changes: the ledger of each account it moves money on.
    pub fn topics(&self) -> impl Iterator<Item = Topic> + use<> {
        self.legs.each().map(|leg| Topic::Account(leg.account))
    }

    /// Whether the two accounts must hold one currency: a transfer's.
    pub fn same_currency(&self) -> bool {
        matches!(self.legs, Legs::Transfer { .. })
    }

    /// The legs in the order storage locks their accounts in ([`Leg::in_lock_order`]).
    pub fn legs(&self) -> Vec<Leg> {
        match self.legs {
            Legs::Credit(leg) | Legs::Debit(leg) => vec![leg],
            Legs::Transfer { debit, credit } => Leg::in_lock_order(debit, credit).to_vec(),
        }
    }

    /// The amount the movement carries.
    pub fn amount(&self) -> Amount {
        match self.movement {
            Movement::Deposit(_, amount)
            | Movement::Withdrawal(_, amount)
            | Movement::Transfer { amount, .. } => amount,
        }
    }

    /// Why the plan could not run on the accounts as storage found them (its source and, for
    /// a transfer, its target; `None` when missing), in the order the rules apply: the source
    /// exists and is within reach (404, 403), a transfer's target exists (404) and shares the
    /// currency (422), then the money is there (402) and no balance overflows (422). `None`
    /// when nothing stands in the way: a concurrent change made the movement possible since.
    pub fn refusal(&self, source: Option<&Account>, target: Option<&Account>) -> Option<Error> {
        let source_id = self.movement.source();
        let Some(source) = source else {
            return Some(Error::AccountNotFound(source_id));
        };
        if self.owner.is_some_and(|owner| owner != source.owner_id) {
            return Some(Error::Forbidden(
                "The account is someone else's, and only its owner or an admin may move its money.",
            ));
        }
        let accounts = match self.movement {
            Movement::Transfer { to, .. } => {
                let Some(target) = target else {
                    return Some(Error::AccountNotFound(to));
                };
                if source.currency != target.currency {
                    return Some(Error::CurrencyMismatch);
                }
                [Some(source), Some(target)]
            }
            Movement::Deposit(..) | Movement::Withdrawal(..) => [Some(source), None],
        };
        let account_of = |leg: &Leg| accounts.into_iter().flatten().find(|a| a.id == leg.account);
        self.legs
            .each()
            .find_map(|leg| leg.applied_to(account_of(&leg)?).err())
    }
}

/// The outcome a refusal leaves under the request's idempotency key, when it is part of the
/// key's history: insufficient funds is (a repeat must get the same 402, not a success after a
/// deposit landed meanwhile); every other refusal gives the key back.
pub fn recorded_refusal(refusal: &Error) -> Option<Outcome> {
    match refusal {
        Error::InsufficientFunds { balance, required } => Some(Outcome::InsufficientFunds {
            balance: *balance,
            required: *required,
        }),
        _ => None,
    }
}

/// What storage did with a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Booking {
    /// Every leg applied, the ledger written and the outcome recorded under the claim.
    Booked(Booked),
    /// A condition did not hold and nothing was written: the accounts as they were, for
    /// [`Plan::refusal`] to name why.
    Refused {
        /// The movement's source account, if it exists.
        source: Option<Account>,
        /// A transfer's target account, if it exists.
        target: Option<Account>,
    },
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
    changes: Arc<dyn Changes>,
}

impl AccountService {
    /// A service over `accounts`, remembering idempotency keys in `keys`.
    pub fn new(
        accounts: Arc<dyn AccountRepository>,
        keys: Arc<dyn IdempotencyStore<Outcome>>,
        changes: Arc<dyn Changes>,
    ) -> Self {
        Self {
            accounts,
            keys,
            changes,
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
        let watch = self.changes.watch(Topic::Account(id));
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
            async move { accounts.transactions_after(id, after, events::BATCH).await }
        };
        Ok(events::follow(
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
