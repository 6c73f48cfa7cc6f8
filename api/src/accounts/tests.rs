use crate::test_support::{Member, Reply, TestApp, test_app};
use poem::http::Method;
use serde_json::{Value, json};

async fn open(app: &TestApp, who: &Member, currency: Option<&str>) -> Value {
    let owner = who.user["id"].clone();
    let body = match currency {
        Some(currency) => json!({"owner_id": owner, "currency": currency}),
        None => json!({"owner_id": owner}),
    };
    let reply = app
        .send(Method::POST, "/accounts", Some(&who.token), Some(&body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

async fn money(app: &TestApp, token: &str, uri: &str, amount: i64, key: Option<&str>) -> Reply {
    let mut request = app
        .client
        .post(uri)
        .header("authorization", format!("Bearer {token}"))
        .content_type("application/json")
        .body(json!({"amount": amount}).to_string());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    Reply::of(request.send().await).await
}

async fn transfer(app: &TestApp, token: &str, body: Value, key: Option<&str>) -> Reply {
    let mut request = app
        .client
        .post("/transfers")
        .header("authorization", format!("Bearer {token}"))
        .content_type("application/json")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    Reply::of(request.send().await).await
}

fn deposits(account: &Value) -> String {
    format!("/accounts/{}/deposits", account["id"])
}

fn withdrawals(account: &Value) -> String {
    format!("/accounts/{}/withdrawals", account["id"])
}

async fn balance(app: &TestApp, token: &str, account: &Value) -> i64 {
    let uri = format!("/accounts/{}", account["id"]);
    let reply = app.send(Method::GET, &uri, Some(token), None).await;
    reply.body["balance"].as_i64().unwrap()
}

// --- accounts ----------------------------------------------------------------------------------

#[tokio::test]
async fn opening_an_account_is_201_empty_in_eur_by_default() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = app
        .send(
            Method::POST,
            "/accounts",
            Some(&ann.token),
            Some(&json!({"owner_id": ann.user["id"]})),
        )
        .await;
    assert_eq!(reply.status, 201);
    let id = reply.body["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/accounts/{id}").as_str())
    );
    assert_eq!(reply.body["balance"], 0);
    assert_eq!(reply.body["currency"], "EUR");
    assert_eq!(reply.body["owner_id"], ann.user["id"]);
    assert!(reply.body["created_at"].as_str().unwrap().ends_with('Z'));
    let dollars = open(&app, &ann, Some("USD")).await;
    assert_eq!(dollars["currency"], "USD");
    let got = app
        .send(
            Method::GET,
            &format!("/accounts/{id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(got.body, reply.body);
}

#[tokio::test]
async fn opening_an_account_for_someone_else_is_403_and_for_nobody_422() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let body = json!({"owner_id": bob.user["id"]});
    let reply = app
        .send(Method::POST, "/accounts", Some(&ann.token), Some(&body))
        .await;
    reply.assert_problem(403, "/accounts");
    let admin = app.admin().await;
    let reply = app
        .send(Method::POST, "/accounts", Some(&admin), Some(&body))
        .await;
    assert_eq!(reply.status, 201, "an admin opens accounts for anyone");
    let nobody = json!({"owner_id": 999_999});
    let reply = app
        .send(Method::POST, "/accounts", Some(&admin), Some(&nobody))
        .await;
    reply.assert_problem(422, "/accounts");
    assert_eq!(
        reply.error_locs(),
        [("body.owner_id".into(), "user_not_found".into())]
    );
}

#[tokio::test]
async fn invalid_account_members_are_422_each() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let body = json!({"owner_id": "one", "currency": "euro"});
    let reply = app
        .send(Method::POST, "/accounts", Some(&ann.token), Some(&body))
        .await;
    assert_eq!(
        reply.error_locs(),
        [
            ("body.currency".into(), "currency_invalid".into()),
            ("body.owner_id".into(), "int_type".into()),
        ]
    );
}

