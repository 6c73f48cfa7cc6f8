//! A database that goes away: PostgreSQL stopped under a write load, started again, then
//! restarted as in a crash (`-m immediate`). While it is down every request is answered 503
//! with `Retry-After` within about a second (never a 500, never a hang); once it is back the
//! service serves again by itself, within seconds; and clients that retry each deposit with its
//! `Idempotency-Key` until it is acknowledged get each one booked exactly once.
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

/// Concurrent clients of the write load.
const CLIENTS: usize = 4;
/// The longest any one answer may take, outage or not: about a second for the pool, with room
/// for a loaded machine.
const SLOWEST_ANSWER: Duration = Duration::from_secs(4);
/// How soon after the server is back the service must serve again.
const RECOVERY: Duration = Duration::from_secs(10);

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// Answers by status; 0 counts requests that got no answer at all.
    statuses: BTreeMap<u16, usize>,
    /// Deposits acknowledged (each under a key of its own, each of 1).
    acked: i64,
    slowest: Duration,
    /// 503s without `Retry-After`.
    without_retry_after: usize,
}

/// Deposits 1 under a new key, again and again until `stop`; each is retried under its key
/// until it is acknowledged.
async fn deposit_load(
    client: reqwest::Client,
    url: String,
    token: String,
    client_no: usize,
    stop: Arc<AtomicBool>,
) -> Seen {
    let mut seen = Seen::default();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("outage-{client_no}-{n}");
        loop {
            let started = Instant::now();
            let answer = client
                .post(&url)
                .bearer_auth(&token)
                .header("Idempotency-Key", &key)
                .json(&json!({"amount": 1}))
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            seen.slowest = seen.slowest.max(started.elapsed());
            let status = answer.as_ref().map_or(0, |answer| answer.status().as_u16());
            *seen.statuses.entry(status).or_default() += 1;
            if let Ok(answer) = &answer
                && status == 503
                && answer.headers().get("retry-after").is_none()
            {
                seen.without_retry_after += 1;
            }
            if (200..300).contains(&status) {
                seen.acked += 1;
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
async fn a_stopped_postgres_gets_fast_503s_and_the_service_recovers_without_losing_a_write() {
    if std::env::var("TEST_DATABASE_URL").map_or(true, |url| url.is_empty()) {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED outage::a_stopped_postgres_gets_fast_503s_…: it stops and starts a \
             PostgreSQL cluster of its own, and runs in the PostgreSQL half of the suite \
             (set TEST_DATABASE_URL)"
        );
        return;
    }
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
    let account = json_of(
        client
            .post(format!("{base}/accounts"))
            .bearer_auth(&token)
            .json(&json!({"owner_id": users["items"][0]["id"]})),
    )
    .await;
    let account_url = format!("{base}/accounts/{}", account["id"]);

    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let url = format!("{account_url}/deposits");
            tokio::spawn(deposit_load(
                client.clone(),
                url,
                token.clone(),
                n,
                stop.clone(),
            ))
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
    for task in load {
        let one = task.await.unwrap();
        for (status, count) in one.statuses {
            *seen.statuses.entry(status).or_default() += count;
        }
        seen.acked += one.acked;
        seen.slowest = seen.slowest.max(one.slowest);
        seen.without_retry_after += one.without_retry_after;
    }
    let balance = json_of(client.get(&account_url).bearer_auth(&token)).await;
    let _ = writeln!(
        std::io::stderr(),
        "outage: while stopped /readyz {ready} in {ready_took:?}, a read {read} in \
         {read_took:?}; ready again {recovered:?} after the start, {recovered_from_crash:?} \
         after an immediate restart; deposits answered {:?}, {} acknowledged, slowest answer \
         {:?}",
        seen.statuses,
        seen.acked,
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
            .all(|status| matches!(status, 200 | 201 | 409 | 503)),
        "only acknowledgements, 503s, and keys still in flight for a moment: {:?}",
        seen.statuses
    );
    assert_eq!(seen.without_retry_after, 0, "every 503 says when to retry");
    // A deposit the outage failed releases its key once the database is back (within a
    // quarter second): its retries are not refused as in flight for the claim's whole lease.
    let in_flight = seen.statuses.get(&409).copied().unwrap_or(0);
    assert!(
        in_flight <= 20 * CLIENTS,
        "{in_flight} retries refused as in flight"
    );
    assert!(
        seen.slowest < SLOWEST_ANSWER,
        "an answer took {:?}",
        seen.slowest
    );
    assert_eq!(
        balance["balance"].as_i64(),
        Some(seen.acked),
        "every acknowledged deposit booked exactly once"
    );
}
