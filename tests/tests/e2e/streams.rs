//! Streams followed over a socket through the generated client's `follow_*`: a notification's
//! delivery in order to its end, resumed without loss or repeat, an account's ledger across a
//! restart of the service, two instances on PostgreSQL, shutdown, and a reader too slow.

use client::{FollowError, Followed, follow_account, follow_notification, types};
use e2e::{
    Service, TestStorage,
    smtp::{Mode, SmtpServer},
    typed::{amount, id},
};
use futures_util::{Stream, StreamExt};
use std::time::Duration;

/// Every event of `stream` until it ends, or panics after `within`.
async fn to_the_end<T>(
    stream: impl Stream<Item = Result<Followed<T>, FollowError>>,
    within: Duration,
) -> Vec<Followed<T>> {
    tokio::time::timeout(within, stream.map(|event| event.unwrap()).collect())
        .await
        .expect("the stream ended")
}

/// The next `n` events of `stream`, or panics after five seconds.
async fn next<T, S>(stream: &mut S, n: usize) -> Vec<Followed<T>>
where
    S: Stream<Item = Result<Followed<T>, FollowError>> + Unpin,
{
    let mut events = Vec::new();
    while events.len() < n {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("an event within five seconds")
            .expect("the stream goes on");
        events.push(event.unwrap());
    }
    events
}

async fn notify(service: &Service, token: &str) -> i64 {
    let notification = types::NotificationIn {
        email: "friend@example.com".try_into().unwrap(),
        subject: "Hello".try_into().unwrap(),
        body: "Hi".try_into().unwrap(),
    };
    let accepted = service
        .api(token)
        .notifications_create(&notification)
        .await
        .unwrap();
    accepted.into_inner().id
}

fn following(service: &Service, token: &str) -> client::Client {
    client::following_with_token(&service.base, token).unwrap()
}

#[tokio::test]
async fn a_notification_s_events_follow_its_delivery_in_order_to_its_end_and_resume_after_any() {
    let smtp = SmtpServer::start(Mode::RefuseTemporarily).await.unwrap();
    let url = smtp.url();
    let service = Service::start_with(|s| {
        s.mail_url = Some(url);
        s.notification_max_attempts = 3;
    })
    .await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let id = notify(&service, &ann.token).await;
    let follower = following(&service, &ann.token);
    // From its first change on (the worker may have moved it on already).
    let mut live = Box::pin(follow_notification(&follower, id, Some("0")).await.unwrap());
    // Two attempts refused, then the server takes it.
    let first = next(&mut live, 1).await;
    assert_eq!(
        (first[0].id.as_str(), first[0].event.as_str()),
        ("1", "queued")
    );
    let refused = next(&mut live, 3).await;
    assert_eq!(
        refused.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["sending", "queued", "sending"]
    );
    assert!(
        refused[1]
            .data
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("451"))
    );
    smtp.set_mode(Mode::Accept);
    let rest = to_the_end(live, Duration::from_secs(20)).await;
    let all: Vec<_> = first.iter().chain(&refused).chain(&rest).collect();
    let names: Vec<_> = all.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names.last(), Some(&"sent"), "{names:?}");
    let ids: Vec<u64> = all.iter().map(|e| e.id.parse().unwrap()).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "numbered, none lost"
    );
    assert_eq!(
        all.last().unwrap().data.status,
        types::NotificationStatus::Sent
    );
    // A follower that got the first two resumes with exactly the rest.
    let resumed = follow_notification(&follower, id, Some("2")).await.unwrap();
    let resumed = to_the_end(resumed, Duration::from_secs(5)).await;
    let resumed_ids: Vec<u64> = resumed.iter().map(|e| e.id.parse().unwrap()).collect();
    assert_eq!(resumed_ids, ids[2..]);
    // After the end there is nothing more: the stream ends at once.
    let last = ids.last().unwrap().to_string();
    let done = follow_notification(&follower, id, Some(&last))
        .await
        .unwrap();
    assert!(to_the_end(done, Duration::from_secs(5)).await.is_empty());
    // A new follower of a sent notification gets its final state, then the end.
    let again = follow_notification(&follower, id, None).await.unwrap();
    let again = to_the_end(again, Duration::from_secs(5)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event, "sent");
}