#[tokio::test]
async fn accounts_are_private_to_their_owner_403_and_missing_ones_404() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let account = open(&app, &ann, None).await;
    let uri = format!("/accounts/{}", account["id"]);
    let reply = app.send(Method::GET, &uri, Some(&bob.token), None).await;
    reply.assert_problem(403, &uri);
    for path in [
        format!("{uri}/transactions"),
        format!("{uri}/transactions/1"),
    ] {
        let reply = app.send(Method::GET, &path, Some(&bob.token), None).await;
        reply.assert_problem(403, &path);
    }
    let reply = money(&app, &bob.token, &deposits(&account), 5, None).await;
    reply.assert_problem(403, &deposits(&account));
    let admin = app.admin().await;
    assert_eq!(
        app.send(Method::GET, &uri, Some(&admin), None).await.status,
        200
    );
    let reply = app
        .send(Method::GET, "/accounts/424242", Some(&ann.token), None)
        .await;
    reply.assert_problem(404, "/accounts/424242");
    let reply = app
        .send(Method::GET, "/accounts/zero", Some(&ann.token), None)
        .await;
    reply.assert_problem(422, "/accounts/zero");
}

// --- deposits, withdrawals, the ledger ------------------------------------------------------

#[tokio::test]
async fn deposit_is_201_with_a_location_that_reads_back() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    let reply = money(&app, &ann.token, &deposits(&account), 250, None).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["kind"], "deposit");
    assert_eq!(reply.body["amount"], 250);
    assert_eq!(reply.body["balance_after"], 250);
    assert_eq!(reply.body["account_id"], account["id"]);
    assert!(reply.header("idempotent-replayed").is_none());
    let location = reply.header("location").unwrap().to_owned();
    assert_eq!(
        location,
        format!(
            "/accounts/{}/transactions/{}",
            account["id"], reply.body["id"]
        )
    );
    let got = app
        .send(Method::GET, &location, Some(&ann.token), None)
        .await;
    assert_eq!(got.body, reply.body);
    assert_eq!(balance(&app, &ann.token, &account).await, 250);
}

#[tokio::test]
async fn withdrawal_beyond_balance_is_402_insufficient_funds_with_balance_and_required() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    money(&app, &ann.token, &deposits(&account), 100, None).await;
    let uri = withdrawals(&account);
    let reply = money(&app, &ann.token, &uri, 130, None).await;
    let problem = reply.assert_problem(402, &uri);
    assert_eq!(problem["title"], "Insufficient Funds");
    assert_eq!(problem["type"], "/problems/insufficient-funds");
    assert_eq!(problem["balance"], 100);
    assert_eq!(problem["required"], 130);
    assert_eq!(balance(&app, &ann.token, &account).await, 100);
    let reply = money(&app, &ann.token, &uri, 100, None).await;
    assert_eq!(
        (reply.status, reply.body["balance_after"].as_i64()),
        (201, Some(0))
    );
    assert_eq!(reply.body["kind"], "withdrawal");
}

#[tokio::test]
async fn amounts_outside_one_to_a_trillion_are_422_and_move_nothing() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    let uri = deposits(&account);
    for amount in [
        json!(0),
        json!(-5),
        json!(1_000_000_000_001_i64),
        json!(1.5),
        json!("10"),
    ] {
        let reply = Reply::of(
            app.client
                .post(&uri)
                .header("authorization", format!("Bearer {}", ann.token))
                .content_type("application/json")
                .body(json!({"amount": amount}).to_string())
                .send()
                .await,
        )
        .await;
        reply.assert_problem(422, &uri);
        assert_eq!(reply.error_locs()[0].0, "body.amount", "{amount}");
    }
    assert_eq!(balance(&app, &ann.token, &account).await, 0);
}

#[tokio::test]
async fn money_on_a_missing_account_is_404() {
    let app = test_app().await;
    let admin = app.admin().await;
    for uri in ["/accounts/77/deposits", "/accounts/77/withdrawals"] {
        let reply = money(&app, &admin, uri, 1, None).await;
        reply.assert_problem(404, uri);
    }
}

