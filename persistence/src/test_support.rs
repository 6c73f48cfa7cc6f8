//! A fresh, migrated database for this crate's tests, on the backend `TEST_DATABASE_URL`
//! chooses (see [`crate::scratch`]).

use crate::{Database, DatabaseSettings, scratch::ScratchDatabase};

/// A database and what keeps it alive (dropped, and on PostgreSQL deleted, with it).
pub(crate) struct TestDb {
    pub(crate) db: Database,
    _scratch: ScratchDatabase,
}

/// A fresh, migrated database.
pub(crate) async fn test_db() -> TestDb {
    let scratch = ScratchDatabase::new().await;
    let settings = DatabaseSettings {
        url: scratch.url.clone(),
        max_connections: 4,
    };
    let db = Database::connect(&settings).await.unwrap();
    db.migrate().await.unwrap();
    TestDb {
        db,
        _scratch: scratch,
    }
}