#[tokio::test]
async fn a_stream_s_problems_come_as_typed_problems_before_any_event() {
    let service = Service::start().await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let bob = service.signup("Bob", "bob@example.com").await;
    let id = notify(&service, &ann.token).await;
    let forbidden = follow_notification(&following(&service, &bob.token), id, None).await;
    let forbidden = e2e::typed::refused(forbidden.map(|_| ()), 403);
    assert_eq!(forbidden.type_, "/problems/forbidden");
    let missing = follow_notification(&following(&service, &ann.token), id + 1, None).await;
    let missing = e2e::typed::refused(missing.map(|_| ()), 404);
    assert_eq!(missing.type_, "/problems/notification-not-found");
    let anonymous = client::Client::new(&service.base);
    let unauthorized = follow_notification(&anonymous, id, None).await;
    e2e::typed::refused(unauthorized.map(|_| ()), 401);
}

#[tokio::test]
async fn an_account_s_stream_resumes_across_a_restart_of_the_service_without_loss() {
    let storage = TestStorage::new().await;
    let mut service = Service::start_on(&storage, |_| {}).await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let account = service
        .api(&ann.token)
        .accounts_create(&types::AccountIn {
            owner_id: id(ann.id),
            currency: None,
        })
        .await
        .unwrap()
        .into_inner();
    let deposit = |service: &Service, token: &str, cents: u64| {
        let api = service.api(token);
        async move {
            api.deposits_create(id(account.id), None, &amount(cents))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let mut live = Box::pin(
        follow_account(&following(&service, &ann.token), account.id, None)
            .await
            .unwrap(),
    );
    let first = deposit(&service, &ann.token, 100).await;
    let got = next(&mut live, 1).await;
    assert_eq!(got[0].id, first.id.to_string());
    assert_eq!(
        (got[0].event.as_str(), got[0].data.balance_after),
        ("transaction", 100)
    );
    // The service restarts; the stream breaks. Money moves before the follower is back.
    service.stop().await.unwrap();
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(5), live.collect::<Vec<_>>())
        .await
        .expect("the stream ends with its service");
    assert!(
        rest.iter().all(Result::is_err) || rest.is_empty(),
        "{rest:?}"
    );
    let service = Service::start_on(&storage, |_| {}).await;
    let token = service.login("ann@example.com", e2e::PASSWORD).await;
    let second = deposit(&service, &token, 20).await;
    let third = deposit(&service, &token, 3).await;
    let follower = following(&service, &token);
    let mut resumed = Box::pin(
        follow_account(&follower, account.id, Some(&got[0].id))
            .await
            .unwrap(),
    );
    let missed = next(&mut resumed, 2).await;
    let ids: Vec<_> = missed.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, [second.id.to_string(), third.id.to_string()]);
    assert_eq!(missed[1].data.balance_after, 123);
    let fourth = deposit(&service, &token, 1).await;
    let live_again = next(&mut resumed, 1).await;
    assert_eq!(
        live_again[0].id,
        fourth.id.to_string(),
        "and it goes on live"
    );
    // An id past every id there can be (19 digits, above 2^63): nothing is after it, so
    // nothing of the past is sent again.
    let mut beyond = Box::pin(
        follow_account(&follower, account.id, Some("9999999999999999999"))
            .await
            .unwrap(),
    );
    let replayed = tokio::time::timeout(Duration::from_millis(500), beyond.next()).await;
    assert!(replayed.is_err(), "{replayed:?}");
}

#[tokio::test]
async fn shutting_the_service_down_ends_every_stream_at_once() {
    let mut service = Service::start_with(|s| s.shutdown_grace_seconds = 30).await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let id = notify(&service, &ann.token).await;
    let stream = follow_notification(&following(&service, &ann.token), id, None)
        .await
        .unwrap();
    let mut stream = Box::pin(stream);
    next(&mut stream, 1).await;
    let started = std::time::Instant::now();
    service.stop().await.unwrap();
    let stopped = started.elapsed();
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(2), stream.collect::<Vec<_>>())
        .await
        .expect("the stream ended");
    assert!(rest.iter().all(Result::is_ok), "it ended cleanly: {rest:?}");
    assert!(
        stopped < Duration::from_secs(5),
        "the service waited {stopped:?} for a stream that should have ended"
    );
}