#[tokio::test]
async fn ledger_pages_newest_first_and_unknown_rows_are_404() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    let mut ids = Vec::new();
    for amount in 1..=5 {
        let reply = money(&app, &ann.token, &deposits(&account), amount, None).await;
        ids.push(reply.body["id"].as_i64().unwrap());
    }
    ids.reverse();
    let base = format!("/accounts/{}/transactions", account["id"]);
    let mut seen = Vec::new();
    let mut uri = format!("{base}?limit=2");
    loop {
        let reply = app.send(Method::GET, &uri, Some(&ann.token), None).await;
        assert_eq!(reply.status, 200);
        seen.extend(
            reply.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap()),
        );
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => {
                assert!(reply.header("link").unwrap().contains(cursor));
                uri = format!("{base}?limit=2&cursor={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let other = open(&app, &ann, None).await;
    let foreign = format!("/accounts/{}/transactions/{}", other["id"], ids[0]);
    let reply = app
        .send(Method::GET, &foreign, Some(&ann.token), None)
        .await;
    reply.assert_problem(404, &foreign);
    let reply = app
        .send(
            Method::GET,
            "/accounts/999/transactions",
            Some(&ann.token),
            None,
        )
        .await;
    reply.assert_problem(404, "/accounts/999/transactions");
    let bad = format!("{base}?cursor=nope");
    let reply = app.send(Method::GET, &bad, Some(&ann.token), None).await;
    assert_eq!(reply.error_locs()[0].0, "query.cursor");
}

// --- transfers ----------------------------------------------------------------------------------

#[tokio::test]
async fn transfer_is_201_and_books_out_and_in_rows() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let from = open(&app, &ann, None).await;
    let to = open(&app, &bob, None).await;
    money(&app, &ann.token, &deposits(&from), 100, None).await;
    let body = json!({"from_account_id": from["id"], "to_account_id": to["id"], "amount": 40});
    let reply = transfer(&app, &ann.token, body, None).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["from_account_id"], from["id"]);
    assert_eq!(reply.body["to_account_id"], to["id"]);
    assert_eq!(reply.body["amount"], 40);
    assert!(reply.body["id"].is_i64() && reply.body["created_at"].is_string());
    assert_eq!(balance(&app, &ann.token, &from).await, 60);
    assert_eq!(balance(&app, &bob.token, &to).await, 40);
    let bobs = format!("/accounts/{}/transactions", to["id"]);
    let ledger = app.send(Method::GET, &bobs, Some(&bob.token), None).await;
    assert_eq!(ledger.body["items"][0]["kind"], "transfer_in");
}

#[tokio::test]
async fn transfer_failures_are_402_404_422_403_and_move_nothing() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let from = open(&app, &ann, None).await;
    let dollars = open(&app, &ann, Some("USD")).await;
    let to = open(&app, &bob, None).await;
    money(&app, &ann.token, &deposits(&from), 10, None).await;
    let send = |to: &Value, amount: i64| json!({"from_account_id": from["id"], "to_account_id": to["id"], "amount": amount});

    let reply = transfer(&app, &ann.token, send(&to, 11), None).await;
    let problem = reply.assert_problem(402, "/transfers");
    assert_eq!(
        (problem["balance"].as_i64(), problem["required"].as_i64()),
        (Some(10), Some(11))
    );

    let reply = transfer(&app, &ann.token, send(&json!({"id": 999}), 1), None).await;
    reply.assert_problem(404, "/transfers");

    let reply = transfer(&app, &ann.token, send(&from, 1), None).await;
    reply.assert_problem(422, "/transfers");
    assert_eq!(
        reply.error_locs(),
        [("body.to_account_id".into(), "same_account".into())]
    );

    let reply = transfer(&app, &ann.token, send(&dollars, 1), None).await;
    assert_eq!(
        reply.error_locs(),
        [("body.to_account_id".into(), "currency_mismatch".into())]
    );

    let reply = transfer(&app, &bob.token, send(&to, 1), None).await;
    reply.assert_problem(403, "/transfers");

    assert_eq!(balance(&app, &ann.token, &from).await, 10);
    assert_eq!(balance(&app, &bob.token, &to).await, 0);
}

// --- idempotency keys -------------------------------------------------------------------------

