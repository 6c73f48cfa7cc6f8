//! The connection pool, its settings per backend, migrations and the write path: group
//! commit on SQLite, plain transactions on PostgreSQL.

mod group_commit;

pub use group_commit::CommitStats;

use crate::{
    Error,
    error::{Result, in_storage},
    migrations::Migrator,
    wakeups::{self, HubWakeups, WakeupHub},
};
use async_trait::async_trait;
use domain::health::Readiness;
use domain::streams::Topic;
use group_commit::{GroupCommit, Member};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseConnectionType,
    DatabaseTransaction, DbBackend, QuerySelect, Statement, TransactionTrait,
    sea_query::{LockBehavior, LockType},
    sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};
use sea_orm_migration::MigratorTrait;
use std::{str::FromStr, sync::Arc, time::Duration};

/// How long a request waits for a connection (or, when the database does not answer, for the
/// pool to open one) before it is answered 503: a stopped database must cost a client about a
/// second, not a hang. The pool goes on reconnecting in the background meanwhile.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a SQLite write waits for a lock another process holds on the file. Writers of this
/// process queue in the group commit instead, so only an outside locker meets this.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a readiness probe waits for the database's answer: less than a probe's usual
/// timeout, even when the database hangs rather than refuses.
const READINESS_TIMEOUT: Duration = Duration::from_millis(900);

/// The advisory lock key instances migrate under ("mig" in ASCII, to be recognisable).
const MIGRATION_LOCK: i64 = 0x006d_6967;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub url: String,
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// What an acknowledged write survives (SQLite; PostgreSQL keeps its own setting).
    pub durability: Durability,
}

/// What a write survives once it is acknowledged, on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A crash of the process, of the operating system, or a power cut: every commit waits for
    /// the WAL to reach stable storage (`synchronous=FULL`). Concurrent writes share a commit.
    #[default]
    PowerLoss,
    /// A crash of the process only: commits do not wait for the disk (`synchronous=NORMAL`),
    /// so an OS crash or a power cut can take the last acknowledged writes back.
    ProcessCrashOnly,
}

/// A pool of connections to the service's database, SQLite or PostgreSQL.
///
/// Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Database {
    conn: DatabaseConnection,
    url: Arc<str>,
    /// SQLite has one writer at a time. Queuing writers here, in process, instead of in SQLite's
    /// busy handler (which sleeps and retries), keeps write latency flat under load, and lets
    /// the queued writers share one commit. PostgreSQL locks rows itself and groups commits in
    /// the server.
    group: Option<Arc<GroupCommit>>,
    max_connections: u32,
    /// Wakes this process's followers of the topics writes announce.
    hub: Arc<WakeupHub>,
}

/// How the pool's connections are used right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open.
    pub open: u32,
    /// Open connections not lent out.
    pub idle: u32,
    /// Most connections the pool opens.
    pub max: u32,
}

/// A write transaction: on SQLite a member of a group commit's batch (a savepoint, holding
/// the turn to write until it commits or drops); on PostgreSQL a transaction of its own. The
/// topics it announces wake their followers once it has committed, on every instance.
pub(crate) struct WriteTxn {
    write: Write,
    announced: Vec<Topic>,
    hub: Arc<WakeupHub>,
}

enum Write {
    /// A savepoint in the group commit's open batch.
    Batched(Member),
    /// A transaction of its own.
    Own(DatabaseTransaction),
}

impl WriteTxn {
    /// The connection to write through.
    pub(crate) fn conn(&self) -> Result<&DatabaseTransaction> {
        match &self.write {
            Write::Batched(member) => member.savepoint(),
            Write::Own(txn) => Ok(txn),
        }
    }

