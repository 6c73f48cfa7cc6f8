//! The accounts service's branches, over repositories kept in memory: what it does with keys
//! (replay, reuse, in flight, settling a refusal) and with refusals that a concurrent change
//! explains away (run again, then give up), without a database.

use super::*;
use crate::idempotency::{self, Decision, KeyRecord, KeyState};
use crate::{testing::ready, users::UserId};
use chrono::TimeZone;
use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

/// Accounts in memory, executing plans as storage does: every leg or none. `stale` refusals
/// come first: a plan refused with accounts as they were before a concurrent change made it
/// possible (what PostgreSQL's conditional updates can report).
#[derive(Default)]
struct Ledger {
    accounts: Mutex<HashMap<AccountId, Account>>,
    rows: Mutex<Vec<Transaction>>,
    keys: Arc<Keys>,
    executions: AtomicUsize,
    stale: AtomicUsize,
}

impl Ledger {
    fn with(accounts: &[Account]) -> Arc<Self> {
        let ledger = Self::default();
        let mut held = ledger.accounts.lock().unwrap();
        for account in accounts {
            held.insert(account.id, account.clone());
        }
        drop(held);
        Arc::new(ledger)
    }

    fn balance(&self, id: i64) -> i64 {
        self.accounts.lock().unwrap()[&account_id(id)].balance
    }
}

#[async_trait]
impl AccountRepository for Ledger {
    async fn create(&self, _: UserId, _: Currency, _: DateTime<Utc>) -> Result<Account> {
        unreachable!("not opened here")
    }

    async fn get(&self, id: AccountId) -> Result<Option<Account>> {
        Ok(self.accounts.lock().unwrap().get(&id).cloned())
    }

    async fn transactions(
        &self,
        _: AccountId,
        _: Option<TransactionId>,
        _: usize,
    ) -> Result<Vec<Transaction>> {
        unreachable!("not listed here")
    }

    async fn transactions_after(
        &self,
        _: AccountId,
        _: Option<TransactionId>,
        _: usize,
    ) -> Result<Vec<Transaction>> {
        unreachable!("not followed here")
    }

    async fn transaction(
        &self,
        account: AccountId,
        id: TransactionId,
    ) -> Result<Option<Transaction>> {
        let rows = self.rows.lock().unwrap();
        Ok(rows
            .iter()
            .find(|row| row.id == id && row.account_id == account)
            .cloned())
    }

    async fn transfer(&self, _: TransferId) -> Result<Option<Transfer>> {
        unreachable!("no transfers here")
    }

    async fn book(
        &self,
        plan: &Plan,
        claim: Option<&Claim>,
        now: DateTime<Utc>,
    ) -> Result<Booking> {
        self.executions.fetch_add(1, Ordering::SeqCst);
        let mut accounts = self.accounts.lock().unwrap();
        let source = accounts.get(&plan.accounts().0).cloned();
        let fresh = self
            .stale
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err();
        // Each leg's conditions as storage executes them: the bound, the owner, the currency.
        let holds = |leg: &Leg| {
            accounts.get(&leg.account).is_some_and(|account| {
                leg.bound.holds(account.balance)
                    && leg.owner.is_none_or(|owner| owner == account.owner_id)
                    && leg.currency_of.is_none_or(|other| {
                        accounts.get(&other).map(|o| &o.currency) == Some(&account.currency)
                    })
            })
        };
        if !fresh || !plan.legs().all(|leg| holds(&leg)) {
            return Ok(Booking::Refused {
                source,
                target: None,
            });
        }
        let mut rows = self.rows.lock().unwrap();
        let mut booked = None;
        for leg in plan.legs() {
            let account = accounts.get_mut(&leg.account).expect("held");
            account.balance += leg.change;
            let row = Transaction {
                id: TransactionId::parse(rows.len() as i64 + 1).unwrap(),
                account_id: leg.account,
                kind: leg.kind,
                amount: plan.amount(),
                balance_after: account.balance,
                created_at: now,
            };
            rows.push(row.clone());
            booked = Some(Booked::Transaction(row));
        }
        let booked = booked.expect("a plan has a leg");
        if let Some(claim) = claim {
            self.keys.record(claim, booked.outcome());
        }
        Ok(Booking::Booked(booked))
    }
}

