//! The persistence crate's error type, converted once into [`domain::Error`].

use sea_orm::{DbErr, sqlx};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// A stored row does not hold a valid domain value.
    #[error("stored {what} is invalid: {reason}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why it does not parse.
        reason: String,
    },
    /// Password hashing failed.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// Reading or writing a stored file failed.
    #[error("file storage failed: {0}")]
    Io(#[source] std::io::Error),
    /// A task of its own (blocking work, a BEGIN) panicked or was cancelled.
    #[error("blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The commit that carried a write (with others, on SQLite) failed: the write is not
    /// stored. Every writer of the batch shares the one error.
    #[error("commit failed: {0}")]
    Commit(#[source] std::sync::Arc<Error>),
    /// A write's turn in its batch ended before the batch was committed (its committer was
    /// stopped halfway): the write is not known to be stored.
    #[error("the write's turn ended before its batch was committed")]
    TurnEnded,
    /// The database gave no answer within the time allowed.
    #[error("the database did not answer within {0:?}")]
    Unanswered(std::time::Duration),
    /// The object store refused or failed a call.
    #[error("object store error: {0}")]
    Store(#[from] object_store::Error),
    /// The object store gave no answer within the time allowed.
    #[error("the object store did not answer within {0:?}")]
    StoreTimeout(std::time::Duration),
    /// The export's own SQLite connection refused or failed a statement.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The settings name no usable database.
    #[error("invalid database settings: {0}")]
    Settings(String),
    /// A domain rule refused the change (passed through unchanged).
    #[error(transparent)]
    Domain(#[from] domain::Error),
}

impl From<Error> for domain::Error {
    fn from(err: Error) -> Self {
        match err.outage() {
            Some(Outage::Unavailable) => return domain::Error::Unavailable(Box::new(err)),
            Some(Outage::Full) => return domain::Error::StorageFull(Box::new(err)),
            Some(Outage::Store) => return domain::Error::BlobStoreUnavailable(Box::new(err)),
            None => {}
        }
        match err {
            Error::Domain(inner) => inner,
            Error::Db(db) if is_retryable(&db) => {
                tracing::info!(error = %db, "transaction lost a race; the client may retry");
                domain::Error::Conflict("The request collided with a concurrent one; retry it.")
            }
            other => domain::Error::internal(other),
        }
    }
}

/// A failure of storage as a whole rather than of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// The database does not answer, or is busy past its timeout.
    Unavailable,
    /// The disk is full.
    Full,
    /// The object store does not answer, refuses, or is slower than its timeout.
    Store,
}

impl Error {
    /// Whether this failure is an outage of storage, and which.
    pub(crate) fn outage(&self) -> Option<Outage> {
        match self {
            Error::Db(db) => db_outage(db),
            Error::Io(io) => io_outage(io),
            Error::Commit(failed) => failed.outage(),
            Error::Unanswered(_) => Some(Outage::Unavailable),
            Error::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
                code_outage(&failure.extended_code.to_string())
            }
            Error::Store(_) | Error::StoreTimeout(_) => Some(Outage::Store),
            _ => None,
        }
    }
}

/// ENOSPC and EDQUOT: no room on the disk, or none left in the quota.
fn io_outage(io: &std::io::Error) -> Option<Outage> {
    match io.raw_os_error() {
        Some(28 | 122) => Some(Outage::Full),
        _ => None,
    }
}

fn db_outage(err: &DbErr) -> Option<Outage> {
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) => return Some(Outage::Unavailable),
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(sqlx))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(sqlx))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(sqlx)) => sqlx,
        DbErr::Conn(_) => return Some(Outage::Unavailable),
        _ => return None,
    };
    match sqlx.as_ref() {
        sqlx::Error::Io(io) => io_outage(io).or(Some(Outage::Unavailable)),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            Some(Outage::Unavailable)
        }
        sqlx::Error::Database(db) => db.code().and_then(|code| code_outage(&code)),
        _ => None,
    }
}

/// The outage a database error code means: PostgreSQL's SQLSTATEs, SQLite's result codes
/// (extended codes carry the primary one in their low byte).
fn code_outage(code: &str) -> Option<Outage> {
    if let Ok(sqlite) = code.parse::<i32>() {
        return match sqlite & 0xff {
            // SQLITE_BUSY, SQLITE_LOCKED: another writer held the file past the busy timeout.
            5 | 6 => Some(Outage::Unavailable),
            // SQLITE_FULL.
            13 => Some(Outage::Full),
            _ => None,
        };
    }
    match code {
        // disk_full, out_of_memory-like "insufficient resources" stay internal but a full disk
        // is the client's to wait out.
        "53100" => Some(Outage::Full),
        // connection_exception (08xxx), admin_shutdown, crash_shutdown, cannot_connect_now.
        c if c.starts_with("08") => Some(Outage::Unavailable),
        "57P01" | "57P02" | "57P03" => Some(Outage::Unavailable),
        _ => None,
    }
}

/// Whether PostgreSQL aborted the transaction to break a deadlock or keep it serializable:
/// nothing happened, and the same request may well succeed when retried.
fn is_retryable(err: &DbErr) -> bool {
    let (DbErr::Exec(sea_orm::RuntimeErr::SqlxError(sqlx))
    | DbErr::Query(sea_orm::RuntimeErr::SqlxError(sqlx))) = err
    else {
        return false;
    };
    match sqlx.as_database_error().and_then(|db| db.code()) {
        Some(code) => code == "40P01" || code == "40001",
        None => false,
    }
}

/// The result of a storage operation.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs a repository method's storage work, which fails with this crate's error, and converts
/// that error once into the domain's: the trait methods hold their bodies in it.
pub(crate) async fn in_storage<T>(
    work: impl std::future::Future<Output = Result<T>>,
) -> domain::Result<T> {
    Ok(work.await?)
}

/// Reads a stored value back into its domain type.
pub(crate) fn stored<T>(
    what: &'static str,
    parsed: std::result::Result<T, domain::Violation>,
) -> Result<T> {
    parsed.map_err(|violation| Error::Corrupt {
        what,
        reason: violation.message,
    })
}
