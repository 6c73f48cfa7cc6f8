use super::*;
use crate::test_database::TestDatabase;
use futures_util::FutureExt;
use sea_orm::Statement;

/// One connection, so that whatever a cancelled request leaves on it, the next borrower gets.
async fn single_connection(database: &TestDatabase) -> Database {
    let settings = DatabaseSettings {
        url: database.url.clone(),
        max_connections: 1,
        durability: Default::default(),
    };
    let db = Database::connect(&settings).await.unwrap();
    db.migrate().await.unwrap();
    db
}

async fn probes_seen_by(db: &Database) -> i64 {
    let row = db
        .conn()
        .query_one_raw(Statement::from_string(
            db.backend(),
            "SELECT COUNT(*) AS n FROM cancel_probe",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Polls `begin_write` up to `polls` times, yielding to the runtime in between, and drops it
/// there, as a client that goes away drops its request's future; how many polls it took when
/// it was not dropped.
async fn begin_dropped_after(db: &Database, polls: usize) -> Option<usize> {
    let mut begin = Box::pin(db.begin_write());
    for poll in 1..=polls {
        if let Some(begun) = (&mut begin).now_or_never() {
            begun.unwrap().rollback().await.unwrap();
            return Some(poll);
        }
        tokio::task::yield_now().await;
    }
    None
}

#[tokio::test]
async fn a_request_dropped_while_its_transaction_begins_leaves_later_writes_committed() {
    let database = TestDatabase::new().await;
    let db = single_connection(&database).await;
    let other = single_connection(&database).await;
    db.conn()
        .execute_unprepared("CREATE TABLE cancel_probe (id BIGINT)")
        .await
        .unwrap();
    // Where the BEGIN goes out among the polls depends on timing: drop requests after every
    // number of polls up to a few hundred, then write outside any transaction, as the next
    // request on that connection would. Each write must be committed: seen at once by a
    // connection of another pool.
    for (written, polls) in (1..).zip(1..=400) {
        begin_dropped_after(&db, polls).await;
        db.conn()
            .execute_unprepared("INSERT INTO cancel_probe (id) VALUES (1)")
            .await
            .unwrap();
        assert_eq!(
            probes_seen_by(&other).await,
            written,
            "a write after a request dropped at poll {polls} stayed uncommitted"
        );
    }
}
