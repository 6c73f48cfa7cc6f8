//! The service: settings, wiring of storage into the domain and the HTTP layer, migrations at
//! start-up, and a server that drains in-flight requests on shutdown.
//!
//! `main.rs` parses the command line and calls [`start`]; the end-to-end tests call the same
//! [`start`], and the `api` crate's tests wire through the same [`wire`], so they exercise
//! exactly the router the binary serves.

pub mod files_sweep;
pub mod mail;
pub mod metrics;
pub mod serve;
pub mod settings;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod wiring;
pub mod worker;

use anyhow::Context;
use domain::{
    accounts::Outcome, idempotency::IdempotencyStore, notifications::RetryPolicy,
    throttle::LoginLimitStore,
};
pub use settings::Settings;
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{sync::watch, task::JoinHandle};
pub use wiring::{Overrides, Wired, wire};

/// How often expired idempotency keys and drained login limits are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Deletes idempotency keys past their lifetime and login limits that have drained, hourly,
/// until `stopping` turns true.
async fn purge_expired(
    keys: Arc<dyn IdempotencyStore<Outcome>>,
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

/// Starts the service on `settings.bind`; it stops, draining in-flight requests for up to the
/// grace period, once `shutdown` resolves.
pub async fn start(
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let sweep_grace = settings.files_sweep_grace()?;
    let wired = wiring::wire(settings, wiring::Overrides::default()).await?;
    let app = wired.endpoint();
    let files = wired.services.files.clone();
    let Wired {
        db,
        keys,
        login_limits,
        outbox,
        wakeup,
        http_metrics,
        stop,
        ..
    } = wired;
    let mailer = Arc::new(mail::LettreMailer::new(
        settings.mail_url.as_deref(),
        &settings.mail_from,
        settings.outbox_dir(),
    )?);
    let grace = Duration::from_secs(settings.shutdown_grace_seconds);
    let stopping = stop.subscribe();
    let purge = tokio::spawn(purge_expired(keys, login_limits, stopping.clone()));
    let sweep = tokio::spawn(files_sweep::run(
        files,
        sweep_grace,
        Duration::from_secs(settings.files_sweep_interval_seconds.max(1)),
        stopping.clone(),
    ));
    let stopping_metrics = stopping.clone();
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
    let listener = tokio::net::TcpListener::bind(&settings.bind)
        .await
        .with_context(|| format!("binding {}", settings.bind))?;
    let addr = listener
        .local_addr()
        .context("the listener has no address")?;
    let limits = serve::Limits {
        header_timeout: Duration::from_secs(settings.header_timeout_seconds.max(1)),
        write_timeout: Duration::from_secs(settings.write_timeout_seconds.max(1)),
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
        sweep.await.context("stopping the sweep of file blobs")?;
        db.close().await.context("closing the database")?;
        Ok(())
    });
    Ok(Running {
        addr,
        metrics_addr,
        stopped,
    })
}
