//! The persistence crate's error type, converted once into [`domain::Error`].

use sea_orm::DbErr;

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
    /// stored.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The settings name no usable database.
    #[error("invalid database settings: {0}")]
    Settings(String),
    /// A domain rule refused the change (passed through unchanged).
    #[error(transparent)]
    Domain(#[from] domain::Error),
}

impl From<Error> for domain::Error {
    fn from(err: Error) -> Self {
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