    /// Announces that this write changes `topics`: on PostgreSQL a `NOTIFY` of each in the
    /// transaction (one statement), which other instances hear at its commit; here, wake-ups
    /// once it has committed.
    pub(crate) async fn announce(&mut self, topics: impl IntoIterator<Item = Topic>) -> Result<()> {
        let first = self.announced.len();
        self.announced.extend(topics);
        let announced = &self.announced[first..];
        if let Write::Own(txn) = &self.write
            && txn.get_database_backend() == DbBackend::Postgres
            && !announced.is_empty()
        {
            let calls: Vec<String> = (0..announced.len())
                .map(|n| format!("pg_notify($1, ${})", n + 2))
                .collect();
            let values = std::iter::once(wakeups::CHANNEL.into()).chain(
                announced
                    .iter()
                    .map(|topic| wakeups::payload(*topic).into()),
            );
            let notify = Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT {}", calls.join(", ")),
                values,
            );
            txn.execute_raw(notify).await?;
        }
        Ok(())
    }

    /// Commits the write; returns once it is durable as the settings ask (on SQLite, once its
    /// batch has committed), and wakes the followers of what it announced.
    pub(crate) async fn commit(self) -> Result<()> {
        match self.write {
            Write::Batched(member) => member.commit().await?,
            Write::Own(txn) => txn.commit().await?,
        }
        for topic in self.announced {
            self.hub.wake(topic);
        }
        Ok(())
    }

    /// Rolls the write back.
    pub(crate) async fn rollback(self) -> Result<()> {
        match self.write {
            Write::Batched(member) => member.rollback().await,
            Write::Own(txn) => Ok(txn.rollback().await?),
        }
    }
}

