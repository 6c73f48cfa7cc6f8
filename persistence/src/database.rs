//! The connection pool, its settings per backend, migrations and the write gate.

use crate::{
    Error,
    error::{Result, in_storage},
    migrations::Migrator,
};
use async_trait::async_trait;
use domain::health::Readiness;
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseConnectionType,
    DatabaseTransaction, DbBackend, QuerySelect, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
    sea_query::{LockBehavior, LockType},
    sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};
use sea_orm_migration::MigratorTrait;
use std::{str::FromStr, sync::Arc, time::Duration};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The advisory lock key instances migrate under ("mig" in ASCII, to be recognisable).
const MIGRATION_LOCK: i64 = 0x006d_6967;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub url: String,
    /// Most connections the pool opens.
    pub max_connections: u32,
}

/// A pool of connections to the service's database, SQLite or PostgreSQL.
///
/// Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Database {
    conn: DatabaseConnection,
    url: Arc<str>,
    /// SQLite has one writer at a time. Queuing writers here, in process, instead of in SQLite's
    /// busy handler (which sleeps and retries) keeps write latency flat under load. PostgreSQL
    /// locks rows itself and has no gate.
    write_gate: Option<Arc<Mutex<()>>>,
    max_connections: u32,
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

/// A write transaction, holding the write gate (on SQLite) until it commits or drops.
pub(crate) struct WriteTxn {
    pub(crate) txn: DatabaseTransaction,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    /// Commits the transaction and opens the gate.
    pub(crate) async fn commit(self) -> Result<()> {
        Ok(self.txn.commit().await?)
    }

    /// Rolls the transaction back and opens the gate.
    pub(crate) async fn rollback(self) -> Result<()> {
        Ok(self.txn.rollback().await?)
    }
}

impl Database {
    /// Opens the pool. A SQLite database file (and its directory) is created when missing,
    /// in WAL mode with a busy timeout, `synchronous=NORMAL` and foreign keys on.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self> {
        let mut options = ConnectOptions::new(settings.url.clone());
        options
            .max_connections(settings.max_connections.max(1))
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        let sqlite = settings.url.starts_with("sqlite:");
        if sqlite {
            create_sqlite_directory(&settings.url)?;
            options.map_sqlx_sqlite_opts(|opts| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // NORMAL in WAL mode: a commit survives a crash of the process; only an OS
                    // crash or power loss can take the last commits back.
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        } else if !settings.url.starts_with("postgres") {
            return Err(Error::Settings(
                "DATABASE_URL must start with sqlite: or postgres:".into(),
            ));
        }
        let conn = sea_orm::Database::connect(options).await?;
        Ok(Self {
            conn,
            url: settings.url.as_str().into(),
            write_gate: sqlite.then(|| Arc::new(Mutex::new(()))),
            max_connections: settings.max_connections.max(1),
        })
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

    /// Closes every connection of the pool.
    pub async fn close(&self) -> Result<()> {
        Ok(self.conn.close_by_ref().await?)
    }

    /// The backend behind the pool.
    pub(crate) fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// `query` with the rows it reads locked for update until the transaction ends, on
    /// PostgreSQL; SQLite has no row locks, and its one writer (the write gate) serialises
    /// writes instead.
    pub(crate) fn locking<Q: QuerySelect>(&self, query: Q) -> Q {
        match self.backend() {
            DbBackend::Postgres => query.lock_exclusive(),
            _ => query,
        }
    }

    /// `query` locking the rows it reads for update and skipping those another transaction
    /// holds, on PostgreSQL: concurrent claimers (of several instances) then take disjoint rows
    /// without waiting for each other. SQLite has no row locks; its write gate makes a claim
    /// exclusive instead.
    pub(crate) fn claiming<Q: QuerySelect>(&self, query: Q) -> Q {
        match self.backend() {
            DbBackend::Postgres => {
                query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            }
            _ => query,
        }
    }

    /// The pool, for reads, and for single-statement writes made through [`Database::gated`].
    pub(crate) fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Runs `write`, a single statement on the pool, behind the write gate (on SQLite).
    ///
    /// Writes of more than one statement take a transaction, [`Database::begin_write`].
    pub(crate) async fn gated<T>(&self, write: impl Future<Output = T>) -> T {
        // The future is lazy: it takes its connection when polled, behind the gate, so that a
        // writer waiting at the gate holds no connection.
        let _gate = self.gate().await;
        write.await
    }

    /// Waits for the write gate (SQLite only); hold the guard while writing.
    pub(crate) async fn gate(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        }
    }

    /// Begins a write transaction: behind the gate and `BEGIN IMMEDIATE` on SQLite, so that a
    /// transaction which reads before it writes never has to upgrade its lock.
    ///
    /// The gate and the BEGIN run in a task of their own, which a dropped request cannot stop
    /// halfway: sqlx 0.9 forgets a PostgreSQL BEGIN cancelled before its answer, and the pool
    /// then lends out a connection inside a transaction nobody ends, where the next request's
    /// writes would wait uncommitted (launchbadge/sqlx#4393). Finished in its task, the
    /// transaction is rolled back when nobody is left to take it.
    pub(crate) async fn begin_write(&self) -> Result<WriteTxn> {
        let db = self.clone();
        tokio::spawn(async move {
            // Gate first, connection second: a task waiting at the gate holds no connection,
            // so the gate holder can always get one.
            let gate = db.gate().await;
            let options = TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            };
            let txn = db.conn.begin_with_options(options).await?;
            Ok(WriteTxn { txn, _gate: gate })
        })
        .await?
    }
}

#[async_trait]
impl Readiness for Database {
    async fn check(&self) -> domain::Result<()> {
        in_storage(async { Ok(self.conn.ping().await?) }).await
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
mod tests;
