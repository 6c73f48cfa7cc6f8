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

    /// E-mail address of the admin to create (or promote) at start-up. With no admin settings
    /// there is no admin.
    #[arg(long, env = "ADMIN_EMAIL", requires = "admin_password")]
    pub admin_email: Option<String>,

    /// Password of the admin created at start-up (an existing user keeps theirs).
    #[arg(
        long,
        env = "ADMIN_PASSWORD",
        requires = "admin_email",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,

    /// Key signing bearer tokens, at least 32 bytes. Default: generated on first start and kept
    /// in `<data-dir>/token.key`. Instances sharing a database must share the key.
    #[arg(long, env = "TOKEN_KEY", hide_env_values = true)]
    pub token_key: Option<String>,

    /// Seconds a bearer token stays valid.
    #[arg(long, env = "TOKEN_TTL_SECONDS", default_value_t = 3600)]
    pub token_ttl_seconds: u64,

    /// Seconds a user's credentials are cached for token checks. This process's own changes
    /// apply at once; another instance's (password change, deletion) within this time.
    #[arg(long, env = "AUTH_CACHE_SECONDS", default_value_t = 5)]
    pub auth_cache_seconds: u64,

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
