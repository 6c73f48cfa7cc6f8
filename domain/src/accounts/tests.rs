use super::*;
use chrono::TimeZone;

fn account(id: i64, balance: i64, currency: &str) -> Account {
    Account {
        id: AccountId::parse(id).unwrap(),
        owner_id: UserId::parse(1).unwrap(),
        balance,
        currency: Currency::parse(currency).unwrap(),
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    }
}

fn amount(n: i64) -> Amount {
    Amount::parse(n).unwrap()
}

#[test]
fn withdrawal_beyond_the_balance_is_insufficient_funds_with_both_figures() {
    let err = account(1, 50, "EUR").debited(amount(80)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InsufficientFunds {
                balance: 50,
                required: 80
            }
        ),
        "{err:?}"
    );
}

#[test]
fn withdrawal_of_the_whole_balance_leaves_zero() {
    assert_eq!(account(1, 80, "EUR").debited(amount(80)).unwrap(), 0);
}

#[test]
fn deposit_that_would_overflow_the_balance_is_refused() {
    let rich = account(1, i64::MAX - 5, "EUR");
    assert_eq!(rich.credited(amount(5)).unwrap(), i64::MAX);
    assert!(matches!(
        rich.credited(amount(6)),
        Err(Error::BalanceOverflow)
    ));
}

#[test]
fn transfer_moves_the_amount_between_two_accounts_of_one_currency() {
    let (from, to) = (account(1, 100, "EUR"), account(2, 5, "EUR"));
    assert_eq!(transfer_balances(&from, &to, amount(30)).unwrap(), (70, 35));
}

#[test]
fn transfer_to_the_same_account_is_refused() {
    let same = account(1, 100, "EUR");
    assert!(matches!(
        transfer_balances(&same, &same, amount(1)),
        Err(Error::SameAccount)
    ));
    assert!(matches!(
        check_transfer_accounts(same.id, same.id),
        Err(Error::SameAccount)
    ));
}

#[test]
fn transfer_between_currencies_is_refused_before_funds_are_looked_at() {
    let (from, to) = (account(1, 0, "EUR"), account(2, 0, "USD"));
    assert!(matches!(
        transfer_balances(&from, &to, amount(1)),
        Err(Error::CurrencyMismatch)
    ));
}

#[test]
fn transfer_beyond_the_source_balance_is_insufficient_funds() {
    let (from, to) = (account(1, 10, "EUR"), account(2, 0, "EUR"));
    assert!(matches!(
        transfer_balances(&from, &to, amount(11)),
        Err(Error::InsufficientFunds {
            balance: 10,
            required: 11
        })
    ));
}

#[test]
fn movements_describe_themselves_canonically() {
    let id = AccountId::parse(5).unwrap();
    let other = AccountId::parse(6).unwrap();
    assert_eq!(
        Movement::Deposit(id, amount(100)).describe(),
        "deposit account=5 amount=100"
    );
    assert_ne!(
        Movement::Withdrawal(id, amount(100)).describe(),
        Movement::Withdrawal(other, amount(100)).describe()
    );
    let transfer = Movement::Transfer {
        from: id,
        to: other,
        amount: amount(7),
    };
    assert_eq!(transfer.source(), id);
    assert_eq!(transfer.describe(), "transfer from=5 to=6 amount=7");
}

#[test]
fn kinds_round_trip_and_know_their_sign() {
    for kind in TransactionKind::ALL {
        assert_eq!(TransactionKind::parse(kind.as_str()), Some(kind));
    }
    assert!(TransactionKind::Deposit.is_credit() && TransactionKind::TransferIn.is_credit());
    assert!(!TransactionKind::Withdrawal.is_credit() && !TransactionKind::TransferOut.is_credit());
    assert_eq!(TransactionKind::parse("refund"), None);
}

fn reach_of(owner: i64) -> Reach {
    Reach::OwnedBy(UserId::parse(owner).unwrap())
}

#[test]
fn plan_refuses_in_the_order_of_the_rules() {
    let mine = account(1, 5, "EUR");
    let dollars = account(2, 0, "USD");
    let id = |n| AccountId::parse(n).unwrap();
    let transfer = |to, n| Movement::Transfer {
        from: id(1),
        to: id(to),
        amount: amount(n),
    };
    // Missing source first, then someone else's, then a missing target, then currency, then money.
    assert!(matches!(
        plan(transfer(2, 9), reach_of(1), None, Some(&dollars)),
        Err(Error::AccountNotFound(_))
    ));
    assert!(matches!(
        plan(transfer(2, 9), reach_of(7), Some(&mine), Some(&dollars)),
        Err(Error::Forbidden(_))
    ));
    assert!(
        matches!(plan(transfer(3, 9), reach_of(1), Some(&mine), None), Err(Error::AccountNotFound(a)) if a == id(3))
    );
    assert!(matches!(
        plan(transfer(2, 9), reach_of(1), Some(&mine), Some(&dollars)),
        Err(Error::CurrencyMismatch)
    ));
    let euros = account(2, 0, "EUR");
    assert!(matches!(
        plan(transfer(2, 9), reach_of(1), Some(&mine), Some(&euros)),
        Err(Error::InsufficientFunds {
            balance: 5,
            required: 9
        })
    ));
}

#[test]
fn plan_books_the_entries_a_movement_writes() {
    let (a, b) = (account(1, 50, "EUR"), account(2, 0, "EUR"));
    let entries = plan(
        Movement::Transfer {
            from: a.id,
            to: b.id,
            amount: amount(20),
        },
        Reach::Everything,
        Some(&a),
        Some(&b),
    )
    .unwrap();
    let summary: Vec<_> = entries
        .iter()
        .map(|e| (e.account.id, e.kind, e.balance_after))
        .collect();
    assert_eq!(
        summary,
        [
            (a.id, TransactionKind::TransferOut, 30),
            (b.id, TransactionKind::TransferIn, 20)
        ]
    );
    let deposit = plan(
        Movement::Deposit(a.id, amount(1)),
        reach_of(1),
        Some(&a),
        None,
    )
    .unwrap();
    assert_eq!(
        (deposit[0].kind, deposit[0].balance_after),
        (TransactionKind::Deposit, 51)
    );
}