#[tokio::test]
async fn repeat_with_the_same_key_replays_the_first_answer_and_moves_no_money() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    let uri = deposits(&account);
    let first = money(&app, &ann.token, &uri, 70, Some("pay-1")).await;
    assert_eq!(first.status, 201);
    assert!(first.header("idempotent-replayed").is_none());
    let again = money(&app, &ann.token, &uri, 70, Some("pay-1")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(balance(&app, &ann.token, &account).await, 70);
}

#[tokio::test]
async fn same_key_with_another_body_or_account_is_422_at_the_header() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    let other = open(&app, &ann, None).await;
    money(&app, &ann.token, &deposits(&account), 70, Some("pay-2")).await;
    for (uri, amount) in [
        (deposits(&account), 71),
        (deposits(&other), 70),
        (withdrawals(&account), 70),
    ] {
        let reply = money(&app, &ann.token, &uri, amount, Some("pay-2")).await;
        reply.assert_problem(422, &uri);
        assert_eq!(
            reply.error_locs(),
            [(
                "header.Idempotency-Key".into(),
                "idempotency_key_reused".into()
            )]
        );
    }
    assert_eq!(balance(&app, &ann.token, &account).await, 70);
    assert_eq!(balance(&app, &ann.token, &other).await, 0);
}

#[tokio::test]
async fn a_402_under_a_key_is_replayed_even_after_the_money_arrived() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    let uri = withdrawals(&account);
    let first = money(&app, &ann.token, &uri, 50, Some("w-1")).await;
    first.assert_problem(402, &uri);
    money(&app, &ann.token, &deposits(&account), 100, None).await;
    let again = money(&app, &ann.token, &uri, 50, Some("w-1")).await;
    again.assert_problem(402, &uri);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(balance(&app, &ann.token, &account).await, 100);
}

#[tokio::test]
async fn keys_are_per_user_and_a_refused_request_frees_its_key() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let bob = app.signup("Bob", "bob@example.com").await;
    let anns = open(&app, &ann, None).await;
    let bobs = open(&app, &bob, None).await;
    assert_eq!(
        money(&app, &ann.token, &deposits(&anns), 5, Some("same"))
            .await
            .status,
        201
    );
    assert_eq!(
        money(&app, &bob.token, &deposits(&bobs), 9, Some("same"))
            .await
            .status,
        201
    );
    // Refused before anything moved (someone else's account): the key stays free.
    let reply = money(&app, &ann.token, &deposits(&bobs), 1, Some("free")).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        money(&app, &ann.token, &deposits(&anns), 1, Some("free"))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn a_key_whose_account_was_deleted_since_is_404_and_moves_nothing() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    let admin = app.admin().await;
    let uri = deposits(&account);
    assert_eq!(money(&app, &admin, &uri, 5, Some("gift")).await.status, 201);
    money(&app, &admin, &withdrawals(&account), 5, None).await;
    let reply = app.send(Method::DELETE, &ann.uri, Some(&admin), None).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    // The ledger row the key recorded went with the account: nothing is left to replay.
    let reply = money(&app, &admin, &uri, 5, Some("gift")).await;
    reply.assert_problem(404, &uri);
}

#[tokio::test]
async fn invalid_idempotency_key_is_422_at_the_header() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    let uri = deposits(&account);
    let long = "k".repeat(256);
    let reply = money(&app, &ann.token, &uri, 5, Some(&long)).await;
    reply.assert_problem(422, &uri);
    assert_eq!(
        reply.error_locs(),
        [(
            "header.Idempotency-Key".into(),
            "idempotency_key_invalid".into()
        )]
    );
}

#[tokio::test]
async fn concurrent_repeats_move_money_once_and_answer_201_or_409() {
    let app = std::sync::Arc::new(test_app().await);
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    let uri = deposits(&account);
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (app, token, uri) = (app.clone(), ann.token.clone(), uri.clone());
            tokio::spawn(async move { money(&app, &token, &uri, 30, Some("burst")).await })
        })
        .collect();
    let mut fresh = 0;
    let mut bodies = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            201 => {
                if reply.header("idempotent-replayed").is_none() {
                    fresh += 1;
                }
                bodies.push(reply.body);
            }
            409 => {}
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!(fresh, 1, "exactly one request executed");
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "every 201 is the same answer"
    );
    assert_eq!(balance(&app, &ann.token, &account).await, 30);
}

