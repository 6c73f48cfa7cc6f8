//! A fresh, migrated SQLite database in a temporary directory, for this crate's tests.

use crate::{Database, DatabaseSettings};

/// A database and the directory that holds it (deleted when dropped).
pub(crate) struct TestDb {
    pub(crate) db: Database,
    _dir: tempfile::TempDir,
}

/// A fresh, migrated database.
pub(crate) async fn test_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let settings = DatabaseSettings {
        url: format!("sqlite://{}/test.db", dir.path().display()),
        max_connections: 4,
    };
    let db = Database::connect(&settings).await.unwrap();
    db.migrate().await.unwrap();
    TestDb { db, _dir: dir }
}
