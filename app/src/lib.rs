//! The service: settings, wiring of storage into the domain and the HTTP layer, migrations at
//! start-up, and a server that drains in-flight requests on shutdown.
//!
//! `main.rs` parses the command line and calls [`start`]; the end-to-end tests call the same
//! [`start`], so they exercise exactly the router the binary serves.

pub mod mail;
pub mod metrics;
pub mod serve;
pub mod settings;
pub mod worker;

use anyhow::Context;
use domain::{
    Email,
    idempotency::IdempotencyStore,
    notifications::{NotificationRepository, RetryPolicy},
    throttle::LoginLimitStore,
    users::{Password, UserService},
};
use persistence::{Argon2Hasher, Database, DatabaseSettings, HmacTokens};
pub use settings::Settings;
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{sync::watch, task::JoinHandle};

/// How often expired idempotency keys and drained login limits are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Deletes idempotency keys past their lifetime and login limits that have drained, hourly,
/// until `stopping` turns true.
async fn purge_expired(
    keys: Arc<dyn IdempotencyStore>,
    login_limits: Arc<dyn LoginLimitStore>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tokio::select! {
            _ = every.tick() => {
                match keys.purge_expired().await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "expired idempotency keys purged"),
                    Err(err) => tracing::warn!(error = %err, "cannot purge idempotency keys"),
                }
                match login_limits.sweep(chrono::Utc::now()).await {
                    Ok(0) => {}
                    Ok(swept) => tracing::info!(swept, "drained login limits swept"),
                    Err(err) => tracing::warn!(error = %err, "cannot sweep login limits"),
                }
            }
            _ = stopping.changed() => return,
        }
    }
}

/// A started service.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The address of the metrics listener, when `METRICS_BIND` asked for one.
    pub metrics_addr: Option<SocketAddr>,
    /// Resolves when the server has stopped (after draining) and the pool is closed.
    pub stopped: JoinHandle<anyhow::Result<()>>,
}

/// Everything [`services`] wires, for the server and the background tasks.
pub struct Wired {
    /// The services the HTTP layer calls.
    pub services: api::Services,
    /// The database pool.
    pub db: Database,
    /// Idempotency keys, purged in the background.
    pub keys: Arc<dyn IdempotencyStore>,
    /// Failed-login counts, whose drained keys are swept in the background.
    pub login_limits: Arc<dyn LoginLimitStore>,
    /// The notifications outbox, drained by the delivery worker.
    pub outbox: Arc<dyn NotificationRepository>,
    /// Wakes the delivery worker when a notification is accepted.
    pub wakeup: Arc<worker::Wakeup>,
}

/// Connects to the database, applies migrations and wires the services.
pub async fn services(settings: &Settings) -> anyhow::Result<Wired> {
    let db = Database::connect(&DatabaseSettings {
        url: settings.database_url(),
        max_connections: settings.database_pool_size,
        durability: settings.durability.into(),
    })
    .await
    .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let storage = persistence::storage(
        &db,
        Duration::from_secs(settings.auth_cache_seconds),
        settings.files_dir(),
    )?;
    let key = HmacTokens::load_or_create_key(settings.token_key.as_deref(), &settings.data_dir)?;
    let tokens = Arc::new(HmacTokens::new(
        key,
        Duration::from_secs(settings.token_ttl_seconds),
    )?);
    let wakeup = Arc::new(worker::Wakeup::default());
    let services = api::Services::over(
        &storage,
        Arc::new(Argon2Hasher::new(settings.hash_concurrency())),
        tokens,
        settings.login_throttle(),
        wakeup.clone(),
        settings.require_if_match,
    )
    .await?;
    bootstrap_admin(settings, &services.users).await?;
    let swept = services
        .files
        .sweep()
        .await
        .context("sweeping the files directory")?;
    if swept > 0 {
        tracing::info!(swept, "removed leftovers of interrupted uploads");
    }
    Ok(Wired {
        services,
        db,
        keys: storage.idempotency,
        login_limits: storage.login_limits,
        outbox: storage.outbox,
        wakeup,
    })
}

