use super::*;
use crate::{
    SqlIdempotencyStore, SqlUserRepository,
    test_database::{MigratedTestDatabase, TestDatabase},
};
use chrono::SubsecRound;
use domain::{accounts::Movement, principal::Reach};
use domain::{
    idempotency::{Begin, IdempotencyKey, IdempotencyStore, IdempotentRequest},
    users::{UserRepository, deletion_rule},
};
use std::{sync::Arc, time::Duration};

struct Bank {
    accounts: SqlAccountRepository,
    users: SqlUserRepository,
    keys: SqlIdempotencyStore,
    db: MigratedTestDatabase,
}

async fn bank() -> Bank {
    let db = TestDatabase::migrated().await;
    Bank {
        accounts: SqlAccountRepository::new(db.db.clone()),
        users: SqlUserRepository::new(db.db.clone(), Duration::from_secs(60)),
        keys: SqlIdempotencyStore::new(db.db.clone()),
        db,
    }
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn amount(n: i64) -> Amount {
    Amount::parse(n).unwrap()
}

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

impl Bank {
    async fn user(&self, email: &str) -> UserId {
        let record = crate::users::tests::record("Owner", email);
        self.users.insert(record).await.unwrap().id
    }

    async fn account(&self, owner: UserId, currency: Currency, balance: i64) -> AccountId {
        let account = self.accounts.create(owner, currency, now()).await.unwrap();
        if balance > 0 {
            self.book(Movement::Deposit(account.id, amount(balance)))
                .await
                .unwrap();
        }
        account.id
    }

    async fn book(&self, movement: Movement) -> domain::Result<Booked> {
        self.book_as(Reach::Everything, movement).await
    }

    /// Books `movement` as the domain would: its plan executed by storage, a refusal named by
    /// the plan from the accounts storage found.
    async fn book_as(&self, reach: Reach, movement: Movement) -> domain::Result<Booked> {
        self.book_under(reach, movement, None).await
    }

    async fn book_under(
        &self,
        reach: Reach,
        movement: Movement,
        claim: Option<&Claim>,
    ) -> domain::Result<Booked> {
        let plan = Plan::new(movement, reach)?;
        match self.accounts.book(&plan, claim, now()).await? {
            Booking::Booked(booked) => Ok(booked),
            Booking::Refused { source, target } => Err(plan
                .refusal(source.as_ref(), target.as_ref())
                .expect("storage refuses only what the plan's rules refuse")),
        }
    }

    async fn balance(&self, id: AccountId) -> i64 {
        self.accounts.get(id).await.unwrap().unwrap().balance
    }

    /// Credits minus debits over the account's whole ledger.
    async fn ledger_sum(&self, id: AccountId) -> i64 {
        let rows = self
            .accounts
            .transactions(id, None, usize::MAX)
            .await
            .unwrap();
        rows.iter()
            .map(|t| {
                if t.kind.is_credit() {
                    t.amount.get()
                } else {
                    -t.amount.get()
                }
            })
            .sum()
    }
}

#[tokio::test]
async fn new_account_is_empty_and_an_unknown_owner_is_refused() {
    let bank = bank().await;
    let owner = bank.user("ann@example.com").await;
    let account = bank.accounts.create(owner, eur(), now()).await.unwrap();
    assert_eq!(
        (account.balance, account.currency, account.owner_id),
        (0, eur(), owner)
    );
    assert_eq!(bank.accounts.get(account.id).await.unwrap(), Some(account));
    let ghost = UserId::parse(999).unwrap();
    let err = bank.accounts.create(ghost, eur(), now()).await.unwrap_err();
    assert!(
        matches!(err, domain::Error::UnknownOwner(id) if id == ghost),
        "{err:?}"
    );
}

#[tokio::test]
async fn deposits_and_withdrawals_write_the_ledger_with_balance_after() {
    let bank = bank().await;
    let owner = bank.user("ann@example.com").await;
    let id = bank.account(owner, eur(), 0).await;
    let Booked::Transaction(deposit) = bank.book(Movement::Deposit(id, amount(100))).await.unwrap()
    else {
        panic!("a deposit books one row");
    };
    assert_eq!(
        (deposit.kind, deposit.balance_after),
        (TransactionKind::Deposit, 100)
    );
    let Booked::Transaction(withdrawal) = bank
        .book(Movement::Withdrawal(id, amount(30)))
        .await
        .unwrap()
    else {
        panic!("a withdrawal books one row");
    };
    assert_eq!(
        (withdrawal.kind, withdrawal.balance_after),
        (TransactionKind::Withdrawal, 70)
    );
    assert_eq!(bank.balance(id).await, 70);
    let newest_first = bank.accounts.transactions(id, None, 10).await.unwrap();
    assert_eq!(newest_first, vec![withdrawal.clone(), deposit.clone()]);
    let older = bank
        .accounts
        .transactions(id, Some(withdrawal.id), 10)
        .await
        .unwrap();
    assert_eq!(older, vec![deposit.clone()]);
    assert_eq!(
        bank.accounts.transaction(id, deposit.id).await.unwrap(),
        Some(deposit)
    );
}

#[tokio::test]
async fn withdrawal_beyond_the_balance_is_refused_and_changes_nothing() {
    let bank = bank().await;
    let owner = bank.user("ann@example.com").await;
    let id = bank.account(owner, eur(), 50).await;
    let err = bank
        .book(Movement::Withdrawal(id, amount(80)))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        domain::Error::InsufficientFunds {
            balance: 50,
            required: 80
        }
    ));
    assert_eq!(bank.balance(id).await, 50);
    assert_eq!(
        bank.accounts
            .transactions(id, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn movement_on_a_missing_account_is_account_not_found() {
    let bank = bank().await;
    let missing = AccountId::parse(42).unwrap();
    let err = bank
        .book(Movement::Deposit(missing, amount(1)))
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::AccountNotFound(id) if id == missing));
}

