//! The notification delivery worker: claims due notifications, sends them with bounded
//! concurrency, and records each outcome.
//!
//! It claims only as many notifications as it has free delivery slots, so a slow mail server
//! slows delivery down but never piles claimed work up. New notifications wake it at once; it
//! also polls, for those another instance accepted and for retries coming due. On shutdown it
//! stops claiming and gives deliveries in flight the grace period to finish; any cut short stay
//! `sending`, and its heartbeat is given up so that they are claimed again at once.
//!
//! While it runs it beats every [`HEARTBEAT`]: other instances take its claims over only once
//! the beats stop (it died), never because a delivery is slow. On SQLite, which one process
//! owns, there is nothing to beat to: claims a crashed earlier process left are taken back at
//! once.

use chrono::Utc;
use domain::notifications::{
    DeliveryError, HEARTBEAT, Mailer, Notification, NotificationRepository, OutboxSignal,
    RetryPolicy,
};
use std::{sync::Arc, time::Duration};
use tokio::{
    sync::{Notify, Semaphore, watch},
    task::JoinSet,
};

/// How the worker delivers.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Deliveries at once (0: no worker in this process).
    pub concurrency: usize,
    /// How long a claim lasts before another worker may take the notification over.
    pub lease: Duration,
    /// How often to look for due notifications when not woken.
    pub poll: Duration,
    /// The longest a single delivery may take.
    pub send_timeout: Duration,
    /// Retries and backoff.
    pub policy: RetryPolicy,
}

/// Wakes the worker when a notification is accepted.
#[derive(Default)]
pub struct Wakeup(Notify);

impl OutboxSignal for Wakeup {
    fn wake(&self) {
        // Stores a permit when the worker is busy, so the wake-up is not lost.
        self.0.notify_one();
    }
}

/// Runs the worker until `stopping` turns true, then drains for up to `grace`.
pub async fn run(
    repo: Arc<dyn NotificationRepository>,
    mailer: Arc<dyn Mailer>,
    settings: DeliverySettings,
    wakeup: Arc<Wakeup>,
    mut stopping: watch::Receiver<bool>,
    grace: Duration,
) {
    if settings.concurrency == 0 {
        return;
    }
    beat(&*repo).await;
    // Beats go on through the drain below: deliveries still running are this instance's.
    let beating = tokio::spawn(heartbeat(repo.clone()));
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let mut deliveries = JoinSet::new();
    loop {
        if *stopping.borrow() {
            break;
        }
        let free = slots.available_permits();
        let now = Utc::now();
        let lease_until = now + settings.lease;
        let claimed = match repo.claim(free, now, lease_until).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "cannot claim notifications");
                Vec::new()
            }
        };
        let full_batch = free > 0 && claimed.len() == free;
        for notification in claimed {
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                break;
            };
            let (repo, mailer, settings) = (repo.clone(), mailer.clone(), settings.clone());
            deliveries.spawn(async move {
                deliver(&*repo, &*mailer, &settings, notification).await;
                drop(slot);
            });
        }
        // After a full batch more may be due already: look again as soon as a slot frees up
        // rather than after the poll interval.
        tokio::select! {
            Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
            () = wakeup.0.notified(), if slots.available_permits() > 0 => {}
            () = tokio::time::sleep(settings.poll), if !full_batch => {}
            _ = stopping.changed() => break,
        }
    }
    let drained = tokio::time::timeout(grace, async {
        while deliveries.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            cut_short = deliveries.len(),
            "deliveries still running after the grace period; they will be retried"
        );
        deliveries.abort_all();
    }
    beating.abort();
    if let Err(err) = repo.retire().await {
        tracing::warn!(error = %err, "cannot give up the heartbeat; claims left will wait for its timeout");
    }
}

/// Beats every [`HEARTBEAT`] until aborted, the first one a beat after the start's.
async fn heartbeat(repo: Arc<dyn NotificationRepository>) {
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        beat(&*repo).await;
    }
}

async fn beat(repo: &dyn NotificationRepository) {
    if let Err(err) = repo.heartbeat(Utc::now()).await {
        tracing::warn!(error = %err, "cannot record the heartbeat");
    }
}

/// Sends one claimed notification and records what happened.
async fn deliver(
    repo: &dyn NotificationRepository,
    mailer: &dyn Mailer,
    settings: &DeliverySettings,
    notification: Notification,
) {
    let id = notification.id;
    let result = tokio::time::timeout(settings.send_timeout, mailer.send(&notification))
        .await
        .unwrap_or_else(|_| Err(DeliveryError::transient("the mail transport timed out")));
    let recorded = match result {
        Ok(()) => {
            tracing::debug!(%id, "notification sent");
            repo.mark_sent(id, Utc::now()).await
        }
        Err(error) => {
            let next = settings.policy.after_error(
                &error,
                notification.attempts,
                Utc::now(),
                rand::random(),
            );
            tracing::warn!(%id, attempts = notification.attempts, %error, ?next, "delivery failed");
            repo.mark_failed(id, &error.message, next).await
        }
    };
    if let Err(err) = recorded {
        tracing::error!(%id, error = %err, "cannot record a delivery outcome");
    }
}
