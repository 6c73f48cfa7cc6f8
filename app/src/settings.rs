//! The service's settings, from flags or the environment (a flag wins).

use clap::Args;
use domain::{
    throttle::ThrottlePolicy,
    webhooks::{EndpointPolicy, RetrySchedule, WebhookSettings},
};
use std::{path::PathBuf, time::Duration};

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

    /// What an acknowledged write survives on SQLite. `full` (the default): a power cut or an
    /// OS crash too; every commit syncs the WAL to disk, and concurrent writes share that sync.
    /// `process-crash-only`: a crash of the service only; commits skip the sync, so an OS crash
    /// or a power cut can take back the last acknowledged writes. PostgreSQL keeps its own
    /// `synchronous_commit` whatever this says.
    #[arg(long, env = "DURABILITY", value_enum, default_value_t = DurabilityArg::Full)]
    pub durability: DurabilityArg,

    /// Largest JSON request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: u64,

    /// Largest file upload accepted, in bytes.
    #[arg(long, env = "MAX_FILE_BYTES", default_value_t = 100 << 20)]
    pub max_file_bytes: u64,

    /// Directory of stored files. Default: `<data-dir>/files`. Unused with `FILES_URL`.
    #[arg(long, env = "FILES_DIR")]
    pub files_dir: Option<PathBuf>,

    /// Where file bytes are kept instead of `FILES_DIR`: an S3-compatible bucket,
    /// `s3://bucket` or `s3://bucket/prefix`, reached with the `AWS_*` settings. Several
    /// instances on one PostgreSQL database share it.
    #[arg(long, env = "FILES_URL")]
    pub files_url: Option<String>,

    /// The S3 endpoint, for a store other than AWS (`http://` allows plain HTTP).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,

    /// The S3 region (default: `us-east-1`).
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,

    /// The S3 access key id (default: the environment's credentials, such as an instance role).
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub aws_access_key_id: Option<String>,

    /// The S3 secret access key.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub aws_secret_access_key: Option<String>,

    /// The S3 session token, with temporary credentials.
    #[arg(long, env = "AWS_SESSION_TOKEN", hide_env_values = true)]
    pub aws_session_token: Option<String>,

    /// Virtual-hosted-style S3 requests (`bucket.endpoint/key`); default: path-style
    /// (`endpoint/bucket/key`), which self-hosted stores need.
    #[arg(
        long,
        env = "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
        default_value_t = false
    )]
    pub aws_virtual_hosted_style_request: bool,

    /// Milliseconds a call to the file store may take before its request is answered 503.
    #[arg(long, env = "FILES_STORE_TIMEOUT_MS", default_value_t = 1000)]
    pub files_store_timeout_ms: u64,

    /// Seconds an upload may stay unfinished before a sweep takes its process for dead and
    /// removes what it stored; more than `BODY_TIMEOUT_SECONDS`.
    #[arg(long, env = "FILES_SWEEP_GRACE_SECONDS", default_value_t = 3600)]
    pub files_sweep_grace_seconds: u64,

    /// Seconds between sweeps of blobs no file points at (the first at start-up).
    #[arg(long, env = "FILES_SWEEP_INTERVAL_SECONDS", default_value_t = 600)]
    pub files_sweep_interval_seconds: u64,

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

    /// Failed logins allowed per e-mail address within the login window (0: no limit); past
    /// it, one more each window/limit seconds, and `POST /auth/tokens` answers 429 meanwhile.
    #[arg(long, env = "LOGIN_FAILURES_PER_EMAIL", default_value_t = 30)]
    pub login_failures_per_email: u32,

    /// Failed logins allowed per client address within the login window (0: no limit).
    #[arg(long, env = "LOGIN_FAILURES_PER_CLIENT", default_value_t = 200)]
    pub login_failures_per_client: u32,

    /// The window of the login limits, in seconds.
    #[arg(long, env = "LOGIN_WINDOW_SECONDS", default_value_t = 300)]
    pub login_window_seconds: u64,

    /// SMTP server for notifications: `smtp://[user:password@]host:port` (`?tls=required` for
    /// STARTTLS) or `smtps://…`. Default: no server; messages are written as `.eml` files into
    /// the outbox directory.
    #[arg(long, env = "MAIL_URL", hide_env_values = true)]
    pub mail_url: Option<String>,

    /// Sender address of notifications.
    #[arg(long, env = "MAIL_FROM", default_value = "Service <noreply@localhost>")]
    pub mail_from: String,

    /// Directory of the file mail transport. Default: `<data-dir>/outbox`.
    #[arg(long, env = "OUTBOX_DIR")]
    pub outbox_dir: Option<PathBuf>,

    /// Notifications delivered at once by this process (0: none; another instance delivers).
    #[arg(long, env = "NOTIFICATION_WORKERS", default_value_t = 16)]
    pub notification_workers: usize,

    /// Delivery attempts before a notification is `failed`.
    #[arg(long, env = "NOTIFICATION_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub notification_max_attempts: u32,

    /// Milliseconds before the first retry; each later retry waits twice as long (jittered).
    #[arg(long, env = "NOTIFICATION_RETRY_BASE_MS", default_value_t = 2000)]
    pub notification_retry_base_ms: u64,

    /// Longest wait between retries, in seconds.
    #[arg(long, env = "NOTIFICATION_RETRY_MAX_SECONDS", default_value_t = 600)]
    pub notification_retry_max_seconds: u64,

    /// Seconds a worker's claim on a notification lasts; a notification whose worker died is
    /// delivered again after it.
    #[arg(long, env = "NOTIFICATION_LEASE_SECONDS", default_value_t = 60)]
    pub notification_lease_seconds: u64,

    /// Milliseconds between looks for due notifications (new ones wake the worker at once).
    #[arg(long, env = "NOTIFICATION_POLL_MS", default_value_t = 1000)]
    pub notification_poll_ms: u64,

    /// Seconds a client has to send a request's line and headers; a keep-alive connection idle
    /// this long is closed too.
    #[arg(long, env = "HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_timeout_seconds: u64,

    /// Seconds a client has to send a request's body, counted from its head (raise it for large
    /// uploads over slow links). Past it the request is answered 408.
    #[arg(long, env = "BODY_TIMEOUT_SECONDS", default_value_t = 60)]
    pub body_timeout_seconds: u64,

    /// Most connections served at once; more wait in the listen backlog. Followed streams
    /// hold theirs while they last.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 16_000)]
    pub max_connections: usize,

    /// Seconds a write to a connection may stall (the client reads nothing) before the
    /// connection is closed: a reader too slow for its stream or download is disconnected
    /// rather than waited for. A stream's follower resumes with `Last-Event-ID`.
    #[arg(long, env = "WRITE_TIMEOUT_SECONDS", default_value_t = 30)]
    pub write_timeout_seconds: u64,

    /// Most streams (`…/events`) followed at once; past it a new follower is answered 503
    /// `overloaded` with `Retry-After`.
    #[arg(long, env = "MAX_FOLLOWERS", default_value_t = 10_000)]
    pub max_followers: usize,

    /// Seconds between the comments that keep an idle followed stream's connection alive.
    #[arg(long, env = "STREAM_KEEP_ALIVE_SECONDS", default_value_t = 15)]
    pub stream_keep_alive_seconds: u64,

    /// Most requests handled at once; more are answered 503 with `Retry-After`.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 1024)]
    pub max_in_flight: usize,

    /// Origins allowed to call the API from a browser (comma-separated, e.g.
    /// `https://app.example.com`). Default: none; no CORS headers are sent.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// Proxies (addresses or networks, comma-separated, e.g. `10.0.0.0/8,192.0.2.7`) whose
    /// `Forwarded` / `X-Forwarded-For` headers name the client, for the per-client login limit
    /// and the request log. Default: none; the headers are then never believed.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<api::client_addr::ProxyNet>,

    /// Require every replacement, patch and deletion of a user to be conditional (`If-Match`,
    /// or `If-None-Match` on a PUT); one that is not is refused with 428. Default: off.
    #[arg(long, env = "REQUIRE_IF_MATCH", default_value_t = false)]
    pub require_if_match: bool,

    /// Address of a separate listener serving `GET /metrics` (Prometheus text format), e.g.
    /// `127.0.0.1:9090`. Default: none; the API port never serves metrics.
    #[arg(long, env = "METRICS_BIND")]
    pub metrics_bind: Option<String>,

    /// Hosts (names or addresses as URLs write them, comma-separated, e.g. `127.0.0.1,localhost`)
    /// that webhook endpoints may reach over plain `http` and at any address, loopback and
    /// private ones included: for local development and tests. Default: none; endpoints must be
    /// `https` to public addresses.
    #[arg(long, env = "WEBHOOK_ALLOWED_HOSTS", value_delimiter = ',')]
    pub webhook_allowed_hosts: Vec<String>,

    /// Seconds a webhook endpoint's replaced signing secret still signs beside the new one.
    #[arg(long, env = "WEBHOOK_SECRET_OVERLAP_SECONDS", default_value_t = 86_400)]
    pub webhook_secret_overlap_seconds: u64,

    /// Webhook delivery attempts at once (0: none in this process).
    #[arg(long, env = "WEBHOOK_WORKERS", default_value_t = 8)]
    pub webhook_workers: usize,

    /// How often, in milliseconds, the webhook worker looks for deliveries coming due (a new
    /// event wakes it at once, on every instance).
    #[arg(long, env = "WEBHOOK_POLL_MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,

    /// A factor above 0 and at most 1 that shortens every wait of the webhook retry schedule
    /// (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 28 hours), for tests
    /// and local development.
    #[arg(long, env = "WEBHOOK_RETRY_SCALE", default_value_t = 1.0)]
    pub webhook_retry_scale: f64,

    /// Milliseconds a webhook attempt may take to connect.
    #[arg(long, env = "WEBHOOK_CONNECT_TIMEOUT_MS", default_value_t = 5000)]
    pub webhook_connect_timeout_ms: u64,

    /// Seconds a webhook attempt may take in all, its answer included.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECONDS", default_value_t = 15)]
    pub webhook_timeout_seconds: u64,

    /// Seconds in-flight requests get to finish after SIGINT or SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    pub shutdown_grace_seconds: u64,
}