/// How the delivery worker runs, from the settings.
fn delivery_settings(settings: &Settings) -> worker::DeliverySettings {
    worker::DeliverySettings {
        concurrency: settings.notification_workers,
        lease: Duration::from_secs(settings.notification_lease_seconds.max(1)),
        poll: Duration::from_millis(settings.notification_poll_ms.max(10)),
        send_timeout: Duration::from_secs(30),
        policy: RetryPolicy {
            max_attempts: settings.notification_max_attempts,
            base_delay: Duration::from_millis(settings.notification_retry_base_ms),
            max_delay: Duration::from_secs(settings.notification_retry_max_seconds),
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

/// Starts the service on `settings.bind`; it stops, draining in-flight requests for up to the
/// grace period, once `shutdown` resolves.
pub async fn start(
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let Wired {
        services,
        db,
        keys,
        login_limits,
        outbox,
        wakeup,
    } = services(settings).await?;
    let mailer = Arc::new(mail::LettreMailer::new(
        settings.mail_url.as_deref(),
        &settings.mail_from,
        settings.outbox_dir(),
    )?);
    let grace = Duration::from_secs(settings.shutdown_grace_seconds);
    let (stop, stopping) = watch::channel(false);
    let purge = tokio::spawn(purge_expired(keys, login_limits, stopping.clone()));
    let stopping_metrics = stopping.clone();
    let http_metrics = api::metrics::HttpMetrics::new();
    let metrics_sources = metrics::Sources {
        http: http_metrics.clone(),
        db: db.clone(),
        outbox: outbox.clone(),
    };
    let delivery = tokio::spawn(worker::run(
        outbox,
        mailer,
        delivery_settings(settings),
        wakeup,
        stopping,
        grace,
    ));
    let app = api::app(
        services,
        &api::Settings {
            limits: api::edge::EdgeLimits {
                json_body: settings.max_body_bytes,
                file_body: settings.max_file_bytes,
                body_timeout: Duration::from_secs(settings.body_timeout_seconds.max(1)),
                max_in_flight: settings.max_in_flight.max(1),
            },
            cors_allowed_origins: settings.cors_allowed_origins.clone(),
            trusted_proxies: api::client_addr::TrustedProxies(settings.trusted_proxies.clone()),
        },
        http_metrics,
    );
    let listener = tokio::net::TcpListener::bind(&settings.bind)
        .await
        .with_context(|| format!("binding {}", settings.bind))?;
    let addr = listener
        .local_addr()
        .context("the listener has no address")?;
    let limits = serve::Limits {
        header_timeout: Duration::from_secs(settings.header_timeout_seconds.max(1)),
        max_connections: settings.max_connections,
        grace,
    };
    let (metrics_addr, metrics_server) = match &settings.metrics_bind {
        Some(bind) => {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("binding the metrics listener {bind}"))?;
            let addr = listener
                .local_addr()
                .context("the metrics listener has no address")?;
            let mut stopping = stopping_metrics;
            let stopped = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            let server = serve::serve(listener, metrics::app(metrics_sources), limits, stopped);
            (Some(addr), Some(tokio::spawn(server)))
        }
        None => (None, None),
    };
    let shutdown = async move {
        shutdown.await;
        // Background tasks stop with the server.
        let _ = stop.send(true);
    };
    let stopped = tokio::spawn(async move {
        serve::serve(listener, app, limits, shutdown)
            .await
            .context("serving")?;
        if let Some(server) = metrics_server {
            server.await.context("stopping the metrics listener")??;
        }
        delivery.await.context("stopping the delivery worker")?;
        purge.await.context("stopping the purge")?;
        db.close().await.context("closing the database")?;
        Ok(())
    });
    Ok(Running {
        addr,
        metrics_addr,
        stopped,
    })
}