#[tokio::test]
async fn transfer_moves_money_and_writes_both_rows() {
    let bank = bank().await;
    let owner = bank.user("ann@example.com").await;
    let (from, to) = (
        bank.account(owner, eur(), 100).await,
        bank.account(owner, eur(), 0).await,
    );
    let Booked::Transfer(transfer) = bank
        .book(Movement::Transfer {
            from,
            to,
            amount: amount(40),
        })
        .await
        .unwrap()
    else {
        panic!("a transfer");
    };
    assert_eq!(
        (transfer.from_account_id, transfer.to_account_id),
        (from, to)
    );
    assert_eq!((bank.balance(from).await, bank.balance(to).await), (60, 40));
    let out = &bank.accounts.transactions(from, None, 1).await.unwrap()[0];
    let into = &bank.accounts.transactions(to, None, 1).await.unwrap()[0];
    assert_eq!(
        (out.kind, out.balance_after),
        (TransactionKind::TransferOut, 60)
    );
    assert_eq!(
        (into.kind, into.balance_after),
        (TransactionKind::TransferIn, 40)
    );
    assert_eq!(
        bank.accounts.transfer(transfer.id).await.unwrap(),
        Some(transfer)
    );
}

#[tokio::test]
async fn transfer_to_a_missing_account_or_another_currency_changes_nothing() {
    let bank = bank().await;
    let owner = bank.user("ann@example.com").await;
    let from = bank.account(owner, eur(), 100).await;
    let dollars = bank
        .account(owner, Currency::parse("USD").unwrap(), 0)
        .await;
    let missing = AccountId::parse(999).unwrap();
    let err = bank
        .book(Movement::Transfer {
            from,
            to: missing,
            amount: amount(1),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::AccountNotFound(id) if id == missing));
    let err = bank
        .book(Movement::Transfer {
            from,
            to: dollars,
            amount: amount(1),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::CurrencyMismatch));
    assert_eq!(
        (bank.balance(from).await, bank.balance(dollars).await),
        (100, 0)
    );
}

#[tokio::test]
async fn concurrent_withdrawals_never_overdraw_and_keep_the_ledger_equal_to_the_balance() {
    let bank = Arc::new(bank().await);
    let owner = bank.user("ann@example.com").await;
    let id = bank.account(owner, eur(), 1000).await;
    // 200 withdrawals of 10 from 16 tasks against a balance of 1000: exactly 100 can succeed.
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let bank = bank.clone();
            tokio::spawn(async move {
                let mut outcomes = (0, 0);
                for _ in (task..200).step_by(16) {
                    match bank.book(Movement::Withdrawal(id, amount(10))).await {
                        Ok(_) => outcomes.0 += 1,
                        Err(domain::Error::InsufficientFunds { .. }) => outcomes.1 += 1,
                        Err(other) => panic!("{other:?}"),
                    }
                }
                outcomes
            })
        })
        .collect();
    let (mut succeeded, mut refused) = (0, 0);
    for task in tasks {
        let (ok, no) = task.await.unwrap();
        succeeded += ok;
        refused += no;
    }
    assert_eq!((succeeded, refused), (100, 100));
    assert_eq!(bank.balance(id).await, 0);
    assert_eq!(bank.ledger_sum(id).await, 0);
}

