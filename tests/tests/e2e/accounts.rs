//! Money over a real socket, through the generated client: deposits, a refused withdrawal, a
//! transfer, and a retried request that must not move money twice.

use client::types;
use e2e::{
    Service,
    typed::{amount, id, refused},
};

#[tokio::test]
async fn money_moves_once_per_key_and_never_below_zero() {
    let service = Service::start().await;
    let mut accounts = Vec::new();
    let mut clients = Vec::new();
    for (name, email) in [("Ann", "ann@example.com"), ("Bob", "bob@example.com")] {
        let user = service.signup(name, email).await;
        let api = service.api(&user.token);
        let opened = api
            .accounts_create(&types::AccountIn {
                owner_id: id(user.id),
                currency: None,
            })
            .await
            .unwrap();
        assert_eq!(opened.status(), 201);
        accounts.push(opened.into_inner());
        clients.push(api);
    }
    let (ann, anns, bobs) = (&clients[0], id(accounts[0].id), id(accounts[1].id));

    let key: types::DepositsCreateIdempotencyKey = "salary-11".try_into().unwrap();
    let first = ann
        .deposits_create(anns, Some(&key), &amount(500))
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let retry = ann
        .deposits_create(anns, Some(&key), &amount(500))
        .await
        .unwrap();
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.into_inner().id, first.into_inner().id);

    let short = refused(ann.withdrawals_create(anns, None, &amount(501)).await, 402);
    assert_eq!(
        (short.title.as_str(), short.balance, short.required),
        ("Insufficient Funds", Some(500), Some(501))
    );
    assert_eq!(short.type_, "/problems/insufficient-funds");

    let rent: types::TransfersCreateIdempotencyKey = "rent".try_into().unwrap();
    let transfer = types::TransferIn {
        from_account_id: anns,
        to_account_id: bobs,
        amount: amount(200).amount,
    };
    let moved = ann.transfers_create(Some(&rent), &transfer).await.unwrap();
    assert_eq!(moved.status(), 201);

    let anns_balance = ann.accounts_get(anns, None).await.unwrap().balance;
    let bobs_balance = clients[1].accounts_get(bobs, None).await.unwrap().balance;
    assert_eq!((anns_balance, bobs_balance), (300, 200));
    let ledger = ann.transactions_list(anns, None, None, None).await.unwrap();
    let kinds: Vec<types::TransactionKind> = ledger.items.iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        [
            types::TransactionKind::TransferOut,
            types::TransactionKind::Deposit
        ]
    );
    // Someone else's account is forbidden, a missing one is not found.
    refused(clients[1].accounts_get(anns, None).await, 403);
    refused(ann.accounts_get(id(999), None).await, 404);
}
