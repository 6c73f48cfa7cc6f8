//! The service's settings, from flags or the environment (a flag wins).

use clap::Args;
use std::path::PathBuf;

/// Every setting of the service.
#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// Directory for the embedded database and other data.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://path.db` or `postgres://user@host/db`. Default: a SQLite file
    /// `service.db` in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Most connections in the database pool.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 8)]
    pub database_pool_size: u32,

    /// Largest JSON request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: u64,

    /// Most password hashes computed at once (default: the number of CPUs).
    #[arg(long, env = "HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,

    /// Seconds in-flight requests get to finish after SIGINT or SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    pub shutdown_grace_seconds: u64,
}

impl Settings {
    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("service.db").display()))
    }

    /// How many password hashes may run at once.
    pub fn hash_concurrency(&self) -> usize {
        self.hash_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        })
    }
}
