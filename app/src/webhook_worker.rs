//! The webhook delivery worker: claims due deliveries from the outbox, makes one attempt of
//! each through the [`WebhookSender`], and records what the domain makes of its answer.
//!
//! It works as the notification worker does: bounded concurrency, woken when a delivery is
//! written (on any instance: the outbox's wake-up topic) and polling for retries coming due;
//! while it runs it beats, so that only the claims of a dead instance are taken over, each
//! sent again with its `webhook-id`.

use crate::webhook_sender::{Message, WebhookSender};
use api::webhooks::deliveries::{EventData, payload};
use chrono::Utc;
use domain::{
    accounts::AccountRepository,
    notifications::{HEARTBEAT, NotificationRepository},
    streams::{Topic, Wakeups},
    webhooks::{
        Answer, Attempted, Claimed, Delivery, DeliveryRepository, Endpoint, KeptSecret,
        RetrySchedule, Subject, attempted, signing, undeliverable,
    },
};
use std::{sync::Arc, time::Duration};
use tokio::{
    sync::{Semaphore, watch},
    task::JoinSet,
};

/// How the worker delivers.
#[derive(Debug, Clone)]
pub struct WebhookWorkerSettings {
    /// Attempts at once (0: no worker in this process).
    pub concurrency: usize,
    /// How often to look for due deliveries when not woken.
    pub poll: Duration,
    /// When failed deliveries are tried again.
    pub schedule: RetrySchedule,
}

/// What the worker reads and writes.
#[derive(Clone)]
pub struct WebhookWorker {
    /// The outbox.
    pub deliveries: Arc<dyn DeliveryRepository>,
    /// Where booked transactions are read.
    pub accounts: Arc<dyn AccountRepository>,
    /// Where notifications are read.
    pub notifications: Arc<dyn NotificationRepository>,
    /// What wakes it when a delivery is written.
    pub wakeups: Arc<dyn Wakeups>,
    /// Makes the attempts.
    pub sender: WebhookSender,
}

impl WebhookWorker {
    /// Runs until `stopping` turns true, then gives attempts under way up to `grace`.
    pub async fn run(
        self,
        settings: WebhookWorkerSettings,
        mut stopping: watch::Receiver<bool>,
        grace: Duration,
    ) {
        if settings.concurrency == 0 {
            return;
        }
        let mut written = self.wakeups.watch(Topic::WebhookDeliveries);
        let beating = tokio::spawn(heartbeat(self.deliveries.clone()));
        let slots = Arc::new(Semaphore::new(settings.concurrency));
        let mut attempts = JoinSet::new();
        loop {
            if *stopping.borrow() {
                break;
            }
            let free = slots.available_permits();
            let claimed = match self.deliveries.claim(free, Utc::now()).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim webhook deliveries");
                    Vec::new()
                }
            };
            let full_batch = free > 0 && claimed.len() == free;
            for claim in claimed {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    break;
                };
                let (worker, schedule) = (self.clone(), settings.schedule.clone());
                attempts.spawn(async move {
                    worker.deliver(claim, &schedule).await;
                    drop(slot);
                });
            }
            tokio::select! {
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
                () = written.changed(), if slots.available_permits() > 0 => {}
                () = tokio::time::sleep(settings.poll), if !full_batch => {}
                _ = stopping.changed() => break,
            }
        }
        let drained = tokio::time::timeout(grace, async {
            while attempts.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                cut_short = attempts.len(),
                "webhook attempts still running after the grace period; they will be sent again"
            );
            attempts.abort_all();
        }
        beating.abort();
    }

    /// Makes one attempt of `claim` and records it.
    async fn deliver(&self, claim: Claimed, schedule: &RetrySchedule) {
        let Claimed {
            delivery,
            endpoint,
            secrets,
        } = claim;
        let id = delivery.id;
        let outcome = if endpoint.enabled {
            self.attempt(delivery, &endpoint, &secrets, schedule).await
        } else {
            undeliverable(delivery, "the endpoint is disabled")
        };
        tracing::info!(
            delivery = %id,
            endpoint = %endpoint.id,
            status = outcome.delivery.status.as_str(),
            attempts = outcome.delivery.attempts,
            error = outcome.delivery.last_error.as_deref().unwrap_or(""),
            "webhook attempt"
        );
        if let Err(err) = self.deliveries.record(&outcome).await {
            tracing::error!(delivery = %id, error = %err, "cannot record a webhook attempt");
        }
    }

    /// Reads what the event is about, renders and signs its payload, and sends it.
    async fn attempt(
        &self,
        delivery: Delivery,
        endpoint: &Endpoint,
        secrets: &[KeptSecret],
        schedule: &RetrySchedule,
    ) -> Attempted {
        let event = delivery.event;
        let body = match self.render(event.subject, endpoint).await {
            Ok(Some(data)) => data,
            Ok(None) => return undeliverable(delivery, "what the event is about no longer exists"),
            Err(err) => {
                // Storage failed: the attempt counts as one that got no answer.
                let answer = Answer::NoAnswer(format!("storage failed: {err}"));
                return attempted(
                    delivery,
                    &answer,
                    Duration::ZERO,
                    Utc::now(),
                    schedule,
                    rand::random(),
                );
            }
        };
        let now = Utc::now();
        let message = Message {
            id: &delivery.message_id,
            timestamp: now.timestamp(),
            body: payload(event.kind, event.occurred_at, &body).into(),
        };
        let started = std::time::Instant::now();
        let answer = self
            .sender
            .attempt(&endpoint.url, &message, &signing(secrets, now))
            .await;
        let latency = started.elapsed();
        attempted(
            delivery,
            &answer,
            latency,
            Utc::now(),
            schedule,
            rand::random(),
        )
    }

    /// What `subject` is now, for the payload's `data`.
    async fn render(
        &self,
        subject: Subject,
        endpoint: &Endpoint,
    ) -> domain::Result<Option<EventData>> {
        Ok(match subject {
            Subject::Transaction(account, id) => self
                .accounts
                .transaction(account, id)
                .await?
                .map(EventData::Transaction),
            Subject::Notification(id) => self
                .notifications
                .get(id)
                .await?
                .map(EventData::Notification),
            Subject::Endpoint(_) => Some(EventData::Test(endpoint.clone())),
        })
    }
}

/// Beats every [`HEARTBEAT`] until aborted.
async fn heartbeat(deliveries: Arc<dyn DeliveryRepository>) {
    let mut every = tokio::time::interval(HEARTBEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(err) = deliveries.heartbeat(Utc::now()).await {
            tracing::warn!(error = %err, "cannot record the heartbeat");
        }
    }
}
