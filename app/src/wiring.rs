//! The composition root: the one place where storage, the domain's services and the HTTP
//! application are put together from the settings.
//!
//! The binary ([`crate::start`]), the end-to-end harness and the `api` crate's full-stack
//! tests all wire through [`wire`], so that every test runs the router production runs. What a
//! test must control (the token clock, the password hasher, the delivery worker's wake-ups)
//! it hands over as [`Overrides`]; everything else follows the settings.

use crate::{
    Settings,
    webhook_ports::{RandomSecrets, SystemResolver},
    webhook_worker::WebhookWorker,
    worker,
};
use anyhow::Context;
use domain::{
    Email,
    accounts::Outcome,
    idempotency::IdempotencyStore,
    notifications::{NotificationRepository, OutboxSignal},
    throttle::LoginLimitStore,
    users::{Password, PasswordHasher, UserService},
    webhooks::WebhookService,
};
use persistence::{Argon2Hasher, Database, DatabaseSettings, HmacTokens};
use poem::{Endpoint, Response};
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;

/// The clock tokens are issued and checked by: seconds since the Unix epoch.
pub type TokenClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// What a caller puts in place of what the settings choose; `None` keeps the settings' choice.
#[derive(Default)]
pub struct Overrides {
    /// The clock tokens are issued and checked by (a test moves it to expire a token).
    pub clock: Option<TokenClock>,
    /// The password hasher (a test counts its verifications).
    pub hasher: Option<Arc<dyn PasswordHasher>>,
    /// What accepted notifications wake, instead of this process's delivery worker (a test
    /// that runs no worker counts the wake-ups).
    pub wakeup: Option<Arc<dyn OutboxSignal>>,
}

/// Everything [`wire`] puts together, for the server, the background tasks and tests.
pub struct Wired {
    /// The services the HTTP layer calls.
    pub services: api::Services,
    /// The HTTP layer's settings.
    pub http: api::Settings,
    /// What the HTTP layer records of every request.
    pub http_metrics: Arc<api::metrics::HttpMetrics>,
    /// The database pool.
    pub db: Database,
    /// Idempotency keys, purged in the background.
    pub keys: Arc<dyn IdempotencyStore<Outcome>>,
    /// Failed-login counts, whose drained keys are swept in the background.
    pub login_limits: Arc<dyn LoginLimitStore>,
    /// The notifications outbox, drained by the delivery worker.
    pub outbox: Arc<dyn NotificationRepository>,
    /// Wakes this process's delivery worker when a notification is accepted.
    pub wakeup: Arc<worker::Wakeup>,
    /// What the webhook delivery worker reads and writes.
    pub webhooks: WebhookWorker,
    /// Turned true when the service begins to shut down: its followed streams end, and its
    /// background tasks stop.
    pub stop: watch::Sender<bool>,
}

impl Wired {
    /// The whole HTTP application over these services.
    pub fn endpoint(&self) -> impl Endpoint<Output = Response> + use<> {
        api::app(self.services.clone(), &self.http, self.http_metrics.clone())
    }
}

/// Connects to the database, applies migrations, wires the services over it and creates the
/// admin the settings name.
pub async fn wire(settings: &Settings, overrides: Overrides) -> anyhow::Result<Wired> {
    let db = Database::connect(&DatabaseSettings {
        url: settings.database_url(),
        max_connections: settings.database_pool_size,
        durability: settings.durability.into(),
    })
    .await
    .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let repositories = persistence::repositories(
        &db,
        Duration::from_secs(settings.auth_cache_seconds),
        &settings.files_store()?,
    )?;
    let key = HmacTokens::load_or_create_key(settings.token_key.as_deref(), &settings.data_dir)?;
    let mut tokens = HmacTokens::new(key, Duration::from_secs(settings.token_ttl_seconds))?;
    if let Some(clock) = overrides.clock {
        tokens = tokens.with_clock(clock);
    }
    let hasher = overrides
        .hasher
        .unwrap_or_else(|| Arc::new(Argon2Hasher::new(settings.hash_concurrency())));
    let wakeup = Arc::new(worker::Wakeup::default());
    let signal = overrides.wakeup.unwrap_or_else(|| wakeup.clone());
    let webhooks = WebhookService::new(
        repositories.webhooks.clone(),
        repositories.deliveries.clone(),
        Arc::new(SystemResolver),
        Arc::new(RandomSecrets),
        settings.webhooks(),
    );
    let services = api::Services::over(
        &repositories,
        hasher,
        Arc::new(tokens),
        settings.login_throttle(),
        signal,
        settings.require_if_match,
        webhooks,
    )
    .await?;
    bootstrap_admin(settings, &services.users).await?;
    let (stop, stopping) = watch::channel(false);
    Ok(Wired {
        services,
        http: http_settings(settings, stopping),
        http_metrics: api::metrics::HttpMetrics::new(),
        db,
        keys: repositories.idempotency,
        login_limits: repositories.login_limits,
        webhooks: WebhookWorker {
            deliveries: repositories.deliveries,
            accounts: repositories.accounts,
            notifications: repositories.outbox.clone(),
            wakeups: repositories.wakeups,
            sender: settings.webhook_sender(),
        },
        outbox: repositories.outbox,
        wakeup,
        stop,
    })
}

/// The HTTP layer's settings, from the service's; its streams end once `stopping` turns true.
fn http_settings(settings: &Settings, stopping: watch::Receiver<bool>) -> api::Settings {
    api::Settings {
        limits: api::edge::EdgeLimits {
            json_body: settings.max_body_bytes,
            file_body: settings.max_file_bytes,
            body_timeout: Duration::from_secs(settings.body_timeout_seconds.max(1)),
            max_in_flight: settings.max_in_flight.max(1),
        },
        cors_allowed_origins: settings.cors_allowed_origins.clone(),
        trusted_proxies: api::client_addr::TrustedProxies(settings.trusted_proxies.clone()),
        streams: api::streams::StreamSettings {
            keep_alive: Duration::from_secs(settings.stream_keep_alive_seconds.max(1)),
            retry: Duration::from_secs(2),
            max_followers: settings.max_followers,
            stopping,
        },
    }
}

/// Creates the admin named by `ADMIN_EMAIL` and `ADMIN_PASSWORD`, or makes the existing user
/// with that address an admin. Without the settings there is no admin: no default password.
async fn bootstrap_admin(settings: &Settings, users: &UserService) -> anyhow::Result<()> {
    let (Some(email), Some(password)) = (&settings.admin_email, &settings.admin_password) else {
        return Ok(());
    };
    let email = Email::parse(email).map_err(|v| anyhow::anyhow!("ADMIN_EMAIL {}", v.message))?;
    let password =
        Password::parse(password).map_err(|v| anyhow::anyhow!("ADMIN_PASSWORD {}", v.message))?;
    let admin = users
        .ensure_admin(email, password)
        .await
        .context("creating the admin")?;
    tracing::info!(id = %admin.id, "admin ready");
    Ok(())
}