/// Idempotency keys in memory: each its owner, its key and its record, ruled on by the
/// domain's [`crate::idempotency::decide`] as storage's are, at one fixed instant.
#[derive(Default)]
struct Keys(Mutex<HashMap<i64, (IdempotentRequest, KeyRecord<Outcome>)>>);

/// The one instant the in-memory keys live at: a claim made then is still in flight then.
fn keys_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
}

impl Keys {
    fn record(&self, claim: &Claim, outcome: Outcome) {
        let mut held = self.0.lock().unwrap();
        held.get_mut(&claim.record).expect("claimed").1.state = KeyState::Done(outcome);
    }
}

#[async_trait]
impl IdempotencyStore<Outcome> for Keys {
    async fn begin(&self, request: &IdempotentRequest) -> Result<Begin<Outcome>> {
        let mut held = self.0.lock().unwrap();
        let found = held
            .iter()
            .find(|(_, (other, _))| other.owner == request.owner && other.key == request.key)
            .map(|(record, (_, stored))| (*record, stored.clone()));
        let now = keys_now();
        let (existing, record) = found.unzip();
        Ok(match idempotency::decide(record, &request.request, now) {
            Decision::Replay(outcome) => Begin::Replay(outcome),
            Decision::Mismatch => Begin::Mismatch,
            Decision::InFlight => Begin::InFlight,
            Decision::Claim { lease_until, .. } | Decision::TakeOver { lease_until } => {
                let record = existing.unwrap_or(held.len() as i64 + 1);
                let stored = KeyRecord {
                    fingerprint: request.request.clone(),
                    created_at: now,
                    state: KeyState::InFlight { lease_until },
                };
                held.insert(record, (request.clone(), stored));
                Begin::Execute(Claim { record })
            }
        })
    }

    async fn release(&self, claim: Claim) -> Result<()> {
        self.0.lock().unwrap().remove(&claim.record);
        Ok(())
    }

    async fn complete(&self, claim: Claim, outcome: &Outcome) -> Result<()> {
        self.record(&claim, outcome.clone());
        Ok(())
    }

    async fn purge_expired(&self) -> Result<u64> {
        Ok(0)
    }
}

fn account_id(n: i64) -> AccountId {
    AccountId::parse(n).unwrap()
}

fn owner() -> Principal {
    Principal {
        user_id: UserId::parse(1).unwrap(),
        is_admin: false,
    }
}

fn account(id: i64, balance: i64) -> Account {
    Account {
        id: account_id(id),
        owner_id: owner().user_id,
        balance,
        currency: Currency::parse("EUR").unwrap(),
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    }
}

/// Wakes nobody: these tests follow nothing.
struct Unfollowed;

impl streams::Wakeups for Unfollowed {
    fn watch(&self, _: Topic) -> Box<dyn streams::Watch> {
        unreachable!("nothing is followed here")
    }
}

fn service(ledger: &Arc<Ledger>) -> AccountService {
    AccountService::new(ledger.clone(), ledger.keys.clone(), Arc::new(Unfollowed))
}

fn withdraw(service: &AccountService, amount: i64, key: Option<&str>) -> Replayable<Transaction> {
    let movement = Movement::Withdrawal(account_id(1), Amount::parse(amount).unwrap());
    let key = key.map(|k| IdempotencyKey::parse(k).unwrap());
    ready(service.book_on_account(&owner(), movement, key))
}

#[test]
fn a_refusal_a_concurrent_change_explains_away_runs_again_until_it_books() {
    let ledger = Ledger::with(&[account(1, 100)]);
    ledger.stale.store(2, Ordering::SeqCst);
    let booked = withdraw(&service(&ledger), 30, None).result.unwrap();
    assert_eq!(booked.balance_after, 70);
    assert_eq!(ledger.executions.load(Ordering::SeqCst), 3);
}

