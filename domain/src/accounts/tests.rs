use super::*;
use crate::principal::Reach;
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

fn id(n: i64) -> AccountId {
    AccountId::parse(n).unwrap()
}

fn transfer(from: i64, to: i64, n: i64) -> Movement {
    Movement::Transfer {
        from: id(from),
        to: id(to),
        amount: amount(n),
    }
}

fn refusal(
    movement: Movement,
    reach: Reach,
    found: (Option<&Account>, Option<&Account>),
) -> Option<Error> {
    Plan::new(movement, reach)
        .unwrap()
        .refusal(found.0, found.1)
}

#[test]
fn a_transfer_plans_a_debit_covered_and_a_credit_with_room_in_one_currency_in_id_order() {
    let plan = Plan::new(transfer(2, 1, 30), Reach::Everything).unwrap();
    let credit = Leg {
        account: id(1),
        kind: TransactionKind::TransferIn,
        change: 30,
        bound: Bound::AtMost(i64::MAX - 30),
        owner: None,
        currency_of: Some(id(2)),
    };
    let debit = Leg {
        account: id(2),
        kind: TransactionKind::TransferOut,
        change: -30,
        bound: Bound::AtLeast(30),
        owner: None,
        currency_of: None,
    };
    assert_eq!(
        plan.legs_in_lock_order().collect::<Vec<_>>(),
        [credit, debit]
    );
    assert_eq!(plan.legs().collect::<Vec<_>>(), [debit, credit]);
    assert_eq!(plan.shape(), Shape::Transfer { debit, credit });
    assert_eq!(plan.accounts(), (id(2), Some(id(1))));
    assert_eq!(plan.amount(), amount(30));
}

#[test]
fn a_users_plan_names_them_as_the_owner_of_the_source_alone() {
    let deposit = Plan::new(Movement::Deposit(id(4), amount(5)), reach_of(9)).unwrap();
    let Shape::Single(leg) = deposit.shape() else {
        panic!("a deposit is one leg: {deposit:?}")
    };
    assert_eq!((leg.change, leg.owner), (5, UserId::parse(9).ok()));
    assert_eq!(leg.currency_of, None);
    let moved = Plan::new(transfer(2, 1, 30), reach_of(9)).unwrap();
    let Shape::Transfer { debit, credit } = moved.shape() else {
        panic!("a transfer is two legs: {moved:?}")
    };
    assert_eq!((debit.owner, credit.owner), (UserId::parse(9).ok(), None));
}

#[test]
fn transfer_to_the_same_account_is_refused_before_any_plan() {
    assert!(matches!(
        Plan::new(transfer(1, 1, 1), Reach::Everything),
        Err(Error::SameAccount)
    ));
}

#[test]
fn a_transfer_that_the_accounts_allow_has_no_refusal() {
    let (from, to) = (account(1, 100, "EUR"), account(2, 5, "EUR"));
    assert!(
        refusal(
            transfer(1, 2, 30),
            Reach::Everything,
            (Some(&from), Some(&to))
        )
        .is_none()
    );
}

#[test]
fn transfer_between_currencies_is_refused_before_funds_are_looked_at() {
    let (from, to) = (account(1, 0, "EUR"), account(2, 0, "USD"));
    assert!(matches!(
        refusal(
            transfer(1, 2, 1),
            Reach::Everything,
            (Some(&from), Some(&to))
        ),
        Some(Error::CurrencyMismatch)
    ));
}

#[test]
fn transfer_beyond_the_source_balance_is_insufficient_funds() {
    let (from, to) = (account(1, 10, "EUR"), account(2, 0, "EUR"));
    assert!(matches!(
        refusal(
            transfer(1, 2, 11),
            Reach::Everything,
            (Some(&from), Some(&to))
        ),
        Some(Error::InsufficientFunds {
            balance: 10,
            required: 11
        })
    ));
}

#[test]
fn a_credit_without_room_is_balance_overflow() {
    let (from, to) = (account(1, 10, "EUR"), account(2, i64::MAX - 2, "EUR"));
    assert!(matches!(
        refusal(
            transfer(1, 2, 3),
            Reach::Everything,
            (Some(&from), Some(&to))
        ),
        Some(Error::BalanceOverflow)
    ));
}

#[test]
fn only_insufficient_funds_is_recorded_under_a_key() {
    let refused = Error::InsufficientFunds {
        balance: 1,
        required: 2,
    };
    assert_eq!(
        recorded_refusal(&refused),
        Some(Outcome::InsufficientFunds {
            balance: 1,
            required: 2
        })
    );
    assert_eq!(recorded_refusal(&Error::BalanceOverflow), None);
    assert_eq!(recorded_refusal(&Error::AccountNotFound(id(1))), None);
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
fn a_refusal_is_named_in_the_order_of_the_rules() {
    let mine = account(1, 5, "EUR");
    let dollars = account(2, 0, "USD");
    // Missing source first, then someone else's, then a missing target, then currency, then money.
    assert!(matches!(
        refusal(transfer(1, 2, 9), reach_of(1), (None, Some(&dollars))),
        Some(Error::AccountNotFound(_))
    ));
    assert!(matches!(
        refusal(
            transfer(1, 2, 9),
            reach_of(7),
            (Some(&mine), Some(&dollars))
        ),
        Some(Error::Forbidden(_))
    ));
    assert!(
        matches!(refusal(transfer(1, 3, 9), reach_of(1), (Some(&mine), None)), Some(Error::AccountNotFound(a)) if a == id(3))
    );
    assert!(matches!(
        refusal(
            transfer(1, 2, 9),
            reach_of(1),
            (Some(&mine), Some(&dollars))
        ),
        Some(Error::CurrencyMismatch)
    ));
    let euros = account(2, 0, "EUR");
    assert!(matches!(
        refusal(transfer(1, 2, 9), reach_of(1), (Some(&mine), Some(&euros))),
        Some(Error::InsufficientFunds {
            balance: 5,
            required: 9
        })
    ));
}
