//! A database that goes away: PostgreSQL stopped under a mixed write load (deposits and
//! withdrawals under `Idempotency-Key`s, notifications, sign-ups), started again, then
//! restarted as in a crash (`-m immediate`). While it is down every request is answered 503
//! with `Retry-After` within about a second (never a 500, never a hang); once it is back the
//! service serves again by itself, within seconds; clients that retry each money movement with
//! its key until it is acknowledged get each one booked exactly once, and every notification
//! and user acknowledged is there afterwards.
//!
//! The server is a throwaway cluster of this test's own ([`Cluster`]), so the shared one
//! serves the other tests meanwhile. Runs in the PostgreSQL half of the suite.

use e2e::{
    TestStorage,
    cluster::Cluster,
    json_of,
    process::{Instance, admin_token},
    wait_until,
};
use serde_json::json;
use std::{
    collections::BTreeMap,
    io::Write,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// The longest any one answer may take, outage or not: about a second for the pool, with room
/// for a loaded machine.
const SLOWEST_ANSWER: Duration = Duration::from_secs(4);
/// How soon after the server is back the service must serve again.
const RECOVERY: Duration = Duration::from_secs(10);
/// What the account withdrawn from holds at the start.
const FUNDS: i64 = 1_000_000;

/// The kinds of write of the load, one client each.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// 1 into the first account, under a key of its own.
    Deposit,
    /// 1 out of the second account, under a key of its own.
    Withdrawal,
    /// A notification to the admin.
    Notification,
    /// A new user.
    SignUp,
}

/// Where the load writes.
#[derive(Clone)]
struct Targets {
    base: String,
    deposits: String,
    withdrawals: String,
    token: String,
}

impl Kind {
    /// The `n`th write of this kind: its URL, body and `Idempotency-Key`, if it takes one.
    fn request(self, to: &Targets, n: usize) -> (String, serde_json::Value, Option<String>) {
        let base = &to.base;
        match self {
            Self::Deposit => (
                to.deposits.clone(),
                json!({"amount": 1}),
                Some(format!("in-{n}")),
            ),
            Self::Withdrawal => (
                to.withdrawals.clone(),
                json!({"amount": 1}),
                Some(format!("out-{n}")),
            ),
            Self::Notification => (
                format!("{base}/notifications"),
                json!({"email": e2e::ADMIN_EMAIL, "subject": format!("outage {n}"), "body": "hello"}),
                None,
            ),
            Self::SignUp => (
                format!("{base}/users"),
                e2e::user_in("Outage", &format!("outage-{n}@example.com")),
                None,
            ),
        }
    }
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// Answers by status; 0 counts requests that got no answer at all.
    statuses: BTreeMap<u16, usize>,
    /// Writes acknowledged.
    acked: i64,
    /// Where each acknowledged notification or user is (`Location`).
    created: Vec<String>,
    slowest: Duration,
    /// 503s without `Retry-After`.
    without_retry_after: usize,
}

impl Seen {
    fn add(&mut self, other: Self) {
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.acked += other.acked;
        self.created.extend(other.created);
        self.slowest = self.slowest.max(other.slowest);
        self.without_retry_after += other.without_retry_after;
    }
}