#[tokio::test]
async fn opposite_transfers_at_once_neither_deadlock_nor_lose_money() {
    let bank = Arc::new(bank().await);
    let owner = bank.user("ann@example.com").await;
    let (a, b) = (
        bank.account(owner, eur(), 500).await,
        bank.account(owner, eur(), 500).await,
    );
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let bank = bank.clone();
            let (from, to) = if n % 2 == 0 { (a, b) } else { (b, a) };
            tokio::spawn(async move {
                bank.book(Movement::Transfer {
                    from,
                    to,
                    amount: amount(7),
                })
                .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let (balance_a, balance_b) = (bank.balance(a).await, bank.balance(b).await);
    assert_eq!(balance_a + balance_b, 1000);
    assert_eq!(bank.ledger_sum(a).await, balance_a);
    assert_eq!(bank.ledger_sum(b).await, balance_b);
}

fn request(owner: UserId, key: &str, description: &str) -> IdempotentRequest {
    IdempotentRequest {
        owner,
        key: IdempotencyKey::parse(key).unwrap(),
        request: description.to_owned(),
    }
}

#[tokio::test]
async fn idempotency_claim_completes_with_the_booking_and_replays_after() {
    let bank = bank().await;
    let owner = bank.user("ann@example.com").await;
    let id = bank.account(owner, eur(), 0).await;
    let movement = Movement::Deposit(id, amount(5));
    let first = request(owner, "k1", &movement.describe());
    let Begin::Execute(claim) = bank.keys.begin(&first).await.unwrap() else {
        panic!("a fresh key is claimed");
    };
    assert_eq!(bank.keys.begin(&first).await.unwrap(), Begin::InFlight);
    let booked = bank
        .book_under(Reach::Everything, movement, Some(&claim))
        .await
        .unwrap();
    assert_eq!(
        bank.keys.begin(&first).await.unwrap(),
        Begin::Replay(booked.outcome())
    );
    let other = request(owner, "k1", &Movement::Deposit(id, amount(6)).describe());
    assert_eq!(bank.keys.begin(&other).await.unwrap(), Begin::Mismatch);
    // Keys are per user.
    let someone_else = bank.user("bob@example.com").await;
    assert!(matches!(
        bank.keys
            .begin(&request(someone_else, "k1", "x"))
            .await
            .unwrap(),
        Begin::Execute(_)
    ));
}

#[tokio::test]
async fn insufficient_funds_under_a_key_is_recorded_and_a_released_key_is_free_again() {
    let bank = bank().await;
    let owner = bank.user("ann@example.com").await;
    let id = bank.account(owner, eur(), 3).await;
    let service = domain::accounts::AccountService::new(
        Arc::new(bank.accounts.clone()),
        Arc::new(SqlIdempotencyStore::new(bank.db.db.clone())),
        bank.db.db.wakeups(),
    );
    let admin = domain::principal::Principal {
        user_id: owner,
        is_admin: true,
    };
    let key = || Some(IdempotencyKey::parse("k2").unwrap());
    let refused = service
        .book_on_account(&admin, Movement::Withdrawal(id, amount(5)), key())
        .await;
    assert!(matches!(
        refused.result,
        Err(domain::Error::InsufficientFunds { .. })
    ));
    // The refusal is the key's outcome now: a repeat after a deposit gets the same 402.
    bank.book(Movement::Deposit(id, amount(10))).await.unwrap();
    let repeated = service
        .book_on_account(&admin, Movement::Withdrawal(id, amount(5)), key())
        .await;
    assert!(repeated.replayed);
    assert!(matches!(
        repeated.result,
        Err(domain::Error::InsufficientFunds {
            balance: 3,
            required: 5
        })
    ));
    assert_eq!(bank.balance(id).await, 13, "the repeat moved nothing");
    let fresh = request(owner, "k3", "anything");
    let Begin::Execute(claim) = bank.keys.begin(&fresh).await.unwrap() else {
        panic!("claimed");
    };
    bank.keys.release(claim).await.unwrap();
    assert!(matches!(
        bank.keys.begin(&fresh).await.unwrap(),
        Begin::Execute(_)
    ));
}

#[tokio::test]
async fn a_claim_whose_lease_ran_out_is_taken_over_and_its_holder_cannot_complete() {
    let bank = bank().await;
    let owner = bank.user("ann@example.com").await;
    let id = bank.account(owner, eur(), 0).await;
    let movement = Movement::Deposit(id, amount(5));
    let req = request(owner, "k4", &movement.describe());
    let Begin::Execute(stale) = bank.keys.begin(&req).await.unwrap() else {
        panic!("claimed");
    };
    // Its holder "died": the lease runs out.
    crate::idempotency::entity::Entity::update_many()
        .col_expr(
            crate::idempotency::entity::Column::LeaseUntil,
            (Utc::now() - chrono::Duration::seconds(1)).into(),
        )
        .exec(bank.db.db.conn())
        .await
        .unwrap();
    let Begin::Execute(taken) = bank.keys.begin(&req).await.unwrap() else {
        panic!("taken over");
    };
    bank.book_under(Reach::Everything, movement, Some(&taken))
        .await
        .unwrap();
    let err = bank
        .book_under(Reach::Everything, movement, Some(&stale))
        .await
        .unwrap_err();
    assert!(
        matches!(err, domain::Error::IdempotencyKeyInFlight),
        "{err:?}"
    );
    assert_eq!(bank.balance(id).await, 5, "the money moved once");
}

#[tokio::test]
async fn keys_older_than_a_day_are_forgotten() {
    let bank = bank().await;
    let owner = bank.user("ann@example.com").await;
    let req = request(owner, "old", "deposit");
    bank.keys.begin(&req).await.unwrap();
    crate::idempotency::entity::Entity::update_many()
        .col_expr(
            crate::idempotency::entity::Column::CreatedAt,
            (Utc::now() - chrono::Duration::hours(25)).into(),
        )
        .exec(bank.db.db.conn())
        .await
        .unwrap();
    let other_request_same_key = request(owner, "old", "withdrawal");
    assert!(
        matches!(
            bank.keys.begin(&other_request_same_key).await.unwrap(),
            Begin::Execute(_)
        ),
        "an expired key is free again"
    );
    crate::idempotency::entity::Entity::update_many()
        .col_expr(
            crate::idempotency::entity::Column::CreatedAt,
            (Utc::now() - chrono::Duration::hours(25)).into(),
        )
        .exec(bank.db.db.conn())
        .await
        .unwrap();
    assert_eq!(bank.keys.purge_expired().await.unwrap(), 1);
}

#[tokio::test]
async fn a_user_with_money_stays_and_one_with_empty_accounts_goes_with_them() {
    let bank = bank().await;
    let rich = bank.user("rich@example.com").await;
    bank.account(rich, eur(), 10).await;
    let err = bank
        .users
        .delete(
            rich,
            deletion_rule(rich, domain::precondition::Precondition::none()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::UserHasFunds), "{err:?}");
    let poor = bank.user("poor@example.com").await;
    let empty = bank.account(poor, eur(), 5).await;
    bank.book(Movement::Withdrawal(empty, amount(5)))
        .await
        .unwrap();
    bank.users
        .delete(
            poor,
            deletion_rule(poor, domain::precondition::Precondition::none()),
        )
        .await
        .unwrap();
    assert_eq!(
        bank.accounts.get(empty).await.unwrap(),
        None,
        "accounts go with their owner"
    );
    assert!(
        bank.accounts
            .transactions(empty, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

mod properties {
    use super::*;
    use proptest::{prelude::*, test_runner::TestRunner};

    #[derive(Debug, Clone)]
    enum Step {
        Deposit(usize, i64),
        Withdraw(usize, i64),
        Transfer(usize, usize, i64),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let amount = 1i64..=500;
        let step = prop_oneof![
            (0usize..3, amount.clone()).prop_map(|(a, n)| Step::Deposit(a, n)),
            (0usize..3, amount.clone()).prop_map(|(a, n)| Step::Withdraw(a, n)),
            (0usize..3, 0usize..3, amount).prop_map(|(a, b, n)| Step::Transfer(a, b, n)),
        ];
        proptest::collection::vec(step, 1..40)
    }

    /// Runs `steps` on three new accounts and checks every invariant: each balance is
    /// non-negative, equals its ledger's sum and equals what a plain model of the rules says.
    async fn check(bank: &Bank, owner: UserId, steps: Vec<Step>) -> Result<(), TestCaseError> {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(bank.account(owner, eur(), 0).await);
        }
        let mut model = [0i64; 3];
        for step in steps {
            let (movement, expected) = match step {
                Step::Deposit(a, n) => (Movement::Deposit(ids[a], amount(n)), Some((a, n, None))),
                Step::Withdraw(a, n) => {
                    let ok = model[a] >= n;
                    (
                        Movement::Withdrawal(ids[a], amount(n)),
                        ok.then_some((a, -n, None)),
                    )
                }
                Step::Transfer(a, b, n) => {
                    let ok = a != b && model[a] >= n;
                    let movement = Movement::Transfer {
                        from: ids[a],
                        to: ids[b],
                        amount: amount(n),
                    };
                    (movement, ok.then_some((a, -n, Some((b, n)))))
                }
            };
            let result = bank.book(movement).await;
            match expected {
                Some((a, delta, other)) => {
                    prop_assert!(result.is_ok(), "{movement:?}: {result:?}");
                    model[a] += delta;
                    if let Some((b, credit)) = other {
                        model[b] += credit;
                    }
                }
                None => prop_assert!(result.is_err(), "{movement:?} should fail"),
            }
        }
        for (index, id) in ids.iter().enumerate() {
            let balance = bank.balance(*id).await;
            prop_assert!(balance >= 0);
            prop_assert_eq!(balance, model[index]);
            prop_assert_eq!(bank.ledger_sum(*id).await, balance);
        }
        Ok(())
    }

    /// Random sequences of deposits, withdrawals and transfers keep every invariant. One
    /// database serves every case (each on accounts of its own), so the property costs cases,
    /// not database set-ups.
    #[test]
    fn random_movements_keep_every_invariant() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let bank = runtime.block_on(bank());
        let owner = runtime.block_on(bank.user("ann@example.com"));
        let mut runner = TestRunner::new(ProptestConfig {
            cases: 64,
            ..ProptestConfig::default()
        });
        let outcome = runner.run(&steps(), |steps| {
            runtime.block_on(check(&bank, owner, steps))
        });
        runtime.block_on(async move { drop(bank) });
        outcome.unwrap();
    }
}

#[tokio::test]
async fn only_accounts_within_reach_move_and_a_refusal_writes_nothing() {
    let bank = bank().await;
    let ann = bank.user("ann@example.com").await;
    let bob = bank.user("bob@example.com").await;
    let anns = bank.account(ann, eur(), 100).await;
    let bobs = bank.account(bob, eur(), 0).await;
    for movement in [
        Movement::Withdrawal(anns, amount(1)),
        Movement::Deposit(anns, amount(1)),
        transfer(anns, bobs, 1),
    ] {
        let err = bank
            .book_as(Reach::OwnedBy(bob), movement)
            .await
            .unwrap_err();
        assert!(
            matches!(err, domain::Error::Forbidden(_)),
            "{movement:?}: {err:?}"
        );
    }
    // Bob may send from his own account to Ann's, when he has the money.
    let err = bank
        .book_as(Reach::OwnedBy(bob), transfer(bobs, anns, 1))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        domain::Error::InsufficientFunds {
            balance: 0,
            required: 1
        }
    ));
    assert_eq!(
        (bank.balance(anns).await, bank.balance(bobs).await),
        (100, 0)
    );
    assert_eq!(bank.ledger_sum(anns).await, 100);
    bank.book_as(Reach::OwnedBy(ann), transfer(anns, bobs, 30))
        .await
        .unwrap();
    assert_eq!(
        (bank.balance(anns).await, bank.balance(bobs).await),
        (70, 30)
    );
}

#[tokio::test]
async fn a_transfer_refused_on_its_second_account_leaves_the_first_untouched() {
    let bank = bank().await;
    let owner = bank.user("ann@example.com").await;
    // Lower id first: the source is debited before the target's currency is seen.
    let euros = bank.account(owner, eur(), 50).await;
    let dollars = bank
        .account(owner, Currency::parse("USD").unwrap(), 0)
        .await;
    let err = bank.book(transfer(euros, dollars, 10)).await.unwrap_err();
    assert!(matches!(err, domain::Error::CurrencyMismatch));
    // Higher id first: the target is credited before the source is found short.
    let rich = bank.account(owner, eur(), 0).await;
    let err = bank.book(transfer(rich, euros, 10)).await.unwrap_err();
    assert!(matches!(err, domain::Error::InsufficientFunds { .. }));
    assert_eq!(
        (
            bank.balance(euros).await,
            bank.balance(dollars).await,
            bank.balance(rich).await
        ),
        (50, 0, 0)
    );
    assert_eq!(bank.ledger_sum(euros).await, 50);
}

fn transfer(from: AccountId, to: AccountId, cents: i64) -> Movement {
    Movement::Transfer {
        from,
        to,
        amount: amount(cents),
    }
}

#[tokio::test]
async fn the_ledger_reads_oldest_first_after_a_cursor_and_a_booking_wakes_both_accounts_followers()
{
    let bank = bank().await;
    let owner = bank.user("ann@example.com").await;
    let from = bank.account(owner, eur(), 100).await;
    let to = bank.account(owner, eur(), 0).await;
    bank.db.db.hearing().await;
    let changes = bank.db.db.wakeups();
    let mut watches = [from, to].map(|id| changes.watch(domain::streams::Topic::Account(id)));
    bank.book(transfer(from, to, 30)).await.unwrap();
    for watch in &mut watches {
        tokio::time::timeout(Duration::from_secs(1), watch.changed())
            .await
            .expect("a follower of each account is woken");
    }
    bank.book(Movement::Withdrawal(from, amount(5)))
        .await
        .unwrap();
    let all = bank
        .accounts
        .transactions_after(from, None, 10)
        .await
        .unwrap();
    let kinds: Vec<_> = all
        .iter()
        .map(|t| (t.kind.as_str(), t.balance_after))
        .collect();
    assert_eq!(
        kinds,
        [("deposit", 100), ("transfer_out", 70), ("withdrawal", 65)]
    );
    let after = bank
        .accounts
        .transactions_after(from, Some(all[0].id), 1)
        .await
        .unwrap();
    assert_eq!(after, [all[1].clone()], "after the cursor, limited");
    let theirs = bank
        .accounts
        .transactions_after(to, None, 10)
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1, "each account's own rows");
}

