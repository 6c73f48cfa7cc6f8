use crate::{Database, DatabaseSettings, Durability, database::WriteTxn};
use futures_util::FutureExt;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement};
use std::{future::Future, sync::atomic::Ordering, time::Duration};

/// A SQLite database (group commit is SQLite's) with a table of probes, and a second pool on
/// it that sees only what is committed.
async fn sqlite() -> (Database, Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = DatabaseSettings {
        url: format!("sqlite://{}/group.db", dir.path().display()),
        max_connections: 4,
        durability: Durability::PowerLoss,
    };
    let db = Database::connect(&settings).await.unwrap();
    db.conn()
        .execute_unprepared("CREATE TABLE probe (id INTEGER PRIMARY KEY)")
        .await
        .unwrap();
    let other = Database::connect(&settings).await.unwrap();
    (db, other, dir)
}

async fn insert(txn: &WriteTxn, id: i64) -> Result<(), sea_orm::DbErr> {
    insert_in(txn.conn().unwrap(), id).await
}

async fn insert_in(txn: &DatabaseTransaction, id: i64) -> Result<(), sea_orm::DbErr> {
    let sql = format!("INSERT INTO probe (id) VALUES ({id})");
    txn.execute_raw(Statement::from_string(txn.get_database_backend(), sql))
        .await
        .map(|_| ())
}

