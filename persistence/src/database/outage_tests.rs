//! Outages of storage as a whole are told apart from failures of one request: a database that
//! does not answer (or is locked past its timeout) is `Unavailable`, a full one `StorageFull`,
//! and both come quickly.

use super::*;
use crate::test_database::TestDatabase;
use sea_orm::{ConnectionTrait, sqlx::Connection};
use std::time::Instant;

#[tokio::test]
async fn a_sqlite_file_another_process_holds_locked_is_unavailable_after_the_busy_timeout() {
    let database = TestDatabase::sqlite();
    let settings = DatabaseSettings {
        url: database.url.clone(),
        max_connections: 2,
        durability: Default::default(),
    };
    let db = Database::connect(&settings).await.unwrap();
    db.migrate().await.unwrap();
    // Another process's writer: a connection of its own, holding the write lock.
    let mut outsider = sea_orm::sqlx::SqliteConnection::connect(&database.url)
        .await
        .unwrap();
    sea_orm::sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut outsider)
        .await
        .unwrap();

    let started = Instant::now();
    let err = match db.begin_write().await {
        Ok(_) => panic!("a write began while another connection held the lock"),
        Err(err) => err,
    };
    let waited = started.elapsed();
    assert!(
        matches!(domain::Error::from(err), domain::Error::Unavailable(_)),
        "a locked file must be an outage"
    );
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");

    sea_orm::sqlx::query("ROLLBACK")
        .execute(&mut outsider)
        .await
        .unwrap();
    let write = db.begin_write().await.unwrap();
    write.commit().await.unwrap();
}

#[tokio::test]
async fn a_full_sqlite_database_is_storage_full() {
    let database = TestDatabase::sqlite();
    // One connection: the pragma below is the connection's.
    let mut options = ConnectOptions::new(format!("{}?mode=rwc", database.url));
    options.max_connections(1).sqlx_logging(false);
    let conn = sea_orm::Database::connect(options).await.unwrap();
    conn.execute_unprepared("CREATE TABLE filler (b BLOB)")
        .await
        .unwrap();
    // `max_page_count` makes SQLite answer SQLITE_FULL as a full disk would.
    conn.execute_unprepared("PRAGMA max_page_count = 8")
        .await
        .unwrap();
    let err = conn
        .execute_unprepared("INSERT INTO filler VALUES (zeroblob(1000000))")
        .await
        .unwrap_err();
    assert!(
        matches!(
            domain::Error::from(Error::from(err)),
            domain::Error::StorageFull(_)
        ),
        "SQLITE_FULL must be a full storage"
    );
}

#[test]
fn a_full_disk_under_a_file_write_is_storage_full() {
    for errno in [28, 122] {
        let err = Error::Io(std::io::Error::from_raw_os_error(errno));
        assert!(matches!(
            domain::Error::from(err),
            domain::Error::StorageFull(_)
        ));
    }
    let other = Error::Io(std::io::Error::from_raw_os_error(13));
    assert!(matches!(
        domain::Error::from(other),
        domain::Error::Internal(_)
    ));
}

#[tokio::test]
async fn a_postgres_that_refuses_connections_is_unavailable_within_about_a_second() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let settings = DatabaseSettings {
        url: format!("postgres://postgres@127.0.0.1:{port}/nothing"),
        max_connections: 2,
        durability: Default::default(),
    };
    let started = Instant::now();
    let err = match Database::connect(&settings).await {
        Ok(_) => panic!("connected to a port nobody listens on"),
        Err(err) => err,
    };
    let waited = started.elapsed();
    assert!(
        matches!(domain::Error::from(err), domain::Error::Unavailable(_)),
        "a refused connection must be an outage"
    );
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
}