#[tokio::test]
async fn storage_refuses_by_the_plans_conditions_alone_and_hands_back_the_accounts_as_found() {
    // Storage decides no refusal: whatever condition of the plan fails (cover, owner,
    // currency, a missing account), it writes nothing and answers `Refused` with the accounts
    // as they are, never a refusal of its own; the plan names it.
    let bank = bank().await;
    let ann = bank.user("ann@example.com").await;
    let bob = bank.user("bob@example.com").await;
    let euros = bank.account(ann, eur(), 50).await;
    let dollars = bank.account(ann, Currency::parse("USD").unwrap(), 0).await;
    let missing = AccountId::parse(999_999).unwrap();
    let cases = [
        (Reach::Everything, Movement::Withdrawal(euros, amount(51))),
        (Reach::OwnedBy(bob), Movement::Withdrawal(euros, amount(1))),
        (Reach::Everything, transfer(euros, dollars, 1)),
        (Reach::Everything, transfer(euros, missing, 1)),
        (Reach::Everything, Movement::Deposit(missing, amount(1))),
    ];
    for (reach, movement) in cases {
        let plan = Plan::new(movement, reach).unwrap();
        let booking = bank.accounts.book(&plan, None, now()).await;
        let Ok(Booking::Refused { source, target }) = booking else {
            panic!("{movement:?}: storage answered {booking:?}, not the accounts it found");
        };
        let (source_id, target_id) = plan.accounts();
        let found = |id: AccountId, account: Option<Account>| match account {
            Some(account) => assert_eq!(account.id, id, "{movement:?}"),
            None => assert_eq!(id, missing, "{movement:?}: an existing account not found"),
        };
        found(source_id, source);
        if let Some(target_id) = target_id {
            found(target_id, target);
        }
    }
    assert_eq!(bank.balance(euros).await, 50);
    assert_eq!(bank.ledger_sum(euros).await, 50);
}
