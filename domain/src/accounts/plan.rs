//! A money movement as the domain decides it, in the one shape storage executes.
//!
//! Every rule of a movement is here as a value of the plan: each account's [`Leg`] carries the
//! bound its balance must meet (the cover and overflow rules), the owner its row must have
//! (ownership) and the account whose currency it must share (one currency per transfer). Storage
//! turns each of those values into a condition of its statements and decides nothing; when a
//! condition fails it writes nothing and hands back the accounts as they are, and
//! [`Plan::refusal`] names why from the same values.

use super::entities::{Account, Movement, Outcome, TransactionKind};
use crate::{
    Error, Result, ids::AccountId, money::Amount, principal::Reach, streams::Topic, users::UserId,
};

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

/// One account's side of a movement: what storage adds to its balance and writes in its ledger
/// row, and the conditions its row must meet first.
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
    /// The user the account must belong to; `None`: anyone's.
    pub owner: Option<UserId>,
    /// The account whose currency this one's must be; `None`: any.
    pub currency_of: Option<AccountId>,
}

impl Leg {
    /// Paying `amount` out: the balance must cover it.
    pub(super) fn debit(account: AccountId, kind: TransactionKind, amount: Amount) -> Self {
        Self {
            account,
            kind,
            change: -amount.get(),
            bound: Bound::AtLeast(amount.get()),
            owner: None,
            currency_of: None,
        }
    }

    /// Paying `amount` in: the balance must have room for it.
    pub(super) fn credit(account: AccountId, kind: TransactionKind, amount: Amount) -> Self {
        Self {
            account,
            kind,
            change: amount.get(),
            bound: Bound::AtMost(i64::MAX - amount.get()),
            owner: None,
            currency_of: None,
        }
    }

    /// The amount the leg moves: what its ledger row records.
    pub fn amount(self) -> i64 {
        self.change.abs()
    }

    /// The balance of `account` after this leg, or why its bound refuses it.
    pub(super) fn applied_to(self, account: &Account) -> Result<i64> {
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

/// What storage executes: the rows a movement writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A deposit or a withdrawal: one leg, one ledger row.
    Single(Leg),
    /// A transfer: a transfer row, and a ledger row for each of its two legs.
    Transfer {
        /// The source's leg, paying out.
        debit: Leg,
        /// The target's leg, paying in.
        credit: Leg,
    },
}

/// A movement as the domain decides it, for storage to execute atomically as it stands: every
/// leg applied or none. Built only by [`Plan::new`], so its legs are always the movement's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    movement: Movement,
    shape: Shape,
}

impl Plan {
    /// The plan of `movement` for a caller whose reach is `reach`: the source account must be
    /// theirs (unless they reach everything), a transfer's accounts must share a currency;
    /// [`Error::SameAccount`] for a transfer from an account to itself.
    pub fn new(movement: Movement, reach: Reach) -> Result<Self> {
        let owner = match reach {
            Reach::Everything => None,
            Reach::OwnedBy(owner) => Some(owner),
        };
        let shape = match movement {
            Movement::Deposit(id, amount) => Shape::Single(Leg {
                owner,
                ..Leg::credit(id, TransactionKind::Deposit, amount)
            }),
            Movement::Withdrawal(id, amount) => Shape::Single(Leg {
                owner,
                ..Leg::debit(id, TransactionKind::Withdrawal, amount)
            }),
            Movement::Transfer { from, to, amount } => {
                if from == to {
                    return Err(Error::SameAccount);
                }
                Shape::Transfer {
                    debit: Leg {
                        owner,
                        ..Leg::debit(from, TransactionKind::TransferOut, amount)
                    },
                    credit: Leg {
                        currency_of: Some(from),
                        ..Leg::credit(to, TransactionKind::TransferIn, amount)
                    },
                }
            }
        };
        Ok(Self { movement, shape })
    }

    /// The rows to write, with the conditions on each account's.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The movement planned.
    pub fn movement(&self) -> Movement {
        self.movement
    }

    /// The amount the movement carries.
    pub fn amount(&self) -> Amount {
        match self.movement {
            Movement::Deposit(_, amount)
            | Movement::Withdrawal(_, amount)
            | Movement::Transfer { amount, .. } => amount,
        }
    }

    /// Every leg, the source's first: the order the rules are explained in.
    pub fn legs(&self) -> impl Iterator<Item = Leg> + use<> {
        let (first, second) = match self.shape {
            Shape::Single(leg) => (leg, None),
            Shape::Transfer { debit, credit } => (debit, Some(credit)),
        };
        std::iter::once(first).chain(second)
    }

    /// Every leg in the order storage locks their accounts in, by account id, so that two
    /// movements in opposite directions never wait for each other.
    pub fn legs_in_lock_order(&self) -> impl Iterator<Item = Leg> + use<> {
        let mut legs: Vec<Leg> = self.legs().collect();
        legs.sort_by_key(|leg| leg.account);
        legs.into_iter()
    }

    /// The accounts storage hands back when it refuses the plan: the source, and a
    /// transfer's target.
    pub fn accounts(&self) -> (AccountId, Option<AccountId>) {
        match self.shape {
            Shape::Single(leg) => (leg.account, None),
            Shape::Transfer { debit, credit } => (debit.account, Some(credit.account)),
        }
    }

    /// What booking the plan changes: the ledger of each account it moves money on.
    pub fn topics(&self) -> impl Iterator<Item = Topic> + use<> {
        self.legs().map(|leg| Topic::Account(leg.account))
    }

    /// Why the plan could not run on the accounts as storage found them (its source and, for
    /// a transfer, its target; `None` when missing), each leg's conditions in the order the
    /// rules apply: its account exists and is within reach (404, 403), the source's first; the
    /// currencies agree (422); then the money is there (402) and no balance overflows (422).
    /// `None` when nothing stands in the way: a concurrent change made the movement possible
    /// since.
    pub fn refusal(&self, source: Option<&Account>, target: Option<&Account>) -> Option<Error> {
        let found = |id: AccountId| [source, target].into_iter().flatten().find(|a| a.id == id);
        let mut accounts = Vec::with_capacity(2);
        for leg in self.legs() {
            let Some(account) = found(leg.account) else {
                return Some(Error::AccountNotFound(leg.account));
            };
            if leg.owner.is_some_and(|owner| owner != account.owner_id) {
                return Some(Error::Forbidden(
                    "The account is someone else's, and only its owner or an admin may move its money.",
                ));
            }
            accounts.push((leg, account));
        }
        for (leg, account) in &accounts {
            let other = leg.currency_of.and_then(found);
            if other.is_some_and(|other| other.currency != account.currency) {
                return Some(Error::CurrencyMismatch);
            }
        }
        accounts
            .into_iter()
            .find_map(|(leg, account)| leg.applied_to(account).err())
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