/// Opens an account for the holder of `token` (user `owner`); its id.
async fn account_of(service: &Service, token: &str, owner: i64) -> i64 {
    let opened = service
        .api(token)
        .accounts_create(&types::AccountIn {
            owner_id: id(owner),
            currency: None,
        })
        .await
        .unwrap();
    opened.into_inner().id
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_disconnected_and_frees_its_place() {
    use sea_orm::ConnectionTrait;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let storage = TestStorage::new().await;
    let service = Service::start_on(&storage, |s| {
        s.write_timeout_seconds = 1;
        s.max_followers = 1;
    })
    .await;
    let ann = service.signup("Ann", "ann@example.com").await;
    let account = account_of(&service, &ann.token, ann.id).await;
    // A ledger of 12,000 rows (about 3 MiB of events), written straight to the database: far
    // more than the connection's buffers hold for a reader that reads nothing.
    let db = sea_orm::Database::connect(storage.db.url.as_str())
        .await
        .unwrap();
    db.execute_unprepared(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000) \
         INSERT INTO transactions (account_id, kind, amount, balance_after, created_at) \
         SELECT {account}, 'deposit', 1, i, '2026-01-01T00:00:00Z' FROM n"
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
    // A follower of all of it, with a tiny receive window, that reads nothing after asking.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(1024).unwrap();
    let mut stalled = socket
        .connect(service.host_port().parse().unwrap())
        .await
        .unwrap();
    let request = format!(
        "GET /accounts/{account}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Last-Event-ID: 0\r\n\r\n",
        ann.token
    );
    stalled.write_all(request.as_bytes()).await.unwrap();
    // Its answer has begun (it holds the place), and then it reads no more.
    let mut head = [0u8; 12];
    stalled.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let events = format!("{}/accounts/{account}/events", service.base);
    let follow = || {
        service
            .client
            .get(&events)
            .bearer_auth(&ann.token)
            .timeout(Duration::from_secs(2))
            .send()
    };
    // Its stream holds the one place there is: a second follower is refused while it lasts,
    // and taken once the stalled one was cut, a write timeout after its buffers filled.
    let started = std::time::Instant::now();
    let mut refused = 0;
    loop {
        match follow().await.unwrap().status().as_u16() {
            503 => refused += 1,
            200 if refused > 0 => break,
            other => panic!("a second follower got {other} before the first was cut"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the stalled follower still holds its place"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "streams: a stalled reader was cut after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL (several instances on one database): run by ./test.sh's PostgreSQL half"]
async fn two_instances_on_postgres_reach_each_other_s_followers_within_a_second() {
    let storage = TestStorage::postgres().await;
    let smtp = SmtpServer::start(Mode::Accept).await.unwrap();
    let url = smtp.url();
    // Instance A serves the followers and delivers nothing; B books and delivers.
    let a = Service::start_on(&storage, |s| s.notification_workers = 0).await;
    let b = Service::start_on(&storage, |s| s.mail_url = Some(url)).await;
    let ann = a.signup("Ann", "ann@example.com").await;
    let account = account_of(&a, &ann.token, ann.id).await;
    let mut live = Box::pin(
        follow_account(&following(&a, &ann.token), account, None)
            .await
            .unwrap(),
    );
    for cents in [5, 7] {
        let booked_at = std::time::Instant::now();
        let booked = b
            .api(&ann.token)
            .deposits_create(id(account), None, &amount(cents))
            .await
            .unwrap();
        let seen = next(&mut live, 1).await;
        let took = booked_at.elapsed();
        assert_eq!(seen[0].id, booked.id.to_string());
        assert!(
            took < Duration::from_secs(1),
            "A's follower saw B's booking after {took:?}"
        );
        eprintln!("streams: a booking on B reached A's follower in {took:?}");
    }
    // Accepted by A, delivered by B's worker, followed on A to its end.
    let note = notify(&a, &ann.token).await;
    let events = follow_notification(&following(&a, &ann.token), note, None)
        .await
        .unwrap();
    let events = to_the_end(events, Duration::from_secs(20)).await;
    let names: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names.last(), Some(&"sent"), "{names:?}");
    assert_eq!(smtp.received().len(), 1);
}
