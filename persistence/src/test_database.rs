//! [`TestDatabase`]: a fresh database for one test, a PostgreSQL database of its own on the
//! server named by `TEST_DATABASE_URL` (created now, dropped when the value is dropped), or,
//! without that setting, a SQLite file in a temporary directory. So every test that uses one
//! runs on either backend, never sees another test's data, and leaves nothing behind.
//!
//! This crate's own tests take one migrated and connected ([`TestDatabase::migrated`]); other
//! crates' tests get the module through the `test-support` feature.

use sea_orm::{ConnectionTrait, Database as Connector};

/// The setting that points tests at a PostgreSQL server.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// Why a test that only PostgreSQL can serve is ignored in the SQLite run, and how to run it.
pub const NEEDS_POSTGRES: &str = "needs PostgreSQL: run with TEST_DATABASE_URL set and \
     --include-ignored, as ./test.sh's PostgreSQL half does";

/// A test database: fresh and empty, of this test alone, deleted when dropped.
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    postgres: Option<Postgres>,
    _dir: Option<tempfile::TempDir>,
}

struct Postgres {
    server: String,
    name: String,
}

impl TestDatabase {
    /// A fresh database: on PostgreSQL when `TEST_DATABASE_URL` is set, else SQLite.
    pub async fn new() -> Self {
        match std::env::var(TEST_DATABASE_URL) {
            Ok(server) if !server.is_empty() => Self::postgres(server).await,
            _ => Self::sqlite(),
        }
    }

    /// A fresh PostgreSQL database, for what only PostgreSQL does (several instances on one
    /// database). Such tests are `#[ignore]`d, with [`NEEDS_POSTGRES`] as the reason, and run in
    /// `./test.sh`'s PostgreSQL half; without `TEST_DATABASE_URL` this fails, saying so.
    pub async fn postgres_required() -> Self {
        match std::env::var(TEST_DATABASE_URL) {
            Ok(server) if !server.is_empty() => Self::postgres(server).await,
            _ => panic!("{NEEDS_POSTGRES}"),
        }
    }

    /// A fresh SQLite database, whatever `TEST_DATABASE_URL` says: for what only SQLite does.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("a temporary directory: {err}"));
        Self {
            url: format!("sqlite://{}/test.db", dir.path().display()),
            postgres: None,
            _dir: Some(dir),
        }
    }

    async fn postgres(server: String) -> Self {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = Connector::connect(server.as_str())
            .await
            .unwrap_or_else(|err| panic!("{TEST_DATABASE_URL}={server} does not answer: {err}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|err| panic!("cannot create a test database: {err}"));
        let _ = admin.close().await;
        let url = match server.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("{TEST_DATABASE_URL} must end in /<database>"),
        };
        Self {
            url,
            postgres: Some(Postgres { server, name }),
            _dir: None,
        }
    }

    /// Whether this is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }
}

/// A [`TestDatabase`], migrated, and a pool connected to it: what this crate's own tests run
/// on. The pool closes before the database is dropped (fields drop in order).
#[cfg(test)]
pub(crate) struct MigratedTestDatabase {
    /// The pool.
    pub(crate) db: crate::Database,
    database: TestDatabase,
}

#[cfg(test)]
impl MigratedTestDatabase {
    /// The database's URL, for a second pool to it.
    pub(crate) fn url(&self) -> &str {
        &self.database.url
    }
}

#[cfg(test)]
impl TestDatabase {
    /// A fresh test database, migrated, with a pool of four connections to it.
    pub(crate) async fn migrated() -> MigratedTestDatabase {
        Self::new().await.migrate().await
    }

    /// This database, migrated, with a pool of four connections to it.
    pub(crate) async fn migrate(self) -> MigratedTestDatabase {
        let database = self;
        let settings = crate::DatabaseSettings {
            url: database.url.clone(),
            max_connections: 4,
            durability: Default::default(),
        };
        let db = crate::Database::connect(&settings)
            .await
            .unwrap_or_else(|err| panic!("cannot connect to {}: {err}", database.url));
        db.migrate()
            .await
            .unwrap_or_else(|err| panic!("cannot migrate a test database: {err}"));
        MigratedTestDatabase { db, database }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(Postgres { server, name }) = self.postgres.take() else {
            return;
        };
        // Drop runs outside any async context it could use: a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| err.to_string())?;
            runtime.block_on(async {
                let admin = Connector::connect(server.as_str())
                    .await
                    .map_err(|err| err.to_string())?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .map_err(|err| err.to_string())?;
                admin.close().await.map_err(|err| err.to_string())
            })
        })
        .join();
        if let Ok(Err(err)) = dropped {
            tracing::warn!(error = %err, "cannot drop a test database");
        }
    }
}
