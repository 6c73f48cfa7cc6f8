//! The service's background tasks: the delivery workers (notifications and webhooks), the purge of expired idempotency keys
//! and drained login limits, and the sweep of unreferenced file blobs. Each stops when the
//! service begins to shut down.

use crate::{Settings, Wired, files_sweep, mail, worker};
use anyhow::Context;
use domain::{
    accounts::Outcome, idempotency::IdempotencyStore, notifications::RetryPolicy,
    throttle::LoginLimitStore,
};
use std::{sync::Arc, time::Duration};
use tokio::{sync::watch, task::JoinHandle};

/// The running background tasks.
pub(crate) struct Background {
    delivery: JoinHandle<()>,
    webhooks: JoinHandle<()>,
    purge: JoinHandle<()>,
    sweep: JoinHandle<()>,
}

impl Background {
    /// Starts every task over `wired`; file blobs are swept once unreferenced for `sweep_grace`.
    pub(crate) fn spawn(
        settings: &Settings,
        wired: Wired,
        sweep_grace: Duration,
    ) -> anyhow::Result<Self> {
        let mailer = Arc::new(mail::LettreMailer::new(
            settings.mail_url.as_deref(),
            &settings.mail_from,
            settings.outbox_dir(),
        )?);
        let stopping = wired.stop.subscribe();
        let grace = Duration::from_secs(settings.shutdown_grace_seconds);
        let webhooks = tokio::spawn(wired.webhooks.run(
            settings.webhook_worker()?,
            stopping.clone(),
            grace,
        ));
        let purge = tokio::spawn(purge_expired(
            wired.keys,
            wired.login_limits,
            stopping.clone(),
        ));
        let sweep = tokio::spawn(files_sweep::run(
            wired.services.files,
            sweep_grace,
            Duration::from_secs(settings.files_sweep_interval_seconds.max(1)),
            stopping.clone(),
        ));
        let delivery = tokio::spawn(worker::run(
            wired.outbox,
            mailer,
            delivery_settings(settings),
            wired.wakeup,
            stopping,
            grace,
        ));
        Ok(Self {
            delivery,
            webhooks,
            purge,
            sweep,
        })
    }

    /// Resolves once every task has stopped (they stop when the service's stop turns true).
    pub(crate) async fn stopped(self) -> anyhow::Result<()> {
        self.delivery
            .await
            .context("stopping the delivery worker")?;
        self.webhooks
            .await
            .context("stopping the webhook delivery worker")?;
        self.purge.await.context("stopping the purge")?;
        self.sweep
            .await
            .context("stopping the sweep of file blobs")?;
        Ok(())
    }
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