async fn stored(db: &Database) -> Vec<i64> {
    let rows = db
        .conn()
        .query_all_raw(Statement::from_string(
            db.backend(),
            "SELECT id FROM probe ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get("", "id").unwrap())
        .collect()
}

/// Waits until `n` writers are queued for the turn.
async fn queued(db: &Database, n: usize) {
    let group = db.group.clone().unwrap();
    while group.queued.load(Ordering::SeqCst) < n {
        tokio::task::yield_now().await;
    }
}

/// Probe 1 inserted and committed while a second writer is queued for the turn, so that the
/// commit waits for the batch: the pending acknowledgement, and the second writer (now holding
/// the turn).
async fn committed_behind_a_writer(
    db: &Database,
) -> (tokio::task::JoinHandle<crate::error::Result<()>>, WriteTxn) {
    let first = db.begin_write().await.unwrap();
    insert(&first, 1).await.unwrap();
    let second = tokio::spawn({
        let db = db.clone();
        async move { db.begin_write().await.unwrap() }
    });
    queued(db, 1).await;
    let acknowledged = tokio::spawn(first.commit());
    (acknowledged, second.await.unwrap())
}

#[tokio::test]
async fn concurrent_writes_share_commits_and_every_one_is_stored() {
    let (db, other, _dir) = sqlite().await;
    let writers: Vec<_> = (1..=64)
        .map(|id| {
            let db = db.clone();
            tokio::spawn(async move {
                let txn = db.begin_write().await.unwrap();
                insert(&txn, id).await.unwrap();
                txn.commit().await.unwrap();
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(stored(&other).await, (1..=64).collect::<Vec<_>>());
    let stats = db.commit_stats();
    assert_eq!(stats.writes, 64);
    assert!(
        stats.commits < 64,
        "64 concurrent writes took {} commits",
        stats.commits
    );
}

#[tokio::test]
async fn a_write_is_not_acknowledged_before_its_batch_commits() {
    let (db, other, _dir) = sqlite().await;
    let (mut acknowledged, second) = committed_behind_a_writer(&db).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(50), &mut acknowledged)
            .await
            .is_err(),
        "a write was acknowledged while its batch was still open"
    );
    assert_eq!(stored(&other).await, Vec::<i64>::new());
    insert(&second, 2).await.unwrap();
    second.commit().await.unwrap();
    acknowledged.await.unwrap().unwrap();
    assert_eq!(stored(&other).await, vec![1, 2]);
    assert_eq!(db.commit_stats().commits, 1);
}

#[tokio::test]
async fn a_failed_write_in_a_batch_rolls_back_alone() {
    let (db, other, _dir) = sqlite().await;
    let holder = db.begin_write().await.unwrap();
    insert(&holder, 1).await.unwrap();
    let writers: Vec<_> = (2..=9)
        .map(|id| {
            let db = db.clone();
            tokio::spawn(async move {
                let txn = db.begin_write().await.unwrap();
                // The odd ones collide with the holder's row and are refused.
                let id = if id % 2 == 1 { 1 } else { id };
                match insert(&txn, id).await {
                    Ok(()) => txn.commit().await.map(|()| true).unwrap(),
                    Err(_) => {
                        txn.rollback().await.unwrap();
                        false
                    }
                }
            })
        })
        .collect();
    queued(&db, 8).await;
    holder.commit().await.unwrap();
    let mut committed = 0;
    for writer in writers {
        committed += usize::from(writer.await.unwrap());
    }
    assert_eq!(committed, 4);
    assert_eq!(stored(&other).await, vec![1, 2, 4, 6, 8]);
    // The refusals did not end the batch: the five stored writes shared commits. (How many
    // depends on the batch's 5 ms bound, which a loaded machine can reach mid-queue.)
    let commits = db.commit_stats().commits;
    assert!(
        commits < 5,
        "every write committed alone ({commits} commits)"
    );
}

#[tokio::test]
async fn a_writer_dropped_mid_turn_still_lets_its_batch_commit() {
    let (db, other, _dir) = sqlite().await;
    let (acknowledged, second) = committed_behind_a_writer(&db).await;
    insert(&second, 2).await.unwrap();
    // The last writer of the batch goes away without committing or rolling back.
    drop(second);
    tokio::time::timeout(Duration::from_secs(5), acknowledged)
        .await
        .expect("the batch was left open")
        .unwrap()
        .unwrap();
    assert_eq!(stored(&other).await, vec![1]);
}

#[tokio::test]
async fn a_commit_whose_request_is_dropped_still_answers_the_rest_of_its_batch() {
    // Where the drop lands among the polls depends on timing: try every count up to a bound.
    for polls in 1..=60 {
        let (db, other, _dir) = sqlite().await;
        let (acknowledged, second) = committed_behind_a_writer(&db).await;
        insert(&second, 2).await.unwrap();
        let mut commit = Box::pin(second.commit());
        for _ in 0..polls {
            if (&mut commit).now_or_never().is_some() {
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(commit);
        let answer = tokio::time::timeout(Duration::from_secs(5), acknowledged)
            .await
            .expect("the waiting writer got no answer")
            .unwrap();
        assert!(
            answer.is_ok(),
            "dropped after {polls} polls, it failed: {answer:?}"
        );
        assert!(stored(&other).await.contains(&1));
    }
}

/// Polls `future` up to `polls` times (yielding in between, so that the tasks it spawned make
/// progress), then drops it unless it is done.
async fn dropped_after<F: Future>(future: F, polls: usize) -> Option<F::Output> {
    let mut future = Box::pin(future);
    for _ in 0..polls {
        if let Some(output) = (&mut future).now_or_never() {
            return Some(output);
        }
        tokio::task::yield_now().await;
    }
    None
}

#[tokio::test]
async fn a_writer_dropped_at_any_await_point_leaves_the_next_batch_able_to_commit() {
    // Each of a writer's steps (waiting for the turn and opening its savepoint, writing,
    // committing, rolling back) dropped after every number of polls up to a bound: where the
    // drop lands among the awaits depends on timing, so the bound is well past the steps' own.
    for polls in 0..=40 {
        let (db, other, _dir) = sqlite().await;
        let group = db.group.clone().unwrap();
        let _ = dropped_after(group.begin(), polls).await;

        let writing = group.begin().await.unwrap();
        let _ = dropped_after(insert_in(writing.savepoint().unwrap(), 1), polls).await;
        drop(writing);

        let committing = group.begin().await.unwrap();
        insert_in(committing.savepoint().unwrap(), 2).await.unwrap();
        let committed = dropped_after(committing.commit(), polls).await;

        let rolling_back = group.begin().await.unwrap();
        insert_in(rolling_back.savepoint().unwrap(), 3)
            .await
            .unwrap();
        let _ = dropped_after(rolling_back.rollback(), polls).await;

        let next = async {
            let txn = db.begin_write().await?;
            insert(&txn, 4).await?;
            txn.commit().await
        };
        tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .unwrap_or_else(|_| panic!("after drops at {polls} polls the next batch hangs"))
            .unwrap_or_else(|err| panic!("after drops at {polls} polls: {err}"));
        let rows = stored(&other).await;
        assert!(rows.contains(&4), "{polls} polls: {rows:?}");
        assert!(
            !rows.contains(&1),
            "a write never committed was stored: {rows:?}"
        );
        assert!(
            !rows.contains(&3),
            "a rolled back write was stored: {rows:?}"
        );
        if let Some(answer) = committed {
            assert!(
                answer.is_ok() && rows.contains(&2),
                "{polls} polls: {rows:?}"
            );
        }
        assert_eq!(group.queued.load(Ordering::SeqCst), 0, "{polls} polls");
    }
}

#[tokio::test]
async fn a_wait_for_the_turn_that_is_given_up_no_longer_counts_as_queued() {
    use super::Queued;
    let (db, _other, _dir) = sqlite().await;
    let group = db.group.clone().unwrap();
    let _held = group.turn.clone().lock_owned().await;
    let waiting = async {
        let _queued = Queued::join(&group.queued);
        group.turn.clone().lock_owned().await
    };
    assert!(
        dropped_after(waiting, 3).await.is_none(),
        "the turn is held"
    );
    assert_eq!(group.queued.load(Ordering::SeqCst), 0);
}
