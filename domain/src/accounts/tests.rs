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
