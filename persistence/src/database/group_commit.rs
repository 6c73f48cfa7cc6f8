//! Group commit for SQLite: concurrent writes share one transaction and one sync of the WAL.
//!
//! SQLite has one writer at a time, and with `synchronous=FULL` every commit waits for an
//! `fsync` of the WAL. Writers queue for their turn here; a turn opens a savepoint in the
//! batch's transaction (opening the transaction first when there is none), so a write that
//! fails or is refused rolls back only itself. A writer whose savepoint is released does not
//! answer yet: it waits until the batch commits. The batch commits, once for all its members,
//! when a turn ends and nobody is waiting for the next one, or when it has grown to
//! [`MAX_MEMBERS`] or has been open for [`MAX_OPEN`]. Under load, the writers that queue up
//! during one commit's `fsync` form the next batch; alone, a writer commits at once.

use crate::error::{Error, Result};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

/// Most writes one commit carries.
pub(crate) const MAX_MEMBERS: usize = 256;
/// Longest a batch stays open while writers keep arriving.
pub(crate) const MAX_OPEN: Duration = Duration::from_millis(5);

/// Commits shared by concurrent writers of one SQLite database.
pub(crate) struct GroupCommit {
    pool: DatabaseConnection,
    /// The turn to write; its holder writes into the open batch, if any.
    turn: Arc<Mutex<Option<Batch>>>,
    /// Writers queued for the turn: while any are, a batch waits for them.
    queued: AtomicUsize,
    commits: AtomicU64,
    members: AtomicU64,
}

/// The open transaction of a batch and the writers that wait for its commit.
struct Batch {
    txn: DatabaseTransaction,
    opened: Instant,
    /// Writes released into the transaction so far.
    members: usize,
    /// Tells the waiting members how the commit went.
    committed: watch::Sender<Option<std::result::Result<(), Error>>>,
}

/// How many commits carried how many writes, since start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitStats {
    /// Transactions committed by the group.
    pub commits: u64,
    /// Writes those commits carried (their mean batch is `writes / commits`).
    pub writes: u64,
}

/// One writer's turn: its savepoint's transaction is handed out beside this.
pub(crate) struct Turn {
    guard: Option<OwnedMutexGuard<Option<Batch>>>,
    group: Arc<GroupCommit>,
}

impl GroupCommit {
    /// Group commit over `pool`.
    pub(crate) fn new(pool: DatabaseConnection) -> Arc<Self> {
        Arc::new(Self {
            pool,
            turn: Arc::new(Mutex::new(None)),
            queued: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            members: AtomicU64::new(0),
        })
    }

    /// Commits and writes so far.
    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.commits.load(Ordering::Relaxed),
            writes: self.members.load(Ordering::Relaxed),
        }
    }

    /// Waits for the turn and opens a savepoint in the open batch (opening one when there is
    /// none). The savepoint's transaction comes with the turn that must end it.
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<(DatabaseTransaction, Turn)> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let guard = self.turn.clone().lock_owned().await;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        let mut turn = Turn {
            guard: Some(guard),
            group: self.clone(),
        };
        let batch = turn.batch().await?;
        let savepoint = batch.txn.begin().await?;
        Ok((savepoint, turn))
    }

    /// Commits the batch under `guard` for all its members, and tells them.
    async fn commit(&self, guard: &mut OwnedMutexGuard<Option<Batch>>) -> Result<()> {
        let Some(batch) = guard.take() else {
            return Ok(());
        };
        let committed = batch.txn.commit().await.map_err(Error::from);
        if batch.members > 0 {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.members
                .fetch_add(batch.members as u64, Ordering::Relaxed);
        }
        let told = committed.as_ref().map(|_| ()).map_err(|err| Error::Commit {
            message: err.to_string(),
            outage: err.outage(),
        });
        batch.committed.send_replace(Some(told));
        committed
    }

    /// Whether the batch under a turn that ends now should commit now rather than wait for
    /// the writers queued behind it.
    fn due(&self, batch: &Batch) -> bool {
        self.queued.load(Ordering::SeqCst) == 0
            || batch.members >= MAX_MEMBERS
            || batch.opened.elapsed() >= MAX_OPEN
    }

    /// Ends a turn whose writer left no write to wait for: commits the batch if it is due,
    /// for the members already in it, and passes the turn on.
    async fn pass(&self, mut guard: OwnedMutexGuard<Option<Batch>>) {
        let due = guard.as_ref().is_some_and(|batch| self.due(batch));
        if due && let Err(err) = self.commit(&mut guard).await {
            tracing::error!(error = %err, "group commit failed");
        }
    }
}

impl Turn {
    /// The open batch, opened (`BEGIN IMMEDIATE`) when there is none.
    async fn batch(&mut self) -> Result<&mut Batch> {
        let guard = self.guard.as_mut().ok_or_else(ended)?;
        if guard.is_none() {
            let options = TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            };
            let txn = self.group.pool.begin_with_options(options).await?;
            **guard = Some(Batch {
                txn,
                opened: Instant::now(),
                members: 0,
                committed: watch::channel(None).0,
            });
        }
        guard.as_mut().ok_or_else(ended)
    }

    /// Ends the turn of a writer whose savepoint was released: the write is in the batch,
    /// and this returns once the batch has committed (or failed to).
    pub(crate) async fn committed(mut self) -> Result<()> {
        let mut guard = self.guard.take().ok_or_else(ended)?;
        let Some(batch) = guard.as_mut() else {
            return Err(ended());
        };
        batch.members += 1;
        if self.group.due(batch) {
            return self.group.commit(&mut guard).await;
        }
        let mut told = batch.committed.subscribe();
        drop(guard);
        match told.wait_for(Option::is_some).await {
            Ok(outcome) => match outcome.as_ref() {
                Some(Ok(())) => Ok(()),
                Some(Err(Error::Commit { message, outage })) => Err(Error::Commit {
                    message: message.clone(),
                    outage: *outage,
                }),
                Some(Err(_)) => Err(ended()),
                None => Err(ended()),
            },
            Err(_) => Err(ended()),
        }
    }

    /// Ends the turn of a writer whose savepoint was rolled back.
    pub(crate) async fn rolled_back(mut self) {
        if let Some(guard) = self.guard.take() {
            self.group.pass(guard).await;
        }
    }
}

impl Drop for Turn {
    /// A writer that went away mid-turn (its request dropped) still ends its turn: whatever
    /// it left is rolled back with its savepoint, and the batch's other members must not wait
    /// for a commit nobody makes.
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            let group = self.group.clone();
            tokio::spawn(async move { group.pass(guard).await });
        }
    }
}

fn ended() -> Error {
    Error::Commit {
        message: "the write's turn ended before its batch was committed".into(),
        outage: None,
    }
}

#[cfg(test)]
mod tests;
