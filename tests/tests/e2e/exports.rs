//! The exports over a real socket: 100,000 users streamed in order, and a client that leaves
//! midway releasing the database at once.

use e2e::{Service, TestStorage};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Inserts users 2..=`count`+1 straight into the database, in one statement.
async fn insert_users(storage: &TestStorage, count: u64) {
    use sea_orm::ConnectionTrait;
    let numbers = if storage.db.is_postgres() {
        format!("(SELECT generate_series(1, {count}) AS i) AS n")
    } else {
        format!(
            "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) SELECT i FROM n) AS n"
        )
    };
    let db = sea_orm::Database::connect(storage.db.url.as_str())
        .await
        .unwrap();
    db.execute_unprepared(&format!(
        "INSERT INTO users (name, email, email_key, password_hash, bio, is_admin, created_at, updated_at) \
         SELECT 'User, ' || i, 'u' || i || '@example.com', 'u' || i || '@example.com', 'x', NULL, false, \
         '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00' FROM {numbers}"
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn an_export_of_100_000_users_streams_every_row_in_order() {
    let storage = TestStorage::new().await;
    let service = Service::start_on(&storage, |_| {}).await;
    let admin = service.admin().await;
    insert_users(&storage, 100_000).await;
    let resp = service
        .client
        .get(service.url("/exports/users.csv"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let mut body = resp.bytes_stream();
    let mut csv = Vec::new();
    while let Some(chunk) = body.next().await {
        csv.extend_from_slice(&chunk.unwrap());
    }
    let csv = String::from_utf8(csv).unwrap();
    let rows: Vec<&str> = csv.trim_end_matches("\r\n").split("\r\n").collect();
    assert_eq!(rows.len(), 1 + 1 + 100_000, "header, the admin, the users");
    assert_eq!(rows[0], "id,name,email,created_at");
    assert_eq!(
        rows[2],
        "2,\"User, 1\",u1@example.com,2026-01-01T00:00:00.000000Z"
    );
    assert_eq!(
        rows[100_001],
        "100001,\"User, 100000\",u100000@example.com,2026-01-01T00:00:00.000000Z"
    );
    let ids: Vec<i64> = rows[1..]
        .iter()
        .map(|r| r.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn a_client_leaving_an_export_midway_does_not_hold_the_database() {
    let storage = TestStorage::new().await;
    let service = Service::start_on(&storage, |s| s.database_pool_size = 1).await;
    let admin = service.admin().await;
    insert_users(&storage, 50_000).await;
    let mut socket = tokio::net::TcpStream::connect(service.host_port())
        .await
        .unwrap();
    let request = format!(
        "GET /exports/users.csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut first = vec![0u8; 4096];
    let read = socket.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"));
    drop(socket);
    // With one connection in the pool, anything still reading the export would starve this.
    let ready = tokio::time::timeout(
        Duration::from_secs(5),
        service.client.get(service.url("/readyz")).send(),
    )
    .await
    .expect("the database is free again")
    .unwrap();
    assert_eq!(ready.status(), 200);
}