/// The values of `--durability`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurabilityArg {
    /// Survives power loss: the WAL is synced at every (group) commit.
    Full,
    /// Survives a crash of the process only.
    ProcessCrashOnly,
}

impl From<DurabilityArg> for persistence::Durability {
    fn from(arg: DurabilityArg) -> Self {
        match arg {
            DurabilityArg::Full => Self::PowerLoss,
            DurabilityArg::ProcessCrashOnly => Self::ProcessCrashOnly,
        }
    }
}

impl Settings {
    /// Every setting at its default, as if the service were started with no flags and an empty
    /// environment: the base from which tests change only what they must.
    pub fn defaults() -> Self {
        /// A command of the settings alone.
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            settings: Settings,
        }
        use clap::{CommandFactory, FromArgMatches};
        // Environment variables are ignored: defaults must not depend on the caller's shell.
        let command = Defaults::command().mut_args(|arg| arg.env(None::<&str>));
        let matches = command.get_matches_from(["app"]);
        Defaults::from_arg_matches(&matches)
            .map(|defaults| defaults.settings)
            .unwrap_or_else(|err| unreachable!("the defaults parse: {err}"))
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("service.db").display()))
    }

    /// The directory of stored files.
    pub fn files_dir(&self) -> PathBuf {
        self.files_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("files"))
    }

    /// Where file bytes are kept: the bucket of `FILES_URL`, else the files directory.
    pub fn files_store(&self) -> anyhow::Result<persistence::FilesStore> {
        let Some(url) = &self.files_url else {
            return Ok(persistence::FilesStore::Disk(self.files_dir()));
        };
        anyhow::ensure!(
            url.starts_with("s3://"),
            "FILES_URL {url} must be an s3:// URL (leave it unset for FILES_DIR)"
        );
        anyhow::ensure!(
            self.files_store_timeout_ms > 0,
            "FILES_STORE_TIMEOUT_MS must be above 0"
        );
        Ok(persistence::FilesStore::S3(persistence::S3Settings {
            url: url.clone(),
            endpoint: self.aws_endpoint_url.clone(),
            region: self.aws_region.clone(),
            access_key_id: self.aws_access_key_id.clone(),
            secret_access_key: self.aws_secret_access_key.clone(),
            session_token: self.aws_session_token.clone(),
            virtual_hosted_style: self.aws_virtual_hosted_style_request,
            timeout: Duration::from_millis(self.files_store_timeout_ms),
        }))
    }

    /// How long an unfinished upload is left alone by sweeps: refused when an upload may
    /// still be receiving its body by then.
    pub fn files_sweep_grace(&self) -> anyhow::Result<Duration> {
        anyhow::ensure!(
            self.files_sweep_grace_seconds > self.body_timeout_seconds,
            "FILES_SWEEP_GRACE_SECONDS ({}) must be more than BODY_TIMEOUT_SECONDS ({}): a sweep \
             would remove uploads still arriving",
            self.files_sweep_grace_seconds,
            self.body_timeout_seconds
        );
        Ok(Duration::from_secs(self.files_sweep_grace_seconds))
    }

    /// The directory of the file mail transport.
    pub fn outbox_dir(&self) -> PathBuf {
        self.outbox_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// The limits on failed logins.
    pub fn login_throttle(&self) -> ThrottlePolicy {
        ThrottlePolicy {
            per_email: self.login_failures_per_email,
            per_client: self.login_failures_per_client,
            window: Duration::from_secs(self.login_window_seconds),
        }
    }

    /// The settings webhook endpoints are kept under.
    pub fn webhooks(&self) -> WebhookSettings {
        WebhookSettings {
            policy: EndpointPolicy::allowing(self.webhook_allowed_hosts.iter().cloned()),
            secret_overlap: Duration::from_secs(self.webhook_secret_overlap_seconds),
        }
    }

    /// How the webhook delivery worker runs: refused when the retry scale is not in (0, 1].
    pub fn webhook_worker(&self) -> anyhow::Result<crate::webhook_worker::WebhookWorkerSettings> {
        let scale = self.webhook_retry_scale;
        anyhow::ensure!(
            scale > 0.0 && scale <= 1.0,
            "WEBHOOK_RETRY_SCALE ({scale}) must be above 0 and at most 1"
        );
        Ok(crate::webhook_worker::WebhookWorkerSettings {
            concurrency: self.webhook_workers,
            poll: Duration::from_millis(self.webhook_poll_ms.max(10)),
            schedule: RetrySchedule::standard().scaled(scale),
        })
    }

    /// The sender of webhook attempts, under the endpoints' policy and the timeouts.
    pub fn webhook_sender(&self) -> crate::webhook_sender::WebhookSender {
        crate::webhook_sender::WebhookSender::new(
            self.webhooks().policy,
            Duration::from_millis(self.webhook_connect_timeout_ms.max(1)),
            Duration::from_secs(self.webhook_timeout_seconds.max(1)),
        )
    }

    /// How many password hashes may run at once.
    pub fn hash_concurrency(&self) -> usize {
        self.hash_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        })
    }
}