/// Writes of `kind`, one after the other until `stop`; each is retried until it is
/// acknowledged (a sign-up whose answer the outage cut, though it was stored, then meets 409:
/// its address is taken, by itself).
async fn write_load(
    client: reqwest::Client,
    to: Targets,
    kind: Kind,
    stop: Arc<AtomicBool>,
) -> Seen {
    let mut seen = Seen::default();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (url, body, key) = kind.request(&to, n);
        loop {
            let started = Instant::now();
            let mut request = client
                .post(&url)
                .bearer_auth(&to.token)
                .json(&body)
                .timeout(Duration::from_secs(30));
            if let Some(key) = &key {
                request = request.header("Idempotency-Key", key);
            }
            let answer = request.send().await;
            seen.slowest = seen.slowest.max(started.elapsed());
            let status = answer.as_ref().map_or(0, |answer| answer.status().as_u16());
            *seen.statuses.entry(status).or_default() += 1;
            if let Ok(answer) = &answer
                && status == 503
                && answer.headers().get("retry-after").is_none()
            {
                seen.without_retry_after += 1;
            }
            if let Ok(answer) = &answer
                && (200..300).contains(&status)
            {
                seen.acked += 1;
                if let Some(location) = answer.headers().get("location") {
                    seen.created.push(location.to_str().unwrap().to_owned());
                }
                break;
            }
            if matches!(kind, Kind::SignUp) && status == 409 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    seen
}

/// How long `GET url` takes to answer, and with which status.
async fn timed_get(client: &reqwest::Client, url: &str, token: &str) -> (u16, Duration) {
    let started = Instant::now();
    let status = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_or(0, |answer| answer.status().as_u16());
    (status, started.elapsed())
}

/// Waits until `/readyz` says 200; how long that took.
async fn back_in_service(client: &reqwest::Client, base: &str) -> Duration {
    let started = Instant::now();
    let url = format!("{base}/readyz");
    wait_until(
        Instant::now() + RECOVERY,
        "the service is ready again",
        async || match client.get(&url).send().await {
            Ok(answer) if answer.status() == 200 => Ok(()),
            Ok(answer) => Err(answer.status().to_string()),
            Err(err) => Err(err.to_string()),
        },
    )
    .await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL's server tools (it stops and starts a cluster of its own): run by ./test.sh's PostgreSQL half"]
async fn a_stopped_postgres_gets_fast_503s_and_the_service_recovers_without_losing_a_write() {
    let cluster = Cluster::start();
    let storage = TestStorage::sqlite();
    let instance = Instance::spawn(&storage, &[("DATABASE_URL", cluster.url())]);
    let client = reqwest::Client::new();
    instance.wait_ready(&client).await;
    let base = instance.base.clone();
    let token = admin_token(&client, &base).await;
    let users = json_of(
        client
            .get(format!("{base}/users?limit=1"))
            .bearer_auth(&token),
    )
    .await;
    let open = || {
        json_of(
            client
                .post(format!("{base}/accounts"))
                .bearer_auth(&token)
                .json(&json!({"owner_id": users["items"][0]["id"]})),
        )
    };
    let account_url = format!("{base}/accounts/{}", open().await["id"]);
    let funded_url = format!("{base}/accounts/{}", open().await["id"]);
    json_of(
        client
            .post(format!("{funded_url}/deposits"))
            .bearer_auth(&token)
            .json(&json!({"amount": FUNDS})),
    )
    .await;
    let targets = Targets {
        base: base.clone(),
        deposits: format!("{account_url}/deposits"),
        withdrawals: format!("{funded_url}/withdrawals"),
        token: token.clone(),
    };

    let stop = Arc::new(AtomicBool::new(false));
    let kinds = [
        Kind::Deposit,
        Kind::Withdrawal,
        Kind::Notification,
        Kind::SignUp,
    ];
    let load: Vec<_> = kinds
        .iter()
        .map(|kind| {
            let (client, targets, stop) = (client.clone(), targets.clone(), stop.clone());
            tokio::spawn(write_load(client, targets, *kind, stop))
        })
        .collect();
    let settle = || tokio::time::sleep(Duration::from_secs(1));

    settle().await;
    cluster.stop("fast");
    let (ready, ready_took) = timed_get(&client, &format!("{base}/readyz"), &token).await;
    let (read, read_took) = timed_get(&client, &account_url, &token).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.start_again();
    let recovered = back_in_service(&client, &base).await;

    settle().await;
    cluster.stop("immediate");
    cluster.start_again();
    let recovered_from_crash = back_in_service(&client, &base).await;
    settle().await;
    stop.store(true, Ordering::Relaxed);

    let mut seen = Seen::default();
    let mut acked = BTreeMap::new();
    for (kind, task) in kinds.iter().zip(load) {
        let one = task.await.unwrap();
        acked.insert(format!("{kind:?}"), one.acked);
        seen.add(one);
    }
    let balance = async |url: &str| {
        let account = json_of(client.get(url).bearer_auth(&token)).await;
        account["balance"].as_i64().unwrap()
    };
    let (deposited, left) = (balance(&account_url).await, balance(&funded_url).await);
    let mut missing = Vec::new();
    for location in &seen.created {
        let found = client
            .get(format!("{base}{location}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if found.status() != 200 {
            missing.push(location.clone());
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "outage: while stopped /readyz {ready} in {ready_took:?}, a read {read} in \
         {read_took:?}; ready again {recovered:?} after the start, {recovered_from_crash:?} \
         after an immediate restart; writes answered {:?}, acknowledged {acked:?}, slowest \
         answer {:?}",
        seen.statuses,
        seen.slowest
    );

    assert_eq!(
        (ready, read),
        (503, 503),
        "answers while the database is down"
    );
    assert!(
        ready_took < Duration::from_millis(1500),
        "/readyz took {ready_took:?}"
    );
    assert!(
        read_took < Duration::from_millis(2500),
        "a read took {read_took:?}"
    );
    assert!(
        seen.statuses.get(&503).is_some_and(|n| *n > 0),
        "the load met the outage: {:?}",
        seen.statuses
    );
    assert!(
        seen.statuses
            .keys()
            .all(|status| matches!(status, 200 | 201 | 202 | 409 | 503)),
        "only acknowledgements, 503s, keys still in flight for a moment and addresses taken \
         by a sign-up whose answer was cut: {:?}",
        seen.statuses
    );
    assert_eq!(seen.without_retry_after, 0, "every 503 says when to retry");
    // A deposit the outage failed releases its key once the database is back (within a
    // quarter second): its retries are not refused as in flight for the claim's whole lease.
    let in_flight = seen.statuses.get(&409).copied().unwrap_or(0);
    assert!(in_flight <= 40, "{in_flight} retries refused as in flight");
    assert!(
        seen.slowest < SLOWEST_ANSWER,
        "an answer took {:?}",
        seen.slowest
    );
    assert_eq!(
        (deposited, FUNDS - left),
        (acked["Deposit"], acked["Withdrawal"]),
        "every acknowledged deposit and withdrawal booked exactly once"
    );
    assert!(
        acked.values().all(|n| *n > 0),
        "every kind of write went through: {acked:?}"
    );
    assert!(
        missing.is_empty(),
        "acknowledged, then not there: {missing:?}"
    );
}
