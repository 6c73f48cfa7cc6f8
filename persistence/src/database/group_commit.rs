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
//!
//! Its guarantees hold whatever its callers do, a request dropped at any await point
//! included: a writer counts as queued only while it waits ([`Queued`]); the waiting, the
//! BEGIN, the release of a savepoint and a batch's commit each run in a task of their own,
//! which a dropped caller cannot stop halfway; and a [`Member`] ends its savepoint before its
//! turn passes on, in its own `Drop`.

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
/// Age past which a batch commits at the end of the current turn, even with writers queued
/// for the next one. There is no timer: a batch is only looked at when a turn ends, which
/// under load is every few hundred microseconds.
pub(crate) const MAX_OPEN: Duration = Duration::from_millis(5);

/// Commits shared by concurrent writers of one SQLite database.
pub(crate) struct GroupCommit {
    pool: DatabaseConnection,
    /// The turn to write; its holder writes into the open batch, if any.
    turn: Arc<Mutex<Option<Batch>>>,
    /// Writers queued for the turn: while any are, a batch waits for them.
    pub(super) queued: AtomicUsize,
    commits: AtomicU64,
    members: AtomicU64,
}

/// How a batch's commit went, as every member is told: the error is shared, not copied.
type Told = Option<std::result::Result<(), Arc<Error>>>;

/// The open transaction of a batch and the writers that wait for its commit.
struct Batch {
    txn: DatabaseTransaction,
    opened: Instant,
    /// Writes released into the transaction so far.
    members: usize,
    /// Tells the waiting members how the commit went.
    committed: watch::Sender<Told>,
}

/// How many commits carried how many writes, since start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitStats {
    /// Transactions committed by the group.
    pub commits: u64,
    /// Writes those commits carried (their mean batch is `writes / commits`).
    pub writes: u64,
}

/// A writer counted as queued for the turn, from when it starts waiting until it has the turn
/// or is dropped: the count that decides whether a batch waits can never keep a writer that
/// went away.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn join(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One writer's place in a batch: its savepoint and the turn it holds, owned together so that
/// the savepoint always ends before the turn passes on.
pub(crate) struct Member {
    savepoint: Option<DatabaseTransaction>,
    turn: Option<Turn>,
}

/// The turn to write, held by one writer at a time.
struct Turn {
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
    /// none), in a task of its own: a caller dropped meanwhile leaves a member nobody holds,
    /// which rolls its savepoint back and passes the turn on.
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<Member> {
        let group = self.clone();
        tokio::spawn(async move {
            let queued = Queued::join(&group.queued);
            let guard = group.turn.clone().lock_owned().await;
            drop(queued);
            let mut turn = Turn {
                guard: Some(guard),
                group: group.clone(),
            };
            let savepoint = turn.batch().await?.txn.begin().await?;
            Ok(Member {
                savepoint: Some(savepoint),
                turn: Some(turn),
            })
        })
        .await?
    }

    /// Commits the batch under `guard` for all its members, and tells them.
    async fn commit(&self, guard: &mut OwnedMutexGuard<Option<Batch>>) -> Result<()> {
        let Some(batch) = guard.take() else {
            return Ok(());
        };
        let committed = (batch.txn.commit().await).map_err(|err| Arc::new(Error::from(err)));
        if batch.members > 0 {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.members
                .fetch_add(batch.members as u64, Ordering::Relaxed);
        }
        batch.committed.send_replace(Some(committed.clone()));
        committed.map_err(Error::Commit)
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

impl Member {
    /// The savepoint to write in.
    pub(crate) fn savepoint(&self) -> Result<&DatabaseTransaction> {
        self.savepoint.as_ref().ok_or(Error::TurnEnded)
    }

    /// Releases the savepoint into the batch and returns once the batch has committed (or
    /// failed to), in a task of its own: a caller dropped meanwhile must not cut a commit that
    /// carries other writers' writes, nor leave them waiting for it.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let savepoint = self.savepoint.take().ok_or(Error::TurnEnded)?;
        let turn = self.turn.take().ok_or(Error::TurnEnded)?;
        tokio::spawn(async move {
            savepoint.commit().await?;
            turn.committed().await
        })
        .await?
    }

    /// Rolls the savepoint back and passes the turn on (in a task of its own, as
    /// [`Member::commit`]).
    pub(crate) async fn rollback(mut self) -> Result<()> {
        let savepoint = self.savepoint.take().ok_or(Error::TurnEnded)?;
        let turn = self.turn.take().ok_or(Error::TurnEnded)?;
        tokio::spawn(async move {
            let rolled_back = savepoint.rollback().await;
            turn.rolled_back().await;
            Ok(rolled_back?)
        })
        .await?
    }
}

impl Drop for Member {
    /// A member nobody ends (its request dropped mid-write) ends itself: its savepoint first
    /// (a dropped transaction queues its rollback on the batch's connection at once), so that
    /// the next writer to get the turn finds none of it; then its turn.
    fn drop(&mut self) {
        drop(self.savepoint.take());
        drop(self.turn.take());
    }
}

impl Turn {
    /// The open batch, opened (`BEGIN IMMEDIATE`) when there is none.
    async fn batch(&mut self) -> Result<&mut Batch> {
        let guard = self.guard.as_mut().ok_or(Error::TurnEnded)?;
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
        guard.as_mut().ok_or(Error::TurnEnded)
    }

    /// Ends the turn of a writer whose savepoint was released: the write is in the batch,
    /// and this returns once the batch has committed (or failed to).
    async fn committed(mut self) -> Result<()> {
        let mut guard = self.guard.take().ok_or(Error::TurnEnded)?;
        let Some(batch) = guard.as_mut() else {
            return Err(Error::TurnEnded);
        };
        batch.members += 1;
        if self.group.due(batch) {
            return self.group.commit(&mut guard).await;
        }
        let mut told = batch.committed.subscribe();
        drop(guard);
        let outcome = (told.wait_for(Option::is_some).await)
            .ok()
            .and_then(|seen| seen.clone());
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(failed)) => Err(Error::Commit(failed)),
            // The batch went without a word: its committer was stopped halfway.
            None => Err(Error::TurnEnded),
        }
    }

    /// Ends the turn of a writer whose savepoint was rolled back.
    async fn rolled_back(mut self) {
        if let Some(guard) = self.guard.take() {
            self.group.pass(guard).await;
        }
    }
}

impl Drop for Turn {
    /// A turn nobody ended still ends: the batch's other members must not wait for a commit
    /// nobody makes.
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            let group = self.group.clone();
            tokio::spawn(async move { group.pass(guard).await });
        }
    }
}

#[cfg(test)]
mod tests;