#[test]
fn a_refusal_explained_away_three_times_gives_up_with_a_conflict_and_gives_the_key_back() {
    let ledger = Ledger::with(&[account(1, 100)]);
    ledger.stale.store(3, Ordering::SeqCst);
    let service = service(&ledger);
    let outcome = withdraw(&service, 30, Some("k1"));
    assert!(
        matches!(outcome.result, Err(Error::Conflict(_))),
        "{outcome:?}"
    );
    assert_eq!(ledger.executions.load(Ordering::SeqCst), EXECUTIONS);
    assert_eq!(ledger.balance(1), 100, "nothing moved");
    // The key was given back: the retry executes, and books.
    let retried = withdraw(&service, 30, Some("k1"));
    assert!(!retried.replayed);
    assert_eq!(retried.result.unwrap().balance_after, 70);
}

#[test]
fn a_repeat_under_the_same_key_replays_the_booking_without_booking_again() {
    let ledger = Ledger::with(&[account(1, 100)]);
    let service = service(&ledger);
    let first = withdraw(&service, 30, Some("k1")).result.unwrap();
    let again = withdraw(&service, 30, Some("k1"));
    assert!(again.replayed);
    assert_eq!(again.result.unwrap(), first);
    assert_eq!(ledger.executions.load(Ordering::SeqCst), 1);
    assert_eq!(ledger.balance(1), 70);
}

#[test]
fn the_same_key_for_another_request_is_refused_and_one_still_running_is_in_flight() {
    let ledger = Ledger::with(&[account(1, 100)]);
    let service = service(&ledger);
    withdraw(&service, 30, Some("k1")).result.unwrap();
    let reused = withdraw(&service, 31, Some("k1"));
    assert!(matches!(reused.result, Err(Error::IdempotencyKeyReused)));
    let request = IdempotentRequest {
        owner: owner().user_id,
        key: IdempotencyKey::parse("k2").unwrap(),
        request: Movement::Withdrawal(account_id(1), Amount::parse(5).unwrap()).describe(),
    };
    ready(ledger.keys.begin(&request)).unwrap();
    let running = withdraw(&service, 5, Some("k2"));
    assert!(matches!(running.result, Err(Error::IdempotencyKeyInFlight)));
    assert_eq!(ledger.executions.load(Ordering::SeqCst), 1);
}

#[test]
fn insufficient_funds_under_a_key_is_kept_and_replayed_after_a_deposit_and_other_refusals_are_not()
{
    let ledger = Ledger::with(&[account(1, 10)]);
    let refused = withdraw(&service(&ledger), 30, Some("k1"));
    assert!(matches!(
        refused.result,
        Err(Error::InsufficientFunds {
            balance: 10,
            required: 30
        })
    ));
    ledger
        .accounts
        .lock()
        .unwrap()
        .get_mut(&account_id(1))
        .unwrap()
        .balance = 100;
    let again = withdraw(&service(&ledger), 30, Some("k1"));
    assert!(again.replayed);
    assert!(matches!(again.result, Err(Error::InsufficientFunds { .. })));
    assert_eq!(ledger.balance(1), 100);

    // Someone else's account: forbidden, and the key is given back rather than kept.
    let strangers = Ledger::with(&[Account {
        owner_id: UserId::parse(2).unwrap(),
        ..account(1, 100)
    }]);
    let forbidden = withdraw(&service(&strangers), 30, Some("k2"));
    assert!(matches!(forbidden.result, Err(Error::Forbidden(_))));
    assert!(strangers.keys.0.lock().unwrap().is_empty());
}

#[test]
fn a_replayed_withdrawal_whose_account_went_since_is_account_not_found() {
    let ledger = Ledger::with(&[account(1, 100)]);
    let service = service(&ledger);
    withdraw(&service, 30, Some("k1")).result.unwrap();
    ledger.accounts.lock().unwrap().clear();
    ledger.rows.lock().unwrap().clear();
    let replayed = withdraw(&service, 30, Some("k1"));
    assert!(replayed.replayed);
    assert!(matches!(replayed.result, Err(Error::AccountNotFound(_))));
}
