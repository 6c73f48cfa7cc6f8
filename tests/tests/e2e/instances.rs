//! Two service processes on one PostgreSQL database, as behind a load balancer: money never
//! overdrawn and the ledger exact with withdrawals spread over both, idempotency keys that hold
//! across them, each notification delivered once with both workers running, and tokens issued
//! by one accepted by the other. Runs in the PostgreSQL half of the suite (`TEST_DATABASE_URL`);
//! several instances are what PostgreSQL is for. The SQLite run lists them as ignored.

use e2e::{
    TestStorage, all_items,
    process::{Instance, admin_token, wait_until_sent},
    smtp::{Mode, SmtpServer},
};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

fn spawn(storage: &TestStorage, smtp: &SmtpServer) -> Instance {
    Instance::spawn(
        storage,
        &[
            ("MAIL_URL", smtp.url()),
            ("NOTIFICATION_POLL_MS", "100".to_owned()),
        ],
    )
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = client.post(url).bearer_auth(token).json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL (several instances on one database): run by ./test.sh's PostgreSQL half"]
async fn two_instances_on_one_postgres_database_behave_as_one_service() {
    let storage = TestStorage::postgres().await;
    let smtp = SmtpServer::start(Mode::Accept).await.unwrap();
    // Started together: they race through migrations and the admin bootstrap.
    let instances = [spawn(&storage, &smtp), spawn(&storage, &smtp)];
    let client = reqwest::Client::new();
    for instance in &instances {
        instance.wait_ready(&client).await;
    }
    let bases = [instances[0].base.clone(), instances[1].base.clone()];
    let [a, b] = [&bases[0], &bases[1]];

    // (d) A token issued by one is accepted by the other.
    let token = admin_token(&client, a).await;
    let users: Value = client
        .get(format!("{b}/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        1,
        "one admin, however many instances booted"
    );
    let admin_id = users["items"][0]["id"].clone();

    // (a) 200 withdrawals of 10 from 16 tasks, alternating instances, against 1000.
    let account: Value = post(
        &client,
        format!("{a}/accounts"),
        &token,
        json!({"owner_id": admin_id}),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let id = account["id"].as_i64().unwrap();
    assert_eq!(
        post(
            &client,
            format!("{b}/accounts/{id}/deposits"),
            &token,
            json!({"amount": 1000}),
            None
        )
        .await
        .status(),
        201
    );
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let (client, token, bases) = (client.clone(), token.clone(), [a.clone(), b.clone()]);
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for n in (task..200).step_by(16) {
                    let url = format!("{}/accounts/{id}/withdrawals", bases[n % 2]);
                    statuses.push(
                        post(&client, url, &token, json!({"amount": 10}), None)
                            .await
                            .status()
                            .as_u16(),
                    );
                }
                statuses
            })
        })
        .collect();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for task in tasks {
        for status in task.await.unwrap() {
            *statuses.entry(status).or_default() += 1;
        }
    }
    assert_eq!(statuses, HashMap::from([(201, 100), (402, 100)]));
    let account: Value = client
        .get(format!("{b}/accounts/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account["balance"], 0);
    let ledger = all_items(&client, a, &format!("/accounts/{id}/transactions"), &token).await;
    let sum: i64 = ledger
        .iter()
        .map(|t| {
            let amount = t["amount"].as_i64().unwrap();
            if t["kind"] == "deposit" {
                amount
            } else {
                -amount
            }
        })
        .sum();
    assert_eq!(
        (ledger.len(), sum),
        (101, 0),
        "the ledger sums to the balance"
    );

    // (b) An idempotency key holds across instances, also when both receive it at once.
    let deposit = |base: &str| format!("{base}/accounts/{id}/deposits");
    let first = post(
        &client,
        deposit(a),
        &token,
        json!({"amount": 5}),
        Some("across"),
    )
    .await;
    assert_eq!(first.status(), 201);
    let again = post(
        &client,
        deposit(b),
        &token,
        json!({"amount": 5}),
        Some("across"),
    )
    .await;
    assert_eq!(
        (
            again.status().as_u16(),
            again.headers().get("idempotent-replayed").is_some()
        ),
        (201, true)
    );
    let burst: Vec<_> = (0..10)
        .map(|n| {
            let (client, token, url) = (
                client.clone(),
                token.clone(),
                deposit(if n % 2 == 0 { a } else { b }),
            );
            tokio::spawn(async move {
                let resp = post(&client, url, &token, json!({"amount": 7}), Some("burst")).await;
                (
                    resp.status().as_u16(),
                    resp.headers().get("idempotent-replayed").is_some(),
                )
            })
        })
        .collect();
    let mut fresh = 0;
    for request in burst {
        match request.await.unwrap() {
            (201, false) => fresh += 1,
            (201, true) | (409, _) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(fresh, 1);
    let account: Value = client
        .get(format!("{a}/accounts/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account["balance"], 12, "5 once and 7 once");

    // (c) With both workers claiming, each notification goes out exactly once.
    let mut locations = Vec::new();
    for n in 0..40 {
        let base = if n % 2 == 0 { a } else { b };
        let body =
            json!({"email": "friend@example.com", "subject": format!("note {n}"), "body": "hi"});
        let resp = post(&client, format!("{base}/notifications"), &token, body, None).await;
        assert_eq!(resp.status(), 202);
        locations.push(resp.headers()["location"].to_str().unwrap().to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for location in &locations {
        wait_until_sent(&client, &format!("{a}{location}"), &token, deadline).await;
    }
    // Stopped (SIGTERM), each instance finishes the deliveries it began and exits: whatever
    // either would ever send is at the mail server now, a duplicate included.
    for instance in instances {
        assert!(instance.stop().success(), "an instance stops cleanly");
    }
    let mut subjects: HashMap<String, usize> = HashMap::new();
    for message in smtp.received() {
        *subjects
            .entry(message.header("Subject").unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(subjects.len(), 40);
    assert!(subjects.values().all(|count| *count == 1), "{subjects:?}");
}

/// A failed login at `base`: its status, on a 429 the limit named in `RateLimit`, and the body
/// (for the message when the status is not the one expected).
async fn fail_login(client: &reqwest::Client, base: &str, email: &str) -> (u16, String, String) {
    let answer = client
        .post(format!("{base}/auth/tokens"))
        .json(&json!({"email": email, "password": "not the password"}))
        .send()
        .await
        .unwrap();
    let limit = answer
        .headers()
        .get("ratelimit")
        .and_then(|v| v.to_str().unwrap().split(';').next())
        .unwrap_or("")
        .to_owned();
    let status = answer.status().as_u16();
    (status, limit, answer.text().await.unwrap())
}

#[tokio::test]
#[ignore = "needs PostgreSQL (several instances on one database): run by ./test.sh's PostgreSQL half"]
async fn failed_logins_are_limited_once_across_two_instances() {
    let storage = TestStorage::postgres().await;
    let limits = [
        ("LOGIN_FAILURES_PER_EMAIL", "10".to_owned()),
        ("LOGIN_FAILURES_PER_CLIENT", "15".to_owned()),
        ("LOGIN_WINDOW_SECONDS", "600".to_owned()),
    ];
    let instances = [
        Instance::spawn(&storage, &limits),
        Instance::spawn(&storage, &limits),
    ];
    let client = reqwest::Client::new();
    for instance in &instances {
        instance.wait_ready(&client).await;
    }
    let bases = [instances[0].base.clone(), instances[1].base.clone()];
    // Ten failures for one address, alternating instances, concurrently: all admitted, and
    // then neither instance admits an eleventh.
    let guesses: Vec<_> = (0..10)
        .map(|n| {
            let (client, base) = (client.clone(), bases[n % 2].clone());
            tokio::spawn(async move { fail_login(&client, &base, "ann@example.com").await })
        })
        .collect();
    for guess in guesses {
        let (status, _, body) = guess.await.unwrap();
        assert_eq!(status, 401, "{body}");
    }
    for base in &bases {
        let (status, limit, body) = fail_login(&client, base, "ann@example.com").await;
        assert_eq!((status, limit.as_str()), (429, "\"email\""), "{body}");
    }
    // The client has 10 of its 15 charged: five more addresses, spread over both, then 429.
    for n in 0..5 {
        let email = format!("u{n}@example.com");
        let (status, _, body) = fail_login(&client, &bases[n % 2], &email).await;
        assert_eq!(status, 401, "attempt {} of the client's 15: {body}", 11 + n);
    }
    for base in &bases {
        let (status, limit, body) = fail_login(&client, base, "u9@example.com").await;
        assert_eq!((status, limit.as_str()), (429, "\"client\""), "{body}");
    }
}