// --- users with money ---------------------------------------------------------------------------

#[tokio::test]
async fn a_user_with_money_cannot_be_deleted_409_until_the_accounts_are_empty() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    money(&app, &ann.token, &deposits(&account), 20, None).await;
    let reply = app
        .send(Method::DELETE, &ann.uri, Some(&ann.token), None)
        .await;
    let body = reply.assert_problem(409, &ann.uri);
    assert_eq!(body["type"], "/problems/user-has-funds");
    money(&app, &ann.token, &withdrawals(&account), 20, None).await;
    let reply = app
        .send(Method::DELETE, &ann.uri, Some(&ann.token), None)
        .await;
    assert_eq!(reply.status, 204);
    let admin = app.admin().await;
    let uri = format!("/accounts/{}", account["id"]);
    let reply = app.send(Method::GET, &uri, Some(&admin), None).await;
    reply.assert_problem(404, &uri);
}

#[tokio::test]
async fn a_key_that_is_sent_but_not_ascii_is_422_and_moves_nothing() {
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    let uri = deposits(&account);
    let key = poem::http::HeaderValue::from_bytes("café".as_bytes()).unwrap();
    let reply = Reply::of(
        app.client
            .post(&uri)
            .header("authorization", format!("Bearer {}", ann.token))
            .header("idempotency-key", key)
            .content_type("application/json")
            .body(json!({"amount": 5}).to_string())
            .send()
            .await,
    )
    .await;
    reply.assert_problem(422, &uri);
    assert_eq!(
        reply.error_locs(),
        [(
            "header.Idempotency-Key".into(),
            "idempotency_key_invalid".into()
        )]
    );
    assert_eq!(balance(&app, &ann.token, &account).await, 0);
}

#[tokio::test]
async fn following_an_account_streams_each_booking_from_now_on_and_replays_from_a_cursor() {
    use crate::test_support::sse_events;
    use std::time::Duration;
    let app = test_app().await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let account = open(&app, &ann, None).await;
    let first = money(&app, &ann.token, &deposits(&account), 500, None).await;
    assert_eq!(first.status, 201);
    let events = format!("/accounts/{}/events", account["id"]);
    let follow = |last: Option<&str>| {
        let mut request = app
            .client
            .get(&events)
            .header("authorization", format!("Bearer {}", ann.token));
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        request.send()
    };
    let resp = follow(None).await;
    resp.assert_status_is_ok();
    let mut live = resp.0.into_body().into_bytes_stream();
    let hint = sse_events(&mut live, 1, Duration::from_secs(5)).await;
    assert_eq!(
        hint[0].retry,
        Some(2000),
        "from now on: the deposit before is not sent"
    );
    let second = money(&app, &ann.token, &withdrawals(&account), 200, None).await;
    assert_eq!(second.status, 201);
    let booked = sse_events(&mut live, 1, Duration::from_secs(5)).await;
    let event = &booked[0];
    assert_eq!(event.event.as_deref(), Some("transaction"));
    assert_eq!(event.id, Some(second.body["id"].to_string()));
    let data = event.data.as_ref().unwrap();
    assert_eq!(
        (&data["kind"], &data["balance_after"]),
        (&json!("withdrawal"), &json!(300))
    );
    // From the first transaction on: both, in order.
    let mut replayed = follow(Some("0")).await.0.into_body().into_bytes_stream();
    let both = sse_events(&mut replayed, 3, Duration::from_secs(5)).await;
    let ids: Vec<_> = both.iter().filter_map(|e| e.id.clone()).collect();
    assert_eq!(
        ids,
        [first.body["id"].to_string(), second.body["id"].to_string()]
    );
    let bob = app.signup("Bob", "bob@example.com").await;
    let reply = app.send(Method::GET, &events, Some(&bob.token), None).await;
    reply.assert_problem(403, &events);
}