impl Database {
    /// Opens the pool. A SQLite database file (and its directory) is created when missing,
    /// in WAL mode with a busy timeout, foreign keys on, and `synchronous` as `durability`
    /// asks.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self> {
        let mut options = ConnectOptions::new(settings.url.clone());
        options
            .max_connections(settings.max_connections.max(1))
            .min_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .sqlx_logging(false);
        let sqlite = settings.url.starts_with("sqlite:");
        if sqlite {
            create_sqlite_directory(&settings.url)?;
            let synchronous = match settings.durability {
                Durability::PowerLoss => SqliteSynchronous::Full,
                Durability::ProcessCrashOnly => SqliteSynchronous::Normal,
            };
            options.map_sqlx_sqlite_opts(move |opts| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL in WAL mode syncs the WAL at every commit; NORMAL only at
                    // checkpoints, so a commit survives a crash of the process but not
                    // necessarily one of the OS.
                    .synchronous(synchronous)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
            });
        } else if !settings.url.starts_with("postgres") {
            return Err(Error::Settings(
                "DATABASE_URL must start with sqlite: or postgres:".into(),
            ));
        }
        let conn = sea_orm::Database::connect(options).await?;
        let hub = if sqlite {
            WakeupHub::in_process()
        } else {
            WakeupHub::listening(conn.get_postgres_connection_pool())
        };
        Ok(Self {
            conn: conn.clone(),
            url: settings.url.as_str().into(),
            group: sqlite.then(|| GroupCommit::new(conn.clone())),
            max_connections: settings.max_connections.max(1),
            hub,
        })
    }

    /// The file of a SQLite database on disk; `None` on PostgreSQL and for an in-memory SQLite
    /// database.
    pub(crate) fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        if !self.url.starts_with("sqlite:") {
            return None;
        }
        let options = SqliteConnectOptions::from_str(&self.url).ok()?;
        let file = options.get_filename();
        file.is_file().then(|| file.to_path_buf())
    }

    /// The pool's connections: open, idle and the most it opens.
    pub fn pool_stats(&self) -> PoolStats {
        let (open, idle) = match &self.conn.inner {
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                let pool = self.conn.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                let pool = self.conn.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => (0, 0),
        };
        PoolStats {
            open,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max: self.max_connections,
        }
    }

    /// Applies every pending migration. On PostgreSQL, instances starting together take turns
    /// (a session advisory lock on a connection of its own): the first migrates, the others
    /// find nothing left to do.
    pub async fn migrate(&self) -> Result<()> {
        if self.backend() != DbBackend::Postgres {
            return Ok(Migrator::up(&self.conn, None).await?);
        }
        let mut options = ConnectOptions::new(self.url.to_string());
        options.max_connections(1).sqlx_logging(false);
        let lock = sea_orm::Database::connect(options).await?;
        lock.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .await?;
        let migrated = Migrator::up(&self.conn, None).await;
        let unlocked = lock
            .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .await;
        let _ = lock.close().await;
        migrated?;
        unlocked?;
        Ok(())
    }

    /// Closes every connection of the pool, and stops listening for other instances' changes.
    pub async fn close(&self) -> Result<()> {
        self.hub.stop();
        Ok(self.conn.close_by_ref().await?)
    }

    /// Waits until this pool hears every change committed to its database (on PostgreSQL, its
    /// listener is up), and a moment longer, for the wake-up that follows.
    #[cfg(test)]
    pub(crate) async fn hearing(&self) {
        while !self.hub.hearing() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// What wakes the followers of stored events, on this database.
    pub fn wakeups(&self) -> Arc<dyn domain::streams::Wakeups> {
        Arc::new(HubWakeups(self.hub.clone()))
    }

    /// Whether this process is the database's only user: SQLite, whose file one process
    /// serves, unlike a PostgreSQL server that several instances share.
    pub(crate) fn owns_the_database(&self) -> bool {
        self.group.is_some()
    }

    /// The backend behind the pool.
    pub(crate) fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// `query` with the rows it reads locked for update until the transaction ends, on
    /// PostgreSQL; SQLite has no row locks, and its one writer (the group commit's turn) serialises
    /// writes instead.
    pub(crate) fn locking<Q: QuerySelect>(&self, query: Q) -> Q {
        match self.backend() {
            DbBackend::Postgres => query.lock_exclusive(),
            _ => query,
        }
    }

    /// `query` locking the rows it reads for update and skipping those another transaction
    /// holds, on PostgreSQL: concurrent claimers (of several instances) then take disjoint rows
    /// without waiting for each other. SQLite has no row locks; the group commit's one writer makes a claim
    /// exclusive instead.
    pub(crate) fn claiming<Q: QuerySelect>(&self, query: Q) -> Q {
        match self.backend() {
            DbBackend::Postgres => {
                query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            }
            _ => query,
        }
    }

    /// The pool, for reads. Writes go through [`Database::begin_write`].
    pub(crate) fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// How many commits carried how many writes (SQLite's group commit; zero on PostgreSQL).
    pub fn commit_stats(&self) -> CommitStats {
        self.group
            .as_ref()
            .map_or_else(CommitStats::default, |group| group.stats())
    }

    /// Begins a write: on SQLite a savepoint in the open batch of the group commit, once it is
    /// this writer's turn (a batch's transaction is `BEGIN IMMEDIATE`, so that a write which
    /// reads first never has to upgrade its lock); on PostgreSQL a transaction.
    ///
    /// A PostgreSQL BEGIN runs in a task of its own, which a dropped request cannot stop
    /// halfway: sqlx 0.9 forgets a BEGIN cancelled before its answer, and the pool then lends
    /// out a connection inside a transaction nobody ends, where the next request's writes would
    /// wait uncommitted (launchbadge/sqlx#4393). Finished in its task, the transaction is
    /// rolled back when nobody is left to take it. The group commit keeps its own guarantees.
    pub(crate) async fn begin_write(&self) -> Result<WriteTxn> {
        let write = match &self.group {
            Some(group) => Write::Batched(group.begin().await?),
            None => {
                let conn = self.conn.clone();
                Write::Own(tokio::spawn(async move { conn.begin().await }).await??)
            }
        };
        Ok(WriteTxn {
            write,
            announced: Vec::new(),
            hub: self.hub.clone(),
        })
    }
}

#[async_trait]
impl Readiness for Database {
    async fn check(&self) -> domain::Result<()> {
        in_storage(async {
            match tokio::time::timeout(READINESS_TIMEOUT, self.conn.ping()).await {
                Ok(answer) => Ok(answer?),
                Err(_) => Err(Error::Unanswered(READINESS_TIMEOUT)),
            }
        })
        .await
    }
}

/// A row count as a SQL `LIMIT`: the drivers bind it as a signed 64-bit integer.
pub(crate) fn sql_limit(limit: usize) -> u64 {
    u64::try_from(limit).map_or(i64::MAX as u64, |n| n.min(i64::MAX as u64))
}

fn create_sqlite_directory(url: &str) -> Result<()> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|err| Error::Settings(format!("invalid SQLite URL: {err}")))?;
    if let Some(dir) = options.get_filename().parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|err| Error::Settings(format!("cannot create {}: {err}", dir.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod outage_tests;
#[cfg(test)]
mod tests;
